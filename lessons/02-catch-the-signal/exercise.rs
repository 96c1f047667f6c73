//! Lesson 2: catch the signal and drain. This is step 1; each `TODO` says what
//! must become true, `README.md` beside this file has the hints.
//! Check with `cargo test -p lessons --test lesson2`.
//! The answer is `src/bin/step2.rs`: try before you open it.

use std::process::ExitCode;

use bookmarks::{StartupError, config::Config, routes::app, telemetry};
use tracing::info;

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

    // TODO: from the `server starting` line on, SIGINT and SIGTERM must be ours to
    //  handle: they may no longer end the process on the spot.
    let addr = listener.local_addr()?;
    info!(%addr, pid = std::process::id(), "server starting");
    // Serves until the process dies. Nothing after this line runs on a
    // signal: the kernel's default action for SIGINT and SIGTERM is to end
    // the process on the spot.
    // TODO: on the first signal, log `shutting down`, accept no new connection, and
    //  let every request in flight finish: a client mid-request gets its whole
    //  answer, an idle keep-alive connection does not hold the exit.
    axum::serve(listener, app(store).into_make_service()).await?;
    // TODO: only then, with no request left that could use it, close the database,
    //  log `server stopped` and exit 0 (1 if serving or closing failed).
    Ok(ExitCode::SUCCESS)
}
// ANCHOR_END: run
