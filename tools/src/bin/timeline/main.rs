//! One shutdown, second by second: what each client saw and when.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --release -p tools --bin timeline -- step3
//! cargo run --release -p tools --bin timeline -- step4 --svg book/src/timelines/step4.svg
//! ```
//!
//! It starts the step with `SHUTDOWN_TIMEOUT=1500ms` and plays one scenario
//! against it, the same for every step:
//!
//! - an *idle keep-alive* connection: one `GET /health`, then silence;
//! - a *slow* request, `GET /slow?ms=1000`, which fits in the drain;
//! - a *stuck* request, `GET /slow?ms=60000`, which does not;
//! - a *fast* request, `GET /health`, just before the signal;
//! - SIGTERM, once both long requests are in the server's hands;
//! - a *new connection* attempt 100 ms after the signal;
//! - from step 4 on, a second SIGTERM one second after the first.
//!
//! It prints every event with its offset from the process start, the
//! step's own log lines among them:
//!
//! ```not_rust
//! +0.563s  SIGTERM sent
//! +1.114s  slow request → 200
//! +2.064s  stuck request → connection closed, no answer
//! +2.066s  process exited with status 1
//! ```
//!
//! With `--svg FILE` the same run is also drawn, one lane per client and
//! one for the process, as a self-contained SVG (no scripts, no fonts to
//! fetch) that the book embeds. `scripts/timelines.sh` draws every step.
//!
//! A step that never stops by itself (step 2 with a stuck request) is
//! killed three seconds after the signal, and the picture says so.

mod svg;

use std::{
    fs,
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    sync::Mutex,
    thread,
    time::{Duration, Instant},
};

use clap::Parser;
use tools::{
    build_release,
    harness::{Launch, Signal, describe_status},
    http::{Connection, Failure, Request},
    step_number, without_timestamp,
};

/// One shutdown, event by event: what each client saw and when.
#[derive(Debug, Parser)]
#[command(name = "timeline")]
struct Options {
    /// The step to run the scenario against: step1, step2, … (built with
    /// `cargo build --release --bin STEP`)
    #[arg(value_parser = step)]
    step: String,
    /// Also draw the run as an SVG picture in FILE
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Run this executable as STEP instead of building it
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
}

fn step(text: &str) -> Result<String, String> {
    step_number(text).map(|_| text.to_owned())
}

/// The drain deadline for every step: short, so that the pictures are, and
/// long enough for the slow request to finish inside it.
const SHUTDOWN_TIMEOUT: &str = "1500ms";

// When things happen, counted from the `server starting` line (the first
// three) or from the first signal (the rest).
const LONG_REQUESTS_AT: Duration = Duration::from_millis(50);
const FAST_REQUEST_AT: Duration = Duration::from_millis(300);
const SIGNAL_AT: Duration = Duration::from_millis(500);
const NEW_CONNECTION_AFTER: Duration = Duration::from_millis(100);
const SECOND_SIGNAL_AFTER: Duration = Duration::from_millis(1000);
/// A step still running this long after the signal is not going to stop
/// by itself within the picture: SIGKILL.
const GIVE_UP_AFTER: Duration = Duration::from_millis(3000);

const SLOW_MS: u64 = 1000;
const STUCK_MS: u64 = 60_000;
const SLOW_PATH: &str = "/slow?ms=1000";
const STUCK_PATH: &str = "/slow?ms=60000";

/// The longest a client waits on its socket; the process is gone well
/// before, at [`GIVE_UP_AFTER`] at the latest.
const SOCKET_LIMIT: Duration = Duration::from_secs(10);

/// A row of the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Process,
    IdleKeepAlive,
    Fast,
    Slow,
    Stuck,
    NewConnection,
}

impl Lane {
    pub const ALL: [Lane; 6] = [
        Lane::Process,
        Lane::IdleKeepAlive,
        Lane::Fast,
        Lane::Slow,
        Lane::Stuck,
        Lane::NewConnection,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Lane::Process => "process",
            Lane::IdleKeepAlive => "idle keep-alive",
            Lane::Fast => "fast request",
            Lane::Slow => "slow request",
            Lane::Stuck => "stuck request",
            Lane::NewConnection => "new connection",
        }
    }
}

/// How a client's bar ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A whole answer came back.
    Answered,
    /// The connection ended without an answer.
    Cut,
    /// The connect was refused.
    Refused,
    /// An idle connection the server closed (what it should do).
    Closed,
}

/// A client's bar: from `start` to `end`, with what ended it.
#[derive(Debug, Clone)]
pub struct Span {
    pub lane: Lane,
    pub start: Instant,
    pub end: Instant,
    pub ending: Ending,
    pub label: String,
    /// For the idle connection: when its one request was answered.
    pub first_answer: Option<Instant>,
}

/// A line of the printed timeline.
#[derive(Debug, Clone)]
struct Event {
    at: Instant,
    text: String,
}

/// Where the lanes write down what they saw.
#[derive(Default)]
struct Record {
    events: Mutex<Vec<Event>>,
}

impl Record {
    fn note(&self, at: Instant, text: impl Into<String>) {
        let event = Event {
            at,
            text: text.into(),
        };
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(event);
    }

    fn take(self) -> Vec<Event> {
        self.events
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What happened to the process, for the picture.
#[derive(Debug, Clone)]
pub struct ProcessStory {
    pub spawned: Instant,
    pub ready: Instant,
    pub signals: Vec<(Instant, String)>,
    pub exit_at: Instant,
    pub exit_label: String,
    /// Log lines worth a mark: `shutting down`, `shutdown timed out`, …
    pub marks: Vec<(Instant, String)>,
}

fn main() -> ExitCode {
    let options = Options::parse();
    match run(&options.step, options.binary, options.svg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("timeline: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(step: &str, binary: Option<PathBuf>, svg_path: Option<PathBuf>) -> Result<(), String> {
    let number = step_number(step)?;
    let binary = match binary {
        Some(binary) => binary,
        None => build_release(step)?,
    };
    let mut server = Launch::binary(step, &binary)
        .env("SHUTDOWN_TIMEOUT", SHUTDOWN_TIMEOUT)
        // The step's lines and one per request as it starts and ends: the
        // server's side of the story, next to the clients'.
        .env("RUST_LOG", "info,tower_http=debug")
        .try_start()?;
    let record = Record::default();
    record.note(server.spawned, format!("{step} started"));

    let (spans, story) = thread::scope(|scope| -> Result<_, String> {
        let addr = server.addr();
        let ready = server.ready_at();
        let record = &record;
        let idle = scope.spawn(move || idle_keep_alive(addr, record));
        let slow = scope.spawn(move || {
            request(
                Lane::Slow,
                addr,
                SLOW_PATH,
                ready + LONG_REQUESTS_AT,
                record,
            )
        });
        let stuck = scope.spawn(move || {
            request(
                Lane::Stuck,
                addr,
                STUCK_PATH,
                ready + LONG_REQUESTS_AT,
                record,
            )
        });
        let fast = scope
            .spawn(move || request(Lane::Fast, addr, "/health", ready + FAST_REQUEST_AT, record));

        // Both long requests must be in their handlers before the signal,
        // or the picture would show a race instead of a drain.
        for ms in [SLOW_MS, STUCK_MS] {
            let field = format!("ms={ms}");
            let started = server.wait_for_line(0, Duration::from_secs(5), |text| {
                text.contains("slow request started")
                    && text.split_whitespace().any(|word| word == field)
            });
            if started.is_none() {
                return Err(format!("GET /slow?ms={ms} never reached {step}"));
            }
        }
        sleep_until(ready + SIGNAL_AT);
        let mut signals = Vec::new();
        let signal_at = server.try_signal(Signal::SIGTERM)?;
        record.note(signal_at, "SIGTERM sent");
        signals.push((signal_at, "SIGTERM".to_owned()));
        let late = scope.spawn(move || {
            request(
                Lane::NewConnection,
                addr,
                "/health",
                signal_at + NEW_CONNECTION_AFTER,
                record,
            )
        });

        if number >= 4
            && server
                .wait_exit(until(signal_at + SECOND_SIGNAL_AFTER))
                .is_none()
            && let Ok(at) = server.try_signal(Signal::SIGTERM)
        {
            record.note(at, "second SIGTERM sent");
            signals.push((at, "second SIGTERM".to_owned()));
        }
        let exit_label = match server.wait_exit(until(signal_at + GIVE_UP_AFTER)) {
            Some(status) => describe_exit(&describe_status(status)),
            None => {
                let at = Instant::now();
                record.note(
                    at,
                    format!(
                        "still running {:.1}s after SIGTERM: SIGKILL sent by timeline",
                        GIVE_UP_AFTER.as_secs_f64()
                    ),
                );
                signals.push((at, "SIGKILL (timeline gives up)".to_owned()));
                server
                    .kill()
                    .ok_or_else(|| format!("{step} could not be killed"))?;
                "killed by SIGKILL".to_owned()
            }
        };
        let exit_at = server.exited_at().unwrap_or_else(Instant::now);
        record.note(exit_at, format!("process {exit_label}"));

        let spans = [idle, fast, slow, stuck, late]
            .into_iter()
            .map(|lane| {
                lane.join()
                    .map_err(|_| "a client thread panicked".to_owned())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let story = ProcessStory {
            spawned: server.spawned,
            ready,
            signals,
            exit_at,
            exit_label,
            marks: Vec::new(),
        };
        Ok((spans, story))
    })?;

    let mut story = story;
    let mut events = record.take();
    for line in server.lines() {
        // Every request also logs its end of stream; one line per start
        // and one per answer say enough.
        if line.text.contains("on_eos") {
            continue;
        }
        let text = without_timestamp(&line.text);
        for phrase in [
            "server starting",
            "shutting down",
            "shutdown timed out",
            "forced shutdown",
            "database closed",
            "server stopped",
        ] {
            if text.contains(phrase) {
                story.marks.push((line.at, phrase.to_owned()));
            }
        }
        let stream = if line.stderr { "stderr " } else { "" };
        events.push(Event {
            at: line.at,
            text: format!("  log  {stream}{text}"),
        });
    }
    events.sort_by_key(|event| event.at);

    println!(
        "timeline {step}: SHUTDOWN_TIMEOUT={SHUTDOWN_TIMEOUT}; offsets from the process start"
    );
    for event in &events {
        println!("{}  {}", offset(story.spawned, event.at), event.text);
    }

    if let Some(path) = svg_path {
        let picture = svg::draw(step, SHUTDOWN_TIMEOUT, &story, &spans);
        fs::write(&path, picture)
            .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
        println!("drawn to {}", path.display());
    }
    Ok(())
}

/// `1` → `exited with status 1`; `SIGTERM` → `killed by SIGTERM`.
fn describe_exit(status: &str) -> String {
    if status.starts_with("SIG") {
        format!("killed by {status}")
    } else {
        format!("exited with status {status}")
    }
}

/// Seconds since `zero`, as the timeline prints them: `+1.234s`.
fn offset(zero: Instant, at: Instant) -> String {
    format!("+{:.3}s", at.saturating_duration_since(zero).as_secs_f64())
}

/// What is left until `at`.
fn until(at: Instant) -> Duration {
    at.saturating_duration_since(Instant::now())
}

fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        thread::sleep(at - now);
    }
}

/// One request on a new connection at `at`: its bar.
fn request(lane: Lane, addr: SocketAddr, path: &str, at: Instant, record: &Record) -> Span {
    sleep_until(at);
    let start = Instant::now();
    record.note(start, format!("{}: GET {path}", lane.label()));
    let result = Connection::open(addr, SOCKET_LIMIT).and_then(|mut connection| {
        connection.write(&Request::get(path), false)?;
        connection.read_response()
    });
    let end = Instant::now();
    let (ending, label) = match result {
        Ok(response) => (Ending::Answered, response.status.to_string()),
        Err(Failure::Refused) => (Ending::Refused, Failure::Refused.describe()),
        Err(failure) => (Ending::Cut, failure.describe()),
    };
    record.note(end, format!("{} → {label}", lane.label()));
    Span {
        lane,
        start,
        end,
        ending,
        label,
        first_answer: None,
    }
}

/// A keep-alive connection that carries one request and then sits idle
/// until the server closes it.
fn idle_keep_alive(addr: SocketAddr, record: &Record) -> Span {
    let lane = Lane::IdleKeepAlive;
    let start = Instant::now();
    record.note(start, format!("{}: GET /health", lane.label()));
    let answered = Connection::open(addr, SOCKET_LIMIT).and_then(|mut connection| {
        connection.write(&Request::get("/health"), true)?;
        let response = connection.read_response()?;
        Ok((connection, response))
    });
    let (mut connection, first_answer) = match answered {
        Ok((connection, response)) => {
            let at = Instant::now();
            record.note(
                at,
                format!(
                    "{} → {}, connection kept open",
                    lane.label(),
                    response.status
                ),
            );
            (connection, at)
        }
        Err(failure) => {
            let end = Instant::now();
            record.note(end, format!("{} → {}", lane.label(), failure.describe()));
            return Span {
                lane,
                start,
                end,
                ending: Ending::Cut,
                label: failure.describe(),
                first_answer: None,
            };
        }
    };
    let closed = connection.wait_closed();
    let end = Instant::now();
    let (ending, label) = match closed {
        Ok(()) => (Ending::Closed, "closed by the server".to_owned()),
        Err(failure) => (Ending::Cut, failure.describe()),
    };
    record.note(end, format!("{} → {label}", lane.label()));
    Span {
        lane,
        start,
        end,
        ending,
        label,
        first_answer: Some(first_answer),
    }
}
