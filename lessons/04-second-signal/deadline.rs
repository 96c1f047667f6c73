//! Lesson 4's deadline: the kit's `bookmarks::shutdown::deadline::Deadline`,
//! with the wait of one phase left for you to complete. (The kit's file,
//! `src/shutdown/deadline.rs`, is the answer: try before you open it.)

use std::{future::Future, time::Duration};

use bookmarks::shutdown::deadline::Outcome;
use tokio::time::Instant;
use tracing::warn;

/// The drain deadline, counted from the signal and shared by every phase
/// of the stop. Once a second signal has forced one phase, the phases
/// after it do not wait at all.
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
}

// YOURS: until_deadline
// TODO: as shipped, a phase ends when its work does or when the deadline
//  passes (step 3). It must also end at once, `Outcome::Forced`, when
//  `second_signal` completes first, and say so in the log: the line
//  `forced shutdown`, with the signal's name and the phase. Whatever ends
//  the wait, the two others are dropped unfinished.
pub async fn until_deadline<T: Into<Outcome>>(
    phase: &'static str,
    work: impl Future<Output = T>,
    deadline: Instant,
    second_signal: impl Future<Output = &'static str>,
) -> Outcome {
    let _second_signal = second_signal;
    match tokio::time::timeout_at(deadline, work).await {
        Ok(outcome) => outcome.into(),
        Err(_elapsed) => {
            warn!(phase, "shutdown timed out");
            Outcome::TimedOut
        }
    }
}
// YOURS_END: until_deadline
