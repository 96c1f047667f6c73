//! Step 1: a server with no shutdown at all.
//!
//! The bookmarks API, served by `axum::serve(..).await` and nothing else.
//! There is no signal handler, so SIGINT (Ctrl+C) or SIGTERM ends the process
//! wherever it happens to be: a request in flight gets a broken connection,
//! the database is never closed, and the last log line is whatever came
//! before the signal.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --bin step1
//! ```
//!
//! Then, in a second terminal, start a slow request and stop the server
//! while it is in flight:
//!
//! ```not_rust
//! curl -i 'localhost:8080/slow?ms=5000'    # and, before it answers:
//! kill -TERM "$(pgrep -x step1)"           # or Ctrl+C in the first terminal
//! ```
//!
//! curl reports `Empty reply from server`. Step 2 fixes that.

use std::process::ExitCode;

use bookmarks::{
    Service,
    config::Config,
    routes::{api, with_middleware},
    server::serve,
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

    info!(%addr, "server starting");
    // Serves until the process dies. Nothing after this line runs on a
    // signal: the kernel's default action for SIGINT and SIGTERM is to end
    // the process on the spot.
    if let Err(err) = serve(listener, with_middleware(api(store))).await {
        error!(%err, "server failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
// ANCHOR_END: main
