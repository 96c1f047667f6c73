//! Step 4: a second signal cuts off at once.
//!
//! While the drain runs, a second SIGINT or SIGTERM logs `forced shutdown`
//! and cuts off at once, as the deadline would: exit 1. Chapter:
//! `book/src/ch04-step4-second-signal.md`.
//!
//! Run with `SHUTDOWN_TIMEOUT=30s cargo run --bin step4`, then, in a second
//! terminal:
//!
//! ```not_rust
//! curl -i 'localhost:8080/slow?ms=60000'   # and, before it answers:
//! kill -TERM "$(pgrep -x step4)"           # the drain starts
//! kill -TERM "$(pgrep -x step4)"           # and is cut short: exit 1
//! ```

use std::{io, process::ExitCode};

use bookmarks::{
    StartupError,
    config::Config,
    routes::app,
    shutdown::{
        cutoff::{CutoffListener, cut_off},
        deadline::{CUT_OFF_GRACE, Deadline, Outcome, after_cut_off, served},
        signals::ShutdownSignals,
    },
    store::Store,
    telemetry,
};
use tokio::{task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;
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
    // Installed before `server starting`: from that line on, a signal is
    // ours to handle rather than the end of the process.
    let mut signals = ShutdownSignals::install()?;

    // ANCHOR: tokens
    // Two moments, two tokens. Cancelling `drain` starts the graceful
    // shutdown; cancelling `cutoff` fails every connection still open,
    // through the listener axum accepts from.
    let drain = CancellationToken::new();
    let cutoff = CancellationToken::new();
    let listener = CutoffListener::new(listener, cutoff.clone());
    // ANCHOR_END: tokens

    let addr = listener.local_addr()?;
    info!(%addr, pid = std::process::id(), "server starting");
    // ANCHOR: spawn
    // The server runs in a task of its own, so that `run` is free to wait
    // for the signal and then to time the drain.
    let server = tokio::spawn(
        axum::serve(listener, app(store.clone()).into_make_service())
            .with_graceful_shutdown(drain.clone().cancelled_owned())
            .into_future(),
    );

    let signal = signals.recv().await;
    info!(signal, "shutting down");
    // ANCHOR_END: spawn
    let running = Running {
        server,
        drain,
        cutoff,
        store,
        signals,
    };
    Ok(stop(running, &config).await)
}
// ANCHOR_END: run

/// What `run` started, for `stop` to wind down.
struct Running {
    server: JoinHandle<io::Result<()>>,
    drain: CancellationToken,
    cutoff: CancellationToken,
    store: Store,
    signals: ShutdownSignals,
}

// ANCHOR: stop
async fn stop(mut running: Running, config: &Config) -> ExitCode {
    running.drain.cancel();

    // ANCHOR: deadline
    // The deadline is counted from the signal, not from the start of the
    // process: a server up for a week still gets the whole budget.
    let mut deadline = Deadline::starting_now(config.shutdown_timeout);
    // ANCHOR: second_signal
    // The handlers are still installed, so a second signal arrives here
    // instead of killing the process: the drain ends `Forced`, and the
    // cut-off and the cleanup below still run.
    let second_signal = running.signals.recv();
    let drained = deadline
        .wait("requests", served(&mut running.server), second_signal)
        .await;
    // ANCHOR_END: second_signal
    // ANCHOR_END: deadline

    // ANCHOR: cut_off
    // Anything but a clean drain is cut off: the deadline passed, a second
    // signal came, or `serve` failed and may have left connections behind.
    // Each connection task ends at its next poll, and `serve` once none is
    // left: wait for that, but not for ever.
    if drained != Outcome::Drained {
        cut_off(&running.cutoff);
        if !drained.has_ended() {
            let by = Instant::now() + CUT_OFF_GRACE;
            after_cut_off("requests", served(&mut running.server), by).await;
        }
    }
    // ANCHOR_END: cut_off

    // ANCHOR: cleanup
    // Whatever the drain did, the database is closed: a timed-out drain is
    // no reason to skip the one step that makes the file consistent.
    let closed = running.store.close().await;
    info!("server stopped");
    // ANCHOR_END: cleanup
    if drained == Outcome::Drained && closed.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
// ANCHOR_END: stop
