//! Lesson 6, break it: step 6 with one common mistake planted.
//! `cargo test -p lessons --test lesson6-break` fails; find the
//! mistake from what the checks report, and fix it here.

use std::{io, process::ExitCode};

use bookmarks::{
    StartupError,
    config::Config,
    link_check::LinkChecker,
    routes::with_middleware,
    shutdown::{
        cutoff::{CutoffListener, cut_off},
        deadline::{CUT_OFF_GRACE, Deadline, Outcome, Stop, after_cut_off, served},
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

    // ANCHOR: tokens
    // Two moments, two tokens. Cancelling `drain` starts the graceful
    // shutdown; cancelling `cutoff` fails every connection still open,
    // through the listener axum accepts from.
    let drain = CancellationToken::new();
    let cutoff = CancellationToken::new();
    let listener = CutoffListener::new(listener, cutoff.clone());
    // ANCHOR_END: tokens

    // Step 5's API, plus `GET /bookmarks/{id}/visit`, which counts visits.
    let app = with_middleware(visits::api(store.clone(), visits.clone()));

    let addr = listener.local_addr()?;
    info!(%addr, pid = std::process::id(), "server starting");
    // ANCHOR: spawn
    // The server runs in a task of its own, so that `run` is free to wait
    // for the signal and then to time the drain.
    let server = tokio::spawn(
        axum::serve(listener, app.into_make_service())
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
        workers,
        visits,
        log_guard,
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
    workers: Workers,
    visits: VisitBuffer,
    log_guard: Option<WorkerGuard>,
}

// ANCHOR: stop
async fn stop(mut running: Running, config: &Config) -> ExitCode {
    // ANCHOR: order
    // One budget for the whole shutdown, counted from the signal. Each phase
    // gets what the phases before it left.
    let mut deadline = Deadline::starting_now(config.shutdown_timeout);

    // 1. Drain requests. After this no handler can add to the visit buffer.
    // The workers are told now to take no new work: a unit of work begun
    // during the drain would only make the shutdown longer. The one in
    // hand finishes while the requests do.
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

    // 4. Close the database, now that the requests and workers are done.
    let by = deadline.last_writes_by(stop);
    let closed = running.store.close_or_give_up(by).await;

    // 5. Flush the visit buffer: the last write.
    let flushed = running.visits.flush_last(&running.store, by).await;
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
