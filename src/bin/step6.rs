//! Step 6: ready for production.
//!
//! As step 5, with what a service behind a load balancer needs:
//!
//! - `GET /ready` answers 200 while serving and 503 from the first signal
//!   on, while `GET /health` stays 200 until the process ends;
//! - `SHUTDOWN_DELAY` (default `0s`) keeps the server accepting and serving
//!   for that long after the first signal, so that a load balancer, which
//!   needs a few seconds to notice, stops sending before the drain closes
//!   the door; the logs say `not ready`, then `shutting down`;
//! - `GET /events`, a server-sent-events stream of new bookmarks, ends by
//!   itself when the drain begins instead of holding it until the deadline.
//!
//! A second signal during the delay or the drain forces the exit, as
//! before. `deploy/` holds the Docker, Kubernetes and systemd files that
//! go with these settings.
//!
//! Run with
//!
//! ```not_rust
//! SHUTDOWN_DELAY=5s cargo run --bin step6
//! ```
//!
//! Then, in a second terminal, open the event stream, send the signal, and
//! watch readiness flip while requests are still served:
//!
//! ```not_rust
//! curl -N localhost:8080/events &
//! kill -TERM "$(pgrep -x step6)"
//! curl -i localhost:8080/ready      # 503 for five seconds, and yet
//! curl -i localhost:8080/health     # 200: still serving
//! ```
//!
//! After five seconds the event stream ends with `event: shutdown` and the
//! server exits 0 at once, without waiting for the stream's deadline.

use std::process::ExitCode;

use bookmarks::{
    BackgroundConfig, Service, StartupError,
    cutoff::CutoffListener,
    lifecycle,
    link_check::LinkChecker,
    phase::{Ending, phase},
    routes::with_middleware,
    server::serve,
    signals::ShutdownSignals,
    telemetry,
    visits::{self, VisitBuffer},
};
use tokio::time::Instant;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{error, info, warn};

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

    // ANCHOR: app
    // A third moment joins the two of step 3: `not_ready`, at the signal,
    // before the drain.
    let not_ready = CancellationToken::new();
    let drain = CancellationToken::new();
    let cutoff = CancellationToken::new();
    let listener = CutoffListener::new(listener, cutoff.clone());
    let app = with_middleware(visits::routes(store.clone(), visits.clone()).merge(
        lifecycle::routes(store.clone(), not_ready.clone(), drain.clone()),
    ));
    // ANCHOR_END: app

    info!(%addr, "server starting");
    let mut server = tokio::spawn(
        serve(listener, app)
            .with_graceful_shutdown(drain.clone().cancelled_owned())
            .into_future(),
    );

    // ANCHOR: delay
    let signal = signals.recv().await;
    // 0. Say "not ready" and keep serving: a load balancer polling `/ready`
    // takes a few seconds to stop sending, and until it does, new requests
    // still arrive here. Closing the listener now would refuse them.
    info!(signal, delay = ?config.shutdown_delay, "not ready");
    not_ready.cancel();
    let delayed = tokio::select! {
        _ = tokio::time::sleep(config.shutdown_delay) => Ending::Finished,
        signal = signals.recv() => {
            warn!(signal, phase = "delay", "forced shutdown");
            Ending::Forced
        }
    };
    if delayed == Ending::Finished {
        info!("shutting down");
    }
    // ANCHOR_END: delay
    // ANCHOR: order
    // One budget for the drain and what follows, counted from the end of
    // the delay. Each phase gets what the phases before it left.
    let deadline = Instant::now() + config.shutdown_timeout;

    // 1. Drain requests. Event streams end here, by themselves. The
    // workers are told now to take no new work (during the delay they ran
    // as usual); the one in hand finishes while the requests do.
    drain.cancel();
    stop_workers.cancel();
    let drained = match delayed {
        Ending::Forced => Ending::Forced,
        _ => phase("requests", &mut server, deadline, &mut signals).await,
    };
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
