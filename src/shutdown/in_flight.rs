//! Counts of the work in flight, so that a shutdown that cuts work off can
//! say what it cut.
//!
//! Each count is raised where the work starts and lowered, by a guard, when
//! it ends or is dropped: a request by [`count_requests`], a connection by
//! `CutoffListener`; in the bookmarks app, a query by `Store::call` and a
//! blocking task by `/slow`'s blocking stand-in. They count for the whole
//! process, which is what a log line about this process's shutdown needs.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::{extract::Request, middleware::Next, response::Response};

/// How many of one kind of work are in flight.
pub struct Gauge(AtomicUsize);

impl Gauge {
    pub const fn new() -> Gauge {
        Gauge(AtomicUsize::new(0))
    }

    /// Counts one more until the returned guard is dropped.
    pub fn enter(&'static self) -> InFlight {
        self.0.fetch_add(1, Ordering::SeqCst);
        InFlight(self)
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Default for Gauge {
    fn default() -> Self {
        Gauge::new()
    }
}

/// One unit of work, counted while this lives.
#[must_use = "the work is counted only while the guard lives"]
pub struct InFlight(&'static Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Requests whose handler is running (the response not yet produced).
pub static REQUESTS: Gauge = Gauge::new();
/// Blocking tasks running on tokio's blocking threads.
pub static BLOCKING: Gauge = Gauge::new();
/// Database calls not finished: running, or waiting for the connection.
pub static QUERIES: Gauge = Gauge::new();
/// Accepted connections still open.
pub static CONNECTIONS: Gauge = Gauge::new();

/// Requests a client began and the server ended without an answer during
/// the drain (only step 8's accept loop can tell: see `super::accept`).
/// Never lowered: it counts what was lost, not what is running.
pub static UNANSWERED: Counter = Counter(AtomicUsize::new(0));

/// A count that only goes up.
pub struct Counter(AtomicUsize);

impl Counter {
    pub fn count(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// What was in flight at one moment, and what was left unanswered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub requests: usize,
    pub blocking: usize,
    pub queries: usize,
    pub connections: usize,
    pub unanswered: usize,
}

impl Snapshot {
    pub fn now() -> Snapshot {
        Snapshot {
            requests: REQUESTS.get(),
            blocking: BLOCKING.get(),
            queries: QUERIES.get(),
            connections: CONNECTIONS.get(),
            unanswered: UNANSWERED.get(),
        }
    }
}

/// A middleware (`axum::middleware::from_fn(count_requests)`) that counts
/// each request while its handler works on it. Put it outermost, so that
/// it counts every request a cut-off would abandon.
pub async fn count_requests(request: Request, next: Next) -> Response {
    let _in_flight = REQUESTS.enter();
    next.run(request).await
}
