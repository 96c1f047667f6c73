//! The one harness: start a step's real binary, learn its port from the
//! `server starting` line, read every line it prints, send it real
//! signals, and see how it ended.
//!
//! The tests in `tests/` and `lessons/tests/`, the checks in
//! [`crate::checks`] and the tools (`loadtest`, `timeline`) all start their
//! processes here. Every wait has a bound. A child still running when its
//! [`Server`] is dropped is killed and reaped, and a test that fails prints
//! the child's output. On Linux a child also dies with the process that
//! started it, even one killed with SIGKILL ([`spawn_tied`]).

use std::{
    env,
    ffi::OsStr,
    fmt,
    io::{self, BufRead, BufReader, Read, Seek},
    net::{SocketAddr, TcpListener},
    ops::ControlFlow::{self, Break, Continue},
    os::{
        fd::AsRawFd,
        unix::process::{CommandExt, ExitStatusExt},
    },
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread,
    time::{Duration, Instant},
};

pub use nix::sys::signal::Signal;
use nix::{
    sys::signal::{SigHandler, SigSet, SigmaskHow, kill, signal, sigprocmask},
    unistd::Pid,
};
use tempfile::TempDir;

/// How long a step may take to print `server starting`. Generous: a cold
/// machine under a parallel test run can be slow to exec a debug binary.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(20);

/// How long, once the process is reaped, its output pipes may stay open.
const PIPES_GRACE: Duration = Duration::from_secs(2);

/// One line a child printed, stamped when it was read.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub at: Instant,
    pub text: String,
    pub stderr: bool,
}

impl fmt::Display for LogLine {
    /// The text, with `stderr: ` in front of a line from standard error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stream = if self.stderr { "stderr: " } else { "" };
        write!(f, "{stream}{}", self.text)
    }
}

// ANCHOR: output
/// Lines a child printed, with a way to wait for the next one.
#[derive(Default)]
struct Output {
    printed: Mutex<Printed>,
    changed: Condvar,
}

#[derive(Default)]
struct Printed {
    lines: Vec<LogLine>,
    /// Pipes still open. Both close when the process exits; from then on
    /// no line will come.
    open_pipes: usize,
    closed_at: Option<Instant>,
}

impl Output {
    fn lock(&self) -> MutexGuard<'_, Printed> {
        // A reader thread cannot panic while holding the lock, but a test
        // thread can; the lines stay valid either way.
        self.printed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until a line from index `from` on matches; returns its index
    /// and the line, or `None` at `deadline` or once both pipes closed.
    fn wait_for_line(
        &self,
        from: usize,
        deadline: Instant,
        matches: impl Fn(&str) -> bool,
    ) -> Option<(usize, LogLine)> {
        self.wait_until(deadline, |printed| {
            let mut lines = printed.lines.iter().enumerate().skip(from);
            match lines.find(|(_, line)| matches(&line.text)) {
                Some((index, line)) => Break(Some((index, line.clone()))),
                None if printed.open_pipes == 0 => Break(None),
                None => Continue(()),
            }
        })
    }

    /// Waits until both pipes are closed; when that happened, or `None`
    /// at `deadline`.
    fn wait_closed(&self, deadline: Instant) -> Option<Instant> {
        self.wait_until(deadline, |printed| match printed.open_pipes {
            0 => Break(printed.closed_at),
            _ => Continue(()),
        })
    }

    /// Looks at what was printed each time it changes, until `look` breaks
    /// with an answer; `None` at `deadline`.
    fn wait_until<T>(
        &self,
        deadline: Instant,
        mut look: impl FnMut(&Printed) -> ControlFlow<Option<T>>,
    ) -> Option<T> {
        let mut printed = self.lock();
        loop {
            if let Break(answer) = look(&printed) {
                return answer;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            printed = self
                .changed
                .wait_timeout(printed, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }
}
// ANCHOR_END: output

/// Where the current build put binary `name`: beside the running test
/// (`target/debug/deps/tests-…` → `target/debug/step2`) or tool
/// (`target/debug/xtask` → `target/debug/lesson3`). Cargo builds a
/// package's binaries before it runs that package's integration tests.
pub fn built_binary(name: &str) -> PathBuf {
    let running = env::current_exe().expect("the path of the running executable");
    let mut dir = running
        .parent()
        .expect("an executable lives in a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(format!("{name}{}", env::consts::EXE_SUFFIX))
}

/// Builds example `name` of the tutorial package and returns where cargo
/// put it. `cargo test` builds the examples before it runs a test, but
/// `cargo test --test steps` does not, and a binary left from an earlier
/// build would then be tested in place of the source: so the checks build
/// it themselves (a fraction of a second when it is up to date).
pub fn build_example(name: &str) -> Result<PathBuf, String> {
    const BUILD_LIMIT: Duration = Duration::from_secs(600);
    // The cargo that runs these tests, or the one that built this crate.
    let cargo = env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let failed = |err: std::io::Error| format!("cannot build example {name}: {err}");
    // Cargo's messages go to a file: a pipe, unread while we wait, could fill.
    let mut messages = tempfile::tempfile().map_err(failed)?;
    let mut cargo = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--package",
            "bookmarks",
            "--example",
            name,
        ])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .stdin(Stdio::null())
        .stdout(messages.try_clone().map_err(failed)?)
        .spawn()
        .map_err(failed)?;
    let deadline = Instant::now() + BUILD_LIMIT;
    let status = loop {
        if let Some(status) = cargo.try_wait().map_err(failed)? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = cargo.kill();
            let _ = cargo.wait();
            return Err(format!(
                "cargo build --example {name}: not done in {BUILD_LIMIT:?}"
            ));
        }
        thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        return Err(format!(
            "cargo could not build example {name} (its message is above)"
        ));
    }
    let mut text = String::new();
    messages.rewind().map_err(failed)?;
    messages.read_to_string(&mut text).map_err(failed)?;
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("cargo named no executable for example {name}"))
}

/// A directory for one run's database, in memory where the system has a
/// tmpfs at `/dev/shm`. The bound the tests assert leaves the disk out (a
/// database's last checkpoint runs to its end, however busy the disk), so
/// the tests keep the disk out of what they time: on a shared disk, other
/// builds' writes made a close take over 150 ms.
fn scratch_dir() -> TempDir {
    let shm = Path::new("/dev/shm");
    let in_memory = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten();
    in_memory.unwrap_or_else(|| tempfile::tempdir().expect("a temporary directory"))
}

/// A step to start, with its environment.
pub struct Launch {
    name: String,
    command: Command,
    scratch: TempDir,
}

impl Launch {
    // ANCHOR: launch_new
    /// Binary `name` of this build, with `PORT=0`, a fresh database in a
    /// temporary directory and a short drain deadline.
    pub fn new(name: &str) -> Launch {
        Launch::binary(name, &built_binary(name))
    }

    /// The executable at `path`, started as [`Launch::new`] starts one.
    pub fn binary(name: &str, path: &Path) -> Launch {
        let scratch = scratch_dir();
        let mut command = Command::new(path);
        command
            .env_clear()
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("DATABASE_URL", scratch.path().join("bookmarks.db"))
            .env("SHUTDOWN_TIMEOUT", "500ms")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Launch {
            name: name.to_owned(),
            command,
            scratch,
        }
    }
    // ANCHOR_END: launch_new

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Launch {
        self.command.env(key, value);
        self
    }

    /// Adds arguments after the program, for one that is not a step itself:
    /// tests/container.rs follows `podman logs -f ID` as a step's output.
    pub fn args(mut self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Launch {
        self.command.args(args);
        self
    }

    /// Runs the step under a wrapper command (`unshare --pid --fork …`),
    /// keeping the environment set so far.
    pub fn wrapped_in(mut self, wrapper: &[&str]) -> Launch {
        let mut command = Command::new(wrapper[0]);
        command.args(&wrapper[1..]).arg(self.command.get_program());
        command.env_clear();
        for (key, value) in self.command.get_envs() {
            if let Some(value) = value {
                command.env(key, value);
            }
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.command = command;
        self
    }

    // ANCHOR: with_listener
    /// Hands `listener` to the step as systemd's socket activation does: as
    /// file descriptor 3, with `LISTEN_FDS=1` and `LISTEN_PID` set to the
    /// step's own pid. Only the child knows its pid before it runs, and
    /// between fork and exec nothing may allocate (so no setenv): a shell
    /// sets `LISTEN_PID=$$` and execs the step, which keeps the pid.
    pub fn with_listener(self, listener: &TcpListener) -> Launch {
        let fd = listener.as_raw_fd();
        let mut launch =
            self.env("LISTEN_FDS", "1")
                .wrapped_in(&["/bin/sh", "-c", "LISTEN_PID=$$ exec \"$0\""]);
        // SAFETY: dup2(2) and fcntl(2) are async-signal-safe. The copy at
        // fd 3 is made without FD_CLOEXEC, so it survives both execs, while
        // the original (std opens every socket close-on-exec) does not.
        unsafe {
            launch.command.pre_exec(move || {
                let result = if fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, 3)
                };
                if result < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        launch
    }
    // ANCHOR_END: with_listener

    /// Where the step's database will be.
    pub fn db_path(&self) -> PathBuf {
        self.scratch.path().join("bookmarks.db")
    }

    // ANCHOR: spawn
    /// Spawns the child and returns as soon as it is running, without
    /// waiting for `server starting` (for tests of start-up failures).
    pub fn spawn(mut self) -> Result<Server, String> {
        // A test run that a non-interactive shell started in the background
        // (as CI scripts may) inherits SIGINT ignored, and so would every
        // child: step 1, which has no handler, would then survive Ctrl+C.
        // Start each child with the default signal dispositions and nothing
        // blocked, as a shell starts a foreground job.
        // SAFETY: between fork and exec only async-signal-safe calls are
        // allowed; signal(2) and sigprocmask(2) are.
        unsafe {
            self.command.pre_exec(|| {
                for caught in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGQUIT] {
                    signal(caught, SigHandler::SigDfl)?;
                }
                sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
                Ok(())
            });
        }
        let program = Path::new(self.command.get_program()).display().to_string();
        let spawned = Instant::now();
        let mut child = spawn_tied(self.command)
            .map_err(|err| format!("cannot start {} ({program}): {err}", self.name))?;
        let output = Arc::new(Output::default());
        output.lock().open_pipes = 2;
        let readers = vec![
            read_lines(child.stdout.take().expect("piped stdout"), false, &output),
            read_lines(child.stderr.take().expect("piped stderr"), true, &output),
        ];
        Ok(Server {
            name: self.name,
            db_path: self.scratch.path().join("bookmarks.db"),
            _scratch: self.scratch,
            child,
            output,
            readers,
            addr: None,
            spawned,
            ready: None,
            exit: None,
        })
    }
    // ANCHOR_END: spawn

    // ANCHOR: start
    /// Spawns the child and waits for `server starting addr=…`: from that
    /// line on the port accepts connections and a signal is handled.
    pub fn try_start(self) -> Result<Server, String> {
        let mut server = self.spawn()?;
        let deadline = server.spawned + STARTUP_LIMIT;
        let Some((_, line)) = server
            .output
            .wait_for_line(0, deadline, |text| text.contains("server starting"))
        else {
            server.kill();
            return Err(format!(
                "{} printed no `server starting` line within {STARTUP_LIMIT:?}; its output:\n{}",
                server.name,
                server.transcript()
            ));
        };
        server.addr = Some(parse_addr(&line.text)?);
        server.ready = Some(line.at);
        Ok(server)
    }

    /// Like [`Launch::try_start`], for a test: a step that cannot start
    /// fails it.
    #[track_caller]
    pub fn start(self) -> Server {
        self.try_start().unwrap_or_else(|err| panic!("{err}"))
    }
    // ANCHOR_END: start
}

// ANCHOR: spawn_tied
/// Starts `command` as a child that does not outlive this process.
///
/// A test binary that is killed (SIGKILL, an abort, a terminal closed)
/// drops no [`Server`], so nothing would stop the steps it started: they
/// would serve on, holding their ports and temporary files. On Linux the
/// child asks the kernel for SIGKILL when its parent dies
/// (`PR_SET_PDEATHSIG`, prctl(2)). The kernel sends it when the *thread*
/// that forked the child exits, not the process, and a test may start a
/// server from a thread that ends before the server should (a helper
/// thread, or the test's own thread handing the server on), so every child
/// is forked by one thread that lives as long as the process. Elsewhere the
/// child is spawned as usual.
pub fn spawn_tied(command: Command) -> io::Result<Child> {
    #[cfg(target_os = "linux")]
    return tied::spawn(command);
    #[cfg(not(target_os = "linux"))]
    {
        let mut command = command;
        command.spawn()
    }
}

#[cfg(target_os = "linux")]
mod tied {
    use std::{
        io,
        os::unix::process::CommandExt,
        process::{Child, Command},
        sync::{OnceLock, mpsc},
        thread,
    };

    use nix::{
        sys::{prctl, signal::Signal},
        unistd::{Pid, getppid},
    };

    /// A command to fork, and where to send the child.
    type Request = (Command, mpsc::Sender<io::Result<Child>>);

    pub(super) fn spawn(command: Command) -> io::Result<Child> {
        static SPAWNER: OnceLock<mpsc::Sender<Request>> = OnceLock::new();
        let spawner = SPAWNER.get_or_init(|| {
            let (requests, received) = mpsc::channel::<Request>();
            // Never joined: it waits for requests until the process ends,
            // and with it every child's parent thread.
            thread::Builder::new()
                .name("spawner".into())
                .spawn(move || {
                    for (command, reply) in received {
                        let _ = reply.send(fork(command));
                    }
                })
                .expect("a thread to start children from");
            requests
        });
        let gone = || io::Error::other("the spawner thread has gone");
        let (reply, child) = mpsc::channel();
        spawner.send((command, reply)).map_err(|_| gone())?;
        child.recv().map_err(|_| gone())?
    }

    fn fork(mut command: Command) -> io::Result<Child> {
        let parent = Pid::this();
        // SAFETY: prctl(2) and getppid(2) are async-signal-safe system
        // calls, and nothing here allocates.
        unsafe {
            command.pre_exec(move || {
                prctl::set_pdeathsig(Signal::SIGKILL)?;
                // The parent died before the signal was asked for: none
                // will come, so do not start.
                if getppid() != parent {
                    return Err(io::Error::other("the parent has exited"));
                }
                Ok(())
            });
        }
        command.spawn()
    }
}
// ANCHOR_END: spawn_tied

// ANCHOR: read_lines
fn read_lines(
    pipe: impl Read + Send + 'static,
    stderr: bool,
    output: &Arc<Output>,
) -> thread::JoinHandle<()> {
    let output = Arc::clone(output);
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(text) = line else { break };
            let at = Instant::now();
            output.lock().lines.push(LogLine { at, text, stderr });
            output.changed.notify_all();
        }
        let mut printed = output.lock();
        printed.open_pipes -= 1;
        if printed.open_pipes == 0 {
            printed.closed_at = Some(Instant::now());
        }
        output.changed.notify_all();
    })
}
// ANCHOR_END: read_lines

// ANCHOR: parse_addr
/// `… server starting addr=127.0.0.1:40123` → that address.
pub fn parse_addr(line: &str) -> Result<SocketAddr, String> {
    let value = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("addr="))
        .ok_or_else(|| format!("no addr= in {line:?}"))?;
    value
        .parse()
        .map_err(|err| format!("bad addr= in {line:?}: {err}"))
}
// ANCHOR_END: parse_addr

/// A running (or finished) step.
pub struct Server {
    pub name: String,
    pub db_path: PathBuf,
    _scratch: TempDir,
    child: Child,
    output: Arc<Output>,
    readers: Vec<thread::JoinHandle<()>>,
    addr: Option<SocketAddr>,
    /// When the process was spawned.
    pub spawned: Instant,
    ready: Option<Instant>,
    exit: Option<(Instant, ExitStatus)>,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("the server has not logged its address")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// The process id of the child this harness started.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// When its `server starting` line was read.
    pub fn ready_at(&self) -> Instant {
        self.ready
            .expect("the server has not logged `server starting`")
    }

    // ANCHOR: signal
    /// Sends `signal` with kill(2) and returns when it was sent.
    #[track_caller]
    pub fn signal(&mut self, signal: Signal) -> Instant {
        self.try_signal(signal)
            .unwrap_or_else(|err| panic!("{err}"))
    }

    /// Like [`Server::signal`], but refuses once the process is reaped:
    /// its pid may belong to another process by then.
    pub fn try_signal(&mut self, signal: Signal) -> Result<Instant, String> {
        if self.try_status().is_some() {
            return Err(format!("{} has already exited", self.name));
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        kill(pid, signal).map_err(|err| format!("kill -{signal} {}: {err}", self.name))?;
        Ok(Instant::now())
    }
    // ANCHOR_END: signal

    /// Waits, at most `limit`, for a line from index `from` on that
    /// `matches`; its index and the line.
    pub fn wait_for_line(
        &self,
        from: usize,
        limit: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<(usize, LogLine)> {
        self.output
            .wait_for_line(from, Instant::now() + limit, matches)
    }

    /// Waits, at most `limit`, for a line containing `needle`.
    #[track_caller]
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> String {
        match self.wait_for_line(0, limit, |text| text.contains(needle)) {
            Some((_, line)) => line.text,
            None => panic!(
                "{}: no log line with {needle:?} within {limit:?}",
                self.name
            ),
        }
    }

    /// Every line so far, in the order read, standard error marked
    /// `stderr: `.
    pub fn logs(&self) -> Vec<String> {
        self.output
            .lock()
            .lines
            .iter()
            .map(LogLine::to_string)
            .collect()
    }

    /// Every line so far, with the moment each was read.
    pub fn lines(&self) -> Vec<LogLine> {
        self.output.lock().lines.clone()
    }

    /// How many lines have been read so far.
    pub fn line_count(&self) -> usize {
        self.output.lock().lines.len()
    }

    pub fn has_log(&self, needle: &str) -> bool {
        self.output
            .lock()
            .lines
            .iter()
            .any(|line| line.text.contains(needle))
    }

    /// The whole output, for a message.
    pub fn transcript(&self) -> String {
        self.logs()
            .iter()
            .map(|line| format!("  {line}\n"))
            .collect()
    }

    // ANCHOR: wait_exit
    /// Waits at most `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        // The pipes close when the process exits: wait for that rather
        // than on a timer, then reap it.
        self.output.wait_closed(deadline);
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            // Closed its pipes but not gone yet: a moment at most.
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Like [`Server::wait_exit`], but the process must exit.
    #[track_caller]
    pub fn expect_exit(&mut self, limit: Duration) -> ExitStatus {
        match self.wait_exit(limit) {
            Some(status) => status,
            None => panic!("{} still running after {limit:?}", self.name),
        }
    }
    // ANCHOR_END: wait_exit

    /// Sends SIGTERM and waits at most `limit` for the exit.
    #[track_caller]
    pub fn stop(&mut self, limit: Duration) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.expect_exit(limit)
    }

    /// When the process exited, once it has: the moment its pipes closed.
    pub fn exited_at(&self) -> Option<Instant> {
        self.exit.map(|(at, _)| at)
    }

    /// SIGKILL, then reap: the end for a process that would not stop.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            if let Ok(status) = self.child.wait() {
                self.reaped(status);
            }
        }
        self.exit.map(|(_, status)| status)
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.reaped(status);
        }
        self.exit.map(|(_, status)| status)
    }

    fn reaped(&mut self, status: ExitStatus) {
        // The pipes close with the process; take the last lines. A
        // descendant that inherited them (a wrapper's child) could keep
        // them open: its readers are then left running, not waited for.
        let reaped_at = Instant::now();
        let closed = self.output.wait_closed(reaped_at + PIPES_GRACE);
        if closed.is_some() {
            for reader in self.readers.drain(..) {
                let _ = reader.join();
            }
        }
        self.exit = Some((closed.unwrap_or(reaped_at), status));
    }
}

// ANCHOR: drop
impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!("--- output of {} ---", self.name);
            eprint!("{}", self.transcript());
            eprintln!("--- exit: {:?} ---", self.exit.map(|(_, status)| status));
        }
    }
}
// ANCHOR_END: drop

/// `0`, `1`, or the signal that ended it: `SIGTERM`, `SIGKILL`.
pub fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return code.to_string();
    }
    match status.signal() {
        Some(number) => Signal::try_from(number)
            .map(|signal| signal.as_str().to_owned())
            .unwrap_or_else(|_| format!("signal {number}")),
        None => status.to_string(),
    }
}

// ANCHOR: assert_exit_code
/// Asserts the exit status is `code`, naming a signal death clearly.
#[track_caller]
pub fn assert_exit_code(status: ExitStatus, code: i32) {
    match (status.code(), status.signal()) {
        (Some(actual), _) => assert_eq!(
            actual, code,
            "exit status {actual}, expected {code} (0: a clean stop; 1: a stop cut off, or a \
             step of it failed; 2: a start-up error)"
        ),
        (None, Some(signal)) => panic!("expected exit {code}, killed by signal {signal}"),
        _ => panic!("expected exit {code}, got {status:?}"),
    }
}
// ANCHOR_END: assert_exit_code

/// Asserts that each needle is in the logs, each after the one before, and
/// returns the index of the line where each was found.
#[track_caller]
pub fn assert_logged_in_order(logs: &[String], needles: &[&str]) -> Vec<usize> {
    let order: Vec<usize> = needles
        .iter()
        .map(|needle| line_index(logs, needle))
        .collect();
    assert!(
        order.is_sorted(),
        "log lines out of order, expected {needles:?}: {logs:#?}"
    );
    order
}

/// The index of the first log line containing `needle`.
#[track_caller]
pub fn line_index(logs: &[String], needle: &str) -> usize {
    logs.iter()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("the server never logged a line with {needle:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_the_starting_line() {
        let line = "2026-05-01T10:00:00.1Z  INFO step2: server starting addr=127.0.0.1:40123";
        assert_eq!(parse_addr(line), Ok("127.0.0.1:40123".parse().unwrap()));
        assert!(parse_addr("INFO step2: server starting").is_err());
    }

    /// A shell script standing in for a step.
    fn script(text: &str) -> Launch {
        let mut launch =
            Launch::binary("script", Path::new("/bin/sh")).env("PATH", "/usr/bin:/bin");
        launch.command.args(["-c", text]);
        launch
    }

    /// Lines are read as they come, from both pipes, a wait ends at its
    /// line, and the exit is seen with its status.
    #[test]
    fn lines_are_waited_for_and_the_exit_is_seen() {
        let mut server =
            script("echo 'x server starting addr=127.0.0.1:9'; sleep 0.2; echo late >&2; exit 3")
                .start();
        assert_eq!(server.addr(), "127.0.0.1:9".parse().unwrap());
        assert_eq!(server.wait_for_log("late", Duration::from_secs(5)), "late");
        let status = server.expect_exit(Duration::from_secs(5));
        assert_eq!(status.code(), Some(3));
        assert_eq!(server.logs().last().unwrap(), "stderr: late");
        assert!(server.exited_at().unwrap() >= server.lines()[1].at);
    }

    /// A wait for a line that never comes ends at its limit, and sooner
    /// when the process has gone.
    #[test]
    fn waits_are_bounded() {
        let mut running = script("echo 'server starting addr=127.0.0.1:9'; exec sleep 10").start();
        let started = Instant::now();
        assert!(
            running
                .wait_for_line(0, Duration::from_millis(200), |text| text == "never")
                .is_none()
        );
        assert!(running.wait_exit(Duration::from_millis(200)).is_none());
        assert!(started.elapsed() < Duration::from_secs(5));

        let gone = script("exit 0").spawn().unwrap();
        let started = Instant::now();
        assert!(
            gone.wait_for_line(0, Duration::from_secs(10), |_| true)
                .is_none()
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not the whole limit"
        );
    }

    /// The child starts with SIGINT at its default action even when this
    /// process ignores it, as a shell's background job would.
    #[test]
    fn signal_dispositions_are_reset() {
        // SAFETY: setting a disposition is async-signal-safe; the test
        // puts it back before returning.
        let previous = unsafe { signal(Signal::SIGINT, SigHandler::SigIgn) }.unwrap();
        let launched = script("echo 'server starting addr=127.0.0.1:9'; exec sleep 10").try_start();
        unsafe { signal(Signal::SIGINT, previous) }.unwrap();
        let mut server = launched.unwrap();
        server.signal(Signal::SIGINT);
        let status = server.expect_exit(Duration::from_secs(5));
        assert_eq!(status.signal(), Some(Signal::SIGINT as i32));
    }
}
