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
    BackgroundConfig, Service, StartupError,
    cutoff::CutoffListener,
    link_check::LinkChecker,
    phase::{Ending, phase},
    server::serve,
    signals::ShutdownSignals,
    telemetry,
    visits::{self, VisitBuffer},
};
use tokio::time::Instant;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{error, info};

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    // ANCHOR: logs
    // Logging comes first, and with it the guard of the file writer: it
    // lives until the very end of `main`, after `server stopped`.
    let background = match BackgroundConfig::from_env() {
        Ok(background) => background,
        Err(err) => return StartupError::from(err).report(),
    };
    let log_guard = match telemetry::init_with_file(background.log_file.as_deref()) {
        Ok(guard) => guard,
        Err(err) => return err.report(),
    };
    // ANCHOR_END: logs
    let Service {
        config,
        store,
        listener,
        addr,
    } = match Service::start().await {
        Ok(service) => service,
        Err(err) => return err.report(),
    };
    if let Err(err) = bookmarks::create_background_tables(&store).await {
        return err.report();
    }
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
        background.flush_interval,
        visits.clone(),
        store.clone(),
        stop_workers.clone(),
    ));
    let checker = workers.spawn(
        LinkChecker {
            store: store.clone(),
            interval: background.check_interval,
            delay: background.check_delay,
        }
        .run(stop_workers.clone()),
    );
    // No worker is added after this, so `wait` can end once these have.
    workers.close();
    // ANCHOR_END: workers

    // TODO: add a `not_ready` token, and merge `lifecycle::routes(…)` (for
    //       `/ready` and `/events`) into the app, wrapped once by
    //       `routes::with_middleware`.
    let drain = CancellationToken::new();
    let cutoff = CancellationToken::new();
    let listener = CutoffListener::new(listener, cutoff.clone());

    info!(%addr, "server starting");
    let mut server = tokio::spawn(
        serve(listener, visits::app(store.clone(), visits.clone()))
            .with_graceful_shutdown(drain.clone().cancelled_owned())
            .into_future(),
    );

    let signal = signals.recv().await;
    // TODO: on the first signal, log `not ready` (with `signal`), cancel
    //       `not_ready`, and keep serving for `config.shutdown_delay`, unless
    //       a second signal forces the exit; only then log `shutting down`
    //       and start the drain, whose deadline counts from there.
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
    let drained = phase("requests", &mut server, deadline, &mut signals).await;
    if drained == Ending::Finished {
        info!("requests drained");
    } else {
        cutoff.cancel();
        let _ = server.await;
    }

    // 2. Stop the workers: they were asked at the start of the drain; now
    // wait for them, unless a second signal already said not to wait.
    info!("stopping workers");
    let stopped = match drained {
        Ending::Forced => Ending::Forced,
        _ => phase("workers", workers.wait(), deadline, &mut signals).await,
    };
    if stopped == Ending::Finished {
        info!("workers stopped");
    } else {
        // A worker deaf to its token is dropped at its next `.await`. A
        // write it had handed to SQLite still runs to its commit or
        // rollback: the transaction, not the task, is the unit of work.
        flusher.abort();
        checker.abort();
        workers.wait().await;
    }

    // 3. Flush the visit buffer: the last write, now that nothing else can
    // add to the buffer or write to the database.
    let flushed = visits.flush(&store).await;
    match &flushed {
        Ok(count) => info!(visits = count, "visits flushed"),
        Err(err) => error!(%err, lost = visits.pending_total(), "flushing visits failed"),
    }

    // 4. Close the database, now that nothing will use it again.
    let closed = store.close().await;
    match &closed {
        Ok(()) => info!("database closed"),
        Err(err) => error!(%err, "closing the database failed"),
    }
    info!("server stopped");

    // 5. Flush the logs: dropping the guard waits until the writer thread
    // has written every queued line, `server stopped` included.
    drop(log_guard);
    // ANCHOR_END: order

    let clean = drained == Ending::Finished && stopped == Ending::Finished;
    if clean && flushed.is_ok() && closed.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
// ANCHOR_END: main
