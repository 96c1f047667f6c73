//! The checks of each step, bound to a binary as `#[test]` functions.
//!
//! `tests/shutdown.rs` binds them to the reference steps; `tests/lessons.rs`
//! binds the very same ones to the workbook's exercises, marked `#[ignore]`
//! so that they run only when a reader asks for them. Extra attributes
//! after the binary's name go on every generated test.

#![allow(unused_macros)] // each test crate binds only the suites it needs

// ANCHOR: abrupt_suite
/// Step 1's claim: a signal kills it mid-request.
macro_rules! abrupt_suite {
    ($bin:literal $(, #[$attr:meta])*) => {
        /// SIGTERM kills it mid-request: the client sees a broken connection.
        #[test] $(#[$attr])*
        fn sigterm_breaks_the_in_flight_request() {
            crate::support::checks::signal_kills_mid_request($bin, crate::support::Signal::SIGTERM);
        }

        /// Ctrl+C (SIGINT) does the same.
        #[test] $(#[$attr])*
        fn sigint_breaks_the_in_flight_request() {
            crate::support::checks::signal_kills_mid_request($bin, crate::support::Signal::SIGINT);
        }
    };
}
// ANCHOR_END: abrupt_suite

// ANCHOR: drain_suite
/// The drain every step from 2 on keeps.
macro_rules! drain_suite {
    ($bin:literal $(, #[$attr:meta])*) => {
        /// After SIGTERM the in-flight request gets its 200 and the exit is 0.
        #[test] $(#[$attr])*
        fn sigterm_drains_the_in_flight_request() {
            crate::support::checks::drain_completes_in_flight_request($bin, crate::support::Signal::SIGTERM);
        }

        /// Ctrl+C (SIGINT) drains the same way.
        #[test] $(#[$attr])*
        fn sigint_drains_the_in_flight_request() {
            crate::support::checks::drain_completes_in_flight_request($bin, crate::support::Signal::SIGINT);
        }

        /// An idle keep-alive connection does not hold the exit.
        #[test] $(#[$attr])*
        fn idle_keep_alive_does_not_delay_exit() {
            crate::support::checks::idle_keep_alive_does_not_delay($bin);
        }

        /// Writes answered with 201 before the signal are in the file after.
        #[test] $(#[$attr])*
        fn acknowledged_writes_are_in_the_database() {
            crate::support::checks::acknowledged_writes_survive($bin);
        }
    };
}
// ANCHOR_END: drain_suite

// ANCHOR: deadline_suite
/// The deadline every step from 3 on keeps.
macro_rules! deadline_suite {
    ($bin:literal $(, #[$attr:meta])*) => {
        /// A stuck request is cut at SHUTDOWN_TIMEOUT; the exit is 1.
        #[test] $(#[$attr])*
        fn deadline_ends_a_stuck_request() {
            crate::support::checks::deadline_ends_a_stuck_request($bin);
        }

        /// A blocking thread does not hold the process past the deadline.
        #[test] $(#[$attr])*
        fn deadline_ends_blocking_work() {
            crate::support::checks::deadline_ends_blocking_work($bin);
        }

        /// A running query is stopped at the deadline and rolled back.
        #[test] $(#[$attr])*
        fn deadline_ends_a_query() {
            crate::support::checks::deadline_ends_a_query($bin);
        }

        /// The deadline's clock starts at the signal.
        #[test] $(#[$attr])*
        fn deadline_starts_at_the_signal() {
            crate::support::checks::deadline_starts_at_the_signal($bin);
        }

        /// Half a request line cannot hold the process past the deadline.
        #[test] $(#[$attr])*
        fn half_request_does_not_outlive_the_deadline() {
            crate::support::checks::half_request_does_not_outlive_deadline($bin);
        }
    };
}
// ANCHOR_END: deadline_suite

// ANCHOR: force_suite
/// The second-signal escape every step from 4 on keeps.
macro_rules! force_suite {
    ($bin:literal $(, #[$attr:meta])*) => {
        /// A second SIGTERM during the drain forces exit 1 at once, whatever
        /// is in flight.
        #[test] $(#[$attr])*
        fn second_sigterm_forces_exit() {
            crate::support::checks::second_signal_forces_exit($bin, crate::support::Signal::SIGTERM);
        }

        /// A second Ctrl+C does the same.
        #[test] $(#[$attr])*
        fn second_sigint_forces_exit() {
            crate::support::checks::second_signal_forces_exit($bin, crate::support::Signal::SIGINT);
        }
    };
}
// ANCHOR_END: force_suite

// ANCHOR: background_suite
/// Background work shut down in order, from step 5 on.
macro_rules! background_suite {
    ($bin:literal $(, #[$attr:meta])*) => {
        /// Visits still in the buffer at SIGTERM reach the database.
        #[test] $(#[$attr])*
        fn buffered_visits_are_flushed() {
            crate::support::checks::buffered_visits_are_flushed($bin);
        }

        /// A steady stream of visits loses none at SIGTERM.
        #[test] $(#[$attr])*
        fn steady_visits_are_not_lost() {
            crate::support::checks::steady_visits_are_not_lost($bin);
        }

        /// The link-check unit in progress at the signal is committed whole.
        #[test] $(#[$attr])*
        fn unit_in_progress_is_committed_whole() {
            crate::support::checks::unit_in_progress_is_committed_whole($bin);
        }

        /// A worker that outlives the deadline is cut off; exit 1.
        #[test] $(#[$attr])*
        fn stuck_worker_is_cut_at_the_deadline() {
            crate::support::checks::stuck_worker_is_cut_at_deadline($bin);
        }

        /// A second signal cuts off a worker in the middle of a unit.
        #[test] $(#[$attr])*
        fn second_signal_cuts_a_stuck_worker() {
            crate::support::checks::second_signal_cuts_a_stuck_worker($bin);
        }

        /// Phases run and are logged in order; LOG_FILE ends with `server stopped`.
        #[test] $(#[$attr])*
        fn phases_in_order_and_log_file_complete() {
            crate::support::checks::phases_in_order_and_log_file_complete($bin);
        }
    };
}
// ANCHOR_END: background_suite

// ANCHOR: production_suite
/// Readiness, the pre-stop delay and streams, from step 6 on.
macro_rules! production_suite {
    ($bin:literal $(, #[$attr:meta])*) => {
        /// `/ready` is 503 during SHUTDOWN_DELAY while everything else is served.
        #[test] $(#[$attr])*
        fn ready_flips_while_serving_through_the_delay() {
            crate::support::checks::ready_flips_while_serving_through_the_delay($bin);
        }

        /// An open `/events` stream ends when the drain begins.
        #[test] $(#[$attr])*
        fn event_stream_ends_with_the_drain() {
            crate::support::checks::event_stream_ends_with_the_drain($bin);
        }

        /// A second signal during the delay forces exit 1.
        #[test] $(#[$attr])*
        fn second_signal_during_the_delay_forces_exit() {
            crate::support::checks::second_signal_during_delay_forces_exit($bin);
        }
    };
}
// ANCHOR_END: production_suite
