//! Each step's shutdown, on the real binary, with real signals: one test
//! per behaviour per step, named for what a user sees. Each calls one check
//! in `tools::checks`, the very function the workbook's lessons call.

// ANCHOR: step1
mod step1 {
    use tools::checks::{self, Signal};

    /// SIGTERM kills it mid-request: the client sees a broken connection.
    #[test]
    fn sigterm_breaks_the_in_flight_request() {
        checks::signal_kills_mid_request("step1", Signal::SIGTERM);
    }

    /// Ctrl+C (SIGINT) does the same.
    #[test]
    fn sigint_breaks_the_in_flight_request() {
        checks::signal_kills_mid_request("step1", Signal::SIGINT);
    }
}
// ANCHOR_END: step1

// ANCHOR: step2
mod step2 {
    use tools::checks::{self, Signal};

    /// After SIGTERM the in-flight request gets its 200 and the exit is 0.
    #[test]
    fn sigterm_drains_the_in_flight_request() {
        checks::drain_completes_in_flight_request("step2", Signal::SIGTERM);
    }

    /// Ctrl+C (SIGINT) drains the same way.
    #[test]
    fn sigint_drains_the_in_flight_request() {
        checks::drain_completes_in_flight_request("step2", Signal::SIGINT);
    }

    /// An idle keep-alive connection does not hold the exit.
    #[test]
    fn idle_keep_alive_does_not_delay_exit() {
        checks::idle_keep_alive_does_not_delay_exit("step2");
    }

    /// Writes answered with 201 before the signal are in the file after.
    #[test]
    fn acknowledged_writes_are_in_the_database() {
        checks::acknowledged_writes_are_in_the_database("step2");
    }

    /// A stuck request holds step 2 forever: the problem step 3 solves.
    #[test]
    fn stuck_request_holds_the_drain() {
        checks::stuck_request_holds_the_drain("step2");
    }

    /// So does a client that sent half a request line.
    #[test]
    fn half_request_holds_the_drain() {
        checks::half_request_holds_the_drain("step2");
    }

    /// A query in flight at the signal is waited for and committed.
    #[test]
    fn query_in_flight_is_committed() {
        checks::query_in_flight_is_committed("step2");
    }
}
// ANCHOR_END: step2

mod step3 {
    use tools::checks::{self, Signal};

    // What the steps before it already do.

    /// After SIGTERM the in-flight request gets its 200 and the exit is 0.
    #[test]
    fn sigterm_drains_the_in_flight_request() {
        checks::drain_completes_in_flight_request("step3", Signal::SIGTERM);
    }

    /// Ctrl+C (SIGINT) drains the same way.
    #[test]
    fn sigint_drains_the_in_flight_request() {
        checks::drain_completes_in_flight_request("step3", Signal::SIGINT);
    }

    /// An idle keep-alive connection does not hold the exit.
    #[test]
    fn idle_keep_alive_does_not_delay_exit() {
        checks::idle_keep_alive_does_not_delay_exit("step3");
    }

    /// Writes answered with 201 before the signal are in the file after.
    #[test]
    fn acknowledged_writes_are_in_the_database() {
        checks::acknowledged_writes_are_in_the_database("step3");
    }

    // ANCHOR: step3
    // What step 3 adds.

    /// A stuck request is cut at SHUTDOWN_TIMEOUT; the exit is 1.
    #[test]
    fn deadline_ends_a_stuck_request() {
        checks::deadline_ends_a_stuck_request("step3");
    }

    /// The deadline's clock starts at the signal.
    #[test]
    fn deadline_starts_at_the_signal() {
        checks::deadline_starts_at_the_signal("step3");
    }

    /// Half a request line cannot hold the process past the deadline.
    #[test]
    fn half_request_does_not_outlive_the_deadline() {
        checks::half_request_does_not_outlive_the_deadline("step3");
    }

    /// A blocking thread does not hold the process past the deadline.
    #[test]
    fn deadline_ends_blocking_work() {
        checks::deadline_ends_blocking_work("step3");
    }

    /// A running query is stopped at the deadline and rolled back.
    #[test]
    fn deadline_ends_a_query() {
        checks::deadline_ends_a_query("step3");
    }

    /// A second signal is ignored: the problem step 4 solves.
    #[test]
    fn second_signal_does_not_force() {
        checks::second_signal_does_not_force("step3");
    }
    // ANCHOR_END: step3
}

mod step4 {
    use tools::checks::{self, Signal};

    // What the steps before it already do.

    /// After SIGTERM the in-flight request gets its 200 and the exit is 0.
    #[test]
    fn sigterm_drains_the_in_flight_request() {
        checks::drain_completes_in_flight_request("step4", Signal::SIGTERM);
    }

    /// Ctrl+C (SIGINT) drains the same way.
    #[test]
    fn sigint_drains_the_in_flight_request() {
        checks::drain_completes_in_flight_request("step4", Signal::SIGINT);
    }

    /// An idle keep-alive connection does not hold the exit.
    #[test]
    fn idle_keep_alive_does_not_delay_exit() {
        checks::idle_keep_alive_does_not_delay_exit("step4");
    }

    /// Writes answered with 201 before the signal are in the file after.
    #[test]
    fn acknowledged_writes_are_in_the_database() {
        checks::acknowledged_writes_are_in_the_database("step4");
    }

    /// A stuck request is cut at SHUTDOWN_TIMEOUT; the exit is 1.
    #[test]
    fn deadline_ends_a_stuck_request() {
        checks::deadline_ends_a_stuck_request("step4");
    }

    /// The deadline's clock starts at the signal.
    #[test]
    fn deadline_starts_at_the_signal() {
        checks::deadline_starts_at_the_signal("step4");
    }

    /// Half a request line cannot hold the process past the deadline.
    #[test]
    fn half_request_does_not_outlive_the_deadline() {
        checks::half_request_does_not_outlive_the_deadline("step4");
    }

    /// A blocking thread does not hold the process past the deadline.
    #[test]
    fn deadline_ends_blocking_work() {
        checks::deadline_ends_blocking_work("step4");
    }

    /// A running query is stopped at the deadline and rolled back.
    #[test]
    fn deadline_ends_a_query() {
        checks::deadline_ends_a_query("step4");
    }

    // ANCHOR: step4
    // What step 4 adds.

    /// A second SIGTERM during the drain forces exit 1 at once.
    #[test]
    fn second_sigterm_forces_exit() {
        checks::second_signal_forces_exit("step4", Signal::SIGTERM);
    }

    /// A second Ctrl+C does the same.
    #[test]
    fn second_sigint_forces_exit() {
        checks::second_signal_forces_exit("step4", Signal::SIGINT);
    }
    // ANCHOR_END: step4
}

mod step5 {
    use tools::checks::{self, Signal};

    // What the steps before it already do.

    /// After SIGTERM the in-flight request gets its 200 and the exit is 0.
    #[test]
    fn sigterm_drains_the_in_flight_request() {
        checks::drain_completes_in_flight_request("step5", Signal::SIGTERM);
    }

    /// Ctrl+C (SIGINT) drains the same way.
    #[test]
    fn sigint_drains_the_in_flight_request() {
        checks::drain_completes_in_flight_request("step5", Signal::SIGINT);
    }

    /// An idle keep-alive connection does not hold the exit.
    #[test]
    fn idle_keep_alive_does_not_delay_exit() {
        checks::idle_keep_alive_does_not_delay_exit("step5");
    }

    /// Writes answered with 201 before the signal are in the file after.
    #[test]
    fn acknowledged_writes_are_in_the_database() {
        checks::acknowledged_writes_are_in_the_database("step5");
    }

    /// A stuck request is cut at SHUTDOWN_TIMEOUT; the exit is 1.
    #[test]
    fn deadline_ends_a_stuck_request() {
        checks::deadline_ends_a_stuck_request("step5");
    }

    /// The deadline's clock starts at the signal.
    #[test]
    fn deadline_starts_at_the_signal() {
        checks::deadline_starts_at_the_signal("step5");
    }

    /// Half a request line cannot hold the process past the deadline.
    #[test]
    fn half_request_does_not_outlive_the_deadline() {
        checks::half_request_does_not_outlive_the_deadline("step5");
    }

    /// A blocking thread does not hold the process past the deadline.
    #[test]
    fn deadline_ends_blocking_work() {
        checks::deadline_ends_blocking_work("step5");
    }

    /// A running query is stopped at the deadline and rolled back.
    #[test]
    fn deadline_ends_a_query() {
        checks::deadline_ends_a_query("step5");
    }

    /// A second SIGTERM during the drain forces exit 1 at once.
    #[test]
    fn second_sigterm_forces_exit() {
        checks::second_signal_forces_exit("step5", Signal::SIGTERM);
    }

    /// A second Ctrl+C does the same.
    #[test]
    fn second_sigint_forces_exit() {
        checks::second_signal_forces_exit("step5", Signal::SIGINT);
    }

    // ANCHOR: step5
    // What step 5 adds.

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
        checks::stuck_worker_is_cut_at_the_deadline("step5");
    }

    /// A second signal cuts off a worker in the middle of a unit.
    #[test]
    fn second_signal_cuts_a_stuck_worker() {
        checks::second_signal_cuts_a_stuck_worker("step5");
    }

    /// Phases run and are logged in order; LOG_FILE ends with `server stopped`.
    #[test]
    fn phases_in_order_and_log_file_complete() {
        checks::phases_in_order_and_log_file_complete("step5");
    }
    // ANCHOR_END: step5
}

mod step6 {
    use tools::checks::{self, Signal};

    // What the steps before it already do.

    /// After SIGTERM the in-flight request gets its 200 and the exit is 0.
    #[test]
    fn sigterm_drains_the_in_flight_request() {
        checks::drain_completes_in_flight_request("step6", Signal::SIGTERM);
    }

    /// Ctrl+C (SIGINT) drains the same way.
    #[test]
    fn sigint_drains_the_in_flight_request() {
        checks::drain_completes_in_flight_request("step6", Signal::SIGINT);
    }

    /// An idle keep-alive connection does not hold the exit.
    #[test]
    fn idle_keep_alive_does_not_delay_exit() {
        checks::idle_keep_alive_does_not_delay_exit("step6");
    }

    /// Writes answered with 201 before the signal are in the file after.
    #[test]
    fn acknowledged_writes_are_in_the_database() {
        checks::acknowledged_writes_are_in_the_database("step6");
    }

    /// A stuck request is cut at SHUTDOWN_TIMEOUT; the exit is 1.
    #[test]
    fn deadline_ends_a_stuck_request() {
        checks::deadline_ends_a_stuck_request("step6");
    }

    /// The deadline's clock starts at the signal.
    #[test]
    fn deadline_starts_at_the_signal() {
        checks::deadline_starts_at_the_signal("step6");
    }

    /// Half a request line cannot hold the process past the deadline.
    #[test]
    fn half_request_does_not_outlive_the_deadline() {
        checks::half_request_does_not_outlive_the_deadline("step6");
    }

    /// A blocking thread does not hold the process past the deadline.
    #[test]
    fn deadline_ends_blocking_work() {
        checks::deadline_ends_blocking_work("step6");
    }

    /// A running query is stopped at the deadline and rolled back.
    #[test]
    fn deadline_ends_a_query() {
        checks::deadline_ends_a_query("step6");
    }

    /// A second SIGTERM during the drain forces exit 1 at once.
    #[test]
    fn second_sigterm_forces_exit() {
        checks::second_signal_forces_exit("step6", Signal::SIGTERM);
    }

    /// A second Ctrl+C does the same.
    #[test]
    fn second_sigint_forces_exit() {
        checks::second_signal_forces_exit("step6", Signal::SIGINT);
    }

    /// Visits still in the buffer at SIGTERM reach the database.
    #[test]
    fn buffered_visits_are_flushed() {
        checks::buffered_visits_are_flushed("step6");
    }

    /// A steady stream of visits loses none at SIGTERM.
    #[test]
    fn steady_visits_are_not_lost() {
        checks::steady_visits_are_not_lost("step6");
    }

    /// The link-check unit in progress at the signal is committed whole.
    #[test]
    fn unit_in_progress_is_committed_whole() {
        checks::unit_in_progress_is_committed_whole("step6");
    }

    /// A worker that outlives the deadline is cut off; exit 1.
    #[test]
    fn stuck_worker_is_cut_at_the_deadline() {
        checks::stuck_worker_is_cut_at_the_deadline("step6");
    }

    /// A second signal cuts off a worker in the middle of a unit.
    #[test]
    fn second_signal_cuts_a_stuck_worker() {
        checks::second_signal_cuts_a_stuck_worker("step6");
    }

    /// Phases run and are logged in order; LOG_FILE ends with `server stopped`.
    #[test]
    fn phases_in_order_and_log_file_complete() {
        checks::phases_in_order_and_log_file_complete("step6");
    }

    // ANCHOR: step6
    // What step 6 adds.

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
        checks::second_signal_during_the_delay_forces_exit("step6");
    }

    /// A keep-alive client is told `Connection: close` during the delay.
    #[test]
    fn keep_alive_told_to_close_during_the_delay() {
        checks::keep_alive_told_to_close_during_the_delay("step6");
    }

    /// An open `/ws` gets its bookmarks, then Close 1001 at the drain; exit 0.
    #[test]
    fn websocket_closes_with_1001() {
        checks::websocket_closes_with_1001("step6");
    }

    /// A WebSocket that never answers the Close is cut at the deadline.
    #[test]
    fn websocket_deaf_to_close_is_cut_at_the_deadline() {
        checks::websocket_deaf_to_close_is_cut_at_the_deadline("step6");
    }
    // ANCHOR_END: step6
}

// Step 7 keeps every behaviour of step 6; what it adds is in restart.rs.
mod step7 {
    use tools::checks::{self, Signal};

    // What the steps before it already do.

    /// After SIGTERM the in-flight request gets its 200 and the exit is 0.
    #[test]
    fn sigterm_drains_the_in_flight_request() {
        checks::drain_completes_in_flight_request("step7", Signal::SIGTERM);
    }

    /// Ctrl+C (SIGINT) drains the same way.
    #[test]
    fn sigint_drains_the_in_flight_request() {
        checks::drain_completes_in_flight_request("step7", Signal::SIGINT);
    }

    /// An idle keep-alive connection does not hold the exit.
    #[test]
    fn idle_keep_alive_does_not_delay_exit() {
        checks::idle_keep_alive_does_not_delay_exit("step7");
    }

    /// Writes answered with 201 before the signal are in the file after.
    #[test]
    fn acknowledged_writes_are_in_the_database() {
        checks::acknowledged_writes_are_in_the_database("step7");
    }

    /// A stuck request is cut at SHUTDOWN_TIMEOUT; the exit is 1.
    #[test]
    fn deadline_ends_a_stuck_request() {
        checks::deadline_ends_a_stuck_request("step7");
    }

    /// The deadline's clock starts at the signal.
    #[test]
    fn deadline_starts_at_the_signal() {
        checks::deadline_starts_at_the_signal("step7");
    }

    /// Half a request line cannot hold the process past the deadline.
    #[test]
    fn half_request_does_not_outlive_the_deadline() {
        checks::half_request_does_not_outlive_the_deadline("step7");
    }

    /// A blocking thread does not hold the process past the deadline.
    #[test]
    fn deadline_ends_blocking_work() {
        checks::deadline_ends_blocking_work("step7");
    }

    /// A running query is stopped at the deadline and rolled back.
    #[test]
    fn deadline_ends_a_query() {
        checks::deadline_ends_a_query("step7");
    }

    /// A second SIGTERM during the drain forces exit 1 at once.
    #[test]
    fn second_sigterm_forces_exit() {
        checks::second_signal_forces_exit("step7", Signal::SIGTERM);
    }

    /// A second Ctrl+C does the same.
    #[test]
    fn second_sigint_forces_exit() {
        checks::second_signal_forces_exit("step7", Signal::SIGINT);
    }

    /// Visits still in the buffer at SIGTERM reach the database.
    #[test]
    fn buffered_visits_are_flushed() {
        checks::buffered_visits_are_flushed("step7");
    }

    /// A steady stream of visits loses none at SIGTERM.
    #[test]
    fn steady_visits_are_not_lost() {
        checks::steady_visits_are_not_lost("step7");
    }

    /// The link-check unit in progress at the signal is committed whole.
    #[test]
    fn unit_in_progress_is_committed_whole() {
        checks::unit_in_progress_is_committed_whole("step7");
    }

    /// A worker that outlives the deadline is cut off; exit 1.
    #[test]
    fn stuck_worker_is_cut_at_the_deadline() {
        checks::stuck_worker_is_cut_at_the_deadline("step7");
    }

    /// A second signal cuts off a worker in the middle of a unit.
    #[test]
    fn second_signal_cuts_a_stuck_worker() {
        checks::second_signal_cuts_a_stuck_worker("step7");
    }

    /// Phases run and are logged in order; LOG_FILE ends with `server stopped`.
    #[test]
    fn phases_in_order_and_log_file_complete() {
        checks::phases_in_order_and_log_file_complete("step7");
    }

    // What step 6 adds.

    /// `/ready` is 503 during SHUTDOWN_DELAY while everything else is served.
    #[test]
    fn ready_flips_while_serving_through_the_delay() {
        checks::ready_flips_while_serving_through_the_delay("step7");
    }

    /// An open `/events` stream ends when the drain begins.
    #[test]
    fn event_stream_ends_with_the_drain() {
        checks::event_stream_ends_with_the_drain("step7");
    }

    /// A second signal during the delay forces exit 1.
    #[test]
    fn second_signal_during_the_delay_forces_exit() {
        checks::second_signal_during_the_delay_forces_exit("step7");
    }

    /// A keep-alive client is told `Connection: close` during the delay.
    #[test]
    fn keep_alive_told_to_close_during_the_delay() {
        checks::keep_alive_told_to_close_during_the_delay("step7");
    }

    /// An open `/ws` gets its bookmarks, then Close 1001 at the drain; exit 0.
    #[test]
    fn websocket_closes_with_1001() {
        checks::websocket_closes_with_1001("step7");
    }

    /// A WebSocket that never answers the Close is cut at the deadline.
    #[test]
    fn websocket_deaf_to_close_is_cut_at_the_deadline() {
        checks::websocket_deaf_to_close_is_cut_at_the_deadline("step7");
    }
}
