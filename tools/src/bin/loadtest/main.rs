//! Stop a step while clients are busy, and count what broke.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --release --bin loadtest -- step1
//! cargo run --release --bin loadtest -- step2
//! cargo run --release --bin loadtest -- step4 --second-signal 50ms
//! cargo run --release --bin loadtest -- step3 --kill
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
//! `client::classify`). The last line sums the run up for
//! `scripts/figures.sh`:
//!
//! ```not_rust
//! step=step4 sent=31247 ok=31237 refused=8 broken=0 unknown=2 acked_writes=15645 lost_writes=0 shutdown_ms=266.8 exit=0
//! ```
//!
//! All traffic goes to 127.0.0.1. Every loop is bounded in count and time,
//! and the step is killed if it has not exited within `--exit-limit`.

#[path = "../toolkit/mod.rs"]
mod toolkit;

mod client;
mod report;

use std::{
    env,
    path::PathBuf,
    process::ExitCode,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use client::{ClientReport, Shared};
use report::{RunDescription, Shutdown};
use toolkit::{
    launch::{self, COARSE_POLL, FINE_POLL, Process, ScratchDir, Signal},
    parse_duration, step_number,
};

const USAGE: &str = "\
usage: loadtest STEP [options]

  STEP                   the step to stop under load: step1, step2, …
                         (built with `cargo build --release --bin STEP`)
  --clients N            concurrent clients (default 8; 0 measures an idle
                         server): half keep-alive; clients 0 and 1, and every
                         eighth pair after, send only slow requests
  --duration D           how long the load runs before the signal (default 2s)
  --slow-ms N            the longest GET /slow?ms=… (default 300)
  --shutdown-timeout D   SHUTDOWN_TIMEOUT for the step (default 5s)
  --second-signal D      send a second SIGTERM D after the first
  --kill                 send SIGKILL instead of SIGTERM
  --exit-limit D         wait this long for the exit, then SIGKILL (default 30s)
  --verify               log every request in the step (tower_http=debug) and
                         check the broken, unknown and refused verdicts against it
  --binary PATH          run this executable as STEP instead of building it
  --seed N               seed of the request mix (default 1)
  -h, --help             this text

Durations read like SHUTDOWN_TIMEOUT: 500ms, 2s, 1m.";

/// A run's settings.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    step: String,
    clients: usize,
    duration: Duration,
    slow_ms: u64,
    /// As given, so the step parses exactly what the user typed.
    shutdown_timeout: String,
    second_signal: Option<Duration>,
    kill: bool,
    exit_limit: Duration,
    verify: bool,
    binary: Option<PathBuf>,
    seed: u64,
}

impl Options {
    /// `Ok(None)` for `--help`.
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
        let mut options = Options {
            step: String::new(),
            clients: 8,
            duration: Duration::from_secs(2),
            slow_ms: 300,
            shutdown_timeout: "5s".to_owned(),
            second_signal: None,
            kill: false,
            exit_limit: Duration::from_secs(30),
            verify: false,
            binary: None,
            seed: 1,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
            match arg.as_str() {
                "-h" | "--help" => return Ok(None),
                "--clients" => options.clients = number("--clients", &value("--clients")?, 256)?,
                "--duration" => {
                    options.duration = bounded_duration("--duration", &value("--duration")?)?
                }
                "--slow-ms" => options.slow_ms = number("--slow-ms", &value("--slow-ms")?, 60_000)?,
                "--shutdown-timeout" => {
                    let text = value("--shutdown-timeout")?;
                    parse_duration("--shutdown-timeout", &text)?;
                    options.shutdown_timeout = text;
                }
                "--second-signal" => {
                    options.second_signal = Some(bounded_duration(
                        "--second-signal",
                        &value("--second-signal")?,
                    )?)
                }
                "--kill" => options.kill = true,
                "--exit-limit" => {
                    options.exit_limit = bounded_duration("--exit-limit", &value("--exit-limit")?)?
                }
                "--verify" => options.verify = true,
                "--binary" => options.binary = Some(PathBuf::from(value("--binary")?)),
                "--seed" => options.seed = number("--seed", &value("--seed")?, u64::MAX)?,
                flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
                step if options.step.is_empty() => {
                    step_number(step)?;
                    options.step = step.to_owned();
                }
                extra => {
                    return Err(format!(
                        "one step at a time: {extra:?} after {:?}",
                        options.step
                    ));
                }
            }
        }
        if options.step.is_empty() {
            return Err("which step? e.g. `loadtest step2`".to_owned());
        }
        if options.kill && options.second_signal.is_some() {
            return Err(
                "--second-signal follows a SIGTERM; with --kill there is no second".to_owned(),
            );
        }
        if options.slow_ms == 0 {
            return Err("--slow-ms must be at least 1".to_owned());
        }
        Ok(Some(options))
    }
}

fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
    option: &str,
    value: &str,
    most: T,
) -> Result<T, String> {
    match value.trim().parse::<T>() {
        Ok(n) if n <= most => Ok(n),
        _ => Err(format!(
            "{option} {value:?}: expected a whole number up to {most}"
        )),
    }
}

/// A duration of at most ten minutes: every wait in this tool has an end.
fn bounded_duration(option: &str, value: &str) -> Result<Duration, String> {
    let duration = parse_duration(option, value)?;
    if duration > Duration::from_secs(600) {
        return Err(format!("{option} {value:?}: at most 10m"));
    }
    Ok(duration)
}

fn main() -> ExitCode {
    let options = match Options::parse(env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("loadtest: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
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
        None => launch::build_release(&options.step)?,
    };
    let scratch = ScratchDir::new("loadtest")?;
    let database = scratch.path().join("bookmarks.db");
    // Warnings from everything, plus the `info` lines of the step and of
    // the library: that is where `server starting addr=…` and the story of
    // the shutdown are. Not one line per request: under load that would be
    // most of the work.
    let mut log_filter = format!("warn,{}=info,bookmarks=info", options.step);
    if options.verify {
        log_filter.push_str(",tower_http=debug");
    }
    let vars = [
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("DATABASE_URL", database.display().to_string()),
        ("SHUTDOWN_TIMEOUT", options.shutdown_timeout.clone()),
        ("RUST_LOG", log_filter),
    ];
    let mut process = Process::start(&binary, &options.step, &vars)?;

    let load_started = Instant::now();
    let shared = Shared {
        addr: process.addr,
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
    };
    let (clients, shutdown) = thread::scope(|scope| {
        let handles: Vec<_> = (0..options.clients)
            .map(|index| {
                let shared = &shared;
                scope.spawn(move || client::run(index, shared))
            })
            .collect();
        let shutdown = stop_under_load(&mut process, &shared, options, load_started);
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
    let database = report::check_database(&database, &acknowledged)?;
    let logs = process.logs();
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
    process: &mut Process,
    shared: &Shared,
    options: &Options,
    load_started: Instant,
) -> Result<Shutdown, String> {
    // A step that dies under load before any signal is a finding of its
    // own, not something to measure a shutdown on.
    if let Some(exit) = process.wait_exit(load_started + options.duration, COARSE_POLL) {
        return Err(format!(
            "{} exited with {} under load, before any signal; its output:\n{}",
            options.step,
            exit.describe(),
            process.transcript()
        ));
    }

    let signal = if options.kill {
        Signal::SIGKILL
    } else {
        Signal::SIGTERM
    };
    // Raised before kill(2): a request written from here on may reach a
    // server that is already stopping, and `client::classify` must know.
    shared.signalled.store(true, Ordering::SeqCst);
    let signal_at = process.signal(signal)?;

    let mut second_signal_at = None;
    if let Some(delay) = options.second_signal
        && process.wait_exit(signal_at + delay, FINE_POLL).is_none()
    {
        // It may exit between the look and the kill(2); then there is
        // simply no second signal to send.
        second_signal_at = process.signal(Signal::SIGTERM).ok();
    }

    // The exit limit counts from the last signal sent: a second signal
    // starts a shutdown of its own.
    let exit_limit_from = second_signal_at.unwrap_or(signal_at);
    let (exit, killed_by_tool) =
        match process.wait_exit(exit_limit_from + options.exit_limit, FINE_POLL) {
            Some(exit) => (exit, false),
            None => {
                let exit = process
                    .kill()
                    .ok_or_else(|| format!("{} could not be killed", options.step))?;
                (exit, true)
            }
        };
    Ok(Shutdown {
        signal: signal.as_str(),
        signal_at,
        second_signal_at,
        exit,
        killed_by_tool,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        Options::parse(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn defaults_need_only_the_step() {
        let options = parse(&["step2"]).unwrap().unwrap();
        assert_eq!(options.step, "step2");
        assert_eq!(options.clients, 8);
        assert_eq!(options.duration, Duration::from_secs(2));
        assert_eq!(options.shutdown_timeout, "5s");
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
        .unwrap()
        .unwrap();
        assert_eq!(options.clients, 4);
        assert_eq!(options.second_signal, Some(Duration::from_millis(20)));
        assert_eq!(options.binary, Some(PathBuf::from("/tmp/step4")));
        assert_eq!(
            (options.slow_ms, options.seed, options.verify),
            (50, 7, true)
        );
    }

    #[test]
    fn bad_options_are_errors_that_name_them() {
        for (args, names) in [
            (&["step2", "--clients", "many"][..], "--clients"),
            (&["step2", "--clients", "9999"][..], "--clients"),
            (&["step2", "--duration", "soon"][..], "--duration"),
            (&["step2", "--duration", "1h"][..], "--duration"),
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
            (&["step2", "step3"][..], "step3"),
            (&[][..], "step"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(names), "{args:?}: {err}");
        }
    }

    #[test]
    fn help_is_not_an_error() {
        assert_eq!(parse(&["--help"]), Ok(None));
    }
}
