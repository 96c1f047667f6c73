//! Which binary has which behaviour: declared once, here. The root tests
//! (`tests/steps.rs`), the workbook's checks (`lessons/tests`) and
//! `cargo xtask check` all stamp their tests from this table, and each
//! check is told what the binary has instead of guessing it from a name.

use std::{collections::HashMap, path::PathBuf, sync::Mutex};

use crate::{
    checks,
    harness::{Launch, build_example, built_binary},
};

/// What a binary does at shutdown, one flag per step's idea.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Has {
    /// Step 2: SIGINT and SIGTERM drain the requests in flight.
    pub drain: bool,
    /// Step 3: a drain deadline, then every connection is cut off.
    pub deadline: bool,
    /// Step 4: a second signal cuts off at once.
    pub second_signal: bool,
    /// Step 5: the bound kept against blocking threads and running queries.
    pub bound: bool,
    /// Step 6: background workers, the visit buffer, the log file.
    pub workers: bool,
    /// Step 7: `/ready`, `SHUTDOWN_DELAY`, `Connection: close`, streams.
    pub ready: bool,
    /// Step 8: an accept loop with timeouts; silent connections served.
    pub accept_loop: bool,
    /// Step 9: an inherited socket, systemd notify.
    pub inherited_socket: bool,
    /// The bookmarks database (every step; not the one-file example).
    pub database: bool,
}

impl Has {
    /// What step `n` has: every idea up to its own.
    pub const fn step(n: u32) -> Has {
        Has {
            drain: n >= 2,
            deadline: n >= 3,
            second_signal: n >= 4,
            bound: n >= 5,
            workers: n >= 6,
            ready: n >= 7,
            accept_loop: n >= 8,
            inherited_socket: n >= 9,
            database: true,
        }
    }
}

/// Where a binary is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Built {
    /// `target/<profile>/NAME`: a step, a lesson.
    Bin,
    /// `target/<profile>/examples/NAME`.
    Example,
}

/// One binary the checks run against, and what it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binary {
    pub name: &'static str,
    pub built: Built,
    pub has: Has,
}

impl Binary {
    pub const fn step(name: &'static str, n: u32) -> Binary {
        Binary {
            name,
            built: Built::Bin,
            has: Has::step(n),
        }
    }

    /// Where the current build put it; an example is built first, once
    /// per process (see [`build_example`]).
    pub fn path(&self) -> PathBuf {
        self.try_path().unwrap_or_else(|err| panic!("{err}"))
    }

    /// Like [`Binary::path`], but an example that cannot be built is an
    /// error, not a panic.
    pub fn try_path(&self) -> Result<PathBuf, String> {
        match self.built {
            Built::Bin => Ok(built_binary(self.name)),
            Built::Example => {
                static BUILT: Mutex<Option<HashMap<&str, Result<PathBuf, String>>>> =
                    Mutex::new(None);
                let mut built = BUILT
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let path = built
                    .get_or_insert_with(HashMap::new)
                    .entry(self.name)
                    .or_insert_with(|| build_example(self.name));
                path.clone()
            }
        }
    }

    /// Ready to start, as [`Launch::new`] starts a step.
    pub fn launch(&self) -> Launch {
        Launch::binary(self.name, &self.path())
    }
}

/// The nine steps.
pub const STEPS: [Binary; 9] = [
    Binary::step("step1", 1),
    Binary::step("step2", 2),
    Binary::step("step3", 3),
    Binary::step("step4", 4),
    Binary::step("step5", 5),
    Binary::step("step6", 6),
    Binary::step("step7", 7),
    Binary::step("step8", 8),
    Binary::step("step9", 9),
];

/// The one-file example, `examples/graceful_shutdown.rs`: the pattern of
/// step 5 on plain `axum::serve`, with no database.
pub const EXAMPLE: Binary = Binary {
    name: "graceful_shutdown",
    built: Built::Example,
    has: Has {
        database: false,
        ..Has::step(5)
    },
};

/// Step `n`.
pub fn step(n: u32) -> Binary {
    STEPS[n as usize - 1]
}

/// The workbook's lessons are 2 to 9. Lesson `n`'s goal is step `n`: it
/// is checked with step `n`'s checks, against the learner's `lessonN`.
pub const LESSONS: std::ops::RangeInclusive<u32> = 2..=9;

/// Lesson `n`'s binary, as it will be once solved.
pub fn lesson(n: u32) -> Binary {
    const NAMES: [&str; 8] = [
        "lesson2", "lesson3", "lesson4", "lesson5", "lesson6", "lesson7", "lesson8", "lesson9",
    ];
    Binary {
        name: NAMES[n as usize - 2],
        built: Built::Bin,
        has: Has::step(n),
    }
}

/// Lesson `n`'s "break it" binary: step `n` with one of its chapter's
/// common mistakes planted, checked with step `n`'s checks.
pub fn lesson_break(n: u32) -> Binary {
    const NAMES: [&str; 8] = [
        "lesson2-break",
        "lesson3-break",
        "lesson4-break",
        "lesson5-break",
        "lesson6-break",
        "lesson7-break",
        "lesson8-break",
        "lesson9-break",
    ];
    Binary {
        name: NAMES[n as usize - 2],
        built: Built::Bin,
        has: Has::step(n),
    }
}

/// One behaviour to check: a test name and the check that proves it.
pub struct Check {
    pub name: &'static str,
    pub run: Box<dyn Fn(&Binary) + Send + Sync>,
}

fn check(name: &'static str, run: impl Fn(&Binary) + Send + Sync + 'static) -> Check {
    Check {
        name,
        run: Box::new(run),
    }
}

// ANCHOR: checks_for
/// Every check that applies to a binary with `has`: what its step adds,
/// what the steps before it added, and the failures it still shows (which
/// a later step fixes), so that a step that fixed one early fails its test.
pub fn checks_for(has: Has) -> Vec<Check> {
    use checks::*;
    let mut all = Vec::new();
    if !has.drain {
        all.push(check("sigterm_breaks_the_in_flight_request", |b| {
            signal_kills_mid_request(b, Signal::SIGTERM)
        }));
        all.push(check("sigint_breaks_the_in_flight_request", |b| {
            signal_kills_mid_request(b, Signal::SIGINT)
        }));
        return all;
    }
    all.push(check("sigterm_drains_the_in_flight_request", |b| {
        drain_completes_in_flight_request(b, Signal::SIGTERM)
    }));
    all.push(check("sigint_drains_the_in_flight_request", |b| {
        drain_completes_in_flight_request(b, Signal::SIGINT)
    }));
    all.push(check(
        "idle_keep_alive_does_not_delay_exit",
        idle_keep_alive_does_not_delay_exit,
    ));
    if has.database {
        all.push(check(
            "acknowledged_writes_are_in_the_database",
            acknowledged_writes_are_in_the_database,
        ));
    }
    if has.deadline {
        all.push(check(
            "deadline_ends_a_stuck_request",
            deadline_ends_a_stuck_request,
        ));
        all.push(check(
            "deadline_starts_at_the_signal",
            deadline_starts_at_the_signal,
        ));
        all.push(check(
            "half_request_does_not_outlive_the_deadline",
            half_request_does_not_outlive_the_deadline,
        ));
    } else {
        all.push(check(
            "stuck_request_holds_the_drain",
            stuck_request_holds_the_drain,
        ));
        all.push(check(
            "half_request_holds_the_drain",
            half_request_holds_the_drain,
        ));
        all.push(check(
            "query_in_flight_is_committed",
            query_in_flight_is_committed,
        ));
    }
    if has.second_signal {
        all.push(check("second_sigterm_forces_exit", |b| {
            second_signal_forces_exit(b, Signal::SIGTERM)
        }));
        all.push(check("second_sigint_forces_exit", |b| {
            second_signal_forces_exit(b, Signal::SIGINT)
        }));
    } else if has.deadline {
        all.push(check(
            "second_signal_does_not_force",
            second_signal_does_not_force,
        ));
    }
    if has.bound {
        all.push(check(
            "deadline_ends_blocking_work",
            deadline_ends_blocking_work,
        ));
        if has.database {
            all.push(check("deadline_ends_a_query", deadline_ends_a_query));
            all.push(check(
                "deadline_ends_a_query_waiting_for_a_lock",
                deadline_ends_a_query_waiting_for_a_lock,
            ));
        }
    } else if has.deadline {
        all.push(check(
            "blocking_work_outlives_the_deadline",
            blocking_work_outlives_the_deadline,
        ));
        all.push(check(
            "query_outlives_the_deadline",
            query_outlives_the_deadline,
        ));
    }
    if has.workers {
        all.push(check(
            "buffered_visits_are_flushed",
            buffered_visits_are_flushed,
        ));
        all.push(check(
            "steady_visits_are_not_lost",
            steady_visits_are_not_lost,
        ));
        all.push(check(
            "unit_in_progress_is_committed_whole",
            unit_in_progress_is_committed_whole,
        ));
        all.push(check(
            "stuck_worker_is_cut_at_the_deadline",
            stuck_worker_is_cut_at_the_deadline,
        ));
        all.push(check(
            "second_signal_cuts_a_stuck_worker",
            second_signal_cuts_a_stuck_worker,
        ));
        all.push(check(
            "phases_in_order_and_log_file_complete",
            phases_in_order_and_log_file_complete,
        ));
    }
    if has.ready {
        all.push(check(
            "ready_flips_while_serving_through_the_delay",
            ready_flips_while_serving_through_the_delay,
        ));
        all.push(check(
            "event_stream_ends_with_the_drain",
            event_stream_ends_with_the_drain,
        ));
        all.push(check(
            "second_signal_during_the_delay_forces_exit",
            second_signal_during_the_delay_forces_exit,
        ));
        all.push(check(
            "keep_alive_told_to_close_during_the_delay",
            keep_alive_told_to_close_during_the_delay,
        ));
        all.push(check(
            "websocket_closes_with_1001",
            websocket_closes_with_1001,
        ));
        all.push(check(
            "websocket_opens_during_the_delay",
            websocket_opens_during_the_delay,
        ));
        all.push(check(
            "websocket_deaf_to_close_is_cut_at_the_deadline",
            websocket_deaf_to_close_is_cut_at_the_deadline,
        ));
    }
    if has.accept_loop {
        all.push(check(
            "silent_connection_is_served",
            silent_connection_is_served,
        ));
        all.push(check(
            "half_request_closed_at_header_timeout_is_abandoned",
            half_request_closed_at_header_timeout_is_abandoned,
        ));
        all.push(check(
            "slow_header_is_closed_at_header_timeout",
            slow_header_is_closed_at_header_timeout,
        ));
    } else {
        all.push(check(
            "silent_connection_is_cancelled_at_the_drain",
            silent_connection_is_cancelled_at_the_drain,
        ));
        all.push(check(
            "slow_header_keeps_its_connection",
            slow_header_keeps_its_connection,
        ));
    }
    if has.inherited_socket {
        all.push(check(
            "inherited_socket_is_served",
            inherited_socket_is_served,
        ));
        all.push(check("restart_refuses_none", restart_refuses_none));
        all.push(check("notify_messages_in_order", |b| {
            notify_messages_in_order(b);
        }));
        all.push(check("bad_listen_fds_exits_2", bad_listen_fds_exits_2));
    }
    all
}
// ANCHOR_END: checks_for

/// Runs the checks of `binaries` as a test binary's `main` does: one
/// trial per check per binary, named `BINARY::CHECK`, run in parallel
/// (`RUST_TEST_THREADS`, else 16: the checks wait on processes, not on the
/// CPU). Takes the usual test arguments (a filter, `--list`, …);
/// `--nocapture` is accepted and changes nothing.
pub fn run_checks(binaries: &[Binary]) -> ! {
    run_checks_with(binaries, Vec::new())
}

/// As [`run_checks`], with `more` trials of the caller's own beside them.
pub fn run_checks_with(binaries: &[Binary], more: Vec<libtest2_mimic::Trial>) -> ! {
    use libtest2_mimic::{Harness, Trial};
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The harness never captures a trial's output, and refuses the flags
    // that ask it not to (`cargo test -- --nocapture`): they would change
    // nothing, so they are dropped.
    args.retain(|arg| {
        !matches!(
            arg.to_str(),
            Some("--nocapture" | "--no-capture" | "--show-output")
        )
    });
    if !args
        .iter()
        .any(|arg| arg.to_string_lossy().starts_with("--test-threads"))
    {
        let threads = std::env::var("RUST_TEST_THREADS").unwrap_or_else(|_| "16".into());
        args.push(format!("--test-threads={threads}").into());
    }
    let trials = binaries.iter().flat_map(|&binary| {
        checks_for(binary.has).into_iter().map(move |check| {
            Trial::test(format!("{}::{}", binary.name, check.name), move |_| {
                (check.run)(&binary);
                Ok(())
            })
        })
    });
    Harness::with_args(args).discover(trials.chain(more)).main()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(has: Has) -> Vec<&'static str> {
        checks_for(has)
            .into_iter()
            .map(|check| check.name)
            .collect()
    }

    #[test]
    fn each_step_is_checked_for_more_than_the_one_before() {
        let counts: Vec<usize> = (1..=9).map(|n| names(Has::step(n)).len()).collect();
        assert!(
            counts.windows(2).skip(1).all(|w| w[0] <= w[1]),
            "{counts:?}"
        );
        assert_eq!(counts[0], 2, "step 1: the two signals");
    }

    #[test]
    fn a_failure_a_step_fixes_is_checked_on_the_steps_before_it() {
        assert!(names(Has::step(2)).contains(&"stuck_request_holds_the_drain"));
        assert!(!names(Has::step(3)).contains(&"stuck_request_holds_the_drain"));
        assert!(names(Has::step(4)).contains(&"query_outlives_the_deadline"));
        assert!(names(Has::step(5)).contains(&"deadline_ends_a_query"));
        assert!(names(Has::step(7)).contains(&"silent_connection_is_cancelled_at_the_drain"));
        assert!(names(Has::step(8)).contains(&"silent_connection_is_served"));
    }

    #[test]
    fn names_are_unique() {
        for n in 1..=9 {
            let mut all = names(Has::step(n));
            all.sort_unstable();
            let before = all.len();
            all.dedup();
            assert_eq!(all.len(), before, "step {n}");
        }
    }
}
