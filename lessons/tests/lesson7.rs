//! Lesson 7's check: the tests that prove step 7, run against your
//! `lesson7`. They call the very checks (`tools::checks`) that the root
//! `cargo test` runs against `step7`.
//!
//! ```text
//! cargo test -p lessons --test lesson7
//! ```
//!
//! As shipped, the exercise is step 6 and fails some of them; that is
//! the point. When they all pass, the lesson is done.

use tools::checks::{self, Signal};

/// After SIGTERM the in-flight request gets its 200 and the exit is 0.
#[test]
fn sigterm_drains_the_in_flight_request() {
    checks::drain_completes_in_flight_request("lesson7", Signal::SIGTERM);
}

/// A connection still silent when the drain begins is served.
#[test]
fn silent_connection_is_served() {
    checks::silent_connection_is_served("lesson7");
}

/// The socket handed over as fd 3 is served; nothing else is bound.
#[test]
fn inherited_socket_is_served() {
    checks::inherited_socket_is_served("lesson7");
}

/// Old and new process on one socket: no request refused or broken.
#[test]
fn restart_refuses_none() {
    checks::restart_refuses_none("lesson7");
}

/// READY=1, then STOPPING=1, EXTEND_TIMEOUT_USEC= and STATUS= lines.
#[test]
fn notify_messages_in_order() {
    checks::notify_messages_in_order("lesson7");
}

/// A malformed LISTEN_FDS or LISTEN_PID: one line, exit 2.
#[test]
fn bad_listen_fds_exits_2() {
    checks::bad_listen_fds_exits_2("lesson7");
}

/// Ctrl+C (SIGINT) drains the same way.
#[test]
fn sigint_drains_the_in_flight_request() {
    checks::drain_completes_in_flight_request("lesson7", Signal::SIGINT);
}

/// An idle keep-alive connection does not hold the exit.
#[test]
fn idle_keep_alive_does_not_delay_exit() {
    checks::idle_keep_alive_does_not_delay_exit("lesson7");
}

/// Writes answered with 201 before the signal are in the file after.
#[test]
fn acknowledged_writes_are_in_the_database() {
    checks::acknowledged_writes_are_in_the_database("lesson7");
}

/// A stuck request is cut at SHUTDOWN_TIMEOUT; the exit is 1.
#[test]
fn deadline_ends_a_stuck_request() {
    checks::deadline_ends_a_stuck_request("lesson7");
}

/// The deadline's clock starts at the signal.
#[test]
fn deadline_starts_at_the_signal() {
    checks::deadline_starts_at_the_signal("lesson7");
}

/// Half a request line cannot hold the process past the deadline.
#[test]
fn half_request_does_not_outlive_the_deadline() {
    checks::half_request_does_not_outlive_the_deadline("lesson7");
}

/// A blocking thread does not hold the process past the deadline.
#[test]
fn deadline_ends_blocking_work() {
    checks::deadline_ends_blocking_work("lesson7");
}

/// A running query is stopped at the deadline and rolled back.
#[test]
fn deadline_ends_a_query() {
    checks::deadline_ends_a_query("lesson7");
}

/// A second SIGTERM during the drain forces exit 1 at once.
#[test]
fn second_sigterm_forces_exit() {
    checks::second_signal_forces_exit("lesson7", Signal::SIGTERM);
}

/// A second Ctrl+C does the same.
#[test]
fn second_sigint_forces_exit() {
    checks::second_signal_forces_exit("lesson7", Signal::SIGINT);
}

/// Visits still in the buffer at SIGTERM reach the database.
#[test]
fn buffered_visits_are_flushed() {
    checks::buffered_visits_are_flushed("lesson7");
}

/// A steady stream of visits loses none at SIGTERM.
#[test]
fn steady_visits_are_not_lost() {
    checks::steady_visits_are_not_lost("lesson7");
}

/// The link-check unit in progress at the signal is committed whole.
#[test]
fn unit_in_progress_is_committed_whole() {
    checks::unit_in_progress_is_committed_whole("lesson7");
}

/// A worker that outlives the deadline is cut off; exit 1.
#[test]
fn stuck_worker_is_cut_at_the_deadline() {
    checks::stuck_worker_is_cut_at_the_deadline("lesson7");
}

/// A second signal cuts off a worker in the middle of a unit.
#[test]
fn second_signal_cuts_a_stuck_worker() {
    checks::second_signal_cuts_a_stuck_worker("lesson7");
}

/// Phases run and are logged in order; LOG_FILE ends with `server stopped`.
#[test]
fn phases_in_order_and_log_file_complete() {
    checks::phases_in_order_and_log_file_complete("lesson7");
}

/// `/ready` is 503 during SHUTDOWN_DELAY while everything else is served.
#[test]
fn ready_flips_while_serving_through_the_delay() {
    checks::ready_flips_while_serving_through_the_delay("lesson7");
}

/// An open `/events` stream ends when the drain begins.
#[test]
fn event_stream_ends_with_the_drain() {
    checks::event_stream_ends_with_the_drain("lesson7");
}

/// A second signal during the delay forces exit 1.
#[test]
fn second_signal_during_the_delay_forces_exit() {
    checks::second_signal_during_the_delay_forces_exit("lesson7");
}

/// A keep-alive client is told `Connection: close` during the delay.
#[test]
fn keep_alive_told_to_close_during_the_delay() {
    checks::keep_alive_told_to_close_during_the_delay("lesson7");
}

/// An open `/ws` gets its bookmarks, then Close 1001 at the drain; exit 0.
#[test]
fn websocket_closes_with_1001() {
    checks::websocket_closes_with_1001("lesson7");
}

/// A WebSocket that never answers the Close is cut at the deadline.
#[test]
fn websocket_deaf_to_close_is_cut_at_the_deadline() {
    checks::websocket_deaf_to_close_is_cut_at_the_deadline("lesson7");
}
