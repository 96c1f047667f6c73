//! Lesson 2's check: the tests that prove step 2, run against your
//! `lesson2`. They call the very checks (`tools::checks`) that the root
//! `cargo test` runs against `step2`.
//!
//! ```text
//! cargo test -p lessons --test lesson2
//! ```
//!
//! As shipped, the exercise is step 1 and fails some of them; that is
//! the point. When they all pass, the lesson is done.

use tools::checks::{self, Signal};

/// After SIGTERM the in-flight request gets its 200 and the exit is 0.
#[test]
fn sigterm_drains_the_in_flight_request() {
    checks::drain_completes_in_flight_request("lesson2", Signal::SIGTERM);
}

/// Ctrl+C (SIGINT) drains the same way.
#[test]
fn sigint_drains_the_in_flight_request() {
    checks::drain_completes_in_flight_request("lesson2", Signal::SIGINT);
}

/// An idle keep-alive connection does not hold the exit.
#[test]
fn idle_keep_alive_does_not_delay_exit() {
    checks::idle_keep_alive_does_not_delay_exit("lesson2");
}

/// Writes answered with 201 before the signal are in the file after.
#[test]
fn acknowledged_writes_are_in_the_database() {
    checks::acknowledged_writes_are_in_the_database("lesson2");
}

/// A query in flight at the signal is waited for and committed.
#[test]
fn query_in_flight_is_committed() {
    checks::query_in_flight_is_committed("lesson2");
}
