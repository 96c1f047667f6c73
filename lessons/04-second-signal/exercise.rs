//! Lesson 4: a second signal cuts off at once. This is step 4 with its
//! idea cut out: where the drain waits (below) and the wait itself, in
//! `deadline.rs`, are yours to complete (`// YOURS:` regions; `TODO`s say
//! what must become true, the hints are in `README.md`). Check with
//! `cargo test -p lessons --test lesson4`. The answer is `src/bin/step4.rs`
//! and the kit's `src/shutdown/deadline.rs`: try before you open them.

use std::{future::pending, io, process::ExitCode};

use bookmarks::{
    StartupError,
    config::Config,
    routes::app,
    shutdown::{
        cutoff::{CutoffListener, cut_off},
        deadline::{CUT_OFF_GRACE, Outcome, after_cut_off, served},
        signals::ShutdownSignals,
    },
    store::Store,
    telemetry,
};
use tokio::{task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;
use tracing::info;

// Your own deadline: `deadline.rs`, beside this file.
mod deadline;
use deadline::Deadline;

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
    // YOURS: second_signal
    // TODO: while the drain runs, a second SIGINT or SIGTERM must end it at
    //  once, as the deadline does: `forced shutdown` in the log, then the
    //  same cut-off and cleanup, exit 1. An operator who presses Ctrl-C twice
    //  should not wait out SHUTDOWN_TIMEOUT. As shipped, the handlers catch
    //  the second signal and nothing here hears of it, and the wait in
    //  `deadline.rs` has no way to end early yet.
    let _signals = &mut running.signals;
    let drained = deadline
        .wait("requests", served(&mut running.server), pending())
        .await;
    // YOURS_END: second_signal
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
