//! Lesson 4: turn step 3 into step 4. Read `README.md` beside this file;
//! check with `cargo test -p lessons --test lesson4`.

use std::{future::pending, process::ExitCode};

use bookmarks::{
    StartupError,
    config::Config,
    routes::app,
    shutdown::{
        cutoff::{CutoffListener, cut_off},
        deadline::{CUT_OFF_GRACE, Outcome, after_cut_off, served, until_deadline},
        signals::ShutdownSignals,
    },
    telemetry,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

#[tokio::main]
async fn main() -> ExitCode {
    // A setting that is wrong, a port taken: one line on standard error
    // and exit status 2.
    run().await.unwrap_or_else(StartupError::report)
}

// ANCHOR: run
async fn run() -> Result<ExitCode, StartupError> {
    // TODO: what step 4 adds: see README.md.
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
    let mut server = tokio::spawn(
        axum::serve(listener, app(store.clone()))
            .with_graceful_shutdown(drain.clone().cancelled_owned())
            .into_future(),
    );

    let signal = signals.recv().await;
    info!(signal, "shutting down");
    drain.cancel();
    // ANCHOR_END: spawn

    // ANCHOR: deadline
    // The deadline is counted from the signal, not from the start of the
    // process: a server up for a week still gets the whole budget. Step 3
    // does not listen for a second signal: `pending()` never completes.
    let deadline = Instant::now() + config.shutdown_timeout;
    let drained = until_deadline("requests", served(&mut server), deadline, pending()).await;
    // ANCHOR_END: deadline

    // ANCHOR: cut_off
    // Anything but a clean drain is cut off: the deadline passed, or
    // `serve` failed and may have left connections behind. Each connection
    // task ends at its next poll, and `serve` once none is left: wait for
    // that, but not for ever.
    if drained != Outcome::Drained {
        cut_off(&cutoff);
        if !drained.has_ended() {
            let by = Instant::now() + CUT_OFF_GRACE;
            after_cut_off("requests", served(&mut server), by).await;
        }
    }
    // ANCHOR_END: cut_off

    // ANCHOR: cleanup
    // Whatever the drain did, the database is closed: a timed-out drain is
    // no reason to skip the one step that makes the file consistent.
    let closed = store.close().await;
    match &closed {
        Ok(()) => info!("database closed"),
        Err(err) => error!(%err, "closing the database failed"),
    }
    info!("server stopped");
    // ANCHOR_END: cleanup
    Ok(if drained == Outcome::Drained && closed.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
// ANCHOR_END: run
