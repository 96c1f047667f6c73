//! Step 1: a server with no shutdown at all.
//!
//! The bookmarks API on `axum::serve`, and nothing else: SIGINT or SIGTERM
//! ends the process wherever it is. Chapter:
//! `book/src/ch01-step1-no-shutdown.md`.
//!
//! Run with `cargo run --bin step1`, then, in a second terminal:
//!
//! ```not_rust
//! curl -i 'localhost:8080/slow?ms=5000'    # and, before it answers:
//! kill -TERM "$(pgrep -x step1)"           # curl: Empty reply from server
//! ```

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

    let addr = listener.local_addr()?;
    info!(%addr, pid = std::process::id(), "server starting");
    // Serves until the process dies. Nothing after this line runs on a
    // signal: the kernel's default action for SIGINT and SIGTERM is to end
    // the process on the spot.
    //
    // `into_make_service`: every connection shares the one router. Given
    // the `Router` itself, `axum::serve` rebuilds it for each connection.
    axum::serve(listener, app(store).into_make_service()).await?;
    Ok(ExitCode::SUCCESS)
}
// ANCHOR_END: run
