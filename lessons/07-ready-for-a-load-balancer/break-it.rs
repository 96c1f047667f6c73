//! Lesson 7, break it: step 7 with one common mistake planted.
//! `cargo test -p lessons --test lesson7-break` fails; find the
//! mistake from what the checks report, and fix it here.

use std::{io, process::ExitCode};

use bookmarks::{
    StartupError,
    config::Config,
    lifecycle::Lifecycle,
    link_check::LinkChecker,
    routes::with_middleware,
    shutdown::{
        cutoff::{CutoffListener, cut_off},
        deadline::{CUT_OFF_GRACE, Deadline, Outcome, Stop, after_cut_off, delay, served},
        runtime,
        signals::ShutdownSignals,
        workers::Workers,
    },
    store::Store,
    telemetry,
    visits::{self, VisitBuffer},
};
use tokio::{task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;
use tracing::info;
use tracing_appender::non_blocking::WorkerGuard;

// ANCHOR: main
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
// ANCHOR_END: main

// ANCHOR: run
async fn run() -> Result<ExitCode, StartupError> {
    let config = Config::from_env()?;
    // ANCHOR: logs
    // Logs go to a file too now, and with it comes the guard of the file
    // writer: the stop drops it last, after `server stopped`.
    let log_guard = telemetry::init_with_file(config.log_file.as_deref())?;
    // ANCHOR_END: logs
    let store = bookmarks::open_database(&config)?;
    bookmarks::create_background_tables(&store).await?;
    let listener = bookmarks::listen(&config).await?;
    // Installed before `server starting`: from that line on, a signal is
    // ours to handle rather than the end of the process.
    let mut signals = ShutdownSignals::install()?;

    // ANCHOR: workers
    // Visits are counted in memory and written every `FLUSH_INTERVAL`; a
    // link checker runs every `CHECK_INTERVAL`. Each watches the token it
    // is handed, and stops taking new work once it is cancelled.
    let visits = VisitBuffer::new();
    let mut workers = Workers::new();
    workers.spawn(|stop| {
        visits::flush_every(config.flush_interval, visits.clone(), store.clone(), stop)
    });
    let checker = LinkChecker::from_config(&config, store.clone());
    workers.spawn(|stop| checker.run(stop));
    // ANCHOR_END: workers

    // ANCHOR: app
    // A third moment joins the two of step 3: `not_ready`, at the signal,
    // before the drain. The lifecycle routes (`/ready`, `/events`, `/ws`)
    // and `Connection: close` follow the first two.
    let not_ready = CancellationToken::new();
    let drain = CancellationToken::new();
    let cutoff = CancellationToken::new();
    let listener = CutoffListener::new(listener, cutoff.clone());
    let lifecycle = Lifecycle::new(not_ready.clone(), drain.clone(), store.clone());
    let api = visits::api(store.clone(), visits.clone());
    let app = with_middleware(lifecycle.around(api));
    // ANCHOR_END: app

    let addr = listener.local_addr()?;
    info!(%addr, pid = std::process::id(), "server starting");
    // ANCHOR: spawn
    // The server runs in a task of its own, so that `run` is free to wait
    // for the signal and then to time the drain. The task ends when the
    // connections have closed and, after them, the WebSockets that left
    // them at the upgrade.
    let serve = axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(drain.clone().cancelled_owned());
    let server = tokio::spawn(async move {
        let served = serve.await;
        lifecycle.websockets_closed().await;
        served
    });
    // ANCHOR_END: spawn

    // ANCHOR: delay
    let signal = signals.recv().await;
    // Keep serving for the delay, then say "not ready" and drain: a load
    // balancer polling `/ready` takes a few seconds to stop sending.
    let delayed = delay(config.shutdown_delay, signals.recv()).await;
    not_ready.cancel();
    info!(signal, delay = ?config.shutdown_delay, "not ready");
    if delayed != Outcome::Forced {
        info!("shutting down");
    }
    // ANCHOR_END: delay
    let running = Running {
        server,
        drain,
        cutoff,
        store,
        signals,
        workers,
        visits,
        log_guard,
    };
    Ok(stop(running, &config, delayed).await)
}
// ANCHOR_END: run

/// What `run` started, for `stop` to wind down.
struct Running {
    server: JoinHandle<io::Result<()>>,
    drain: CancellationToken,
    cutoff: CancellationToken,
    store: Store,
    signals: ShutdownSignals,
    workers: Workers,
    visits: VisitBuffer,
    log_guard: Option<WorkerGuard>,
}

// ANCHOR: stop
async fn stop(mut running: Running, config: &Config, delayed: Outcome) -> ExitCode {
    // ANCHOR: order
    // One budget for the drain and what follows, counted from the end of
    // the delay (none left if a second signal cut the delay short).
    let mut deadline = Deadline::starting_now(config.shutdown_timeout).forced_if(delayed);

    // 1. Drain requests. Event streams end here, by themselves. The
    // workers are told now to take no new work (during the delay they ran
    // as usual); the one in hand finishes while the requests do.
    running.drain.cancel();
    running.workers.stop_taking_work();
    let second_signal = running.signals.recv();
    let drained = deadline
        .wait("requests", served(&mut running.server), second_signal)
        .await;
    if drained == Outcome::Drained {
        info!("requests drained");
    }

    // 2. Stop the workers: they were asked at the start of the drain; now
    // wait for them (unless a second signal already said not to wait).
    info!("stopping workers");
    let second_signal = running.signals.recv();
    let stopped = deadline
        .wait("workers", running.workers.wait(), second_signal)
        .await;
    if stopped == Outcome::Drained {
        info!("workers stopped");
    }

    // 3. The cut-off, if either phase did not end well: connections fail,
    // the running statement stops and rolls back, the workers still
    // running are dropped, one line says what was abandoned.
    let stop = Stop::after(&[drained, stopped]);
    if stop == Stop::CutOff {
        cut_off(&running.cutoff);
        running.store.cut_off();
        running.workers.abort();
        let by = Instant::now() + CUT_OFF_GRACE;
        if !drained.has_ended() {
            after_cut_off("requests", served(&mut running.server), by).await;
        }
        after_cut_off("workers", running.workers.wait(), by).await;
    }

    // 4. Flush the visit buffer: the last write, now that nothing else can
    // add to the buffer or write to the database.
    let by = deadline.last_writes_by(stop);
    let flushed = running.visits.flush_last(&running.store, by).await;

    // 5. Close the database, now that nothing will use it again.
    let closed = running.store.close_or_give_up(by).await;
    info!("server stopped");

    // 6. Flush the logs, `server stopped` included: within what is left of
    // the deadline, or a moment only once the stop was cut off.
    let logs_flushed = telemetry::flush_within(running.log_guard, deadline.logs_within(stop));
    // ANCHOR_END: order

    if stop == Stop::Clean && flushed.is_ok() && closed.is_ok() && logs_flushed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
// ANCHOR_END: stop
