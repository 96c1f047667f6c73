//! What `docker stop` meets: a step running as PID 1 of its own PID
//! namespace, as it does in a container.
//!
//! The kernel applies no default action to a signal sent to a namespace's
//! init process: a signal it has no handler for is simply dropped. Step 1
//! has none, so SIGTERM does nothing and only the SIGKILL that follows the
//! grace period ends it. Step 6 handles SIGTERM and shuts down cleanly.
//!
//! The tests use `unshare --pid --fork`, which needs privileges that not
//! every machine grants. Where it is refused, each test is reported as
//! *ignored*, with the reason, never as passed: the harness is
//! `libtest-mimic`, which can decide that at run time.

use std::{process::Command, time::Duration};

use libtest_mimic::{Arguments, Failed, Trial};
use nix::{sys::signal::kill, unistd::Pid};
use tools::{
    client::get,
    harness::{Launch, Server, Signal, assert_exit_code},
};

const UNSHARE: [&str; 4] = ["unshare", "--pid", "--fork", "--kill-child"];

fn main() {
    let arguments = Arguments::from_args();
    let refused = namespaces_refused();
    if let Some(reason) = &refused {
        eprintln!("PID 1 tests ignored: this machine refuses a PID namespace ({reason})");
    }
    let tests: [(&str, fn()); 2] = [
        (
            "step1_as_pid_1_ignores_sigterm",
            step1_as_pid_1_ignores_sigterm,
        ),
        (
            "step6_as_pid_1_shuts_down_cleanly",
            step6_as_pid_1_shuts_down_cleanly,
        ),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            Trial::test(name, move || run(test)).with_ignored_flag(refused.is_some())
        })
        .collect();
    libtest_mimic::run(&arguments, trials).exit();
}

/// A test as the standard harness runs one: a panic is a failure.
fn run(test: fn()) -> Result<(), Failed> {
    std::panic::catch_unwind(test).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
            .unwrap_or_default();
        Failed::from(message)
    })
}

/// Whether this machine lets us create a PID namespace; the reason if not.
fn namespaces_refused() -> Option<String> {
    match Command::new(UNSHARE[0])
        .args(&UNSHARE[1..])
        .arg("true")
        .output()
    {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(err) => Some(format!("cannot run unshare: {err}")),
    }
}

/// The step's own process: unshare's only child, PID 1 inside.
fn init_process(server: &Server) -> Pid {
    let unshare = server.pid();
    let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
        .expect("unshare's children");
    let pid = children
        .split_whitespace()
        .next()
        .expect("a child")
        .parse()
        .unwrap();
    Pid::from_raw(pid)
}

// ANCHOR: step1_as_pid_1
/// Step 1 as PID 1 ignores SIGTERM and SIGINT: `docker stop` would wait
/// out its grace period and then SIGKILL it.
fn step1_as_pid_1_ignores_sigterm() {
    let mut server = Launch::new("step1").wrapped_in(&UNSHARE).start();
    let init = init_process(&server);

    kill(init, Signal::SIGTERM).unwrap();
    kill(init, Signal::SIGINT).unwrap();

    assert_eq!(
        server.wait_exit(Duration::from_secs(2)),
        None,
        "still running"
    );
    assert_eq!(
        get(&server.url("/health"), Duration::from_secs(2)),
        Ok((200, "ok".into())),
        "and still serving"
    );
    // Only SIGKILL from outside the namespace ends it, as Docker's does.
    kill(init, Signal::SIGKILL).unwrap();
    server.expect_exit(Duration::from_secs(5));
}
// ANCHOR_END: step1_as_pid_1

// ANCHOR: step6_as_pid_1
/// Step 6 as PID 1 handles SIGTERM: it drains and exits 0.
fn step6_as_pid_1_shuts_down_cleanly() {
    let mut server = Launch::new("step6").wrapped_in(&UNSHARE).start();
    let init = init_process(&server);

    kill(init, Signal::SIGTERM).unwrap();
    let status = server.expect_exit(Duration::from_secs(5));

    assert_exit_code(status, 0);
    assert!(server.logs().last().unwrap().contains("server stopped"));
}
// ANCHOR_END: step6_as_pid_1
