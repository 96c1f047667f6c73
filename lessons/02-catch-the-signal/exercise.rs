//! Lesson 2: catch the signal and drain.
//!
//! This is step 1, unchanged but for the `TODO` comments that mark where
//! the new behaviour goes. The goal, hints and quiz are in
//! `lessons/02-catch-the-signal/README.md`.
//!
//! Run it with `cargo run -p lessons --bin lesson2`; check it with
//! `cargo test -p lessons --test lesson2`.

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

    // TODO: install the handlers for SIGINT and SIGTERM here, before
    //       `server starting` tells the world the server is ready:
    //       `bookmarks::signals::ShutdownSignals::install()`.
    info!(%addr, "server starting");
    // Serves until the process dies. Nothing after this line runs on a
    // signal: the kernel's default action for SIGINT and SIGTERM is to end
    // the process on the spot.
    // TODO: give `serve` a shutdown future with `.with_graceful_shutdown`:
    //       wait for the first signal, then log `shutting down` with the
    //       signal's name as the `signal` field. Serve a clone of `store`,
    //       so that `main` keeps one to close.
    if let Err(err) = serve(listener, with_middleware(api(store))).await {
        error!(%err, "server failed");
        return ExitCode::FAILURE;
    }
    // TODO: once `serve` has returned, close the database
    //       (`store.close().await`), log `database closed`, then
    //       `server stopped`, and exit 0.
    ExitCode::SUCCESS
}
// ANCHOR_END: main
