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
fn restart_on_the_kept_socket_refuses_none() {
    checks::restart_refuses_none("lesson7");
}

/// READY=1, then STOPPING=1, EXTEND_TIMEOUT_USEC= and STATUS= lines.
#[test]
fn notify_messages_come_in_order() {
    checks::notify_messages_in_order("lesson7");
}

/// A malformed LISTEN_FDS or LISTEN_PID: one line, exit 2.
#[test]
fn bad_listen_fds_is_one_line_and_exit_2() {
    checks::bad_listen_fds_exits_2("lesson7");
}
