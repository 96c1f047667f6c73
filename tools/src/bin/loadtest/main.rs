//! Stop a step while clients are busy, and count what broke.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --release -p tools --bin loadtest -- step1
//! cargo run --release -p tools --bin loadtest -- step2
//! cargo run --release -p tools --bin loadtest -- step4 --second-signal 50ms
//! cargo run --release -p tools --bin loadtest -- step3 --kill
//! cargo run --release -p tools --bin loadtest -- step6 --shutdown-delay 1s
//! cargo run --release -p tools --bin loadtest -- step1 --health-only --clients 32
//! ```
//!
//! It builds the step (`cargo build --release --bin stepN`), starts it on a
//! free port with a database of its own, and learns the port from the
//! `server starting addr=…` line. Then it runs concurrent clients against
//! it: half keep one connection alive for request after request, half open
//! a new connection for each. A quarter of them send only slow requests
//! (`GET /slow?ms=…`), so that some are always in flight at the signal;
//! the rest read (`GET /bookmarks/{id}`, `GET /health`) and write
//! (`POST /bookmarks`) as fast as the server answers. After `--duration`
//! it sends SIGTERM in the middle of all that, waits for the exit, and
//! opens the database to look for every write a client saw answered with
//! `201`.
//!
//! Each request ends in one column of the table: `ok`, `errors` (another
//! status), `refused` (the server never took it), `broken` (the server took
//! it and never answered) or `unknown` (the keep-alive race: see
//! `tools::load::classify`). The last line sums the run up for
//! `scripts/figures.sh`:
//!
//! ```not_rust
//! step=step4 sent=31247 ok=31237 refused=8 broken=0 unknown=2 acked_writes=15645 lost_writes=0 shutdown_ms=266.8 exit=0 rps=15404 p50_ms=0.31 p99_ms=2.10
//! ```
//!
//! `rps`, `p50_ms` and `p99_ms` count only the answers read before the
//! signal: the load's throughput and latency, the drain left out. With
//! `--health-only` every client sends `GET /health` on one kept-alive
//! connection, which measures what the server around the handler costs
//! (`scripts/overhead.sh`). Any executable that keeps the steps' contract
//! can be measured with `--binary PATH` under a name of its own: the Go
//! program, axum's example (`plain-axum`).
//!
//! All traffic goes to 127.0.0.1. Every loop is bounded in count and time,
//! and the step is killed if it has not exited within `--exit-limit`.

mod report;

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use clap::Parser;
use report::{RunDescription, Shutdown};
use tools::load::{self as client, ClientReport, Shared};
use tools::{
    build_release,
    harness::{Launch, Server, Signal, describe_status},
    parse_duration, step_number,
};

/// Stop a step while clients are busy, and count what broke.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(
    name = "loadtest",
    after_help = "Durations read like SHUTDOWN_TIMEOUT: 500ms, 2s, 1m."
)]
struct Options {
    /// The step to stop under load: step1, step2, … (built with `cargo
    /// build --release --bin STEP`); with --binary, any name for it
    #[arg(value_parser = server_name)]
    step: String,
    /// Concurrent clients (0 measures an idle server): half keep-alive;
    /// clients 0 and 1, and every eighth pair after, send only slow requests
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clients)]
    clients: usize,
    /// How long the load runs before the signal
    #[arg(long, value_name = "D", default_value = "2s", value_parser = bounded_duration)]
    duration: Duration,
    /// The longest GET /slow?ms=…
    #[arg(long, value_name = "N", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    slow_ms: u64,
    /// SHUTDOWN_TIMEOUT for the step, passed on as typed
    #[arg(long, value_name = "D", default_value = "5s", value_parser = duration_as_typed)]
    shutdown_timeout: String,
    /// SHUTDOWN_DELAY for the step (step 6 on), passed on as typed
    #[arg(long, value_name = "D", value_parser = duration_as_typed)]
    shutdown_delay: Option<String>,
    /// Send a second SIGTERM D after the first
    #[arg(long, value_name = "D", value_parser = bounded_duration, conflicts_with = "kill")]
    second_signal: Option<Duration>,
    /// Send SIGKILL instead of SIGTERM
    #[arg(long)]
    kill: bool,
    /// Wait this long for the exit, then SIGKILL
    #[arg(long, value_name = "D", default_value = "30s", value_parser = bounded_duration)]
    exit_limit: Duration,
    /// Log every request in the step (tower_http=debug) and check the
    /// broken, unknown and refused verdicts against it
    #[arg(long)]
    verify: bool,
    /// Run this executable as STEP instead of building it
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// Seed of the request mix
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Every client sends only GET /health, on one kept-alive connection
    #[arg(long)]
    health_only: bool,
    /// Set an environment variable for the server (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = env_setting)]
    envs: Vec<(String, String)>,
}

impl Options {
    /// What clap cannot see: a name that is not a step needs `--binary`.
    fn check(&self) -> Result<(), String> {
        if self.binary.is_none() {
            step_number(&self.step).map_err(|err| format!("{err}, or give --binary"))?;
        }
        Ok(())
    }

    /// The `RUST_LOG` target of the server's own lines: the step, or the
    /// crate the executable was built from (`plain-axum` → `plain_axum`).
    fn log_target(&self) -> String {
        let stem = self
            .binary
            .as_deref()
            .and_then(|binary| binary.file_stem())
            .map(|stem| stem.to_string_lossy().into_owned());
        stem.unwrap_or_else(|| self.step.clone()).replace('-', "_")
    }
}

fn server_name(text: &str) -> Result<String, String> {
    if text.is_empty()
        || !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(
            "expected a step (step1, step2, …) or a name of letters, digits, '-', '_', '.'"
                .to_owned(),
        );
    }
    Ok(text.to_owned())
}

fn env_setting(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| "expected KEY=VALUE".to_owned())
}

fn clients(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(n) if n <= 256 => Ok(n),
        _ => Err("expected a whole number up to 256".to_owned()),
    }
}

/// A duration of at most ten minutes: every wait in this tool has an end.
fn bounded_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration > Duration::from_secs(600) {
        return Err("at most 10m".to_owned());
    }
    Ok(duration)
}

/// Checked here, passed on as typed: the step parses exactly what the
/// user wrote.
fn duration_as_typed(text: &str) -> Result<String, String> {
    parse_duration(text).map(|_| text.to_owned())
}

fn main() -> ExitCode {
    let options = Options::parse();
    match options.check().and_then(|()| run(&options)) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("loadtest: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<String, String> {
    let binary = match &options.binary {
        Some(binary) => binary.clone(),
        None => build_release(&options.step)?,
    };
    // Warnings from everything, plus the `info` lines of the step and of
    // the library: that is where `server starting addr=…` and the story of
    // the shutdown are. Not one line per request: under load that would be
    // most of the work.
    let mut log_filter = format!("warn,{}=info,bookmarks=info", options.log_target());
    if options.verify {
        log_filter.push_str(",tower_http=debug");
    }
    let mut launch = Launch::binary(&options.step, &binary)
        .env("SHUTDOWN_TIMEOUT", &options.shutdown_timeout)
        .env("RUST_LOG", log_filter);
    if let Some(delay) = &options.shutdown_delay {
        launch = launch.env("SHUTDOWN_DELAY", delay);
    }
    for (key, value) in &options.envs {
        launch = launch.env(key, value);
    }
    let mut server = launch.try_start()?;

    let load_started = Instant::now();
    let shared = Shared {
        addr: server.addr(),
        signalled: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        hard_stop: load_started
            + options.duration
            + options.second_signal.unwrap_or_default()
            + options.exit_limit
            + Duration::from_secs(5),
        seed: options.seed,
        slow_ms: options.slow_ms,
        tag_requests: options.verify,
        health_only: options.health_only,
    };
    let (clients, shutdown) = thread::scope(|scope| {
        let handles: Vec<_> = (0..options.clients)
            .map(|index| {
                let shared = &shared;
                scope.spawn(move || client::run(index, shared))
            })
            .collect();
        let shutdown = stop_under_load(&mut server, &shared, options, load_started);
        // Whatever happened, the clients stop now; each is also bounded by
        // its socket timeouts and `hard_stop`.
        shared.stop.store(true, Ordering::SeqCst);
        // A client that panicked took its counts with it: the figures of
        // this run would be short, so the run fails instead.
        let clients: Result<Vec<ClientReport>, String> = handles
            .into_iter()
            .enumerate()
            .map(|(index, handle)| {
                handle
                    .join()
                    .map_err(|_| format!("client {index} panicked; its counts are lost"))
            })
            .collect();
        (clients, shutdown)
    });
    let shutdown = shutdown?;
    let clients = clients?;

    let acknowledged: Vec<i64> = clients
        .iter()
        .flat_map(|client| client.acknowledged.iter().copied())
        .collect();
    let database = report::check_database(&server.db_path, &acknowledged)?;
    let logs = server.lines();
    let verification = options.verify.then(|| {
        let verdicts: Vec<_> = clients
            .iter()
            .flat_map(|client| client.verdicts.iter().copied())
            .collect();
        report::verify(&verdicts, &logs)
    });
    let description = RunDescription {
        step: &options.step,
        clients: options.clients,
        duration: options.duration,
        shutdown_timeout: &options.shutdown_timeout,
        second_signal: options.second_signal,
        health_only: options.health_only,
        load_started,
    };
    Ok(report::render(
        &description,
        &clients,
        &shutdown,
        &logs,
        &database,
        verification.as_ref(),
    ))
}

/// Lets the load run, sends the signal (and the second one), and waits,
/// with a bound, for the process to exit.
fn stop_under_load(
    server: &mut Server,
    shared: &Shared,
    options: &Options,
    load_started: Instant,
) -> Result<Shutdown, String> {
    // A step that dies under load before any signal is a finding of its
    // own, not something to measure a shutdown on.
    let load_left = (load_started + options.duration).saturating_duration_since(Instant::now());
    if let Some(status) = server.wait_exit(load_left) {
        return Err(format!(
            "{} exited with {} under load, before any signal; its output:\n{}",
            options.step,
            describe_status(status),
            server.transcript()
        ));
    }

    let signal = if options.kill {
        Signal::SIGKILL
    } else {
        Signal::SIGTERM
    };
    // Raised before kill(2): a request written from here on may reach a
    // server that is already stopping, and `tools::load::classify` must know.
    shared.signalled.store(true, Ordering::SeqCst);
    let signal_at = server.try_signal(signal)?;

    let mut second_signal_at = None;
    if let Some(delay) = options.second_signal
        && server
            .wait_exit((signal_at + delay).saturating_duration_since(Instant::now()))
            .is_none()
    {
        // It may exit between the look and the kill(2); then there is
        // simply no second signal to send.
        second_signal_at = server.try_signal(Signal::SIGTERM).ok();
    }

    // The exit limit counts from the last signal sent: a second signal
    // starts a shutdown of its own.
    let exit_limit_from = second_signal_at.unwrap_or(signal_at);
    let exit_left =
        (exit_limit_from + options.exit_limit).saturating_duration_since(Instant::now());
    let (exit_status, killed_by_tool) = match server.wait_exit(exit_left) {
        Some(status) => (status, false),
        None => {
            let status = server
                .kill()
                .ok_or_else(|| format!("{} could not be killed", options.step))?;
            (status, true)
        }
    };
    Ok(Shutdown {
        signal: signal.as_str(),
        signal_at,
        second_signal_at,
        exit_at: server.exited_at().unwrap_or_else(Instant::now),
        exit_status,
        killed_by_tool,
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        let args = std::iter::once("loadtest").chain(args.iter().copied());
        let options = Options::try_parse_from(args).map_err(|err| err.to_string())?;
        options.check()?;
        Ok(options)
    }

    #[test]
    fn the_options_are_well_formed() {
        Options::command().debug_assert();
    }

    #[test]
    fn defaults_need_only_the_step() {
        let options = parse(&["step2"]).unwrap();
        assert_eq!(options.step, "step2");
        assert_eq!(options.clients, 8);
        assert_eq!(options.duration, Duration::from_secs(2));
        assert_eq!(options.shutdown_timeout, "5s");
        assert_eq!(options.exit_limit, Duration::from_secs(30));
        assert!(!options.kill && !options.verify);
    }

    #[test]
    fn every_option_is_read() {
        let options = parse(&[
            "--clients",
            "4",
            "step4",
            "--duration",
            "500ms",
            "--slow-ms",
            "50",
            "--shutdown-timeout",
            "1s",
            "--second-signal",
            "20ms",
            "--exit-limit",
            "5s",
            "--verify",
            "--binary",
            "/tmp/step4",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!(options.clients, 4);
        assert_eq!(options.second_signal, Some(Duration::from_millis(20)));
        assert_eq!(options.binary, Some(PathBuf::from("/tmp/step4")));
        assert_eq!(
            (options.slow_ms, options.seed, options.verify),
            (50, 7, true)
        );
        assert_eq!(options.log_target(), "step4");
    }

    #[test]
    fn any_server_can_be_measured_under_a_name_of_its_own() {
        let options = parse(&[
            "axum-steps-mw",
            "--binary",
            "/tmp/plain-axum",
            "--health-only",
            "--env",
            "MIDDLEWARE=steps",
            "--env",
            "EMPTY=",
        ])
        .unwrap();
        assert_eq!(options.step, "axum-steps-mw");
        assert!(options.health_only);
        assert_eq!(
            options.envs,
            [
                ("MIDDLEWARE".to_owned(), "steps".to_owned()),
                ("EMPTY".to_owned(), String::new())
            ]
        );
        assert_eq!(options.log_target(), "plain_axum");
        assert!(
            parse(&["axum", "--health-only"])
                .unwrap_err()
                .contains("--binary")
        );
    }

    #[test]
    fn bad_options_are_errors_that_name_them() {
        for (args, names) in [
            (&["step2", "--clients", "many"][..], "--clients"),
            (&["step2", "--clients", "9999"][..], "--clients"),
            (&["step2", "--duration", "soon"][..], "--duration"),
            (&["step2", "--duration", "1h"][..], "--duration"),
            (&["step2", "--slow-ms", "0"][..], "--slow-ms"),
            (
                &["step2", "--shutdown-timeout", "x"][..],
                "--shutdown-timeout",
            ),
            (
                &["step2", "--kill", "--second-signal", "1s"][..],
                "--second-signal",
            ),
            (&["step2", "--frobnicate"][..], "--frobnicate"),
            (&["step2", "--seed"][..], "--seed"),
            (&["steptwo"][..], "steptwo"),
            (&["step 2", "--binary", "/x"][..], "step"),
            (&["step2", "--env", "NOEQUALS"][..], "--env"),
            (&["step2", "step3"][..], "step3"),
            (&[][..], "STEP"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(names), "{args:?}: {err}");
        }
    }
}
