//! Step 2: catch the signal and drain.
//!
//! The first SIGINT or SIGTERM stops accepting, lets the requests in flight
//! finish, closes the database and exits 0. Chapter:
//! `book/src/ch02-step2-drain.md`.
//!
//! Run with `cargo run --bin step2`, then, in a second terminal:
//!
//! ```not_rust
//! curl -i 'localhost:8080/slow?ms=5000'    # and, before it answers:
//! kill -TERM "$(pgrep -x step2)"           # curl still gets 200 OK
//! ```

use std::process::ExitCode;

use bookmarks::{
    Service,
    config::Config,
    routes::{api, with_middleware},
    server::serve,
    signals::ShutdownSignals,
    telemetry,
};
use tracing::{error, info};

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    // Every setting is read and checked first; a bad one is a line on
    // standard error and exit status 2, as is any failure to start.
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => return err.report(),
    };
    if let Err(err) = telemetry::init() {
        return err.report();
    }
    let Service {
        store,
        listener,
        addr,
    } = match Service::start(&config).await {
        Ok(service) => service,
        Err(err) => return err.report(),
    };
    // ANCHOR: install
    // Installed before `server starting`: from that line on, a signal is
    // ours to handle rather than the end of the process.
    let mut signals = match ShutdownSignals::install() {
        Ok(signals) => signals,
        Err(err) => return err.report(),
    };
    // ANCHOR_END: install

    info!(%addr, "server starting");
    // ANCHOR: serve
    // `with_graceful_shutdown` takes a future; when it completes, axum stops
    // accepting, lets each connection finish the request it is serving,
    // and returns once the last connection has closed.
    let drained = serve(listener, with_middleware(api(store.clone())))
        .with_graceful_shutdown(async move {
            let signal = signals.recv().await;
            info!(signal, "shutting down");
        })
        .await;
    // ANCHOR_END: serve
    let served = match drained {
        Ok(()) => true,
        Err(err) => {
            error!(%err, "server failed");
            false
        }
    };

    // ANCHOR: cleanup
    // Only now, with no request left that could use it, close the database.
    // This runs because `main` returned from `serve` instead of being killed.
    let closed = store.close().await;
    match &closed {
        Ok(()) => info!("database closed"),
        Err(err) => error!(%err, "closing the database failed"),
    }
    info!("server stopped");
    // ANCHOR_END: cleanup
    if served && closed.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
// ANCHOR_END: main
