//! Lesson 3: give the drain a deadline.
//!
//! This is step 2, unchanged but for the `TODO` comments that mark where
//! the new behaviour goes. The goal, hints and quiz are in
//! `lessons/03-drain-deadline/README.md`.
//!
//! Run it with `cargo run -p lessons --bin lesson3`; check it with
//! `cargo test -p lessons --test lesson3`.

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
// TODO: the process must be gone soon after the deadline, whatever is in
//       flight, and a blocking thread would hold a runtime's drop: run
//       `main`'s body on a runtime of your own
//       (`tokio::runtime::Builder::new_multi_thread`) and end it with
//       `shutdown_timeout(bookmarks::phase::RUNTIME_GRACE)`.
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
    // TODO: the drain needs a deadline, `config.shutdown_timeout`, counted
    //       from the signal. Run the server in a task of its own
    //       (`tokio::spawn`), with a `CancellationToken` as its shutdown
    //       future, so that the code here waits for the signal and then
    //       times the drain: `bookmarks::phase::phase("requests",
    //       served(&mut server), deadline, std::future::pending())`.
    // TODO: wrap the listener in `bookmarks::cutoff::CutoffListener`, so
    //       that the connections still open at the deadline can be closed.
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

    // TODO: unless the drain ended well, cut off what is left
    //       (`bookmarks::cutoff::cut_off`, which logs `abandoned`), give
    //       the server task `CUT_OFF_GRACE` to end (`phase::after_cut_off`),
    //       bound the close (`store.close_or_give_up` with
    //       `phase::last_writes_by`), and exit 1 after the cleanup.
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
