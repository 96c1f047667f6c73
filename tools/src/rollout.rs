//! A rolling restart behind a real load balancer.
//!
//! [`run`] starts a few instances of a step on fixed ports, all on one
//! database, and HAProxy in front of them with the configuration in
//! `deploy/haproxy.cfg`. Load clients ([`crate::load`]) send requests
//! through HAProxy while each instance in turn gets SIGTERM, exits, and is
//! replaced by a new one on the same port; the next instance is stopped
//! only once HAProxy's stats socket says the new one is up. Every request
//! ends in one column: ok, refused, broken, 5xx (HAProxy's own answers:
//! the instances answer none on the paths the load takes), unknown.
//!
//! Everything listens on 127.0.0.1 and every wait is bounded.

use std::{
    fmt::Write as _,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use crate::{
    harness::{Launch, Server, Signal, spawn_tied},
    load::{self, Outcome, Shared},
};

/// The configuration template, kept where the deploy files are.
pub const TEMPLATE: &str = include_str!("../../deploy/haproxy.cfg");

/// How long an instance may take to exit after SIGTERM before it is killed.
const EXIT_LIMIT: Duration = Duration::from_secs(30);
/// How long HAProxy may take to see an instance up, or all of them.
const UP_LIMIT: Duration = Duration::from_secs(20);

/// HAProxy's health checks: an instance is out after `fall` failed checks
/// `inter` apart, and back after `rise` good ones.
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    pub inter: Duration,
    pub fall: u32,
    pub rise: u32,
}

// ANCHOR: sized_delay
impl Checks {
    /// How long HAProxy can take to stop sending to an instance that has
    /// begun to fail its checks: up to one interval until the first failed
    /// check, then `fall - 1` more intervals. With `margin` for the last
    /// check's own time and the scheduler: the `SHUTDOWN_DELAY` to use.
    pub fn sized_delay(&self, margin: Duration) -> Duration {
        self.inter * self.fall + margin
    }
}
// ANCHOR_END: sized_delay

/// One row of the table: what to run and how.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The step's executable, and its number (step 7 on has `/ready`).
    pub binary: PathBuf,
    pub step: u32,
    pub instances: usize,
    pub rollouts: usize,
    pub clients: usize,
    /// `SHUTDOWN_DELAY` for the instances, if set.
    pub shutdown_delay: Option<Duration>,
    pub shutdown_timeout: Duration,
    pub checks: Checks,
    /// HAProxy's `retry-on all-retryable-errors` with `retries 3` and
    /// `option redispatch`, instead of one attempt per request.
    pub retry: bool,
    pub haproxy: PathBuf,
    /// Print each event as it happens.
    pub verbose: bool,
}

/// What the clients saw over every rollout of a plan.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub ok: u64,
    pub refused: u64,
    pub broken: u64,
    /// 5xx answers: HAProxy's, as no path the load takes answers one.
    pub status_5xx: u64,
    /// Other statuses that are not 2xx.
    pub other_status: u64,
    pub unknown: u64,
    /// Writes stored twice: a retry that replayed a request which had run.
    pub duplicated_writes: u64,
    /// From SIGTERM to exit, each instance stopped.
    pub shutdowns: Vec<Duration>,
    /// Exit statuses other than 0.
    pub unclean_exits: u64,
    /// One rollout's events, the first, as `+ms  text` lines.
    pub timeline: Vec<String>,
}

impl Tally {
    pub fn failed(&self) -> u64 {
        self.refused + self.broken + self.status_5xx + self.other_status + self.unknown
    }

    pub fn median_shutdown(&self) -> Option<Duration> {
        let mut sorted = self.shutdowns.clone();
        sorted.sort();
        sorted.get(sorted.len() / 2).copied()
    }
}

/// A free port on 127.0.0.1, as the kernel hands one out. Another process
/// could take it before we bind it again; on a test machine that is rare,
/// and the instance then fails to start with a clear error.
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|err| format!("no free port: {err}"))?;
    Ok(listener.local_addr().map_err(|err| err.to_string())?.port())
}

/// The configuration for `plan`, from [`TEMPLATE`].
pub fn config(plan: &Plan, frontend: SocketAddr, ports: &[u16], stats: &Path) -> String {
    let check_path = if plan.step >= 7 { "/ready" } else { "/health" };
    let (retries, retry_on) = if plan.retry {
        (
            "3",
            "retry-on all-retryable-errors\n    option redispatch 1",
        )
    } else {
        ("0", "no option redispatch")
    };
    let mut servers = String::new();
    for (index, port) in ports.iter().enumerate() {
        let _ = writeln!(servers, "    server s{} 127.0.0.1:{port}", index + 1);
    }
    TEMPLATE
        .replace("{{STATS_SOCKET}}", &stats.display().to_string())
        .replace("{{RETRIES}}", retries)
        .replace("{{RETRY_ON}}", retry_on)
        .replace("{{FRONTEND}}", &frontend.to_string())
        .replace("{{CHECK_PATH}}", check_path)
        .replace("{{INTER}}", &format!("{}ms", plan.checks.inter.as_millis()))
        .replace("{{FALL}}", &plan.checks.fall.to_string())
        .replace("{{RISE}}", &plan.checks.rise.to_string())
        .replace("{{SERVERS}}", servers.trim_end())
}

/// Events with the time they happened, from the tool and from HAProxy.
#[derive(Clone)]
struct Events {
    start: Instant,
    lines: Arc<Mutex<Vec<String>>>,
    verbose: bool,
}

impl Events {
    fn note(&self, text: impl Into<String>) {
        let line = format!(
            "+{:>6} ms  {}",
            self.start.elapsed().as_millis(),
            text.into()
        );
        if self.verbose {
            eprintln!("{line}");
        }
        self.lines.lock().unwrap().push(line);
    }
}

/// HAProxy, killed when dropped.
struct Haproxy {
    child: Child,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Haproxy {
    fn start(binary: &Path, config: &Path, events: &Events) -> Result<Haproxy, String> {
        let mut command = Command::new(binary);
        // -db: in the foreground, logs on stderr; -f: this file only.
        command
            .args(["-db", "-f"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // Like the steps, it dies with us, even if we are killed.
        let mut child = spawn_tied(command)
            .map_err(|err| format!("cannot start {}: {err}", binary.display()))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let events = events.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // In the foreground HAProxy also prints each state change
                // as a warning: the log line says the same.
                if !line.starts_with("[WARNING]") {
                    events.note(format!("haproxy: {line}"));
                }
            }
        });
        Ok(Haproxy { child })
    }

    /// Fails if HAProxy has exited (a bad configuration, a port taken).
    fn running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("haproxy exited: {status}")),
            Err(err) => Err(err.to_string()),
        }
    }
}

/// The status HAProxy's stats socket gives each server (`UP`, `DOWN`,
/// `UP 1/2`, …), by name.
fn server_states(stats: &Path) -> Result<Vec<(String, String)>, String> {
    let mut socket = UnixStream::connect(stats).map_err(|err| err.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|err| err.to_string())?;
    socket
        .write_all(b"show stat\n")
        .map_err(|err| err.to_string())?;
    let mut csv = String::new();
    socket
        .read_to_string(&mut csv)
        .map_err(|err| err.to_string())?;
    // `# pxname,svname,…,status (18th field),…`
    Ok(csv
        .lines()
        .filter(|line| line.starts_with("steps,s"))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            Some((fields.get(1)?.to_string(), fields.get(17)?.to_string()))
        })
        .collect())
}

/// Waits until HAProxy counts `name` (or, with `None`, every server) up.
fn wait_up(stats: &Path, name: Option<&str>, haproxy: &mut Haproxy) -> Result<(), String> {
    let deadline = Instant::now() + UP_LIMIT;
    loop {
        haproxy.running()?;
        if let Ok(states) = server_states(stats) {
            let up = |(server, state): &(String, String)| {
                name.is_none_or(|name| server == name) && state == "UP"
            };
            let wanted = states
                .iter()
                .filter(|(server, _)| name.is_none_or(|name| server == name))
                .count();
            if wanted > 0 && states.iter().filter(|state| up(state)).count() == wanted {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "HAProxy did not see {} up within {UP_LIMIT:?}",
                name.unwrap_or("every instance")
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn launch(plan: &Plan, port: u16, database: &Path) -> Result<Server, String> {
    let mut launch = Launch::binary(&format!("step{}", plan.step), &plan.binary)
        .env("PORT", port.to_string())
        .env("DATABASE_URL", database)
        .env(
            "SHUTDOWN_TIMEOUT",
            format!("{}ms", plan.shutdown_timeout.as_millis()),
        )
        // Only the lines the tool reads: no line per request.
        .env("RUST_LOG", "info,tower_http=warn");
    if let Some(delay) = plan.shutdown_delay {
        launch = launch.env("SHUTDOWN_DELAY", format!("{}ms", delay.as_millis()));
    }
    launch.try_start()
}

/// Runs `plan`: `plan.rollouts` rolling restarts under load, one set of
/// instances and one HAProxy for all of them.
pub fn run(plan: &Plan) -> Result<Tally, String> {
    let scratch = tempfile::tempdir().map_err(|err| err.to_string())?;
    let database = scratch.path().join("bookmarks.db");
    let stats = scratch.path().join("haproxy.sock");
    let ports = (0..plan.instances)
        .map(|_| free_port())
        .collect::<Result<Vec<_>, _>>()?;
    let frontend: SocketAddr = format!("127.0.0.1:{}", free_port()?)
        .parse()
        .expect("an address");
    let config_path = scratch.path().join("haproxy.cfg");
    std::fs::write(&config_path, config(plan, frontend, &ports, &stats))
        .map_err(|err| err.to_string())?;

    let events = Events {
        start: Instant::now(),
        lines: Arc::default(),
        verbose: plan.verbose,
    };
    // The first instance creates the database; the others open it after.
    let mut instances = Vec::new();
    for &port in &ports {
        instances.push(launch(plan, port, &database)?);
    }
    let mut haproxy = Haproxy::start(&plan.haproxy, &config_path, &events)?;
    wait_up(&stats, None, &mut haproxy)?;

    let shared = Shared {
        addr: frontend,
        // The clients judge a closed connection by whether a shutdown is
        // under way; during a rollout one always is.
        signalled: AtomicBool::new(true),
        stop: AtomicBool::new(false),
        hard_stop: Instant::now() + Duration::from_secs(600),
        seed: 1,
        slow_ms: 300,
        tag_requests: true,
        health_only: false,
    };
    let mut tally = Tally::default();
    let rolled = thread::scope(|scope| {
        let clients: Vec<_> = (0..plan.clients)
            .map(|index| {
                let shared = &shared;
                scope.spawn(move || load::run(index, shared))
            })
            .collect();
        // Load before the first stop, so connections are pooled.
        thread::sleep(Duration::from_millis(500));
        let rolled = roll(
            plan,
            &ports,
            &database,
            &stats,
            &mut instances,
            &mut haproxy,
            &events,
            &mut tally,
        );
        thread::sleep(Duration::from_millis(200));
        shared.stop.store(true, Ordering::SeqCst);
        for client in clients {
            let report = client.join().map_err(|_| "a client panicked".to_owned())?;
            for verdict in &report.verdicts {
                match verdict.outcome {
                    Outcome::Ok => tally.ok += 1,
                    Outcome::Refused => tally.refused += 1,
                    Outcome::Broken => tally.broken += 1,
                    Outcome::Unknown => tally.unknown += 1,
                    Outcome::Error if verdict.status >= 500 => tally.status_5xx += 1,
                    Outcome::Error => tally.other_status += 1,
                }
            }
        }
        rolled
    });
    drop(haproxy);
    // All at once: each serves out its delay before it drains.
    for instance in &mut instances {
        let _ = instance.try_signal(Signal::SIGTERM);
    }
    for mut instance in instances {
        if instance.wait_exit(EXIT_LIMIT).is_none() {
            instance.kill();
        }
    }
    rolled?;
    tally.duplicated_writes = duplicated_writes(&database)?;
    tally.timeline = events.lines.lock().unwrap().clone();
    Ok(tally)
}

/// The rolling restarts themselves.
#[allow(clippy::too_many_arguments)]
fn roll(
    plan: &Plan,
    ports: &[u16],
    database: &Path,
    stats: &Path,
    instances: &mut [Server],
    haproxy: &mut Haproxy,
    events: &Events,
    tally: &mut Tally,
) -> Result<(), String> {
    for rollout in 1..=plan.rollouts {
        events.note(format!("rollout {rollout}"));
        for (index, &port) in ports.iter().enumerate() {
            let name = format!("s{}", index + 1);
            let instance = &mut instances[index];
            let sent = instance.signal(Signal::SIGTERM);
            events.note(format!("{name}: SIGTERM"));
            let Some(status) = instance.wait_exit(EXIT_LIMIT) else {
                instance.kill();
                return Err(format!("{name} still running {EXIT_LIMIT:?} after SIGTERM"));
            };
            let took = instance.exited_at().unwrap_or_else(Instant::now) - sent;
            events.note(format!("{name}: exited, {status}, {} ms", took.as_millis()));
            tally.shutdowns.push(took);
            if !status.success() {
                tally.unclean_exits += 1;
            }
            instances[index] = launch(plan, port, database)?;
            events.note(format!("{name}: new instance serving"));
            wait_up(stats, Some(&name), haproxy)?;
            events.note(format!("{name}: HAProxy sees it up"));
        }
    }
    Ok(())
}

/// Bookmarks whose URL is stored more than once: each load write has a
/// URL of its own, so a second row is a replayed request.
fn duplicated_writes(database: &Path) -> Result<u64, String> {
    let conn = rusqlite::Connection::open(database).map_err(|err| err.to_string())?;
    conn.query_row(
        "SELECT COALESCE(SUM(n - 1), 0) FROM \
         (SELECT COUNT(*) AS n FROM bookmarks GROUP BY url HAVING n > 1)",
        [],
        |row| row.get::<_, i64>(0),
    )
    .map(|n| n as u64)
    .map_err(|err| err.to_string())
}

/// `haproxy` on `PATH`, or Debian's.
pub fn find_haproxy() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("haproxy"))
        .find(|candidate| candidate.is_file())
}
