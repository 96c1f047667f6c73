
use std::process::ExitCode;

use bookmarks::{
    StartupError, config::Config, routes::app, shutdown::signals::ShutdownSignals, telemetry,
};
use tracing::{error, info};

#[tokio::main]
async fn main() -> ExitCode {
    // A setting that is wrong, a port taken: one line on standard error
    // and exit status 2.
    run().await.unwrap_or_else(StartupError::report)
}

async fn run() -> Result<ExitCode, StartupError> {
    let config = Config::from_env()?;
    telemetry::init()?;
    let store = bookmarks::open_database(&config)?;
    let listener = bookmarks::listen(&config).await?;
    // Installed before `server starting`: from that line on, a signal is
    // ours to handle rather than the end of the process.
    let mut signals = ShutdownSignals::install()?;

    let addr = listener.local_addr()?;
    info!(%addr, pid = std::process::id(), "server starting");
    // `with_graceful_shutdown` takes a future; when it completes, axum stops
    // accepting, lets each connection finish the request it is serving,
    // and returns once the last connection has closed.
    let served = axum::serve(listener, app(store.clone()).into_make_service())
        .with_graceful_shutdown(async move {
            let signal = signals.recv().await;
            info!(signal, "shutting down");
        })
        .await;
    if let Err(err) = &served {
        error!(%err, "server failed");
    }

    // Only now, with no request left that could use it, close the database.
    // This runs because `run` returned from `serve` instead of being killed.
    let closed = store.close().await;
    info!("server stopped");
    Ok(if served.is_ok() && closed.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
