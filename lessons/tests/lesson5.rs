//! Lesson 5's check: the tests that prove step 5, run against your
//! `lesson5`. They call the very checks (`tools::checks`) that the root
//! `cargo test` runs against `step5`.
//!
//! ```text
//! cargo test -p lessons --test lesson5
//! ```
//!
//! As shipped, the exercise is step 4 and fails some of them; that is
//! the point. When they all pass, the lesson is done.

use tools::checks::{self, Signal};

/// After SIGTERM the in-flight request gets its 200 and the exit is 0.
#[test]
fn sigterm_drains_the_in_flight_request() {
    checks::drain_completes_in_flight_request("lesson5", Signal::SIGTERM);
}

/// Ctrl+C (SIGINT) drains the same way.
#[test]
fn sigint_drains_the_in_flight_request() {
    checks::drain_completes_in_flight_request("lesson5", Signal::SIGINT);
}

/// An idle keep-alive connection does not hold the exit.
#[test]
fn idle_keep_alive_does_not_delay_exit() {
    checks::idle_keep_alive_does_not_delay_exit("lesson5");
}

/// Writes answered with 201 before the signal are in the file after.
#[test]
fn acknowledged_writes_are_in_the_database() {
    checks::acknowledged_writes_are_in_the_database("lesson5");
}

/// A stuck request is cut at SHUTDOWN_TIMEOUT; the exit is 1.
#[test]
fn deadline_ends_a_stuck_request() {
    checks::deadline_ends_a_stuck_request("lesson5");
}

/// The deadline's clock starts at the signal.
#[test]
fn deadline_starts_at_the_signal() {
    checks::deadline_starts_at_the_signal("lesson5");
}

/// Half a request line cannot hold the process past the deadline.
#[test]
fn half_request_does_not_outlive_the_deadline() {
    checks::half_request_does_not_outlive_the_deadline("lesson5");
}

/// A blocking thread does not hold the process past the deadline.
#[test]
fn deadline_ends_blocking_work() {
    checks::deadline_ends_blocking_work("lesson5");
}

/// A running query is stopped at the deadline and rolled back.
#[test]
fn deadline_ends_a_query() {
    checks::deadline_ends_a_query("lesson5");
}

/// A second SIGTERM during the drain forces exit 1 at once.
#[test]
fn second_sigterm_forces_exit() {
    checks::second_signal_forces_exit("lesson5", Signal::SIGTERM);
}

/// A second Ctrl+C does the same.
#[test]
fn second_sigint_forces_exit() {
    checks::second_signal_forces_exit("lesson5", Signal::SIGINT);
}

/// Visits still in the buffer at SIGTERM reach the database.
#[test]
fn buffered_visits_are_flushed() {
    checks::buffered_visits_are_flushed("lesson5");
}

/// A steady stream of visits loses none at SIGTERM.
#[test]
fn steady_visits_are_not_lost() {
    checks::steady_visits_are_not_lost("lesson5");
}

/// The link-check unit in progress at the signal is committed whole.
#[test]
fn unit_in_progress_is_committed_whole() {
    checks::unit_in_progress_is_committed_whole("lesson5");
}

/// A worker that outlives the deadline is cut off; exit 1.
#[test]
fn stuck_worker_is_cut_at_the_deadline() {
    checks::stuck_worker_is_cut_at_the_deadline("lesson5");
}

/// A second signal cuts off a worker in the middle of a unit.
#[test]
fn second_signal_cuts_a_stuck_worker() {
    checks::second_signal_cuts_a_stuck_worker("lesson5");
}

/// Phases run and are logged in order; LOG_FILE ends with `server stopped`.
#[test]
fn phases_in_order_and_log_file_complete() {
    checks::phases_in_order_and_log_file_complete("lesson5");
}
