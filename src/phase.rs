//! Shutdown in phases, from step 5 on: each phase waits for its work
//! within one deadline shared by all phases, and a second signal ends any
//! of them at once.

use std::{future::Future, time::Duration};

use tokio::time::Instant;
use tracing::warn;

use crate::signals::ShutdownSignals;

// ANCHOR: phase
/// How long a phase that starts after the deadline still gets.
pub const LAST_CHANCE: Duration = Duration::from_millis(50);

/// How one phase of the shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Finished,
    TimedOut,
    Forced,
}

/// Waits for `work` until it finishes, the shared deadline passes, or a
/// second signal arrives, and logs the last two.
///
/// A phase that starts after the deadline (the drain before it used the
/// whole budget) still gets [`LAST_CHANCE`]: work that was just told to
/// stop needs a moment to be scheduled and notice, and timing it out
/// unpolled would report as stuck a worker that was about to finish.
pub async fn phase(
    name: &'static str,
    work: impl Future,
    deadline: Instant,
    signals: &mut ShutdownSignals,
) -> Ending {
    tokio::select! {
        finished = tokio::time::timeout_at(deadline.max(Instant::now() + LAST_CHANCE), work) => match finished {
            Ok(_) => Ending::Finished,
            Err(_elapsed) => {
                warn!(phase = name, "shutdown timed out");
                Ending::TimedOut
            }
        },
        signal = signals.recv() => {
            warn!(signal, phase = name, "forced shutdown");
            Ending::Forced
        }
    }
}
// ANCHOR_END: phase
