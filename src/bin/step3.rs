//! Step 3: drain with a deadline.
//!
//! As step 2, but the drain may take at most `SHUTDOWN_TIMEOUT` (default
//! `10s`), counted from the signal. When it runs out the server logs
//! `shutdown timed out`, closes the connections still open, closes the
//! database, logs `server stopped` and exits 1, so a supervisor can tell a
//! clean stop from a cut-off one.
//!
//! The problem it leaves: an operator who presses Ctrl+C again, or a
//! supervisor that sends a second SIGTERM, is ignored until the deadline.
//! Step 4 lets the second signal force the exit.
//!
//! Run with
//!
//! ```not_rust
//! SHUTDOWN_TIMEOUT=3s cargo run --bin step3
//! ```
//!
//! Then, in a second terminal, a request that outlives the deadline:
//!
//! ```not_rust
//! curl -i 'localhost:8080/slow?ms=60000'   # and, before it answers:
//! kill -TERM "$(pgrep -x step3)"
//! ```
//!
//! Three seconds after the signal curl reports `Empty reply from server` and
//! the server exits with status 1.

use std::process::ExitCode;

use bookmarks::{Service, app, cutoff::CutoffListener, server::serve, signals::ShutdownSignals};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    let Service {
        config,
        store,
        listener,
        addr,
    } = match Service::start().await {
        Ok(service) => service,
        Err(err) => return err.report(),
    };
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
    let drained = match tokio::time::timeout(drain_deadline, &mut server).await {
        Ok(finished) => finished.is_ok_and(|served| served.is_ok()),
        Err(_elapsed) => {
            warn!(timeout = ?drain_deadline, "shutdown timed out");
            false
        }
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
