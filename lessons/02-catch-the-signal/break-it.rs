//! Lesson 2, break it: step 2 with one common mistake planted.
//! `cargo test -p lessons --test lesson2-break` fails; find the
//! mistake from what the checks report, and fix it here.

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

// ANCHOR: run
async fn run() -> Result<ExitCode, StartupError> {
    let config = Config::from_env()?;
    telemetry::init()?;
    let store = bookmarks::open_database(&config)?;
    let listener = bookmarks::listen(&config).await?;
    // ANCHOR: install
    // Installed before `server starting`: from that line on, a signal is
    // ours to handle rather than the end of the process.
    let mut signals = ShutdownSignals::install()?;
    // ANCHOR_END: install

    let addr = listener.local_addr()?;
    info!(%addr, pid = std::process::id(), "server starting");
    // ANCHOR: serve
    // Serve until the signal comes, then stop serving and clean up.
    let served = tokio::select! {
        served = axum::serve(listener, app(store.clone()).into_make_service()).into_future() => served,
        signal = signals.recv() => {
            info!(signal, "shutting down");
            Ok(())
        }
    };
    if let Err(err) = &served {
        error!(%err, "server failed");
    }
    // ANCHOR_END: serve

    // ANCHOR: cleanup
    // Only now, with no request left that could use it, close the database.
    // This runs because `run` returned from `serve` instead of being killed.
    let closed = store.close().await;
    info!("server stopped");
    // ANCHOR_END: cleanup
    Ok(if served.is_ok() && closed.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
// ANCHOR_END: run
