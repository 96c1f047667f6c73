//! The harness every behaviour test shares: start a step's real binary,
//! learn its port from the `server starting` line, send it real signals,
//! and observe what a user would: responses, exit status, logs, rows.
//!
//! Every wait here is bounded. A child still running when its [`Server`]
//! is dropped is killed, and a failing test prints the child's output.

#![allow(dead_code)] // each test crate uses a different part of the harness

pub mod checks;
#[macro_use]
pub mod suites;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    os::unix::process::{CommandExt, ExitStatusExt},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex},
    thread,
    time::{Duration, Instant},
};

pub use nix::sys::signal::Signal;
use nix::{sys::signal::kill, unistd::Pid};
use tempfile::TempDir;

/// How long a step may take to print `server starting`. Generous: a cold
/// machine under a parallel test run can be slow to exec a debug binary.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(20);

// ANCHOR: output
/// Lines a child printed, with a way to wait for the next one.
#[derive(Default)]
struct Output {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
}

impl Output {
    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
        self.changed.notify_all();
    }

    /// Waits until a line contains `needle`; returns it, or `None` at the limit.
    fn wait_for(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        let mut lines = self.lines.lock().unwrap();
        loop {
            if let Some(line) = lines.iter().find(|line| line.contains(needle)) {
                return Some(line.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = self.changed.wait_timeout(lines, left).unwrap().0;
        }
    }
}
// ANCHOR_END: output

/// Where a step's binary is, by name (`step2`, `lesson3`).
pub fn binary(name: &str) -> PathBuf {
    assert_cmd::cargo::cargo_bin(name)
}

/// A step to start, with its environment.
pub struct Launch {
    name: String,
    command: Command,
    db_dir: TempDir,
}

impl Launch {
    // ANCHOR: launch_new
    /// `PORT=0`, a fresh database in a temporary directory, a short drain
    /// deadline, and request logs on so a test can see a request arrive.
    pub fn new(name: &str) -> Launch {
        let db_dir = tempfile::tempdir().expect("temporary directory");
        let mut command = Command::new(binary(name));
        command
            .env_clear()
            .env("PORT", "0")
            .env("DATABASE_URL", db_dir.path().join("bookmarks.db"))
            .env("SHUTDOWN_TIMEOUT", "500ms")
            .env("RUST_LOG", "info,tower_http=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Launch {
            name: name.to_owned(),
            command,
            db_dir,
        }
    }
    // ANCHOR_END: launch_new

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Launch {
        self.command.env(key, value);
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

    pub fn db_path(&self) -> PathBuf {
        self.db_dir.path().join("bookmarks.db")
    }

    // ANCHOR: spawn
    /// Spawns the child and returns as soon as it is running, without
    /// waiting for `server starting` (for tests of start-up failures).
    pub fn spawn(mut self) -> Server {
        // A test run that a non-interactive shell started in the background
        // (as CI scripts may) inherits SIGINT ignored, and so would every
        // child: step 1, which has no handler, would then survive Ctrl+C.
        // Start each child with the default signal dispositions and nothing
        // blocked, as a shell starts a foreground job.
        // SAFETY: between fork and exec only async-signal-safe calls are
        // allowed; signal(2) and sigprocmask(2) are.
        unsafe {
            self.command.pre_exec(|| {
                for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGQUIT] {
                    nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl)?;
                }
                nix::sys::signal::sigprocmask(
                    nix::sys::signal::SigmaskHow::SIG_SETMASK,
                    Some(&nix::sys::signal::SigSet::empty()),
                    None,
                )?;
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = self
            .command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", self.name));
        let output = Arc::new(Output::default());
        let readers = [
            read_lines(child.stdout.take().unwrap(), "", &output),
            read_lines(child.stderr.take().unwrap(), "stderr: ", &output),
        ];
        Server {
            name: self.name,
            db_path: self.db_dir.path().join("bookmarks.db"),
            _db_dir: self.db_dir,
            child,
            output,
            readers: readers.into(),
            addr: None,
            started,
            exit: None,
        }
    }
    // ANCHOR_END: spawn

    // ANCHOR: start
    /// Spawns the child and waits for `server starting addr=…`.
    #[track_caller]
    pub fn start(self) -> Server {
        let mut server = self.spawn();
        let Some(line) = server.output.wait_for("server starting", STARTUP_LIMIT) else {
            panic!("{} printed no `server starting` line", server.name);
        };
        server.addr = Some(parse_addr(&line));
        server
    }
    // ANCHOR_END: start
}

// ANCHOR: read_lines
fn read_lines(
    pipe: impl Read + Send + 'static,
    prefix: &'static str,
    output: &Arc<Output>,
) -> thread::JoinHandle<()> {
    let output = Arc::clone(output);
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            match line {
                Ok(line) => output.push(format!("{prefix}{line}")),
                Err(_) => break,
            }
        }
    })
}
// ANCHOR_END: read_lines

// ANCHOR: parse_addr
/// `… server starting addr=127.0.0.1:40123` → that address.
fn parse_addr(line: &str) -> SocketAddr {
    let value = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("addr="))
        .unwrap_or_else(|| panic!("no addr= in {line:?}"));
    value
        .parse()
        .unwrap_or_else(|err| panic!("bad addr= in {line:?}: {err}"))
}
// ANCHOR_END: parse_addr

/// A running (or finished) step.
pub struct Server {
    pub name: String,
    pub db_path: PathBuf,
    _db_dir: TempDir,
    child: Child,
    output: Arc<Output>,
    readers: Vec<thread::JoinHandle<()>>,
    addr: Option<SocketAddr>,
    started: Instant,
    exit: Option<ExitStatus>,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("the server has not logged its address")
    }

    /// The process id of the child this harness started.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    // ANCHOR: signal
    /// Sends `signal` with kill(2) and returns when it was sent.
    #[track_caller]
    pub fn signal(&self, signal: Signal) -> Instant {
        kill(Pid::from_raw(self.child.id() as i32), signal)
            .unwrap_or_else(|err| panic!("kill -{signal} {}: {err}", self.name));
        Instant::now()
    }
    // ANCHOR_END: signal

    /// Waits for a log line containing `needle`.
    #[track_caller]
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> String {
        self.output
            .wait_for(needle, limit)
            .unwrap_or_else(|| panic!("no log line with {needle:?} within {limit:?}"))
    }

    /// Everything printed so far, standard error prefixed with `stderr: `.
    pub fn logs(&self) -> Vec<String> {
        self.output.lines.lock().unwrap().clone()
    }

    pub fn has_log(&self, needle: &str) -> bool {
        self.logs().iter().any(|line| line.contains(needle))
    }

    // ANCHOR: wait_exit
    /// Waits at most `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(2));
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

    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("wait for child");
            if self.exit.is_some() {
                // The pipes close with the process; take the last lines.
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
            }
        }
        self.exit
    }

    /// How long since the child was spawned.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

// ANCHOR: drop
impl Drop for Server {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!("--- output of {} ---", self.name);
            for line in self.output.lines.lock().unwrap().iter() {
                eprintln!("{line}");
            }
            eprintln!("--- exit: {:?} ---", self.exit);
        }
    }
}
// ANCHOR_END: drop

// ANCHOR: assert_exit_code
/// Asserts the exit status is `code`, naming a signal death clearly.
#[track_caller]
pub fn assert_exit_code(status: ExitStatus, code: i32) {
    match (status.code(), status.signal()) {
        (Some(actual), _) => assert_eq!(actual, code, "exit status"),
        (None, Some(signal)) => panic!("expected exit {code}, killed by signal {signal}"),
        _ => panic!("expected exit {code}, got {status:?}"),
    }
}
// ANCHOR_END: assert_exit_code

// ANCHOR: client
/// An HTTP client that reports every status as a response, never as an
/// error, and gives up after `limit`.
pub fn client(limit: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A redirect is an answer to check, not to follow (`/visit` points
        // outside this machine).
        .max_redirects(0)
        .timeout_global(Some(limit))
        .build()
        .into()
}
// ANCHOR_END: client

/// What a client saw: a status and a body, or a broken connection.
pub type Answer = Result<(u16, String), String>;

/// `GET url` on a fresh connection.
pub fn get(url: &str, limit: Duration) -> Answer {
    answer(client(limit).get(url).header("Connection", "close").call())
}

/// `POST url` with a JSON body.
pub fn post_json(url: &str, body: &serde_json::Value) -> Answer {
    answer(
        client(Duration::from_secs(10))
            .post(url)
            .header("Connection", "close")
            .send_json(body),
    )
}

/// The status and body of a response, or what broke on the way.
fn answer(sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = sent.map_err(|err| err.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|err| err.to_string())?;
    Ok((status, body))
}

// ANCHOR: in_flight
/// Starts `GET path` in a thread and returns once the server has logged
/// that the request arrived, so the request is truly in flight.
#[track_caller]
pub fn in_flight(server: &Server, path: &str, limit: Duration) -> thread::JoinHandle<Answer> {
    let url = server.url(path);
    let before = server.logs().len();
    let request = thread::spawn(move || get(&url, limit));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = server.logs();
        if logs[before..]
            .iter()
            .any(|line| line.contains("started processing request") && line.contains(path))
        {
            return request;
        }
        assert!(
            Instant::now() < deadline,
            "request {path} never reached the server"
        );
        thread::sleep(Duration::from_millis(2));
    }
}
// ANCHOR_END: in_flight

/// A keep-alive connection that has finished one request and now sits idle.
pub fn idle_keep_alive(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0; 1024];
    let n = stream.read(&mut buf).expect("health answer");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    stream
}

// ANCHOR: half_request
/// Connects and sends only the start of a request line, then waits.
pub fn half_request(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(b"GET /hea").unwrap();
    stream
}
// ANCHOR_END: half_request

/// Whether a new connection to `addr` is refused.
pub fn refuses_connections(addr: SocketAddr) -> bool {
    match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        Err(err) => err.kind() == std::io::ErrorKind::ConnectionRefused,
        Ok(_) => false,
    }
}

// ANCHOR: wait_until_refused
/// Polls until new connections are refused; returns how long that took.
pub fn wait_until_refused(addr: SocketAddr, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if refuses_connections(addr) {
            return Some(start.elapsed());
        }
        thread::sleep(Duration::from_millis(5));
    }
    None
}
// ANCHOR_END: wait_until_refused

// ANCHOR: stored_ids
/// The ids in the database file, read after the server has exited.
pub fn stored_ids(db_path: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db_path).expect("open the database");
    let mut stmt = conn
        .prepare("SELECT id FROM bookmarks ORDER BY id")
        .unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}
// ANCHOR_END: stored_ids

/// Asserts that each needle is in the logs, each after the one before, and
/// returns the index of the line where each was found.
#[track_caller]
pub fn assert_logged_in_order<const N: usize>(logs: &[String], needles: &[&str; N]) -> [usize; N] {
    let order = needles.map(|needle| line_index(logs, needle));
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
        .unwrap_or_else(|| panic!("no log line with {needle:?}"))
}
