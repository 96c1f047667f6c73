//! A rolling restart of a step behind HAProxy, under load, and what the
//! clients saw.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --release -p tools --bin rollout -- step6 --sized-delay
//! cargo run --release -p tools --bin rollout -- step6 --delay 0s
//! cargo run --release -p tools --bin rollout -- step2 --rollouts 3 --verbose
//! ```
//!
//! It builds the step (`cargo build --release --bin stepN`), starts
//! `--instances` of it on one database and HAProxy in front of them
//! (`deploy/haproxy.cfg`), sends load through HAProxy, and restarts each
//! instance in turn, `--rollouts` times. The last line sums the row up
//! for `scripts/rollout.sh`:
//!
//! ```not_rust
//! step=step6 delay=1500ms retry=false rollouts=10 sent=… ok=… refused=0 broken=0 5xx=0 unknown=0 other=0 duplicated=0 unclean_exits=0 median_shutdown_ms=…
//! ```

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use tools::{
    build_release, millis, parse_duration,
    rollout::{self, Checks, Plan},
    step_number,
};

/// A rolling restart of a step behind HAProxy, under load.
#[derive(Debug, Parser)]
#[command(
    name = "rollout",
    after_help = "Durations read like SHUTDOWN_TIMEOUT: 500ms, 2s, 1m."
)]
struct Options {
    /// The step to restart: step2, step6, … (built with `cargo build
    /// --release --bin STEP`)
    step: String,
    /// Instances behind HAProxy
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(2..=3))]
    instances: u64,
    /// Rolling restarts, each of every instance
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=50))]
    rollouts: u64,
    /// Concurrent load clients
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=64))]
    clients: u64,
    /// SHUTDOWN_DELAY for the instances (step 6 on)
    #[arg(long, value_name = "D", value_parser = parse_duration, conflicts_with = "sized_delay")]
    delay: Option<Duration>,
    /// SHUTDOWN_DELAY sized from HAProxy's checks: inter × fall + margin
    #[arg(long)]
    sized_delay: bool,
    /// What --sized-delay adds to inter × fall
    #[arg(long, value_name = "D", default_value = "500ms", value_parser = parse_duration)]
    margin: Duration,
    /// SHUTDOWN_TIMEOUT for the instances
    #[arg(long, value_name = "D", default_value = "5s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// HAProxy's interval between two health checks
    #[arg(long, value_name = "D", default_value = "500ms", value_parser = parse_duration)]
    inter: Duration,
    /// Failed checks in a row before HAProxy takes an instance out
    #[arg(long, default_value_t = 2)]
    fall: u32,
    /// Good checks in a row before HAProxy puts it back
    #[arg(long, default_value_t = 1)]
    rise: u32,
    /// HAProxy retries failed requests (retry-on all-retryable-errors,
    /// retries 3, redispatch) instead of one attempt each
    #[arg(long)]
    retry: bool,
    /// Run this executable as STEP instead of building it
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// Print every event (signals, exits, HAProxy's log) as it happens
    #[arg(long)]
    verbose: bool,
    /// Print the first rollout's events after the summary
    #[arg(long)]
    timeline: bool,
}

fn main() -> ExitCode {
    let options = Options::parse();
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}

fn run(options: &Options) -> Result<(), String> {
    let step = step_number(&options.step)?;
    let haproxy =
        rollout::find_haproxy().ok_or("no haproxy on PATH (Debian: apt-get install haproxy)")?;
    let binary = match &options.binary {
        Some(binary) => binary.clone(),
        None => build_release(&options.step)?,
    };
    let checks = Checks {
        inter: options.inter,
        fall: options.fall,
        rise: options.rise,
    };
    let shutdown_delay = if options.sized_delay {
        Some(checks.sized_delay(options.margin))
    } else {
        options.delay
    };
    let plan = Plan {
        binary,
        step,
        instances: options.instances as usize,
        rollouts: options.rollouts as usize,
        clients: options.clients as usize,
        shutdown_delay,
        shutdown_timeout: options.shutdown_timeout,
        checks,
        retry: options.retry,
        haproxy,
        verbose: options.verbose,
    };
    let tally = rollout::run(&plan)?;
    if options.timeline {
        let first: Vec<_> = tally
            .timeline
            .iter()
            .take_while(|line| !line.ends_with("rollout 2"))
            .collect();
        for line in first {
            println!("{line}");
        }
    }
    let sent = tally.ok + tally.failed();
    println!(
        "step={} delay={} retry={} rollouts={} sent={sent} ok={} refused={} broken={} 5xx={} unknown={} other={} duplicated={} unclean_exits={} median_shutdown_ms={}",
        options.step,
        shutdown_delay.map_or("unset".to_owned(), |delay| format!(
            "{}ms",
            delay.as_millis()
        )),
        plan.retry,
        plan.rollouts,
        tally.ok,
        tally.refused,
        tally.broken,
        tally.status_5xx,
        tally.unknown,
        tally.other_status,
        tally.duplicated_writes,
        tally.unclean_exits,
        tally.median_shutdown().map_or("-".to_owned(), millis),
    );
    Ok(())
}
