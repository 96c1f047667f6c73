//! What `docker stop` meets: a step running as PID 1 of its own PID
//! namespace, as it does in a container.
//!
//! The kernel applies no default action to a signal sent to a namespace's
//! init process: a signal it has no handler for is simply dropped. Step 1
//! has none, so SIGTERM does nothing and only the SIGKILL that follows the
//! grace period ends it. Step 7 handles SIGTERM and shuts down cleanly.
//!
//! The tests use `unshare --pid --fork`, which needs privileges that not
//! every machine grants. Where it is refused, each test is reported as
//! *ignored*, with the reason on standard error, never as passed: the
//! harness is `libtest2-mimic`, whose tests can ignore themselves at run
//! time. (A panic still fails a test, as under the standard harness.)

use std::{process::Command, time::Duration};

use libtest2_mimic::{RunContext, RunResult, Trial};
use nix::{sys::signal::kill, unistd::Pid};
use tools::{
    client::get,
    harness::{Launch, Server, Signal, assert_exit_code},
};

const UNSHARE: [&str; 4] = ["unshare", "--pid", "--fork", "--kill-child"];

/// The trials of this file, for `tests/steps.rs` to run with the rest.
pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "pid1::step1_as_pid_1_ignores_sigterm",
            step1_as_pid_1_ignores_sigterm,
        ),
        Trial::test(
            "pid1::step7_as_pid_1_shuts_down_cleanly",
            step7_as_pid_1_shuts_down_cleanly,
        ),
    ]
}

/// Marks the running test ignored, with the reason, where this machine
/// refuses a PID namespace. `--include-ignored` runs it all the same.
fn needs_a_pid_namespace(context: &RunContext<'_>) -> RunResult {
    match namespaces_refused() {
        Some(reason) => {
            eprintln!("ignored: this machine refuses a PID namespace ({reason})");
            context.ignore_for(format!("PID namespaces refused: {reason}"))
        }
        None => Ok(()),
    }
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
fn step1_as_pid_1_ignores_sigterm(context: RunContext<'_>) -> RunResult {
    needs_a_pid_namespace(&context)?;
    let mut server = Launch::new("step1").wrapped_in(&UNSHARE).start();
    let init = init_process(&server);

    kill(init, Signal::SIGTERM).unwrap();
    kill(init, Signal::SIGINT).unwrap();

    // A step that dies of the signal is gone in milliseconds.
    assert_eq!(
        server.wait_exit(Duration::from_secs(1)),
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
    Ok(())
}
// ANCHOR_END: step1_as_pid_1

// ANCHOR: step7_as_pid_1
/// Step 6 as PID 1 handles SIGTERM: it drains and exits 0.
fn step7_as_pid_1_shuts_down_cleanly(context: RunContext<'_>) -> RunResult {
    needs_a_pid_namespace(&context)?;
    let mut server = Launch::new("step7").wrapped_in(&UNSHARE).start();
    let init = init_process(&server);

    kill(init, Signal::SIGTERM).unwrap();
    let status = server.expect_exit(Duration::from_secs(5));

    assert_exit_code(status, 0);
    assert!(server.logs().last().unwrap().contains("server stopped"));
    Ok(())
}
// ANCHOR_END: step7_as_pid_1
