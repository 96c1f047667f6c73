//! Lesson 6: get ready for production.
//!
//! This is step 5, unchanged but for the `TODO` comments that mark where
//! the new behaviour goes. The goal, hints and quiz are in
//! `lessons/06-ready-for-production/README.md`.
//!
//! Run it with `cargo run -p lessons --bin lesson6`; check it with
//! `cargo test -p lessons --test lesson6`.

use std::process::ExitCode;

use bookmarks::{
    Service, StartupError,
    config::Config,
    cutoff::{CutoffListener, cut_off},
    link_check::LinkChecker,
    phase::{
        CUT_OFF_GRACE, Ending, RUNTIME_GRACE, after_cut_off, drop_within, last_writes_by,
        logs_within, phase, served,
    },
    routes::with_middleware,
    server::serve,
    signals::ShutdownSignals,
    store, telemetry,
    visits::{self, VisitBuffer},
};
use tokio::time::Instant;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
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
    // ANCHOR: logs
    // Logs go to a file too now, and with it comes the guard of the file
    // writer: it lives until the very end of `run`, after `server stopped`.
    let log_guard = match telemetry::init_with_file(config.log_file.as_deref()) {
        Ok(guard) => guard,
        Err(err) => return err.report(),
    };
    // ANCHOR_END: logs
    let Service {
        mut store,
        listener,
        addr,
    } = match Service::start(&config).await {
        Ok(service) => service,
        Err(err) => return err.report(),
    };
    if let Err(err) = bookmarks::create_background_tables(&store).await {
        return err.report();
    }
    // Installed before `server starting`: from that line on, a signal is
    // ours to handle rather than the end of the process.
    let mut signals = match ShutdownSignals::install() {
        Ok(signals) => signals,
        Err(err) => return err.report(),
    };

    // ANCHOR: workers
    // One token tells every worker to stop taking new work (cancelled when
    // the drain starts); one tracker knows every worker, so shutdown can
    // wait for all of them at once.
    let stop_workers = CancellationToken::new();
    let workers = TaskTracker::new();
    let visits = VisitBuffer::new();
    let flusher = workers.spawn(visits::flush_every(
        config.flush_interval,
        visits.clone(),
        store.clone(),
        stop_workers.clone(),
    ));
    let checker = workers.spawn(
        LinkChecker {
            store: store.clone(),
            interval: config.check_interval,
            delay: config.check_delay,
        }
        .run(stop_workers.clone()),
    );
    // No worker is added after this, so `wait` can end once these have.
    workers.close();
    // ANCHOR_END: workers

    // TODO: add a `not_ready` token, and put `lifecycle::Lifecycle`'s
    //       `around(…)` (for `/ready`, `/events`, `/ws` and `Connection:
    //       close`) around the app, inside `with_middleware`; the server's
    //       task then awaits `websockets_closed()` too.
    // Two moments, two tokens. Cancelling `drain` starts the graceful
    // shutdown; cancelling `cutoff` closes every connection still open.
    let drain = CancellationToken::new();
    let cutoff = CancellationToken::new();
    let listener = CutoffListener::new(listener, cutoff.clone());
    // Step 4's API, plus `GET /bookmarks/{id}/visit`, which counts visits.
    let app = with_middleware(visits::api(store.clone(), visits.clone()));

    info!(%addr, "server starting");
    // The server runs in a task of its own so that `run` is free to wait
    // for the signal and then to time the drain. axum's `serve` retries
    // failed accepts itself and returns only once a shutdown has begun.
    let mut server = tokio::spawn(
        serve(listener, app)
            .with_graceful_shutdown(drain.clone().cancelled_owned())
            .into_future(),
    );

    // TODO: on the first signal, cancel `not_ready`, then log `not ready`
    //       (with `signal`), and keep serving for `config.shutdown_delay`, unless
    //       a second signal forces the exit; only then log `shutting down`
    //       and start the drain, whose deadline counts from there.
    let signal = signals.recv().await;
    info!(signal, "shutting down");
    // ANCHOR: order
    // One budget for the whole shutdown, counted from the signal. Each phase
    // gets what the phases before it left.
    let deadline = Instant::now() + config.shutdown_timeout;

    // 1. Drain requests. After this no handler can add to the visit buffer.
    // The workers are told now to take no new work: a unit of work begun
    // during the drain would only make the shutdown longer. The one in
    // hand finishes while the requests do.
    drain.cancel();
    stop_workers.cancel();
    let drained = phase("requests", served(&mut server), deadline, signals.recv()).await;
    if drained == Ending::Finished(true) {
        info!("requests drained");
    }

    // 2. Stop the workers: they were asked at the start of the drain; now
    // wait for them, unless a second signal already said not to wait.
    info!("stopping workers");
    let stopped = match drained {
        Ending::Forced => Ending::Forced,
        _ => phase("workers", workers.wait(), deadline, signals.recv()).await,
    };
    if stopped.is_finished() {
        info!("workers stopped");
    }

    // 3. The cut-off, if either phase did not end well: connections fail,
    // the running statement stops and rolls back, one line says what was
    // abandoned. A worker deaf to its token is dropped at its next
    // `.await`; the transaction, not the task, is the unit of work, and an
    // aborted one rolls back whole.
    let clean = drained == Ending::Finished(true) && stopped.is_finished();
    if !clean {
        cut_off(&cutoff, &mut store);
        flusher.abort();
        checker.abort();
        let by = Instant::now() + CUT_OFF_GRACE;
        if !drained.is_finished() {
            after_cut_off("requests", served(&mut server), by).await;
        }
        after_cut_off("workers", workers.wait(), by).await;
    }

    // 4. Flush the visit buffer: the last write, now that nothing else can
    // add to the buffer or write to the database.
    let last_writes = last_writes_by(deadline, !clean);
    let flushed = store::before(last_writes, visits.flush(&store)).await;
    match &flushed {
        Ok(count) => info!(visits = count, "visits flushed"),
        Err(err) => error!(%err, lost = visits.pending_total(), "flushing visits failed"),
    }

    // 5. Close the database, now that nothing will use it again.
    let closed = store.close_or_give_up(last_writes).await;
    match &closed {
        Ok(()) => info!("database closed"),
        Err(err) => error!(%err, "closing the database failed"),
    }
    info!("server stopped");

    // 6. Flush the logs: dropping the guard waits until the writer thread
    // has written every queued line, `server stopped` included, but for
    // up to 1.1 s: dropped on a thread of its own, it gets what is left
    // of the deadline, or a moment only once the stop was cut off.
    let logs_limit = logs_within(deadline, !clean);
    let logs_flushed = drop_within(log_guard, logs_limit);
    if !logs_flushed {
        eprintln!(
            "error: LOG_FILE not flushed within {logs_limit:?}; its last lines may be missing"
        );
    }
    // ANCHOR_END: order

    if clean && flushed.is_ok() && closed.is_ok() && logs_flushed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
// ANCHOR_END: main
