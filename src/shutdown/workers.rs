//! Background work that stops with the service, for step 6 on.
//!
//! One token asks every worker to stop taking new work; one tracker knows
//! every worker, so a stop can wait for all of them at once, within the
//! deadline, and abort what is left after it. A worker that watches its
//! token finishes the unit of work in hand and returns; one deaf to it is
//! dropped at its next `.await` by [`Workers::abort`].

use std::future::Future;

use tokio::task::AbortHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

// ANCHOR: workers
/// The service's background tasks.
#[derive(Default)]
pub struct Workers {
    stop: CancellationToken,
    tracker: TaskTracker,
    running: Vec<AbortHandle>,
}

impl Workers {
    pub fn new() -> Workers {
        Workers::default()
    }

    /// Spawns `work`, handing it the token it must watch: once cancelled,
    /// take no new work, finish the unit in hand, return.
    pub fn spawn<F>(&mut self, work: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.tracker.spawn(work(self.stop.clone()));
        self.running.push(handle.abort_handle());
    }

    /// Asks every worker to stop taking new work.
    pub fn stop_taking_work(&self) {
        self.stop.cancel();
    }

    /// Waits until every worker has returned (or been aborted).
    pub async fn wait(&self) {
        // No worker is added once the stop waits for them.
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Drops every worker still running at its next `.await`: for the
    /// cut-off. Its transaction, not the task, is the unit of work, and an
    /// aborted one rolls back whole.
    pub fn abort(&self) {
        for worker in &self.running {
            worker.abort();
        }
    }
}
// ANCHOR_END: workers
