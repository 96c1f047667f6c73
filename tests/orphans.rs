//! No step outlives the tests that started it. A test that fails drops its
//! `Server`, which kills the step; a test binary that is killed (SIGKILL,
//! an abort, a closed terminal) drops nothing, so the harness asks the
//! kernel to kill each child when its parent goes
//! (`tools::harness::spawn_tied`). These tests kill a copy of this very
//! binary while it holds a step, and check that the step went with it; and
//! that a step started from a thread that has ended still serves, since the
//! kernel's signal comes when the forking *thread* exits.

use std::{
    env,
    io::{ErrorKind, Read},
    net::{SocketAddr, TcpStream},
    os::unix::process::ExitStatusExt,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use libtest2_mimic::Trial;
use nix::{
    sys::signal::kill,
    unistd::{Pid, gettid},
};
use tools::{
    checks::PROMPTLY,
    client::get,
    harness::{Launch, STARTUP_LIMIT, Signal, parse_addr},
};

/// Set on the copy of this binary that holds a step until it is killed;
/// its value names the step.
const HOLD: &str = "STEPS_HOLD_A_SERVER";

/// How long a step may take to go once its test binary is killed.
const GONE_WITHIN: Duration = Duration::from_secs(5);

/// This file's tests, for `tests/steps.rs` to run.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        a_killed_test_binary_leaves_no_server_behind,
        a_server_outlives_the_thread_that_started_it,
    ]
}

/// In the copy of this binary that the test below starts: starts the step
/// `HOLD` names, prints `holding pid=… addr=…`, and waits to be killed, a
/// minute at most. Elsewhere it returns at once.
pub(crate) fn hold_a_server_if_asked() {
    let Some(step) = env::var_os(HOLD) else {
        return;
    };
    let server = Launch::new(&step.to_string_lossy()).start();
    println!("holding pid={} addr={}", server.pid(), server.addr());
    // Killed long before, unless the test that started us is gone.
    thread::sleep(Duration::from_secs(60));
    drop(server);
    std::process::exit(0);
}

/// A step this test did not start, killed if still there when the test
/// ends, so that even a failing run leaves nothing behind.
struct Stray(Pid);

impl Drop for Stray {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGKILL);
    }
}

/// This test binary, killed with SIGKILL while a test holds step 1, takes
/// step 1 with it: the connection open to it is closed, and nothing listens
/// on its port any more. (Step 1 has no shutdown at all: it goes only when
/// killed.)
fn a_killed_test_binary_leaves_no_server_behind() {
    let this_binary = env::current_exe().expect("the path of this test binary");
    let mut holder = Launch::binary("this test binary", &this_binary)
        .env(HOLD, "step1")
        .spawn()
        .unwrap_or_else(|err| panic!("{err}"));
    let Some((_, line)) =
        holder.wait_for_line(0, STARTUP_LIMIT, |text| text.starts_with("holding "))
    else {
        panic!("no `holding` line; its output:\n{}", holder.transcript());
    };
    let addr: SocketAddr = parse_addr(&line.text).unwrap();
    let pid = line
        .text
        .split_whitespace()
        .find_map(|field| field.strip_prefix("pid="))
        .and_then(|pid| pid.parse().ok())
        .map(Pid::from_raw)
        .expect("pid= in the holding line");
    let _stray = Stray(pid);
    // Step 1 never closes a connection: this one ends with its process.
    let mut connection = TcpStream::connect(addr).unwrap();

    holder.signal(Signal::SIGKILL);
    let status = holder.expect_exit(PROMPTLY);
    assert_eq!(status.signal(), Some(Signal::SIGKILL as i32), "{status:?}");

    connection.set_read_timeout(Some(GONE_WITHIN)).unwrap();
    let ended = connection.read(&mut [0; 1]);
    assert!(
        matches!(&ended, Ok(0))
            || matches!(&ended, Err(err) if err.kind() == ErrorKind::ConnectionReset),
        "step 1 (pid {pid}) still serving {GONE_WITHIN:?} after its test binary was killed: {ended:?}"
    );
    let refused = TcpStream::connect(addr).map_err(|err| err.kind());
    assert_eq!(refused.err(), Some(ErrorKind::ConnectionRefused), "{addr}");
}

/// A step started from a thread that has since ended serves on, until its
/// test stops it.
fn a_server_outlives_the_thread_that_started_it() {
    let (mut server, thread_id) = thread::spawn(|| (Launch::new("step1").start(), gettid()))
        .join()
        .unwrap();
    // Joined is not yet gone: the kernel lets go of the thread, and sends
    // the parent-death signal of the children it forked, just after.
    let task = format!("/proc/self/task/{thread_id}");
    let deadline = Instant::now() + GONE_WITHIN;
    while Path::new(&task).exists() {
        assert!(Instant::now() < deadline, "thread {thread_id} still there");
        thread::sleep(Duration::from_millis(1));
    }

    assert_eq!(
        get(&server.url("/health"), PROMPTLY),
        Ok((200, "ok".into())),
        "step 1, once the thread that started it has ended"
    );
    assert_eq!(server.wait_exit(Duration::ZERO), None, "still running");
    server.signal(Signal::SIGTERM);
    let status = server.expect_exit(PROMPTLY);
    assert_eq!(status.signal(), Some(Signal::SIGTERM as i32), "{status:?}");
}
