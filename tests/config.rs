//! A bad setting gets one clear line on standard error and exit status 2,
//! never a panic: one test per setting per step.

use std::{net::TcpListener, time::Duration};

use tools::harness::{Launch, assert_exit_code};

/// Starts `bin` with `variable=value` and checks that it refuses to run.
#[track_caller]
fn refuses(bin: &str, variable: &str, value: &str) {
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
fn refuses_a_port_in_use(bin: &str) {
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

mod step1 {
    use super::*;

    /// `PORT=abc` is refused, naming PORT.
    #[test]
    fn port_that_is_not_a_number() {
        refuses("step1", "PORT", "abc");
    }

    /// `PORT=70000` is out of range.
    #[test]
    fn port_out_of_range() {
        refuses("step1", "PORT", "70000");
    }

    /// `HOST` must be an IP address.
    #[test]
    fn host_that_is_not_an_address() {
        refuses("step1", "HOST", "localhost:80");
    }

    /// `SHUTDOWN_TIMEOUT=soon` is refused, naming SHUTDOWN_TIMEOUT.
    #[test]
    fn shutdown_timeout_that_is_not_a_duration() {
        refuses("step1", "SHUTDOWN_TIMEOUT", "soon");
    }

    /// `SHUTDOWN_DELAY=later` is refused, naming SHUTDOWN_DELAY.
    #[test]
    fn shutdown_delay_that_is_not_a_duration() {
        refuses("step1", "SHUTDOWN_DELAY", "later");
    }

    /// An empty `DATABASE_URL` is refused rather than guessed at.
    #[test]
    fn empty_database_url() {
        refuses("step1", "DATABASE_URL", "");
    }

    /// `RUST_LOG` that is not a filter.
    #[test]
    fn rust_log_that_is_not_a_filter() {
        refuses("step1", "RUST_LOG", "info,bookmarks=louder");
    }

    /// A database in a directory that does not exist cannot be created.
    #[test]
    fn unwritable_database_path() {
        refuses_a_missing_directory("step1", "DATABASE_URL");
    }

    /// A port that another process holds is reported, with the address.
    #[test]
    fn port_already_in_use() {
        refuses_a_port_in_use("step1");
    }

    /// `HEADER_TIMEOUT=soon` is refused.
    #[test]
    fn header_timeout_that_is_not_a_duration() {
        refuses("step1", "HEADER_TIMEOUT", "soon");
    }

    /// `BODY_TIMEOUT=0s` would close every connection at once: refused.
    #[test]
    fn body_timeout_of_zero() {
        refuses("step1", "BODY_TIMEOUT", "0s");
    }

    /// `IDLE_TIMEOUT=48h` is more than a day: refused.
    #[test]
    fn idle_timeout_over_a_day() {
        refuses("step1", "IDLE_TIMEOUT", "48h");
    }
}

mod step2 {
    use super::*;

    /// `PORT=abc` is refused, naming PORT.
    #[test]
    fn port_that_is_not_a_number() {
        refuses("step2", "PORT", "abc");
    }

    /// `PORT=70000` is out of range.
    #[test]
    fn port_out_of_range() {
        refuses("step2", "PORT", "70000");
    }

    /// `HOST` must be an IP address.
    #[test]
    fn host_that_is_not_an_address() {
        refuses("step2", "HOST", "localhost:80");
    }

    /// `SHUTDOWN_TIMEOUT=soon` is refused, naming SHUTDOWN_TIMEOUT.
    #[test]
    fn shutdown_timeout_that_is_not_a_duration() {
        refuses("step2", "SHUTDOWN_TIMEOUT", "soon");
    }

    /// `SHUTDOWN_DELAY=later` is refused, naming SHUTDOWN_DELAY.
    #[test]
    fn shutdown_delay_that_is_not_a_duration() {
        refuses("step2", "SHUTDOWN_DELAY", "later");
    }

    /// An empty `DATABASE_URL` is refused rather than guessed at.
    #[test]
    fn empty_database_url() {
        refuses("step2", "DATABASE_URL", "");
    }

    /// `RUST_LOG` that is not a filter.
    #[test]
    fn rust_log_that_is_not_a_filter() {
        refuses("step2", "RUST_LOG", "info,bookmarks=louder");
    }

    /// A database in a directory that does not exist cannot be created.
    #[test]
    fn unwritable_database_path() {
        refuses_a_missing_directory("step2", "DATABASE_URL");
    }

    /// A port that another process holds is reported, with the address.
    #[test]
    fn port_already_in_use() {
        refuses_a_port_in_use("step2");
    }

    /// `HEADER_TIMEOUT=soon` is refused.
    #[test]
    fn header_timeout_that_is_not_a_duration() {
        refuses("step2", "HEADER_TIMEOUT", "soon");
    }

    /// `BODY_TIMEOUT=0s` would close every connection at once: refused.
    #[test]
    fn body_timeout_of_zero() {
        refuses("step2", "BODY_TIMEOUT", "0s");
    }

    /// `IDLE_TIMEOUT=48h` is more than a day: refused.
    #[test]
    fn idle_timeout_over_a_day() {
        refuses("step2", "IDLE_TIMEOUT", "48h");
    }
}

mod step3 {
    use super::*;

    /// `PORT=abc` is refused, naming PORT.
    #[test]
    fn port_that_is_not_a_number() {
        refuses("step3", "PORT", "abc");
    }

    /// `PORT=70000` is out of range.
    #[test]
    fn port_out_of_range() {
        refuses("step3", "PORT", "70000");
    }

    /// `HOST` must be an IP address.
    #[test]
    fn host_that_is_not_an_address() {
        refuses("step3", "HOST", "localhost:80");
    }

    /// `SHUTDOWN_TIMEOUT=soon` is refused, naming SHUTDOWN_TIMEOUT.
    #[test]
    fn shutdown_timeout_that_is_not_a_duration() {
        refuses("step3", "SHUTDOWN_TIMEOUT", "soon");
    }

    /// `SHUTDOWN_DELAY=later` is refused, naming SHUTDOWN_DELAY.
    #[test]
    fn shutdown_delay_that_is_not_a_duration() {
        refuses("step3", "SHUTDOWN_DELAY", "later");
    }

    /// An empty `DATABASE_URL` is refused rather than guessed at.
    #[test]
    fn empty_database_url() {
        refuses("step3", "DATABASE_URL", "");
    }

    /// `RUST_LOG` that is not a filter.
    #[test]
    fn rust_log_that_is_not_a_filter() {
        refuses("step3", "RUST_LOG", "info,bookmarks=louder");
    }

    /// A database in a directory that does not exist cannot be created.
    #[test]
    fn unwritable_database_path() {
        refuses_a_missing_directory("step3", "DATABASE_URL");
    }

    /// A port that another process holds is reported, with the address.
    #[test]
    fn port_already_in_use() {
        refuses_a_port_in_use("step3");
    }

    /// `HEADER_TIMEOUT=soon` is refused.
    #[test]
    fn header_timeout_that_is_not_a_duration() {
        refuses("step3", "HEADER_TIMEOUT", "soon");
    }

    /// `BODY_TIMEOUT=0s` would close every connection at once: refused.
    #[test]
    fn body_timeout_of_zero() {
        refuses("step3", "BODY_TIMEOUT", "0s");
    }

    /// `IDLE_TIMEOUT=48h` is more than a day: refused.
    #[test]
    fn idle_timeout_over_a_day() {
        refuses("step3", "IDLE_TIMEOUT", "48h");
    }
}

mod step4 {
    use super::*;

    /// `PORT=abc` is refused, naming PORT.
    #[test]
    fn port_that_is_not_a_number() {
        refuses("step4", "PORT", "abc");
    }

    /// `PORT=70000` is out of range.
    #[test]
    fn port_out_of_range() {
        refuses("step4", "PORT", "70000");
    }

    /// `HOST` must be an IP address.
    #[test]
    fn host_that_is_not_an_address() {
        refuses("step4", "HOST", "localhost:80");
    }

    /// `SHUTDOWN_TIMEOUT=soon` is refused, naming SHUTDOWN_TIMEOUT.
    #[test]
    fn shutdown_timeout_that_is_not_a_duration() {
        refuses("step4", "SHUTDOWN_TIMEOUT", "soon");
    }

    /// `SHUTDOWN_DELAY=later` is refused, naming SHUTDOWN_DELAY.
    #[test]
    fn shutdown_delay_that_is_not_a_duration() {
        refuses("step4", "SHUTDOWN_DELAY", "later");
    }

    /// An empty `DATABASE_URL` is refused rather than guessed at.
    #[test]
    fn empty_database_url() {
        refuses("step4", "DATABASE_URL", "");
    }

    /// `RUST_LOG` that is not a filter.
    #[test]
    fn rust_log_that_is_not_a_filter() {
        refuses("step4", "RUST_LOG", "info,bookmarks=louder");
    }

    /// A database in a directory that does not exist cannot be created.
    #[test]
    fn unwritable_database_path() {
        refuses_a_missing_directory("step4", "DATABASE_URL");
    }

    /// A port that another process holds is reported, with the address.
    #[test]
    fn port_already_in_use() {
        refuses_a_port_in_use("step4");
    }

    /// `HEADER_TIMEOUT=soon` is refused.
    #[test]
    fn header_timeout_that_is_not_a_duration() {
        refuses("step4", "HEADER_TIMEOUT", "soon");
    }

    /// `BODY_TIMEOUT=0s` would close every connection at once: refused.
    #[test]
    fn body_timeout_of_zero() {
        refuses("step4", "BODY_TIMEOUT", "0s");
    }

    /// `IDLE_TIMEOUT=48h` is more than a day: refused.
    #[test]
    fn idle_timeout_over_a_day() {
        refuses("step4", "IDLE_TIMEOUT", "48h");
    }
}

mod step5 {
    use super::*;

    /// `PORT=abc` is refused, naming PORT.
    #[test]
    fn port_that_is_not_a_number() {
        refuses("step5", "PORT", "abc");
    }

    /// `PORT=70000` is out of range.
    #[test]
    fn port_out_of_range() {
        refuses("step5", "PORT", "70000");
    }

    /// `HOST` must be an IP address.
    #[test]
    fn host_that_is_not_an_address() {
        refuses("step5", "HOST", "localhost:80");
    }

    /// `SHUTDOWN_TIMEOUT=soon` is refused, naming SHUTDOWN_TIMEOUT.
    #[test]
    fn shutdown_timeout_that_is_not_a_duration() {
        refuses("step5", "SHUTDOWN_TIMEOUT", "soon");
    }

    /// `SHUTDOWN_DELAY=later` is refused, naming SHUTDOWN_DELAY.
    #[test]
    fn shutdown_delay_that_is_not_a_duration() {
        refuses("step5", "SHUTDOWN_DELAY", "later");
    }

    /// An empty `DATABASE_URL` is refused rather than guessed at.
    #[test]
    fn empty_database_url() {
        refuses("step5", "DATABASE_URL", "");
    }

    /// `RUST_LOG` that is not a filter.
    #[test]
    fn rust_log_that_is_not_a_filter() {
        refuses("step5", "RUST_LOG", "info,bookmarks=louder");
    }

    /// A database in a directory that does not exist cannot be created.
    #[test]
    fn unwritable_database_path() {
        refuses_a_missing_directory("step5", "DATABASE_URL");
    }

    /// A port that another process holds is reported, with the address.
    #[test]
    fn port_already_in_use() {
        refuses_a_port_in_use("step5");
    }

    /// `HEADER_TIMEOUT=soon` is refused.
    #[test]
    fn header_timeout_that_is_not_a_duration() {
        refuses("step5", "HEADER_TIMEOUT", "soon");
    }

    /// `BODY_TIMEOUT=0s` would close every connection at once: refused.
    #[test]
    fn body_timeout_of_zero() {
        refuses("step5", "BODY_TIMEOUT", "0s");
    }

    /// `IDLE_TIMEOUT=48h` is more than a day: refused.
    #[test]
    fn idle_timeout_over_a_day() {
        refuses("step5", "IDLE_TIMEOUT", "48h");
    }

    /// `FLUSH_INTERVAL=soon` is refused.
    #[test]
    fn flush_interval_that_is_not_a_duration() {
        refuses("step5", "FLUSH_INTERVAL", "soon");
    }

    /// `FLUSH_INTERVAL=0s` would flush in a busy loop: refused.
    #[test]
    fn flush_interval_of_zero() {
        refuses("step5", "FLUSH_INTERVAL", "0s");
    }

    /// `CHECK_INTERVAL=often` is refused.
    #[test]
    fn check_interval_that_is_not_a_duration() {
        refuses("step5", "CHECK_INTERVAL", "often");
    }

    /// `CHECK_DELAY=slow` is refused.
    #[test]
    fn check_delay_that_is_not_a_duration() {
        refuses("step5", "CHECK_DELAY", "slow");
    }

    /// A log file that cannot be created is reported before anything starts.
    #[test]
    fn unwritable_log_file() {
        refuses_a_missing_directory("step5", "LOG_FILE");
    }
}

mod step6 {
    use super::*;

    /// `PORT=abc` is refused, naming PORT.
    #[test]
    fn port_that_is_not_a_number() {
        refuses("step6", "PORT", "abc");
    }

    /// `PORT=70000` is out of range.
    #[test]
    fn port_out_of_range() {
        refuses("step6", "PORT", "70000");
    }

    /// `HOST` must be an IP address.
    #[test]
    fn host_that_is_not_an_address() {
        refuses("step6", "HOST", "localhost:80");
    }

    /// `SHUTDOWN_TIMEOUT=soon` is refused, naming SHUTDOWN_TIMEOUT.
    #[test]
    fn shutdown_timeout_that_is_not_a_duration() {
        refuses("step6", "SHUTDOWN_TIMEOUT", "soon");
    }

    /// `SHUTDOWN_DELAY=later` is refused, naming SHUTDOWN_DELAY.
    #[test]
    fn shutdown_delay_that_is_not_a_duration() {
        refuses("step6", "SHUTDOWN_DELAY", "later");
    }

    /// An empty `DATABASE_URL` is refused rather than guessed at.
    #[test]
    fn empty_database_url() {
        refuses("step6", "DATABASE_URL", "");
    }

    /// `RUST_LOG` that is not a filter.
    #[test]
    fn rust_log_that_is_not_a_filter() {
        refuses("step6", "RUST_LOG", "info,bookmarks=louder");
    }

    /// A database in a directory that does not exist cannot be created.
    #[test]
    fn unwritable_database_path() {
        refuses_a_missing_directory("step6", "DATABASE_URL");
    }

    /// A port that another process holds is reported, with the address.
    #[test]
    fn port_already_in_use() {
        refuses_a_port_in_use("step6");
    }

    /// `HEADER_TIMEOUT=soon` is refused.
    #[test]
    fn header_timeout_that_is_not_a_duration() {
        refuses("step6", "HEADER_TIMEOUT", "soon");
    }

    /// `BODY_TIMEOUT=0s` would close every connection at once: refused.
    #[test]
    fn body_timeout_of_zero() {
        refuses("step6", "BODY_TIMEOUT", "0s");
    }

    /// `IDLE_TIMEOUT=48h` is more than a day: refused.
    #[test]
    fn idle_timeout_over_a_day() {
        refuses("step6", "IDLE_TIMEOUT", "48h");
    }
}
