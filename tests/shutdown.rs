//! Each step's shutdown, on the real binary, with real signals.
//!
//! The checks live in `support/checks.rs` so the workbook can run the same
//! ones against a reader's code; here they are bound to the reference steps.

#![cfg(unix)]

mod support;

use support::{Signal, checks};

mod step1 {
    use super::*;

    // ANCHOR: step1
    /// SIGTERM kills step 1 mid-request: the client sees a broken connection.
    #[test]
    fn sigterm_breaks_the_in_flight_request() {
        checks::signal_kills_mid_request("step1", Signal::SIGTERM);
    }
    // ANCHOR_END: step1

    /// Ctrl+C (SIGINT) does the same.
    #[test]
    fn sigint_breaks_the_in_flight_request() {
        checks::signal_kills_mid_request("step1", Signal::SIGINT);
    }
}

// ANCHOR: drains
/// The drain every step from 2 on must keep.
macro_rules! drains {
    ($step:literal) => {
        /// After SIGTERM the in-flight request gets its 200 and the exit is 0.
        #[test]
        fn sigterm_drains_the_in_flight_request() {
            checks::drain_completes_in_flight_request($step, Signal::SIGTERM);
        }

        /// Ctrl+C (SIGINT) drains the same way.
        #[test]
        fn sigint_drains_the_in_flight_request() {
            checks::drain_completes_in_flight_request($step, Signal::SIGINT);
        }

        /// An idle keep-alive connection does not hold the exit.
        #[test]
        fn idle_keep_alive_does_not_delay_exit() {
            checks::idle_keep_alive_does_not_delay($step);
        }

        /// Writes answered with 201 before the signal are in the file after.
        #[test]
        fn acknowledged_writes_are_in_the_database() {
            checks::acknowledged_writes_survive($step);
        }
    };
}
// ANCHOR_END: drains

// ANCHOR: deadline
/// The deadline every step from 3 on must keep.
macro_rules! deadline {
    ($step:literal) => {
        /// A stuck request is cut at SHUTDOWN_TIMEOUT; the exit is 1.
        #[test]
        fn deadline_ends_a_stuck_request() {
            checks::deadline_ends_a_stuck_request($step);
        }

        /// The deadline's clock starts at the signal.
        #[test]
        fn deadline_starts_at_the_signal() {
            checks::deadline_starts_at_the_signal($step);
        }

        /// Half a request line cannot hold the process past the deadline.
        #[test]
        fn half_request_does_not_outlive_the_deadline() {
            checks::half_request_does_not_outlive_deadline($step);
        }
    };
}
// ANCHOR_END: deadline

// ANCHOR: forces
/// The second-signal escape every step from 4 on must keep.
macro_rules! forces {
    ($step:literal) => {
        /// A second SIGTERM during the drain forces exit 1 at once.
        #[test]
        fn second_sigterm_forces_exit() {
            checks::second_signal_forces_exit($step, Signal::SIGTERM);
        }

        /// A second Ctrl+C does the same.
        #[test]
        fn second_sigint_forces_exit() {
            checks::second_signal_forces_exit($step, Signal::SIGINT);
        }
    };
}
// ANCHOR_END: forces

// ANCHOR: step2
mod step2 {
    use super::*;
    drains!("step2");

    /// A stuck request holds step 2 forever: the problem step 3 solves.
    #[test]
    fn stuck_request_holds_the_drain() {
        checks::stuck_request_holds_the_drain("step2");
    }
}
// ANCHOR_END: step2

// ANCHOR: step3
mod step3 {
    use super::*;
    drains!("step3");
    deadline!("step3");

    /// A second signal is ignored: the problem step 4 solves.
    #[test]
    fn second_signal_does_not_force() {
        checks::second_signal_does_not_force("step3");
    }
}
// ANCHOR_END: step3

// ANCHOR: step4
mod step4 {
    use super::*;
    drains!("step4");
    deadline!("step4");
    forces!("step4");
}
// ANCHOR_END: step4

mod step5 {
    use super::*;
    drains!("step5");
    deadline!("step5");
    forces!("step5");

    /// Visits still in the buffer at SIGTERM reach the database.
    #[test]
    fn buffered_visits_are_flushed() {
        checks::buffered_visits_are_flushed("step5");
    }

    /// A steady stream of visits loses none at SIGTERM.
    #[test]
    fn steady_visits_are_not_lost() {
        checks::steady_visits_are_not_lost("step5");
    }

    /// The link-check unit in progress at the signal is committed whole.
    #[test]
    fn unit_in_progress_is_committed_whole() {
        checks::unit_in_progress_is_committed_whole("step5");
    }

    /// A worker that outlives the deadline is cut off; exit 1.
    #[test]
    fn stuck_worker_is_cut_at_the_deadline() {
        checks::stuck_worker_is_cut_at_deadline("step5");
    }

    /// Phases run and are logged in order; LOG_FILE ends with `server stopped`.
    #[test]
    fn phases_in_order_and_log_file_complete() {
        checks::phases_in_order_and_log_file_complete("step5");
    }
}

mod step6 {
    use super::*;
    drains!("step6");
    deadline!("step6");
    forces!("step6");

    /// Visits still in the buffer at SIGTERM reach the database.
    #[test]
    fn buffered_visits_are_flushed() {
        checks::buffered_visits_are_flushed("step6");
    }

    /// Phases run and are logged in order; LOG_FILE ends with `server stopped`.
    #[test]
    fn phases_in_order_and_log_file_complete() {
        checks::phases_in_order_and_log_file_complete("step6");
    }

    /// `/ready` is 503 during SHUTDOWN_DELAY while everything else is served.
    #[test]
    fn ready_flips_while_serving_through_the_delay() {
        checks::ready_flips_while_serving_through_the_delay("step6");
    }

    /// An open `/events` stream ends when the drain begins.
    #[test]
    fn event_stream_ends_with_the_drain() {
        checks::event_stream_ends_with_the_drain("step6");
    }

    /// A second signal during the delay forces exit 1.
    #[test]
    fn second_signal_during_the_delay_forces_exit() {
        checks::second_signal_during_delay_forces_exit("step6");
    }
}
