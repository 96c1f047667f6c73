//! A rolling restart of step 7 behind HAProxy: with `SHUTDOWN_DELAY`
//! sized from HAProxy's checks, no client request fails.
//!
//! It needs `haproxy` (Debian: `apt-get install haproxy`; `.ci/run`
//! installs it). Where there is none, the test is reported as *ignored*,
//! with the reason, never as passed: the harness is `libtest2-mimic`, as
//! in tests/pid1.rs.

use std::time::Duration;

use libtest2_mimic::{RunContext, RunResult, Trial};
use tools::{
    harness::built_binary,
    rollout::{self, Checks, Plan},
};

/// The trial of this file, for `tests/steps.rs` to run with the rest.
pub fn trials() -> Vec<Trial> {
    vec![Trial::test(
        "rollout::step7_sized_delay_fails_no_request_in_a_rollout",
        step7_sized_delay_fails_no_request_in_a_rollout,
    )]
}

// ANCHOR: rollout_test
/// One rollout of two instances, a few clients through HAProxy: every
/// request answered 2xx, every instance exits 0.
fn step7_sized_delay_fails_no_request_in_a_rollout(context: RunContext<'_>) -> RunResult {
    let Some(haproxy) = rollout::find_haproxy() else {
        eprintln!("ignored: no haproxy on PATH (Debian: apt-get install haproxy)");
        return context.ignore_for("no haproxy on PATH");
    };
    let checks = Checks {
        inter: Duration::from_millis(250),
        fall: 2,
        rise: 1,
    };
    let plan = Plan {
        binary: built_binary("step7"),
        step: 7,
        instances: 2,
        rollouts: 1,
        clients: 4,
        shutdown_delay: Some(checks.sized_delay(Duration::from_millis(250))),
        shutdown_timeout: Duration::from_secs(5),
        checks,
        retry: false,
        haproxy,
        verbose: false,
    };
    let tally = rollout::run(&plan).unwrap_or_else(|err| panic!("{err}"));
    println!(
        "one rollout through HAProxy: ok={} failed={} shutdowns={:?}",
        tally.ok,
        tally.failed(),
        tally.shutdowns
    );
    assert!(tally.ok > 0, "requests went through");
    assert_eq!(
        tally.failed(),
        0,
        "no request failed: refused {}, broken {}, 5xx {}, other {}, unknown {}",
        tally.refused,
        tally.broken,
        tally.status_5xx,
        tally.other_status,
        tally.unknown
    );
    assert_eq!(tally.duplicated_writes, 0);
    assert_eq!(tally.unclean_exits, 0, "every instance exited 0");
    assert_eq!(tally.shutdowns.len(), 2);
    Ok(())
}
// ANCHOR_END: rollout_test
