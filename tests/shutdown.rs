//! Each step's shutdown, on the real binary, with real signals.
//!
//! The checks live in `support/checks.rs`, bound to test functions by the
//! suites in `support/suites.rs`, so that the workbook runs the very same
//! ones against a reader's code; here they are bound to the reference steps.

#![cfg(unix)]

#[macro_use]
mod support;

use support::checks;

// ANCHOR: step1
mod step1 {
    abrupt_suite!("step1");
}
// ANCHOR_END: step1

// ANCHOR: step2
mod step2 {
    use super::*;
    drain_suite!("step2");

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
        checks::drain_commits_a_query_in_flight("step2");
    }
}
// ANCHOR_END: step2

// ANCHOR: step3
mod step3 {
    use super::*;
    drain_suite!("step3");
    deadline_suite!("step3");

    /// A second signal is ignored: the problem step 4 solves.
    #[test]
    fn second_signal_does_not_force() {
        checks::second_signal_does_not_force("step3");
    }
}
// ANCHOR_END: step3

// ANCHOR: step4
mod step4 {
    drain_suite!("step4");
    deadline_suite!("step4");
    force_suite!("step4");
}
// ANCHOR_END: step4

// ANCHOR: step5
mod step5 {
    drain_suite!("step5");
    deadline_suite!("step5");
    force_suite!("step5");
    background_suite!("step5");
}
// ANCHOR_END: step5

// ANCHOR: step6
mod step6 {
    drain_suite!("step6");
    deadline_suite!("step6");
    force_suite!("step6");
    background_suite!("step6");
    production_suite!("step6");
}
// ANCHOR_END: step6
