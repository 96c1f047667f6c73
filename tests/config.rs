//! A bad setting gets one clear line on standard error and exit status 2,
//! never a panic: one test per setting per step.
//!
//! Every step checks every variable (the policy in `src/config.rs`), so
//! each step gets the same list, written once in `refusals!`: a variable a
//! step does not use is refused all the same.

use std::{net::TcpListener, time::Duration};

use libtest2_mimic::Trial;
use tools::harness::{Launch, assert_exit_code};

/// This file's tests, for `tests/steps.rs` to run.
pub(crate) fn trials() -> Vec<Trial> {
    let mut all = every_steps_refusals();
    all.extend(log_file::trials());
    all
}

/// Starts `bin` with `variable=value` and checks that it refuses to run.
#[track_caller]
pub(crate) fn refuses(bin: &str, variable: &str, value: &str) {
    assert_refused(Launch::new(bin).env(variable, value), variable);
}

/// Points `variable` at a file in a directory that does not exist.
#[track_caller]
fn refuses_a_missing_directory(bin: &str, variable: &str) {
    let launch = Launch::new(bin);
    let path = launch.db_path().with_file_name("no-such-dir").join("file");
    assert_refused(launch.env(variable, &path), variable);
}

/// Asks for a port this test holds.
#[track_caller]
pub(crate) fn refuses_a_port_in_use(bin: &str) {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let launch = Launch::new(bin).env("PORT", &port);
    assert_refused(launch, &format!("cannot listen on 127.0.0.1:{port}"));
}

/// Exit status 2, and exactly one line of output, on standard error, that
/// starts `error: ` and contains `mentions`.
#[track_caller]
fn assert_refused(launch: Launch, mentions: &str) {
    let mut server = launch.spawn().unwrap();
    let status = server.expect_exit(Duration::from_secs(10));
    let logs = server.logs();
    assert_exit_code(status, 2);
    assert_eq!(logs.len(), 1, "one line, got {logs:#?}");
    let line = &logs[0];
    assert!(line.starts_with("stderr: error: "), "{line}");
    assert!(line.contains(mentions), "{line} should mention {mentions}");
}

/// The tests every step passes: one per variable, and one per resource
/// that a setting names (a database path, a port).
macro_rules! refusals {
    ($($step:ident),*) => {$(
        mod $step {
            use super::*;

            const STEP: &str = stringify!($step);

            pub(super) fn trials() -> Vec<Trial> {
                trials![
                    port_that_is_not_a_number,
                    port_out_of_range,
                    host_that_is_not_an_address,
                    shutdown_timeout_that_is_not_a_duration,
                    shutdown_delay_that_is_not_a_duration,
                    empty_database_url,
                    rust_log_that_is_not_a_filter,
                    header_timeout_that_is_not_a_duration,
                    body_timeout_of_zero,
                    idle_timeout_over_a_day,
                    flush_interval_that_is_not_a_duration,
                    flush_interval_of_zero,
                    check_interval_that_is_not_a_duration,
                    check_delay_that_is_not_a_duration,
                    empty_log_file,
                    listen_fds_that_is_not_a_number,
                    unwritable_database_path,
                    port_already_in_use,
                ]
            }

            /// `PORT=abc` is refused, naming PORT.
            fn port_that_is_not_a_number() {
                refuses(STEP, "PORT", "abc");
            }

            /// `PORT=70000` is out of range.
            fn port_out_of_range() {
                refuses(STEP, "PORT", "70000");
            }

            /// `HOST` must be an IP address.
            fn host_that_is_not_an_address() {
                refuses(STEP, "HOST", "localhost:80");
            }

            /// `SHUTDOWN_TIMEOUT=soon` is refused, naming SHUTDOWN_TIMEOUT.
            fn shutdown_timeout_that_is_not_a_duration() {
                refuses(STEP, "SHUTDOWN_TIMEOUT", "soon");
            }

            /// `SHUTDOWN_DELAY=later` is refused, naming SHUTDOWN_DELAY.
            fn shutdown_delay_that_is_not_a_duration() {
                refuses(STEP, "SHUTDOWN_DELAY", "later");
            }

            /// An empty `DATABASE_URL` is refused rather than guessed at.
            fn empty_database_url() {
                refuses(STEP, "DATABASE_URL", "");
            }

            /// `RUST_LOG` that is not a filter.
            fn rust_log_that_is_not_a_filter() {
                refuses(STEP, "RUST_LOG", "info,bookmarks=louder");
            }

            /// `HEADER_TIMEOUT=soon` is refused.
            fn header_timeout_that_is_not_a_duration() {
                refuses(STEP, "HEADER_TIMEOUT", "soon");
            }

            /// `BODY_TIMEOUT=0s` would close every connection at once: refused.
            fn body_timeout_of_zero() {
                refuses(STEP, "BODY_TIMEOUT", "0s");
            }

            /// `IDLE_TIMEOUT=48h` is more than a day: refused.
            fn idle_timeout_over_a_day() {
                refuses(STEP, "IDLE_TIMEOUT", "48h");
            }

            /// `FLUSH_INTERVAL=soon` is refused.
            fn flush_interval_that_is_not_a_duration() {
                refuses(STEP, "FLUSH_INTERVAL", "soon");
            }

            /// `FLUSH_INTERVAL=0s` would flush in a busy loop: refused.
            fn flush_interval_of_zero() {
                refuses(STEP, "FLUSH_INTERVAL", "0s");
            }

            /// `CHECK_INTERVAL=often` is refused.
            fn check_interval_that_is_not_a_duration() {
                refuses(STEP, "CHECK_INTERVAL", "often");
            }

            /// `CHECK_DELAY=slow` is refused.
            fn check_delay_that_is_not_a_duration() {
                refuses(STEP, "CHECK_DELAY", "slow");
            }

            /// An empty `LOG_FILE` is refused rather than guessed at.
            fn empty_log_file() {
                refuses(STEP, "LOG_FILE", "");
            }

            /// `LISTEN_FDS=abc` is refused by every step, not only by the
            /// one that serves the socket it names.
            fn listen_fds_that_is_not_a_number() {
                refuses(STEP, "LISTEN_FDS", "abc");
            }

            /// A database in a directory that does not exist cannot be created.
            fn unwritable_database_path() {
                refuses_a_missing_directory(STEP, "DATABASE_URL");
            }

            /// A port that another process holds is reported, with the address.
            fn port_already_in_use() {
                refuses_a_port_in_use(STEP);
            }
        }
    )*

        fn every_steps_refusals() -> Vec<Trial> {
            [$($step::trials()),*].into_iter().flatten().collect()
        }
    };
}

refusals!(
    step1, step2, step3, step4, step5, step6, step7, step8, step9
);

/// A log file that cannot be created is reported before anything starts,
/// by the steps that write one.
mod log_file {
    use super::*;

    pub(super) fn trials() -> Vec<Trial> {
        trials![
            step6_unwritable_log_file,
            step7_unwritable_log_file,
            step8_unwritable_log_file,
            step9_unwritable_log_file,
        ]
    }

    fn step6_unwritable_log_file() {
        refuses_a_missing_directory("step6", "LOG_FILE");
    }

    fn step7_unwritable_log_file() {
        refuses_a_missing_directory("step7", "LOG_FILE");
    }

    fn step8_unwritable_log_file() {
        refuses_a_missing_directory("step8", "LOG_FILE");
    }

    fn step9_unwritable_log_file() {
        refuses_a_missing_directory("step9", "LOG_FILE");
    }
}
