//! The drain deadline, and the shape every step from 3 on gives its
//! shutdown: phases that wait for their work within one deadline (a second
//! signal, from step 4 on, ends any of them at once), then a cut-off, then
//! the last writes, each wait after the deadline bounded, so that the
//! whole stop keeps [`BOUND`] (step 5 on).

use std::{future::Future, io, time::Duration};

use tokio::{task::JoinHandle, time::Instant};
use tracing::{error, warn};

use super::in_flight;

// ANCHOR: bound
/// The promise, from step 3 on: the process is gone at most this long
/// after the drain deadline, or after a second signal (step 4 on).
pub const BOUND: Duration = Duration::from_millis(250);

/// After the cut-off, how long what was cut off gets to end: a connection
/// task, an aborted worker. Each ends at its next poll, within a
/// millisecond; only code stuck in a synchronous call on a runtime thread
/// takes longer, and is left behind.
pub const CUT_OFF_GRACE: Duration = Duration::from_millis(50);

/// The last writes, after a cut-off: the final flush, and the close's wait
/// for the connection. After a clean drain they also get what is left
/// until the deadline. The close itself, once it has the connection, runs
/// to its end: its checkpoint is a write to the disk, which no bound of
/// ours can shorten (see `Store::close_or_give_up`).
const CLOSE_GRACE: Duration = Duration::from_millis(100);

/// The log file's writer thread, to write the lines still queued.
pub const LOG_GRACE: Duration = Duration::from_millis(25);

/// The runtime, once `main`'s future has returned, to drop its tasks and
/// stop its threads. A blocking thread still running is left behind.
pub const RUNTIME_GRACE: Duration = Duration::from_millis(10);

// What can follow the deadline, one wait after another, fits in the bound
// with room to spare for the work between the waits.
const _: () = assert!(
    CUT_OFF_GRACE.as_millis()
        + CLOSE_GRACE.as_millis()
        + LOG_GRACE.as_millis()
        + RUNTIME_GRACE.as_millis()
        <= BOUND.as_millis() * 3 / 4
);
// ANCHOR_END: bound

// ANCHOR: phase
/// How one phase of the shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The work finished, and well: every request answered, every worker
    /// stopped.
    Drained,
    /// The work finished, badly: `serve` failed or panicked, and may have
    /// left connections behind, or a request was closed unanswered.
    Failed,
    /// The deadline passed first.
    TimedOut,
    /// A second signal came first (step 4 on).
    Forced,
}

impl Outcome {
    /// Whether the work ended by itself, well or not: nothing is left of
    /// it to wait for.
    pub fn has_ended(self) -> bool {
        matches!(self, Outcome::Drained | Outcome::Failed)
    }
}

/// Work that ends without a verdict of its own (a `TaskTracker`'s `wait`)
/// has drained once it ends.
impl From<()> for Outcome {
    fn from((): ()) -> Outcome {
        Outcome::Drained
    }
}

// ANCHOR: deadline
/// The drain deadline, counted from the signal (in step 7 on, from the end
/// of the delay) and shared by every phase of the stop: each phase gets
/// what the phases before it left. Once a second signal has forced one
/// phase, the phases after it do not wait at all.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    forced: bool,
}

impl Deadline {
    /// `timeout` from now.
    pub fn starting_now(timeout: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + timeout,
            forced: false,
        }
    }

    /// Forced from the start if what came before it (the delay) was.
    pub fn forced_if(self, earlier: Outcome) -> Deadline {
        Deadline {
            forced: self.forced || earlier == Outcome::Forced,
            ..self
        }
    }

    /// Waits for one phase's `work` within the deadline: see
    /// [`until_deadline`].
    pub async fn wait<T: Into<Outcome>>(
        &mut self,
        phase: &'static str,
        work: impl Future<Output = T>,
        second_signal: impl Future<Output = &'static str>,
    ) -> Outcome {
        if self.forced {
            return Outcome::Forced;
        }
        let outcome = until_deadline(phase, work, self.at, second_signal).await;
        self.forced = outcome == Outcome::Forced;
        outcome
    }

    /// When the last writes (the final flush, the close) must be done by:
    /// see [`last_writes_by`].
    pub fn last_writes_by(&self, stop: Stop) -> Instant {
        last_writes_by(self.at, stop)
    }

    /// How long the log file may take to flush: see [`logs_within`].
    pub fn logs_within(&self, stop: Stop) -> Duration {
        logs_within(self.at, stop)
    }
}
// ANCHOR_END: deadline

// ANCHOR: until_deadline
/// Waits for `work` until it ends, the shared `deadline` passes, or
/// `second_signal` completes, and logs the last two.
///
/// A phase that starts after the deadline still looks at its work once:
/// `timeout_at` polls the work before its timer, so work that has just
/// ended counts as ended.
pub async fn until_deadline<T: Into<Outcome>>(
    phase: &'static str,
    work: impl Future<Output = T>,
    deadline: Instant,
    second_signal: impl Future<Output = &'static str>,
) -> Outcome {
    tokio::select! {
        ended = tokio::time::timeout_at(deadline, work) => match ended {
            Ok(outcome) => outcome.into(),
            Err(_elapsed) => {
                warn!(phase, "shutdown timed out");
                Outcome::TimedOut
            }
        },
        signal = second_signal => {
            warn!(signal, phase, "forced shutdown");
            Outcome::Forced
        }
    }
}
// ANCHOR_END: until_deadline

/// Waits out `delay`, unless `second_signal` comes first (logged as a
/// forced shutdown): for the time a load balancer needs to stop sending
/// (step 7). [`Outcome::Drained`] when the delay ran its course.
pub async fn delay(delay: Duration, second_signal: impl Future<Output = &'static str>) -> Outcome {
    tokio::select! {
        () = tokio::time::sleep(delay) => Outcome::Drained,
        signal = second_signal => {
            warn!(signal, phase = "delay", "forced shutdown");
            Outcome::Forced
        }
    }
}
// ANCHOR_END: phase

// ANCHOR: served
/// Waits for the server task: [`Outcome::Drained`] if `serve` returned
/// `Ok`, else [`Outcome::Failed`], logging how (an I/O error, a panic).
///
/// It borrows the handle, so a phase that times out leaves the task to be
/// awaited again after the cut-off. A task that has ended must never be
/// awaited again (its `JoinHandle` panics): check [`Outcome::has_ended`].
pub async fn served(server: &mut JoinHandle<io::Result<()>>) -> Outcome {
    match server.await {
        // A request closed unanswered during the drain (step 8 on) means
        // the drain did not end well, though `serve` did.
        Ok(Ok(())) if in_flight::UNANSWERED.get() > 0 => {
            warn!(
                unanswered = in_flight::UNANSWERED.get(),
                "requests closed unanswered during the drain"
            );
            Outcome::Failed
        }
        Ok(Ok(())) => Outcome::Drained,
        Ok(Err(err)) => {
            error!(%err, "server failed");
            Outcome::Failed
        }
        // A `JoinError` is a panic or a cancellation; `into_panic` would
        // itself panic on the second.
        Err(err) => match err.try_into_panic() {
            Ok(panic) => {
                error!(panic = panic_message(&*panic), "server panicked");
                Outcome::Failed
            }
            Err(err) => {
                error!(%err, "server task cancelled");
                Outcome::Failed
            }
        },
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message
    } else {
        "(not a string)"
    }
}
// ANCHOR_END: served

// ANCHOR: after_cut_off
/// After the cut-off: waits until `by` at most for `work` that was cut off
/// to end, and logs it if it did not.
pub async fn after_cut_off<T>(
    name: &'static str,
    work: impl Future<Output = T>,
    by: Instant,
) -> Option<T> {
    match tokio::time::timeout_at(by, work).await {
        Ok(output) => Some(output),
        Err(_elapsed) => {
            error!(phase = name, "still running after the cut-off; left behind");
            None
        }
    }
}

/// Whether a stop ended cleanly or had to cut work off: the waits after
/// it are sized by this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Every phase drained: what is left of the deadline is still ours.
    Clean,
    /// The deadline passed, a second signal came, or a phase failed: only
    /// the bound is left.
    CutOff,
}

impl Stop {
    /// Clean only if every phase drained.
    pub fn after(outcomes: &[Outcome]) -> Stop {
        if outcomes.iter().all(|&outcome| outcome == Outcome::Drained) {
            Stop::Clean
        } else {
            Stop::CutOff
        }
    }
}

/// When the last writes (the final flush, the close) must be done by:
/// [`CLOSE_GRACE`] from now after a cut-off; after a clean stop, that
/// plus what is left until the deadline, so that a clean stop never gives
/// up its close early.
pub fn last_writes_by(deadline: Instant, stop: Stop) -> Instant {
    let now = Instant::now();
    let from = match stop {
        Stop::CutOff => now,
        Stop::Clean => deadline.max(now),
    };
    from + CLOSE_GRACE
}
// ANCHOR_END: after_cut_off

// ANCHOR: logs_within
/// How long the log file's writer may take to flush: what is left of the
/// deadline on a clean stop, so that a busy machine does not cost the last
/// lines; only [`LOG_GRACE`] once the stop was cut off (the deadline passed,
/// or a second signal asked for the exit now), to keep the bound.
pub fn logs_within(deadline: Instant, stop: Stop) -> Duration {
    match stop {
        Stop::CutOff => LOG_GRACE,
        Stop::Clean => deadline
            .saturating_duration_since(Instant::now())
            .max(LOG_GRACE),
    }
}
// ANCHOR_END: logs_within

// ANCHOR: drop_within
/// Drops `value` on a thread of its own and waits at most `limit` for the
/// drop to finish; says whether it did.
///
/// For the log file's `WorkerGuard`: its drop waits up to 100 ms to hand
/// the writer thread the shutdown message and then up to 1 s for the
/// thread to write what is queued (tracing-appender 0.2.5,
/// `impl Drop for WorkerGuard` in `src/non_blocking.rs`), four times the
/// whole [`BOUND`]. With no value (no `LOG_FILE`), there is nothing to
/// wait for: `true` at once.
pub fn drop_within<T: Send + 'static>(value: Option<T>, limit: Duration) -> bool {
    let Some(value) = value else {
        return true;
    };
    let (done, dropped) = std::sync::mpsc::channel();
    let dropper = std::thread::Builder::new()
        .name("drop-within".into())
        .spawn(move || {
            drop(value);
            let _ = done.send(());
        });
    // Without a thread the value was dropped here, on the spot, as the
    // closure that held it was.
    dropper.is_err() || dropped.recv_timeout(limit).is_ok()
}
// ANCHOR_END: drop_within

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn a_server_that_panics_is_finished_and_not_served() {
        let mut server: JoinHandle<io::Result<()>> = tokio::spawn(async { panic!("boom") });
        let ending = until_deadline(
            "requests",
            served(&mut server),
            far(),
            std::future::pending(),
        )
        .await;
        assert_eq!(ending, Outcome::Failed);
    }

    #[tokio::test]
    async fn a_server_that_fails_is_finished_and_not_served() {
        let mut server = tokio::spawn(async { Err(io::Error::other("accept failed")) });
        let ending = until_deadline(
            "requests",
            served(&mut server),
            far(),
            std::future::pending(),
        )
        .await;
        assert_eq!(ending, Outcome::Failed);
    }

    #[tokio::test]
    async fn a_cancelled_server_task_is_reported_not_panicked_on() {
        let mut server: JoinHandle<io::Result<()>> =
            tokio::spawn(std::future::pending::<io::Result<()>>());
        server.abort();
        assert_eq!(served(&mut server).await, Outcome::Failed);
    }

    #[tokio::test]
    async fn a_timed_out_server_can_be_awaited_after_the_cut_off() {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut server = tokio::spawn(async move {
            let _ = stopped.await;
            Ok(())
        });
        let ending = until_deadline(
            "requests",
            served(&mut server),
            Instant::now() + Duration::from_millis(10),
            std::future::pending(),
        )
        .await;
        assert_eq!(ending, Outcome::TimedOut);
        stop.send(()).unwrap();
        let after = after_cut_off("requests", served(&mut server), far()).await;
        assert_eq!(after, Some(Outcome::Drained));
    }

    #[tokio::test]
    async fn a_second_signal_forces() {
        let ending = until_deadline("requests", std::future::pending::<()>(), far(), async {
            "SIGTERM"
        })
        .await;
        assert_eq!(ending, Outcome::Forced);
    }

    #[tokio::test]
    async fn a_phase_after_the_deadline_sees_finished_work() {
        let ending = until_deadline(
            "workers",
            async {},
            Instant::now() - Duration::from_millis(1),
            std::future::pending(),
        )
        .await;
        assert_eq!(ending, Outcome::Drained);
    }

    #[tokio::test]
    async fn a_forced_phase_forces_the_phases_after_it() {
        let mut deadline = Deadline::starting_now(Duration::from_secs(60));
        let first = deadline
            .wait("requests", std::future::pending::<()>(), async { "SIGINT" })
            .await;
        assert_eq!(first, Outcome::Forced);
        let second = deadline
            .wait(
                "workers",
                std::future::pending::<()>(),
                std::future::pending(),
            )
            .await;
        assert_eq!(second, Outcome::Forced);
        let after_a_forced_delay = Deadline::starting_now(Duration::from_secs(60))
            .forced_if(Outcome::Forced)
            .wait("requests", async {}, std::future::pending())
            .await;
        assert_eq!(after_a_forced_delay, Outcome::Forced);
    }

    #[test]
    fn a_slow_drop_is_given_up_on() {
        struct Slow;
        impl Drop for Slow {
            fn drop(&mut self) {
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        let started = std::time::Instant::now();
        assert!(!drop_within(Some(Slow), Duration::from_millis(20)));
        assert!(started.elapsed() < Duration::from_millis(400));
        assert!(drop_within(Some(42), Duration::from_secs(5)));
        assert!(drop_within(None::<Slow>, Duration::ZERO));
    }
}
