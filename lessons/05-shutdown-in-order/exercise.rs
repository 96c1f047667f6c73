//! Lesson 5: stop background work in order.
//!
//! This is step 4, unchanged but for the `TODO` comments that mark where
//! the new behaviour goes. The goal, hints and quiz are in
//! `lessons/05-shutdown-in-order/README.md`.
//!
//! Run it with `cargo run -p lessons --bin lesson5`; check it with
//! `cargo test -p lessons --test lesson5`.

use std::process::ExitCode;

use bookmarks::{Service, app, cutoff::CutoffListener, server::serve, signals::ShutdownSignals};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    // TODO: read step 5's settings (`bookmarks::BackgroundConfig::from_env`)
    //       and set logging up with `telemetry::init_with_file`, keeping
    //       the guard it returns alive until the very end of `main`.
    let Service {
        config,
        store,
        listener,
        addr,
    } = match Service::start().await {
        Ok(service) => service,
        Err(err) => return err.report(),
    };
    // TODO: create the background tables
    //       (`bookmarks::create_background_tables`), then start the workers,
    //       `visits::flush_every` and `LinkChecker::run`, each with a clone
    //       of one `CancellationToken`, spawned on one `TaskTracker`.
    // Installed before `server starting`: from that line on, a signal is
    // ours to handle rather than the end of the process.
    let mut signals = match ShutdownSignals::install() {
        Ok(signals) => signals,
        Err(err) => return err.report(),
    };

    // ANCHOR: serve
    // Two moments, two tokens. Cancelling `drain` starts the graceful
    // shutdown; cancelling `cutoff` closes every connection still open.
    let drain = CancellationToken::new();
    let cutoff = CancellationToken::new();
    let listener = CutoffListener::new(listener, cutoff.clone());

    // TODO: serve `visits::app(…)` instead of `app(…)`: the API plus
    //       `GET /bookmarks/{id}/visit`.
    info!(%addr, "server starting");
    // The server runs in a task of its own so that `main` is free to wait
    // for the signal and then to time the drain. axum's `serve` retries
    // failed accepts itself and returns only once a shutdown has begun.
    let mut server = tokio::spawn(
        serve(listener, app(store.clone()))
            .with_graceful_shutdown(drain.clone().cancelled_owned())
            .into_future(),
    );

    let signal = signals.recv().await;
    info!(signal, "shutting down");
    drain.cancel();
    // ANCHOR_END: serve

    // ANCHOR: deadline
    // The deadline is counted from the signal, not from the start of the
    // process: a server up for a week still gets the whole budget.
    let drain_deadline = config.shutdown_timeout;
    let drained = tokio::select! {
        finished = tokio::time::timeout(drain_deadline, &mut server) => match finished {
            Ok(finished) => finished.is_ok_and(|served| served.is_ok()),
            Err(_elapsed) => {
                warn!(timeout = ?drain_deadline, "shutdown timed out");
                false
            }
        },
        // ANCHOR: second_signal
        // The handlers are still installed, so a second signal arrives here
        // instead of killing the process: cleanup below still runs.
        signal = signals.recv() => {
            warn!(signal, "forced shutdown");
            false
        }
        // ANCHOR_END: second_signal
    };
    if !drained {
        // Close what is left. Each connection fails its next read or
        // write, hyper drops it with the request it was serving, and
        // `serve` returns once no connection task is left.
        cutoff.cancel();
        let _ = server.await;
    }
    // ANCHOR_END: deadline

    // ANCHOR: cleanup
    // TODO: shut down in order, within one deadline counted from the
    //       signal (`bookmarks::phase::phase` waits for one phase): cancel
    //       the workers' token as the drain starts, so they take no new
    //       work; drain requests, log `requests drained`; log `stopping
    //       workers`, wait for them, log `workers stopped` (abort them if
    //       the deadline passes first); flush the visit buffer, log `visits
    //       flushed`; close the database; log `server stopped`; drop the
    //       log guard.
    // Whatever the drain did, the database is closed: a timed-out drain is
    // no reason to skip the one step that makes the file consistent.
    let closed = store.close().await;
    match &closed {
        Ok(()) => info!("database closed"),
        Err(err) => error!(%err, "closing the database failed"),
    }
    info!("server stopped");
    if drained && closed.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
    // ANCHOR_END: cleanup
}
// ANCHOR_END: main
