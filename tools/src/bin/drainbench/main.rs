//! Hold many connections to a server, stop it, and time the stop: the
//! drain at scale, server beside server, in one run.
//!
//! Run with
//!
//! ```not_rust
//! cargo build --release --bins
//! cargo run --release -p tools --bin drainbench -- \
//!     --server step1=target/release/step1 --server step2=target/release/step2 \
//!     --teardown step1 --connections 100,1000 --runs 3
//! ```
//!
//! `scripts/drain-scale.sh` builds every server and runs them all.
//!
//! Each server is an executable that keeps the steps' contract where it
//! matters here: `PORT=0` binds a free port, `server starting addr=…` says
//! which, `GET /health` and `GET /slow?ms=N` are served, and `slow request
//! started` is logged when a slow request reaches its handler. For each
//! number of connections and each load, every server is started in turn
//! (so a run of each sits next to a run of the others), with
//! `SHUTDOWN_TIMEOUT=30s`, and:
//!
//! - `idle`: N connections each send `GET /health`, read the answer and
//!   stay open, kept alive; a tenth of a second later, SIGTERM;
//! - `in-flight`: N connections are opened, then each sends `GET
//!   /slow?ms=2000` at once; once the server has logged N `slow request
//!   started` (or half the wait has passed), SIGTERM. Only answers after
//!   the signal count as answered.
//!
//! Each run reports how many requests were answered, the time from the
//! signal to the exit, from the last answer the clients read to the exit,
//! and the server's peak resident memory. The exit is the moment the
//! process became a zombie (waitid(2) with `WNOWAIT`), when its sockets are
//! all closed; an answer's time is when the kernel received it (see
//! `client.rs`); the peak is `VmHWM` (see `process.rs`). `--teardown`
//! names the server with no handler (step 1): killed by the signal with the
//! same connections, its exit is the floor any drain is judged against.
//! `--go` names the Go pattern, the reference for the time after the last
//! answer.
//!
//! The soft limit on open files is raised to the hard limit first, for the
//! clients and, inherited, for the servers. All traffic goes to 127.0.0.1;
//! every wait has a bound, and a server still running `--exit-limit` after
//! the signal is killed and reported `hung`.

mod client;
mod process;
mod report;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use clap::Parser;
use report::{Load, References, Run};
use tools::{
    harness::{Launch, Server, Signal, describe_status},
    parse_duration,
};

/// Hold many connections to each server, stop it, and time the stop.
#[derive(Debug, Parser)]
#[command(
    name = "drainbench",
    after_help = "Durations read like SHUTDOWN_TIMEOUT: 500ms, 2s, 1m."
)]
struct Options {
    /// A server to measure, as NAME=PATH; give one for each, in the order
    /// of the tables
    #[arg(long = "server", value_name = "NAME=PATH", required = true, value_parser = server_spec)]
    servers: Vec<(String, PathBuf)>,
    /// An environment variable for the server NAME only
    #[arg(long = "env", value_name = "NAME:KEY=VALUE", value_parser = server_env)]
    envs: Vec<(String, String, String)>,
    /// How many connections to hold, one or more
    #[arg(long, value_name = "N,…", value_delimiter = ',', default_value = "100,1000,5000",
          value_parser = clap::value_parser!(u32).range(1..=20_000))]
    connections: Vec<u32>,
    /// What the connections do when the signal comes
    #[arg(
        long,
        value_name = "LOAD,…",
        value_enum,
        value_delimiter = ',',
        default_value = "idle,in-flight"
    )]
    load: Vec<Load>,
    /// Runs of each server at each number and load
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    runs: u32,
    /// How long each in-flight request waits in the server
    #[arg(long, value_name = "N", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(200..=60_000))]
    slow_ms: u64,
    /// The server with no handler, whose killed exit is the teardown limit
    #[arg(long, value_name = "NAME")]
    teardown: Option<String>,
    /// The Go pattern, the reference for the exit after the last answer
    #[arg(long, value_name = "NAME")]
    go: Option<String>,
    /// Wait this long for the exit after the signal, then SIGKILL
    #[arg(long, value_name = "D", default_value = "30s", value_parser = bounded_duration)]
    exit_limit: Duration,
}

/// `step2=target/release/step2` → the name and the path.
fn server_spec(text: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected NAME=PATH"))?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "{name:?}: a name is letters, digits, '-', '_' or '.'"
        ));
    }
    if path.is_empty() {
        return Err(format!("{text:?}: no path after '='"));
    }
    Ok((name.to_owned(), PathBuf::from(path)))
}

/// `plain-axum:MIDDLEWARE=steps` → the server, the key and the value.
fn server_env(text: &str) -> Result<(String, String, String), String> {
    let (name, setting) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected NAME:KEY=VALUE"))?;
    let (key, value) = setting
        .split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| format!("{text:?}: expected NAME:KEY=VALUE"))?;
    Ok((name.to_owned(), key.to_owned(), value.to_owned()))
}

/// At most ten minutes: every wait in this tool has an end.
fn bounded_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration > Duration::from_secs(600) {
        return Err("at most 10m".to_owned());
    }
    Ok(duration)
}

impl Options {
    fn names(&self) -> Vec<String> {
        self.servers.iter().map(|(name, _)| name.clone()).collect()
    }

    /// What clap cannot see: names that repeat or name no server.
    fn check(&self) -> Result<(), String> {
        let names = self.names();
        for (index, name) in names.iter().enumerate() {
            if names[..index].contains(name) {
                return Err(format!("--server {name} is given twice"));
            }
        }
        let named = self
            .envs
            .iter()
            .map(|(name, _, _)| ("--env", name))
            .chain(self.teardown.iter().map(|name| ("--teardown", name)))
            .chain(self.go.iter().map(|name| ("--go", name)));
        for (option, name) in named {
            if !names.contains(name) {
                return Err(format!("{option} {name}: no --server of that name"));
            }
        }
        Ok(())
    }
}

/// Warnings, and the `info` lines that say where the server listens and
/// when a slow request has started; not tower-http's line per request.
const LOG_FILTER: &str = "info,tower_http=warn";

/// A tenth of a second of quiet between the last idle answer and the
/// signal.
const SETTLE: Duration = Duration::from_millis(100);

/// How long the connections may take to open and send.
const SETUP_LIMIT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let options = Options::parse();
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("drainbench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<(), String> {
    options.check()?;
    let most = options.connections.iter().copied().max().unwrap_or(0) as u64;
    let fd_limit =
        process::raise_fd_limit().map_err(|err| format!("cannot raise RLIMIT_NOFILE: {err}"))?;
    // The server's end of each connection, and a few hundred to spare.
    if fd_limit < most + 256 {
        return Err(format!(
            "{most} connections need more open files than the hard limit allows ({fd_limit}): \
             raise it (ulimit -Hn) or hold fewer"
        ));
    }
    let _stamping = client::keep_timestamps_on()
        .map_err(|err| format!("cannot turn on the kernel's receive stamps: {err}"))?;
    // One worker: the clients take at most one of the cores.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|err| format!("a tokio runtime: {err}"))?;

    let mut runs = Vec::new();
    let mut failures = Vec::new();
    for round in 1..=options.runs {
        for &count in &options.connections {
            for &load in &options.load {
                for (name, path) in &options.servers {
                    match stop_once(options, &runtime, name, path, load, count as usize) {
                        Ok(run) => {
                            eprintln!("run {round}: {}", run.line());
                            runs.push(run);
                        }
                        Err(err) => {
                            let failure = format!(
                                "{name} {} {count}, run {round}: {err}",
                                report::load_name(load)
                            );
                            eprintln!("failed: {failure}");
                            failures.push(failure);
                        }
                    }
                }
            }
        }
    }

    let counts: Vec<usize> = options.connections.iter().map(|&n| n as usize).collect();
    let names = options.names();
    print!("{}", report::tables(&runs, &names, &counts, &options.load));
    print!(
        "{}",
        report::targets(
            &runs,
            &names,
            &counts,
            &References {
                teardown: options.teardown.as_deref(),
                go: options.go.as_deref(),
            }
        )
    );
    for failure in &failures {
        println!("failed: {failure}");
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} runs failed (listed above)", failures.len()))
    }
}

/// Starts the server, holds `count` connections, sends SIGTERM, and sees
/// it out.
fn stop_once(
    options: &Options,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    path: &Path,
    load: Load,
    count: usize,
) -> Result<Run, String> {
    let mut launch = Launch::binary(name, path)
        .env("SHUTDOWN_TIMEOUT", "30s")
        .env("RUST_LOG", LOG_FILTER);
    for (_, key, value) in options.envs.iter().filter(|(server, _, _)| server == name) {
        launch = launch.env(key, value);
    }
    let mut server = launch.try_start()?;
    let exit = process::watch_exit(server.pid());
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let peak = process::sample_peak(server.pid(), Arc::clone(&stop_sampling));
    let addr = server.addr();
    let client_limit = SETUP_LIMIT + Duration::from_millis(options.slow_ms) + options.exit_limit;

    let held = match load {
        Load::Idle => {
            let held = client::hold_idle(runtime, addr, count, client_limit)?;
            thread::sleep(SETTLE);
            held
        }
        Load::InFlight => {
            let from = server.line_count();
            let held = client::hold_in_flight(runtime, addr, count, options.slow_ms, client_limit)?;
            let started = wait_started(
                &server,
                from,
                count,
                Duration::from_millis(options.slow_ms / 2),
            );
            if started < count {
                eprintln!(
                    "note: {name} logged {started} of {count} `slow request started` before the signal"
                );
            }
            held
        }
    };

    let signal_at = server.try_signal(Signal::SIGTERM)?;
    let exited = exit.recv_timeout(options.exit_limit);
    let (exit_at, exit) = match exited {
        Ok(Ok(exited)) => {
            let status = server
                .wait_exit(Duration::from_secs(5))
                .ok_or("exited, yet could not be reaped")?;
            (exited.at, describe_status(status))
        }
        Ok(Err(err)) => {
            server.kill();
            return Err(format!("waitid: {err}"));
        }
        Err(_) => {
            server.kill();
            (Instant::now(), "hung".to_owned())
        }
    };
    stop_sampling.store(true, Ordering::SeqCst);
    let max_rss_kib = peak.join().map_err(|_| "the peak sampler panicked")?;
    let outcomes = client::collect(runtime, held, Duration::from_secs(10));

    let answers: Vec<Instant> = outcomes
        .iter()
        .filter_map(|outcome| outcome.answer)
        .filter(|(_, status)| (200..300).contains(status))
        .map(|(at, _)| at)
        .collect();
    // In flight means answered after the signal. One answered before it
    // was not in flight: the setup outlasted the requests' wait.
    let (answers, early): (Vec<Instant>, Vec<Instant>) = match load {
        Load::Idle => (answers, Vec::new()),
        Load::InFlight => answers.into_iter().partition(|&at| at >= signal_at),
    };
    if !early.is_empty() {
        eprintln!(
            "note: {name} answered {} of {count} before the signal, not counted: raise --slow-ms",
            early.len()
        );
    }
    let after_last_ms = match load {
        Load::Idle => None,
        Load::InFlight => answers.iter().max().map(|&last| signed_ms(exit_at, last)),
    };
    Ok(Run {
        server: name.to_owned(),
        load,
        connections: count,
        answered: answers.len(),
        exit_ms: signed_ms(exit_at, signal_at),
        after_last_ms,
        max_rss_kib,
        exit,
    })
}

/// Waits, at most `limit`, for `count` lines `slow request started` from
/// line `from` on; how many came.
fn wait_started(server: &Server, from: usize, count: usize, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    let mut seen = 0;
    let mut next = from;
    while seen < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match server.wait_for_line(next, left, |text| text.contains("slow request started")) {
            Some((index, _)) => {
                seen += 1;
                next = index + 1;
            }
            None => break,
        }
    }
    seen
}

/// `later - earlier` in milliseconds, negative if `later` came first.
fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(after) => after.as_secs_f64() * 1000.0,
        None => -(earlier.duration_since(later).as_secs_f64() * 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        let args = std::iter::once("drainbench").chain(args.iter().copied());
        let options = Options::try_parse_from(args).map_err(|err| err.to_string())?;
        options.check()?;
        Ok(options)
    }

    #[test]
    fn the_options_are_well_formed() {
        Options::command().debug_assert();
    }

    #[test]
    fn servers_are_names_and_paths_in_order() {
        let options = parse(&[
            "--server",
            "step1=target/release/step1",
            "--server",
            "plain-axum=/x/plain-axum",
            "--env",
            "plain-axum:MIDDLEWARE=steps",
            "--teardown",
            "step1",
        ])
        .unwrap();
        assert_eq!(options.names(), ["step1", "plain-axum"]);
        assert_eq!(options.servers[1].1, PathBuf::from("/x/plain-axum"));
        assert_eq!(
            options.envs,
            [(
                "plain-axum".to_owned(),
                "MIDDLEWARE".to_owned(),
                "steps".to_owned()
            )]
        );
        assert_eq!(options.connections, [100, 1000, 5000]);
        assert_eq!(options.load, [Load::Idle, Load::InFlight]);
        assert_eq!((options.runs, options.slow_ms), (3, 2000));
    }

    #[test]
    fn lists_are_comma_separated() {
        let options = parse(&[
            "--server",
            "a=/a",
            "--connections",
            "10,20",
            "--load",
            "in-flight",
        ])
        .unwrap();
        assert_eq!(options.connections, [10, 20]);
        assert_eq!(options.load, [Load::InFlight]);
    }

    #[test]
    fn bad_options_are_errors_that_name_them() {
        for (args, names) in [
            (&["--server", "noequals"][..], "NAME=PATH"),
            (&["--server", "=/a"][..], "a name"),
            (&["--server", "a b=/a"][..], "a name"),
            (&["--server", "a="][..], "no path"),
            (&["--server", "a=/a", "--server", "a=/b"][..], "twice"),
            (&["--server", "a=/a", "--env", "a:=1"][..], "NAME:KEY=VALUE"),
            (&["--server", "a=/a", "--env", "b:K=1"][..], "--env b"),
            (&["--server", "a=/a", "--go", "go"][..], "--go go"),
            (&["--server", "a=/a", "--teardown", "x"][..], "--teardown x"),
            (
                &["--server", "a=/a", "--connections", "0"][..],
                "--connections",
            ),
            (
                &["--server", "a=/a", "--connections", "50000"][..],
                "--connections",
            ),
            (&["--server", "a=/a", "--load", "busy"][..], "--load"),
            (
                &["--server", "a=/a", "--exit-limit", "1h"][..],
                "--exit-limit",
            ),
            (&[][..], "--server"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(names), "{args:?}: {err}");
        }
    }

    #[test]
    fn times_are_signed() {
        let earlier = Instant::now();
        let later = earlier + Duration::from_millis(5);
        assert_eq!(signed_ms(later, earlier), 5.0);
        assert_eq!(signed_ms(earlier, later), -5.0);
    }
}
