//! One shutdown, second by second: what each client saw and when.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --release --bin timeline -- step3
//! cargo run --release --bin timeline -- step4 --svg book/src/timelines/step4.svg
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

#[path = "../toolkit/mod.rs"]
mod toolkit;

mod svg;

use std::{
    env, fs,
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    sync::Mutex,
    thread,
    time::{Duration, Instant},
};

use toolkit::{
    http::{Connection, Failure, Request},
    launch::{self, FINE_POLL, Process, ScratchDir, Signal, without_timestamp},
    step_number,
};

const USAGE: &str = "\
usage: timeline STEP [--svg FILE] [--binary PATH]

  STEP            the step to run the scenario against: step1, step2, …
                  (built with `cargo build --release --bin STEP`)
  --svg FILE      also draw the run as an SVG picture in FILE
  --binary PATH   run this executable as STEP instead of building it
  -h, --help      this text";

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
    let mut args = env::args().skip(1);
    let mut step = None;
    let mut svg_path = None;
    let mut binary = None;
    while let Some(arg) = args.next() {
        let parsed = match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--svg" => args
                .next()
                .map(|path| svg_path = Some(PathBuf::from(path)))
                .ok_or("--svg needs a file name".to_owned()),
            "--binary" => args
                .next()
                .map(|path| binary = Some(PathBuf::from(path)))
                .ok_or("--binary needs a path".to_owned()),
            flag if flag.starts_with('-') => Err(format!("unknown option {flag}")),
            name if step.is_none() => step_number(name).map(|_| step = Some(name.to_owned())),
            extra => Err(format!("one step at a time: {extra:?}")),
        };
        if let Err(err) = parsed {
            eprintln!("timeline: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let Some(step) = step else {
        eprintln!("timeline: which step? e.g. `timeline step3`\n\n{USAGE}");
        return ExitCode::from(2);
    };
    match run(&step, binary, svg_path) {
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
        None => launch::build_release(step)?,
    };
    let scratch = ScratchDir::new("timeline")?;
    let vars = [
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        (
            "DATABASE_URL",
            scratch.path().join("bookmarks.db").display().to_string(),
        ),
        ("SHUTDOWN_TIMEOUT", SHUTDOWN_TIMEOUT.to_owned()),
        // The step's lines and one per request as it starts and ends: the
        // server's side of the story, next to the clients'.
        ("RUST_LOG", "info,tower_http=debug".to_owned()),
    ];
    let mut process = Process::start(&binary, step, &vars)?;
    let record = Record::default();
    record.note(process.spawned, format!("{step} started"));

    let (spans, story) = thread::scope(|scope| -> Result<_, String> {
        let addr = process.addr;
        let ready = process.ready;
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

        // Both long requests must be in the server's hands before the
        // signal, or the picture would show a race instead of a drain.
        for path in [SLOW_PATH, STUCK_PATH] {
            let needles = ["started processing request", &format!("uri={path} ")];
            if process
                .wait_for_log(&needles, 0, ready + Duration::from_secs(5))
                .is_none()
            {
                return Err(format!("{path} never reached {step}"));
            }
        }
        sleep_until(ready + SIGNAL_AT);
        let mut signals = Vec::new();
        let signal_at = process.signal(Signal::SIGTERM)?;
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
            && process
                .wait_exit(signal_at + SECOND_SIGNAL_AFTER, FINE_POLL)
                .is_none()
            && let Ok(at) = process.signal(Signal::SIGTERM)
        {
            record.note(at, "second SIGTERM sent");
            signals.push((at, "second SIGTERM".to_owned()));
        }
        let (exit, exit_label) = match process.wait_exit(signal_at + GIVE_UP_AFTER, FINE_POLL) {
            Some(exit) => (exit, describe_exit(&exit.describe())),
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
                let exit = process
                    .kill()
                    .ok_or_else(|| format!("{step} could not be killed"))?;
                (exit, "killed by SIGKILL".to_owned())
            }
        };
        record.note(exit.at, format!("process {exit_label}"));

        let spans = [idle, fast, slow, stuck, late]
            .into_iter()
            .map(|lane| {
                lane.join()
                    .map_err(|_| "a client thread panicked".to_owned())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let story = ProcessStory {
            spawned: process.spawned,
            ready,
            signals,
            exit_at: exit.at,
            exit_label,
            marks: Vec::new(),
        };
        Ok((spans, story))
    })?;

    let mut story = story;
    let mut events = record.take();
    for line in process.logs() {
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
        println!(
            "{}  {}",
            launch::offset(story.spawned, event.at),
            event.text
        );
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
