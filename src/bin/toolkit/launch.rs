//! Starting a step's binary and watching it: its log lines, each stamped
//! with the moment it was read, the address it bound, and its exit.
//!
//! Everything here waits with a bound. A [`Process`] still running when it
//! is dropped is killed and reaped, so a tool that gives up half-way (a bad
//! answer, a panic) leaves no server behind.

use std::{
    env, fs,
    io::{BufRead, BufReader, Read},
    net::SocketAddr,
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::{self, Child, Command, ExitStatus, Stdio},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use nix::{sys::signal::kill, unistd::Pid};

pub use nix::sys::signal::Signal;

/// How long a step may take to print `server starting`: far more than a
/// release binary needs, so only a step that cannot start hits it.
pub const STARTUP_LIMIT: Duration = Duration::from_secs(20);

/// How often a tool waiting on the exit asks whether it has happened,
/// when timing the exit: the exit latency of an idle step is itself about
/// a millisecond, so the poll must be much finer.
pub const FINE_POLL: Duration = Duration::from_micros(200);

/// How often to look while nothing is expected to happen: the process is
/// merely watched for an early death, and the poll should cost nothing.
pub const COARSE_POLL: Duration = Duration::from_millis(10);

/// Builds `step` with `cargo build --release` and returns the executable.
///
/// Cargo does nothing if the binary is up to date, so a tool can call this
/// on every run. Its progress and errors go to our standard error as usual;
/// the artifact list on standard output is how we learn where the binary
/// went, whatever `CARGO_TARGET_DIR` says.
pub fn build_release(step: &str) -> Result<PathBuf, String> {
    // Set when we run under `cargo run`: the same cargo that built us.
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let output = Command::new(cargo)
        .args(["build", "--release", "--bin", step])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(&manifest)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("cannot run cargo to build {step}: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo could not build {step} (its message is above)"
        ));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == step)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("cargo built {step} but named no executable for it"))
}

/// A fresh directory under the system's temporary directory, removed with
/// everything in it when dropped: each run gets a database of its own.
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn new(tool: &str) -> Result<ScratchDir, String> {
        static CREATED: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.subsec_nanos())
            .unwrap_or(0);
        let path = env::temp_dir().join(format!(
            "bookmarks-{tool}-{}-{nanos}-{}",
            process::id(),
            CREATED.fetch_add(1, Ordering::Relaxed)
        ));
        // `create_dir`, not `create_dir_all`: it fails on a directory that
        // already exists instead of handing out a database someone else has.
        fs::create_dir(&path).map_err(|err| format!("cannot create {}: {err}", path.display()))?;
        Ok(ScratchDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// One line the process printed, stamped when we read it.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub at: Instant,
    pub text: String,
    pub stderr: bool,
}

/// The lines read so far, with a way to wait for the next one.
#[derive(Default)]
struct Logs {
    state: Mutex<LogState>,
    changed: Condvar,
}

#[derive(Default)]
struct LogState {
    lines: Vec<LogLine>,
    // Readers still running: when none is left, no line will ever come.
    open_streams: usize,
}

impl Logs {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until a line from index `from` on contains every one of
    /// `needles`; `None` at `until`, or once the process has closed both
    /// pipes without printing one.
    fn wait_for(&self, needles: &[&str], from: usize, until: Instant) -> Option<LogLine> {
        let mut state = self.lock();
        loop {
            if let Some(line) = state
                .lines
                .iter()
                .skip(from)
                .find(|line| needles.iter().all(|needle| line.text.contains(needle)))
            {
                return Some(line.clone());
            }
            if state.open_streams == 0 {
                return None;
            }
            let left = until.checked_duration_since(Instant::now())?;
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }
}

fn read_lines(
    pipe: impl Read + Send + 'static,
    stderr: bool,
    logs: &Arc<Logs>,
) -> thread::JoinHandle<()> {
    let logs = Arc::clone(logs);
    logs.lock().open_streams += 1;
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(text) = line else { break };
            let at = Instant::now();
            logs.lock().lines.push(LogLine { at, text, stderr });
            logs.changed.notify_all();
        }
        logs.lock().open_streams -= 1;
        logs.changed.notify_all();
    })
}

/// How and when the process ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    /// When we saw it gone (within one poll of the real moment).
    pub at: Instant,
    pub status: ExitStatus,
}

impl Exit {
    /// `0`, `1`, or the signal that ended it: `SIGTERM`, `SIGKILL`.
    pub fn describe(&self) -> String {
        describe_status(self.status)
    }
}

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

/// A running (or finished) step.
pub struct Process {
    pub name: String,
    child: Child,
    logs: Arc<Logs>,
    readers: Vec<thread::JoinHandle<()>>,
    /// When the process was spawned: the zero of every timeline.
    pub spawned: Instant,
    /// When its `server starting` line was read.
    pub ready: Instant,
    /// The address from that line.
    pub addr: SocketAddr,
    exit: Option<Exit>,
}

impl Process {
    /// Spawns `binary` with exactly `vars` as its environment and returns
    /// once it has logged `server starting addr=…`: from then on the port
    /// accepts connections, so nobody has to sleep and hope.
    pub fn start(binary: &Path, name: &str, vars: &[(&str, String)]) -> Result<Process, String> {
        let mut command = Command::new(binary);
        // Nothing from our own environment (a stray RUST_LOG or PORT)
        // reaches the step: the run is the same on every machine.
        command
            .env_clear()
            .envs(vars.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", binary.display()))?;
        let logs = Arc::new(Logs::default());
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{name}: no pipes to read its output from"));
        };
        let readers = vec![
            read_lines(stdout, false, &logs),
            read_lines(stderr, true, &logs),
        ];
        let mut process = Process {
            name: name.to_owned(),
            child,
            logs,
            readers,
            spawned,
            ready: spawned,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            exit: None,
        };
        let started = process
            .logs
            .wait_for(&["server starting"], 0, spawned + STARTUP_LIMIT);
        let Some(line) = started else {
            process.kill();
            return Err(format!(
                "{name} did not log `server starting` within {STARTUP_LIMIT:?}; its output:\n{}",
                process.transcript()
            ));
        };
        process.addr = parse_addr(&line.text)?;
        process.ready = line.at;
        Ok(process)
    }

    /// Sends `signal` with kill(2). Refuses once the process is reaped: its
    /// pid may belong to someone else by then.
    pub fn signal(&mut self, signal: Signal) -> Result<Instant, String> {
        if self.try_exit().is_some() {
            return Err(format!("{} has already exited", self.name));
        }
        let at = Instant::now();
        kill(Pid::from_raw(self.child.id() as i32), signal)
            .map_err(|err| format!("kill -{signal} {}: {err}", self.name))?;
        Ok(at)
    }

    /// The exit, if it has happened. Never blocks.
    pub fn try_exit(&mut self) -> Option<Exit> {
        if self.exit.is_none() {
            let at = Instant::now();
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(Exit { at, status });
                // The pipes close with the process; let the readers take
                // the last lines before anyone looks at them.
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
            }
        }
        self.exit
    }

    /// Waits for the exit until `until`, looking every `poll`; `None` if
    /// the process still runs.
    pub fn wait_exit(&mut self, until: Instant, poll: Duration) -> Option<Exit> {
        loop {
            if let Some(exit) = self.try_exit() {
                return Some(exit);
            }
            let now = Instant::now();
            if now >= until {
                return None;
            }
            thread::sleep(poll.min(until - now));
        }
    }

    /// SIGKILL, then reap: the end for a process that would not stop.
    pub fn kill(&mut self) -> Option<Exit> {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait().map(|status| {
                self.exit = Some(Exit {
                    at: Instant::now(),
                    status,
                })
            });
            for reader in self.readers.drain(..) {
                let _ = reader.join();
            }
        }
        self.exit
    }

    /// Every line so far, in the order read.
    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.lock().lines.clone()
    }

    /// How many lines have been read so far.
    pub fn log_count(&self) -> usize {
        self.logs.lock().lines.len()
    }

    /// Waits for a line, from index `from` on, that contains all of
    /// `needles`.
    pub fn wait_for_log(&self, needles: &[&str], from: usize, until: Instant) -> Option<LogLine> {
        self.logs.wait_for(needles, from, until)
    }

    /// The whole output, for an error message.
    pub fn transcript(&self) -> String {
        self.logs()
            .iter()
            .map(|line| {
                let stream = if line.stderr { "stderr: " } else { "" };
                format!("  {stream}{}\n", line.text)
            })
            .collect()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

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

/// `2026-05-01T10:00:00.123456Z  INFO step2: shutting down` →
/// `INFO step2: shutting down`. The tools print their own offsets, so the
/// server's wall-clock stamp would only be noise.
pub fn without_timestamp(line: &str) -> &str {
    let trimmed = line.trim_start();
    match trimmed.split_once(char::is_whitespace) {
        Some((first, rest))
            if first.starts_with(|c: char| c.is_ascii_digit()) && first.contains('T') =>
        {
            rest.trim_start()
        }
        _ => trimmed,
    }
}

/// Seconds since `zero`, as the tools print them: `+1.234s`.
pub fn offset(zero: Instant, at: Instant) -> String {
    format!("+{:.3}s", at.saturating_duration_since(zero).as_secs_f64())
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

    #[test]
    fn timestamps_are_dropped_and_nothing_else() {
        assert_eq!(
            without_timestamp("2026-05-01T10:00:00.123456Z  INFO step2: shutting down"),
            "INFO step2: shutting down"
        );
        assert_eq!(
            without_timestamp("error: invalid PORT=\"x\""),
            "error: invalid PORT=\"x\""
        );
    }
}
