//! Step 1: a server with no shutdown at all.
//!
//! The bookmarks API and nothing else: SIGINT or SIGTERM ends the process
//! wherever it is. Chapter: `book/src/ch01-step1-no-shutdown.md`.
//!
//! Run with `cargo run --bin step1`, then, in a second terminal:
//!
//! ```not_rust
//! curl -i 'localhost:8080/slow?ms=5000'    # and, before it answers:
//! kill -TERM "$(pgrep -x step1)"           # curl: Empty reply from server
//! ```

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
