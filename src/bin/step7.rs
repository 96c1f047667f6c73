//! Step 7: restart without refusing a connection.
//!
//! With `LISTEN_FDS=1` and `LISTEN_PID` (its own pid), it serves the socket
//! at fd 3, which systemd keeps open across restarts, and binds nothing:
//! during a restart, connections wait in the socket's backlog instead of
//! being refused. With `NOTIFY_SOCKET` it tells systemd `READY=1`,
//! `STOPPING=1`, `EXTEND_TIMEOUT_USEC=` and `STATUS=`. Chapter:
//! `book/src/ch06b-step7-restart.md`; `deploy/bookmarks.socket` and
//! `deploy/bookmarks.service` are the units.
//!
//! Run it as systemd would, the socket held by `systemd-socket-activate`:
//!
//! ```not_rust
//! cargo build --bin step7
//! systemd-socket-activate -l 127.0.0.1:8080 target/debug/step7
//! curl localhost:8080/health        # in a second terminal
//! ```

use std::{process::ExitCode, time::Duration};

use bookmarks::{
    Service, StartupError,
    config::Config,
    cutoff::{CutoffListener, cut_off},
    lifecycle::Lifecycle,
    link_check::LinkChecker,
    phase::{
        CUT_OFF_GRACE, Ending, RUNTIME_GRACE, after_cut_off, drop_within, last_writes_by,
        logs_within, phase, served,
    },
    routes::with_middleware,
    server::serve,
    signals::ShutdownSignals,
    store, systemd, telemetry,
    visits::{self, VisitBuffer},
};
use tokio::time::Instant;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{error, info, warn};

/// Past the deadline, the most the exit may take (the bound of step 3 on),
/// which systemd's stop timeout must allow for too.
const EXIT_BOUND: Duration = Duration::from_millis(250);

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
    // The socket systemd handed over, if it did; else `start_on` binds.
    let inherited = match systemd::inherited_listener() {
        Ok(inherited) => inherited,
        Err(err) => return err.report(),
    };
    let Service {
        mut store,
        listener,
        addr,
    } = match Service::start_on(&config, inherited).await {
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

    // ANCHOR: app
    // A third moment joins the two of step 3: `not_ready`, at the signal,
    // before the drain.
    let not_ready = CancellationToken::new();
    let drain = CancellationToken::new();
    let cutoff = CancellationToken::new();
    let listener = CutoffListener::new(listener, cutoff.clone());
    let lifecycle = Lifecycle::new(not_ready.clone(), drain.clone());
    let app = with_middleware(lifecycle.around(visits::api(store.clone(), visits.clone())));
    // ANCHOR_END: app

    info!(%addr, "server starting");
    // ANCHOR: server_task
    // The server runs in a task of its own so that `run` is free to wait
    // for the signal and then to time the drain. The task ends when the
    // connections have closed and, after them, the WebSockets that left
    // them at the upgrade.
    let server = serve(listener, app).with_graceful_shutdown(drain.clone().cancelled_owned());
    let mut server = tokio::spawn(async move {
        let served = server.await;
        lifecycle.websockets_closed().await;
        served
    });
    // ANCHOR_END: server_task
    // With `Type=notify`, systemd counts the service started from here.
    systemd::Notify::ready("serving");

    // ANCHOR: delay
    let signal = signals.recv().await;
    // 0. Say "not ready" and keep serving: a load balancer polling `/ready`
    // takes a few seconds to stop sending, and until it does, new requests
    // still arrive here. Closing the listener now would refuse them.
    not_ready.cancel();
    info!(signal, delay = ?config.shutdown_delay, "not ready");
    // How long the stop may take from now: should that outlast
    // `TimeoutStopSec=`, systemd extends its stop timeout to match.
    let stop_within = config.shutdown_delay + config.shutdown_timeout + EXIT_BOUND;
    systemd::Notify::stopping("not ready, draining after the delay", stop_within);
    let delayed = tokio::select! {
        _ = tokio::time::sleep(config.shutdown_delay) => Ending::Finished(()),
        signal = signals.recv() => {
            warn!(signal, phase = "delay", "forced shutdown");
            Ending::Forced
        }
    };
    if delayed.is_finished() {
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
    systemd::Notify::phase("draining requests", config.shutdown_timeout + EXIT_BOUND);
    let drained = match delayed {
        Ending::Forced => Ending::Forced,
        _ => phase("requests", served(&mut server), deadline, signals.recv()).await,
    };
    if drained == Ending::Finished(true) {
        info!("requests drained");
    }

    // 2. Stop the workers: they were asked at the start of the drain; now
    // wait for them, unless a second signal already said not to wait.
    info!("stopping workers");
    systemd::Notify::status("stopping workers");
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
    systemd::Notify::status("closing the database");
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
