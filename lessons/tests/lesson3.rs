//! Lesson 3's check: the tests that prove step 3, run against your
//! `lesson3`. They call the very checks (`tools::checks`) that the root
//! `cargo test` runs against `step3`.
//!
//! ```text
//! cargo test -p lessons --test lesson3
//! ```
//!
//! As shipped, the exercise is step 2 and fails some of them; that is
//! the point. When they all pass, the lesson is done.

use tools::checks::{self, Signal};

/// After SIGTERM the in-flight request gets its 200 and the exit is 0.
#[test]
fn sigterm_drains_the_in_flight_request() {
    checks::drain_completes_in_flight_request("lesson3", Signal::SIGTERM);
}

/// Ctrl+C (SIGINT) drains the same way.
#[test]
fn sigint_drains_the_in_flight_request() {
    checks::drain_completes_in_flight_request("lesson3", Signal::SIGINT);
}

/// An idle keep-alive connection does not hold the exit.
#[test]
fn idle_keep_alive_does_not_delay_exit() {
    checks::idle_keep_alive_does_not_delay_exit("lesson3");
}

/// Writes answered with 201 before the signal are in the file after.
#[test]
fn acknowledged_writes_are_in_the_database() {
    checks::acknowledged_writes_are_in_the_database("lesson3");
}

/// A stuck request is cut at SHUTDOWN_TIMEOUT; the exit is 1.
#[test]
fn deadline_ends_a_stuck_request() {
    checks::deadline_ends_a_stuck_request("lesson3");
}

/// The deadline's clock starts at the signal.
#[test]
fn deadline_starts_at_the_signal() {
    checks::deadline_starts_at_the_signal("lesson3");
}

/// Half a request line cannot hold the process past the deadline.
#[test]
fn half_request_does_not_outlive_the_deadline() {
    checks::half_request_does_not_outlive_the_deadline("lesson3");
}

/// A blocking thread does not hold the process past the deadline.
#[test]
fn deadline_ends_blocking_work() {
    checks::deadline_ends_blocking_work("lesson3");
}

/// A running query is stopped at the deadline and rolled back.
#[test]
fn deadline_ends_a_query() {
    checks::deadline_ends_a_query("lesson3");
}
