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
//! - from step 4 on, a second SIGTERM one second after the first;
//! - from step 6 on (the workers), *visits*: a bookmark created and visited
//!   three times before the signal, with `FLUSH_INTERVAL=1h`, so that the
//!   final flush has something to write;
//! - step 7 and later (ready for a load balancer) run with
//!   `SHUTDOWN_DELAY=1s` and add a *ready probe*,
//!   `GET /ready` every 100 ms, and an *events* stream, `GET /events`,
//!   open from the start; they get no second signal, which would end the
//!   delay the picture is there to show.
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
//! With `--svg FILE` the same run is also drawn, one lane per client, one
//! for the process and one for the step's shutdown log lines, as a
//! self-contained SVG (no scripts, no fonts to
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
    matrix::Has,
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

/// Step 7 on: how long the server keeps serving after the signal.
const SHUTDOWN_DELAY: Duration = Duration::from_millis(1000);
const SHUTDOWN_DELAY_ENV: &str = "1s";
/// Step 6 on: the visits counted before the signal.
const VISITS: usize = 3;
const VISITS_AT: Duration = Duration::from_millis(100);
/// Step 7 on: how often the ready probe asks.
const PROBE_EVERY: Duration = Duration::from_millis(100);

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
    Log,
    ReadyProbe,
    Events,
    Visits,
    IdleKeepAlive,
    Fast,
    Slow,
    Stuck,
    NewConnection,
}

impl Lane {
    /// The lanes of step `number`'s picture, top to bottom.
    pub fn of_step(number: u32) -> Vec<Lane> {
        let has = Has::step(number);
        let mut lanes = vec![Lane::Process, Lane::Log];
        if has.ready {
            lanes.extend([Lane::ReadyProbe, Lane::Events]);
        }
        if has.workers {
            lanes.push(Lane::Visits);
        }
        lanes.extend([
            Lane::IdleKeepAlive,
            Lane::Fast,
            Lane::Slow,
            Lane::Stuck,
            Lane::NewConnection,
        ]);
        lanes
    }

    pub fn label(self) -> &'static str {
        match self {
            Lane::Process => "process",
            Lane::Log => "its log",
            Lane::ReadyProbe => "ready probe",
            Lane::Events => "events stream",
            Lane::Visits => "visits",
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

/// One answer of the ready probe: when, and its status (`None`: no answer).
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub at: Instant,
    pub status: Option<u16>,
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
    /// Step 6 on: the ready probe's answers.
    pub probes: Vec<Probe>,
    /// Step 6 on: the shutdown delay, as set.
    pub delay: Option<Duration>,
}

/// The step's log lines the picture writes out, in the words of the
/// contract; a line holding one is shown from the phrase on.
const PHRASES: [&str; 12] = [
    "not ready",
    "shutting down",
    "requests drained",
    "shutdown timed out",
    "forced shutdown",
    "abandoned",
    "stopping workers",
    "workers stopped",
    "visits flushed",
    "database closed",
    "server stopped",
    "server starting",
];

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
    let has = Has::step(number);
    let delay = has.ready.then_some(SHUTDOWN_DELAY);
    let mut launch = Launch::binary(step, &binary);
    if has.workers {
        // No periodic flush within the picture: the visits wait for the
        // final one.
        launch = launch.env("FLUSH_INTERVAL", "1h");
    }
    if delay.is_some() {
        launch = launch.env("SHUTDOWN_DELAY", SHUTDOWN_DELAY_ENV);
    }
    let mut server = launch
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
        let visits = has
            .workers
            .then(|| scope.spawn(move || visits(addr, ready + VISITS_AT, record)));
        let events = has
            .ready
            .then(|| scope.spawn(move || request(Lane::Events, addr, "/events", ready, record)));
        let probe = has
            .ready
            .then(|| scope.spawn(move || ready_probe(addr, ready, record)));

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

        // A second signal would end the delay the picture of step 7 on is
        // there to show.
        if has.second_signal
            && !has.ready
            && server
                .wait_exit(until(signal_at + SECOND_SIGNAL_AFTER))
                .is_none()
            && let Ok(at) = server.try_signal(Signal::SIGTERM)
        {
            record.note(at, "second SIGTERM sent");
            signals.push((at, "second SIGTERM".to_owned()));
        }
        let give_up = signal_at + GIVE_UP_AFTER + delay.unwrap_or_default();
        let exit_label = match server.wait_exit(until(give_up)) {
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

        let spans = [
            Some(idle),
            Some(fast),
            Some(slow),
            Some(stuck),
            Some(late),
            visits,
            events,
        ]
        .into_iter()
        .flatten()
        .map(|lane| {
            lane.join()
                .map_err(|_| "a client thread panicked".to_owned())
        })
        .collect::<Result<Vec<_>, _>>()?;
        let probes = match probe {
            Some(probe) => probe
                .join()
                .map_err(|_| "the probe thread panicked".to_owned())?,
            None => Vec::new(),
        };
        let story = ProcessStory {
            spawned: server.spawned,
            ready,
            signals,
            exit_at,
            exit_label,
            marks: Vec::new(),
            probes,
            delay,
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
        if let Some(at) = PHRASES.iter().find_map(|phrase| text.find(phrase)) {
            // From the phrase on, without the fields that only repeat the
            // settings (`signal=…` stays: it says which signal).
            let shown: String = text[at..]
                .split_whitespace()
                .filter(|word| !word.starts_with("delay=") && !word.starts_with("phase="))
                // `abandoned requests=1 blocking=0 …`: what was there.
                .filter(|word| !word.ends_with("=0") || word.starts_with("visits="))
                .collect::<Vec<_>>()
                .join(" ");
            story.marks.push((line.at, shown));
        }
        let stream = if line.stderr { "stderr " } else { "" };
        events.push(Event {
            at: line.at,
            text: format!("  log  {stream}{text}"),
        });
    }
    events.sort_by_key(|event| event.at);

    let delay_note = match delay {
        Some(_) => format!(", SHUTDOWN_DELAY={SHUTDOWN_DELAY_ENV}"),
        None => String::new(),
    };
    println!(
        "timeline {step}: SHUTDOWN_TIMEOUT={SHUTDOWN_TIMEOUT}{delay_note}; offsets from the process start"
    );
    for event in &events {
        println!("{}  {}", offset(story.spawned, event.at), event.text);
    }

    if let Some(path) = svg_path {
        let picture = svg::draw(step, number, SHUTDOWN_TIMEOUT, &story, &spans);
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
        Ok(response) if lane == Lane::Events => (
            Ending::Answered,
            format!("stream ended ({})", response.status),
        ),
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

/// Step 5 on: a bookmark created, then visited [`VISITS`] times on one
/// keep-alive connection, so that the visit buffer holds something at the
/// signal.
fn visits(addr: SocketAddr, at: Instant, record: &Record) -> Span {
    let lane = Lane::Visits;
    sleep_until(at);
    let start = Instant::now();
    record.note(
        start,
        format!("{}: POST /bookmarks, then {VISITS} visits", lane.label()),
    );
    let result = Connection::open(addr, SOCKET_LIMIT).and_then(|mut connection| {
        let json = r#"{"url":"https://example.com/","title":"example"}"#.to_owned();
        connection.write(&Request::post_json("/bookmarks", json), true)?;
        let created = connection.read_response()?;
        let body = String::from_utf8_lossy(&created.body).into_owned();
        let id = body
            .split("\"id\":")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse::<u64>().ok())
            .ok_or_else(|| Failure::Malformed(format!("no id in {body}")))?;
        let mut redirects = 0;
        for _ in 0..VISITS {
            let path = format!("/bookmarks/{id}/visit");
            connection.write(&Request::get(path), true)?;
            if connection.read_response()?.status == 302 {
                redirects += 1;
            }
        }
        Ok(redirects)
    });
    let end = Instant::now();
    let (ending, label) = match result {
        Ok(redirects) => (
            Ending::Answered,
            format!("{redirects} visits counted (302)"),
        ),
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

/// Step 6 on: `GET /ready` every [`PROBE_EVERY`], each on a new
/// connection as a load balancer's check would, until nothing answers.
fn ready_probe(addr: SocketAddr, from: Instant, record: &Record) -> Vec<Probe> {
    let mut probes = Vec::new();
    let mut next = from;
    let mut last_status = None;
    loop {
        sleep_until(next);
        next += PROBE_EVERY;
        let at = Instant::now();
        let status = Connection::open(addr, Duration::from_secs(2))
            .and_then(|mut connection| {
                connection.write(&Request::get("/ready"), false)?;
                connection.read_response()
            })
            .ok()
            .map(|response| response.status);
        // The printed timeline names each change, not every probe.
        if probes.is_empty() || status != last_status {
            let said = status.map_or("no answer".to_owned(), |status| status.to_string());
            record.note(at, format!("ready probe: GET /ready → {said}"));
        }
        last_status = status;
        probes.push(Probe { at, status });
        if status.is_none() {
            return probes;
        }
    }
}
