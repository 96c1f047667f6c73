//! The baseline the benchmarks set beside the steps: a plain axum service
//! that stops the way axum 0.8.9's own example does
//! (`examples/graceful-shutdown/src/main.rs` in the axum repository, at tag
//! `axum-v0.8.9`): `axum::serve(..).with_graceful_shutdown(..)` on Ctrl+C
//! or SIGTERM, a tower-http `TraceLayer` and a 10 s `TimeoutLayer` that
//! answers 408, and nothing else: no deadline, no database, no second
//! signal.
//!
//! What differs from the example is only what lets the tools drive it like
//! a step: it binds `HOST` (127.0.0.1) and `PORT` (8080; 0 = a free port),
//! logs `server starting addr=IP:PORT` once it accepts, serves `GET
//! /health` and `GET /slow?ms=N` (logging `slow request started`, as the
//! steps do), and logs `server stopped` after the drain.
//!
//! `MIDDLEWARE=steps` swaps the example's two layers for the very stack
//! every step serves with (`bookmarks::routes::with_middleware`), and its
//! logging set-up for theirs (`bookmarks::telemetry::init`), so that a
//! comparison with step 1 leaves out nothing but the server around them.
//!
//! ```not_rust
//! cargo run --release -p tools --bin plain-axum
//! PORT=0 MIDDLEWARE=steps cargo run --release -p tools --bin plain-axum
//! ```

use std::{
    collections::HashMap,
    env,
    io::IsTerminal,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    process::ExitCode,
    time::Duration,
};

use axum::{Router, extract::Query, http::StatusCode, routing::get};
use tokio::{net::TcpListener, signal, time::sleep};
use tower_http::{timeout::TimeoutLayer, trace::TraceLayer};
use tracing::info;
use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt};

/// Which layers wrap the routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Middleware {
    /// The example's: `TraceLayer`, then a 10 s `TimeoutLayer` (408).
    Example,
    /// The steps' own stack, `bookmarks::routes::with_middleware`, and
    /// their logging set-up.
    Steps,
}

/// What the environment asks for, or the line to print on standard error.
fn settings() -> Result<(SocketAddr, Middleware), String> {
    let host: IpAddr = match env::var("HOST") {
        Ok(text) => text
            .parse()
            .map_err(|_| format!("invalid HOST={text:?}: expected an IP address"))?,
        Err(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let port: u16 = match env::var("PORT") {
        Ok(text) => text
            .parse()
            .map_err(|_| format!("invalid PORT={text:?}: expected 0 to 65535"))?,
        Err(_) => 8080,
    };
    let middleware = match env::var("MIDDLEWARE").as_deref() {
        Err(_) | Ok("example") => Middleware::Example,
        Ok("steps") => Middleware::Steps,
        Ok(other) => {
            return Err(format!(
                "invalid MIDDLEWARE={other:?}: expected example or steps"
            ));
        }
    };
    Ok((SocketAddr::new(host, port), middleware))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (addr, middleware) = match settings() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    match middleware {
        Middleware::Example => example_logging(),
        Middleware::Steps => {
            if let Err(err) = bookmarks::telemetry::init() {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        }
    }

    let routes = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/slow", get(slow));
    let app = match middleware {
        Middleware::Example => routes.layer((
            TraceLayer::new_for_http(),
            // Graceful shutdown will wait for outstanding requests to
            // complete: the example bounds each request instead.
            TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(10)),
        )),
        Middleware::Steps => bookmarks::routes::with_middleware(routes),
    };

    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on {addr} (HOST, PORT): {err}");
            return ExitCode::from(2);
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("error: cannot read the bound address: {err}");
            return ExitCode::from(2);
        }
    };
    info!(%addr, ?middleware, "server starting");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    info!("server stopped");
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// As the example: `RUST_LOG`, or debug for this crate and tower_http.
fn example_logging() {
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                format!(
                    "{}=debug,tower_http=debug,axum=trace",
                    env!("CARGO_CRATE_NAME")
                )
                .into()
            }),
        )
        // Colour codes only for a person at a terminal (the example always
        // writes them): the tools read the plain text.
        .with(
            tracing_subscriber::fmt::layer()
                .without_time()
                .with_ansi(std::io::stdout().is_terminal()),
        )
        .init();
}

/// `GET /slow?ms=N`: N ms of waiting at an `.await`, then `done`.
async fn slow(Query(params): Query<HashMap<String, String>>) -> Result<&'static str, StatusCode> {
    let ms: u64 = params
        .get("ms")
        .and_then(|text| text.parse().ok())
        .ok_or(StatusCode::BAD_REQUEST)?;
    info!(ms, "slow request started");
    sleep(Duration::from_millis(ms)).await;
    Ok("done")
}

/// The example's signal future, as it is there.
async fn shutdown_signal() {
    let ctrl_c = async {
        signal::ctrl_c()
            .await
            .expect("failed to install Ctrl+C handler");
    };

    #[cfg(unix)]
    let terminate = async {
        signal::unix::signal(signal::unix::SignalKind::terminate())
            .expect("failed to install signal handler")
            .recv()
            .await;
    };

    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    info!("shutting down");
}
