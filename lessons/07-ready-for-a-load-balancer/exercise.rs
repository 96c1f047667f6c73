//! Lesson 7: turn step 6 into step 7. Read `README.md` beside this file;
//! check with `cargo test -p lessons --test lesson7`.

use std::process::ExitCode;

use bookmarks::{
    StartupError,
    config::Config,
    link_check::LinkChecker,
    routes::with_middleware,
    shutdown::{
        cutoff::{CutoffListener, cut_off},
        deadline::{
            CUT_OFF_GRACE, Outcome, Stop, after_cut_off, drop_within, last_writes_by, logs_within,
            served, until_deadline,
        },
        runtime,
        signals::ShutdownSignals,
    },
    store, telemetry,
    visits::{self, VisitBuffer},
};
use tokio::time::Instant;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{error, info};

fn main() -> ExitCode {
    // A runtime of our own instead of `#[tokio::main]`, for the way it
    // ends: a blocking thread still running at the exit is left behind,
    // not waited for.
    runtime::block_on(async {
        // A setting that is wrong, a port taken: one line on standard
        // error and exit status 2.
        run().await.unwrap_or_else(StartupError::report)
    })
}

// ANCHOR: run
async fn run() -> Result<ExitCode, StartupError> {
    // TODO: what step 7 adds: see README.md.
    let config = Config::from_env()?;
    // ANCHOR: logs
    // Logs go to a file too now, and with it comes the guard of the file
    // writer: it lives until the very end of `run`, after `server stopped`.
    let log_guard = telemetry::init_with_file(config.log_file.as_deref())?;
    // ANCHOR_END: logs
    let mut store = bookmarks::open_database(&config)?;
    bookmarks::create_background_tables(&store).await?;
    let listener = bookmarks::listen(&config).await?;
    // Installed before `server starting`: from that line on, a signal is
    // ours to handle rather than the end of the process.
    let mut signals = ShutdownSignals::install()?;

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

    // Two moments, two tokens. Cancelling `drain` starts the graceful
    // shutdown; cancelling `cutoff` fails every connection still open,
    // through the listener axum accepts from.
    let drain = CancellationToken::new();
    let cutoff = CancellationToken::new();
    let listener = CutoffListener::new(listener, cutoff.clone());
    // Step 5's API, plus `GET /bookmarks/{id}/visit`, which counts visits.
    let app = with_middleware(visits::api(store.clone(), visits.clone()));

    let addr = listener.local_addr()?;
    info!(%addr, pid = std::process::id(), "server starting");
    // The server runs in a task of its own, so that `run` is free to wait
    // for the signal and then to time the drain.
    let mut server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(drain.clone().cancelled_owned())
            .into_future(),
    );

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
    let drained = until_deadline("requests", served(&mut server), deadline, signals.recv()).await;
    if drained == Outcome::Drained {
        info!("requests drained");
    }

    // 2. Stop the workers: they were asked at the start of the drain; now
    // wait for them, unless a second signal already said not to wait.
    info!("stopping workers");
    let stopped = match drained {
        Outcome::Forced => Outcome::Forced,
        _ => until_deadline("workers", workers.wait(), deadline, signals.recv()).await,
    };
    if stopped == Outcome::Drained {
        info!("workers stopped");
    }

    // 3. The cut-off, if either phase did not end well: connections fail,
    // the running statement stops and rolls back, one line says what was
    // abandoned. A worker deaf to its token is dropped at its next
    // `.await`; the transaction, not the task, is the unit of work, and an
    // aborted one rolls back whole.
    let stop = Stop::after(&[drained, stopped]);
    if stop == Stop::CutOff {
        cut_off(&cutoff);
        store.cut_off();
        flusher.abort();
        checker.abort();
        let by = Instant::now() + CUT_OFF_GRACE;
        if !drained.has_ended() {
            after_cut_off("requests", served(&mut server), by).await;
        }
        after_cut_off("workers", workers.wait(), by).await;
    }

    // 4. Flush the visit buffer: the last write, now that nothing else can
    // add to the buffer or write to the database.
    let last_writes = last_writes_by(deadline, stop);
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
    let logs_limit = logs_within(deadline, stop);
    let logs_flushed = drop_within(log_guard, logs_limit);
    if !logs_flushed {
        eprintln!(
            "error: LOG_FILE not flushed within {logs_limit:?}; its last lines may be missing"
        );
    }
    // ANCHOR_END: order

    Ok(
        if stop == Stop::Clean && flushed.is_ok() && closed.is_ok() && logs_flushed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}
// ANCHOR_END: run
