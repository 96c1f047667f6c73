//! Lesson 5: stop background work in order.
//!
//! This is step 4, unchanged but for the `TODO` comments that mark where
//! the new behaviour goes. The goal, hints and quiz are in
//! `lessons/05-shutdown-in-order/README.md`.
//!
//! Run it with `cargo run -p lessons --bin lesson5`; check it with
//! `cargo test -p lessons --test lesson5`.

use std::process::ExitCode;

use bookmarks::{
    Service, StartupError,
    config::Config,
    cutoff::{CutoffListener, cut_off},
    phase::{CUT_OFF_GRACE, Ending, RUNTIME_GRACE, after_cut_off, last_writes_by, phase, served},
    routes::{api, with_middleware},
    server::serve,
    signals::ShutdownSignals,
    telemetry,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

// ANCHOR: main
// ANCHOR: runtime
fn main() -> ExitCode {
    // A runtime of our own rather than `#[tokio::main]`, for the way it
    // ends. Dropping a runtime waits for every blocking thread still
    // running, and nothing can stop one: a handler stuck in synchronous
    // code would hold the exit for as long as it ran. `shutdown_timeout`
    // waits a moment, then leaves such threads behind. By then the
    // database is closed and the log has said what was abandoned.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return StartupError(format!("cannot start the runtime: {err}")).report(),
    };
    let status = runtime.block_on(run());
    runtime.shutdown_timeout(RUNTIME_GRACE);
    status
}
// ANCHOR_END: runtime

async fn run() -> ExitCode {
    // Every setting is read and checked first; a bad one is a line on
    // standard error and exit status 2, as is any failure to start.
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => return err.report(),
    };
    // TODO: send the logs to `config.log_file` too, with
    //       `telemetry::init_with_file`, and keep the guard it returns alive
    //       until the very end of `run`.
    if let Err(err) = telemetry::init() {
        return err.report();
    }
    let Service {
        mut store,
        listener,
        addr,
    } = match Service::start(&config).await {
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

    // TODO: serve `visits::api(…)` instead of `api(…)`: the API plus
    //       `GET /bookmarks/{id}/visit`.
    info!(%addr, "server starting");
    // The server runs in a task of its own so that `run` is free to wait
    // for the signal and then to time the drain. axum's `serve` retries
    // failed accepts itself and returns only once a shutdown has begun.
    let mut server = tokio::spawn(
        serve(listener, with_middleware(api(store.clone())))
            .with_graceful_shutdown(drain.clone().cancelled_owned())
            .into_future(),
    );

    let signal = signals.recv().await;
    info!(signal, "shutting down");
    drain.cancel();
    // ANCHOR_END: serve

    // TODO: shut down in order, within one deadline counted from the
    //       signal (`bookmarks::phase::phase` waits for one phase): cancel
    //       the workers' token as the drain starts, so they take no new
    //       work; drain requests, log `requests drained`; log `stopping
    //       workers`, wait for them, log `workers stopped`; if either phase
    //       did not end well, cut off, abort the workers and wait for them
    //       (`phase::after_cut_off`); flush the visit buffer, log `visits
    //       flushed`; close the database; log `server stopped`; drop the
    //       log guard within `phase::logs_within` (`phase::drop_within`).
    // ANCHOR: deadline
    // The deadline is counted from the signal, not from the start of the
    // process: a server up for a week still gets the whole budget.
    let deadline = Instant::now() + config.shutdown_timeout;
    // ANCHOR: second_signal
    // The handlers are still installed, so a second signal arrives here
    // instead of killing the process: the phase ends `Forced`, and the
    // cut-off and the cleanup below still run.
    let drained = phase("requests", served(&mut server), deadline, signals.recv()).await;
    // ANCHOR_END: second_signal
    // ANCHOR_END: deadline

    // ANCHOR: cut_off
    // Anything but a drain that ended well is cut off: the deadline
    // passed, a second signal came, or `serve` failed and may have left
    // connections behind.
    let clean = drained == Ending::Finished(true);
    if !clean {
        // Connections fail, the running statement stops, and one line
        // says what was abandoned.
        cut_off(&cutoff, &mut store);
        if !drained.is_finished() {
            // Each connection task ends at its next poll, and `serve` once
            // none is left: wait for that, but not for ever.
            let by = Instant::now() + CUT_OFF_GRACE;
            after_cut_off("requests", served(&mut server), by).await;
        }
    }
    // ANCHOR_END: cut_off

    // ANCHOR: cleanup
    // Whatever the drain did, the database is closed: a timed-out drain is
    // no reason to skip the one step that makes the file consistent. After
    // the cut-off nothing holds the connection for long; if something
    // still does at the bound, the close is given up, and says so.
    let closed = store
        .close_or_give_up(last_writes_by(deadline, !clean))
        .await;
    match &closed {
        Ok(()) => info!("database closed"),
        Err(err) => error!(%err, "closing the database failed"),
    }
    info!("server stopped");
    if clean && closed.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
    // ANCHOR_END: cleanup
}
// ANCHOR_END: main
