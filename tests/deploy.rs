//! The deployment files agree with step 6's settings: each supervisor's
//! grace period outlasts the pre-stop delay plus the drain deadline, the
//! stop signal is one the step drains on, and the container's entrypoint
//! is in exec form so the step itself receives that signal.

use std::{fs, time::Duration};

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn duration(text: &str) -> Duration {
    humantime::parse_duration(text.trim().trim_matches('"'))
        .unwrap_or_else(|err| panic!("{text:?} is not a duration: {err}"))
}

/// The value after `key` on the first line (comments skipped) that has it.
fn value_after<'a>(file: &'a str, key: &str) -> Option<&'a str> {
    file.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.split_once(key).map(|(_, rest)| rest.trim()))
}

fn assert_drain_signal(signal: &str, file: &str) {
    assert!(
        matches!(signal, "SIGTERM" | "SIGINT"),
        "{file}: stop signal {signal} is not one step6 drains on"
    );
}

// ANCHOR: docker
#[test]
fn dockerfile_runs_step6_as_pid_1_within_dockers_grace_period() {
    let file = read("deploy/Dockerfile");
    let entrypoint = value_after(&file, "ENTRYPOINT").expect("ENTRYPOINT");
    assert!(
        entrypoint.starts_with('[') && entrypoint.ends_with(']'),
        "ENTRYPOINT must be exec form, got {entrypoint}"
    );
    assert!(entrypoint.contains("step6"), "{entrypoint}");
    assert_drain_signal(
        value_after(&file, "STOPSIGNAL").expect("STOPSIGNAL"),
        "Dockerfile",
    );

    let delay = duration(
        value_after(&file, "SHUTDOWN_DELAY=")
            .expect("SHUTDOWN_DELAY")
            .trim_end_matches('\\'),
    );
    let timeout = duration(
        value_after(&file, "SHUTDOWN_TIMEOUT=")
            .expect("SHUTDOWN_TIMEOUT")
            .trim_end_matches('\\'),
    );
    // `docker stop` waits 10 s before SIGKILL unless told otherwise.
    assert!(
        delay + timeout < Duration::from_secs(10),
        "{delay:?} + {timeout:?}"
    );
}
// ANCHOR_END: docker

// ANCHOR: kubernetes
#[test]
fn kubernetes_grace_period_exceeds_delay_plus_timeout() {
    let file = read("deploy/kubernetes.yaml");
    let env = |name: &str| {
        let lines: Vec<&str> = file.lines().map(str::trim).collect();
        let at = lines
            .iter()
            .position(|line| *line == format!("- name: {name}"))
            .unwrap_or_else(|| panic!("no env {name}"));
        duration(
            lines[at + 1]
                .strip_prefix("value:")
                .expect("value: on the next line"),
        )
    };
    let grace: u64 = value_after(&file, "terminationGracePeriodSeconds:")
        .expect("terminationGracePeriodSeconds")
        .parse()
        .unwrap();
    let (delay, timeout) = (env("SHUTDOWN_DELAY"), env("SHUTDOWN_TIMEOUT"));
    assert!(
        !delay.is_zero(),
        "behind a Service, the delay covers endpoint removal"
    );
    assert!(
        Duration::from_secs(grace) > delay + timeout,
        "{grace}s vs {delay:?} + {timeout:?}"
    );
    assert!(file.contains("path: /ready"), "readiness probe on /ready");
    assert!(file.contains("path: /health"), "liveness probe on /health");
}
// ANCHOR_END: kubernetes

// ANCHOR: systemd
#[test]
fn systemd_stop_timeout_exceeds_delay_plus_timeout() {
    let file = read("deploy/bookmarks.service");
    assert_drain_signal(
        value_after(&file, "KillSignal=").expect("KillSignal"),
        "bookmarks.service",
    );
    let stop = duration(value_after(&file, "TimeoutStopSec=").expect("TimeoutStopSec"));
    let delay = duration(value_after(&file, "SHUTDOWN_DELAY=").expect("SHUTDOWN_DELAY"));
    let timeout = duration(value_after(&file, "SHUTDOWN_TIMEOUT=").expect("SHUTDOWN_TIMEOUT"));
    assert!(
        stop > delay + timeout,
        "{stop:?} vs {delay:?} + {timeout:?}"
    );
    assert!(value_after(&file, "ExecStart=").unwrap().ends_with("step6"));
}
// ANCHOR_END: systemd
