//! A bad setting gets one clear line and a non-zero exit, never a panic.

#![cfg(unix)]

mod support;

use std::{net::TcpListener, time::Duration};

use support::{Launch, assert_exit_code};

const STEPS: [&str; 6] = ["step1", "step2", "step3", "step4", "step5", "step6"];

/// Starts `bin` with `variable=value` and checks that it refuses to run:
/// exit status 2, exactly one line of output, on standard error, that
/// contains `mentions`.
#[track_caller]
fn refuses(bin: &str, launch: Launch, mentions: &str) {
    let mut server = launch.spawn();
    let status = server.expect_exit(Duration::from_secs(10));
    let logs = server.logs();
    assert_exit_code(status, 2);
    assert_eq!(logs.len(), 1, "{bin}: one line, got {logs:#?}");
    let line = &logs[0];
    assert!(line.starts_with("stderr: error: "), "{bin}: {line}");
    assert!(
        line.contains(mentions),
        "{bin}: {line} should mention {mentions}"
    );
    assert!(!line.contains("panicked"), "{bin}: {line}");
}

fn each_step_refuses(variable: &str, value: &str) {
    for bin in STEPS {
        refuses(bin, Launch::new(bin).env(variable, value), variable);
    }
}

/// `PORT=abc` names PORT.
#[test]
fn port_that_is_not_a_number() {
    each_step_refuses("PORT", "abc");
}

/// `PORT=70000` is out of range.
#[test]
fn port_out_of_range() {
    each_step_refuses("PORT", "70000");
}

/// `HOST` must be an IP address.
#[test]
fn host_that_is_not_an_address() {
    each_step_refuses("HOST", "localhost:80");
}

/// `SHUTDOWN_TIMEOUT=soon` names SHUTDOWN_TIMEOUT.
#[test]
fn shutdown_timeout_that_is_not_a_duration() {
    each_step_refuses("SHUTDOWN_TIMEOUT", "soon");
}

/// An empty `DATABASE_URL` is refused rather than guessed at.
#[test]
fn empty_database_url() {
    each_step_refuses("DATABASE_URL", "");
}

/// `RUST_LOG` that is not a filter.
#[test]
fn rust_log_that_is_not_a_filter() {
    each_step_refuses("RUST_LOG", "info,bookmarks=louder");
}

/// A database in a directory that does not exist cannot be created.
#[test]
fn unwritable_database_path() {
    for bin in STEPS {
        let launch = Launch::new(bin);
        let path = launch.db_path().with_file_name("no-such-dir").join("x.db");
        refuses(bin, launch.env("DATABASE_URL", &path), "DATABASE_URL");
    }
}

/// A port that another process holds is reported, with the address.
#[test]
fn port_already_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for bin in STEPS {
        refuses(
            bin,
            Launch::new(bin).env("PORT", &port),
            &format!("cannot listen on 127.0.0.1:{port}"),
        );
    }
}

/// Step 5's own settings are checked the same way.
#[test]
fn step5_background_settings() {
    for (variable, value) in [
        ("FLUSH_INTERVAL", "soon"),
        ("FLUSH_INTERVAL", "0s"),
        ("CHECK_INTERVAL", "often"),
        ("CHECK_DELAY", "slow"),
    ] {
        refuses("step5", Launch::new("step5").env(variable, value), variable);
    }
}

/// A log file that cannot be created is reported before anything starts.
#[test]
fn step5_unwritable_log_file() {
    let launch = Launch::new("step5");
    let path = launch
        .db_path()
        .with_file_name("no-such-dir")
        .join("step5.log");
    refuses("step5", launch.env("LOG_FILE", &path), "LOG_FILE");
}

/// `SHUTDOWN_DELAY=later` names SHUTDOWN_DELAY, on every step.
#[test]
fn shutdown_delay_that_is_not_a_duration() {
    each_step_refuses("SHUTDOWN_DELAY", "later");
}

/// The timeouts of normal operation, on every step: not a duration, zero
/// (which would close every connection at once), more than a day.
#[test]
fn timeouts_that_are_not_usable() {
    for (variable, value) in [
        ("HEADER_TIMEOUT", "soon"),
        ("BODY_TIMEOUT", "0s"),
        ("IDLE_TIMEOUT", "48h"),
    ] {
        each_step_refuses(variable, value);
    }
}
