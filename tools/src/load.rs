//! One load client: a loop of requests, and the verdict on each. The load
//! tool runs them against a step, the rollout tool against HAProxy.
//!
//! The interesting part is [`classify`]. When a connection ends without an
//! answer, the client has to decide whose fault it was, knowing only what
//! it saw on its own socket. See its comment for the rules and why they
//! hold.

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use serde_json::json;

use crate::http::{Connection, Failure, Request, Response};
use fastrand::Rng;

/// A bound on each client's loop, whatever the clock says.
const MAX_REQUESTS_PER_CLIENT: u64 = 1_000_000;

/// How long a client waits for one answer: far beyond the slowest request
/// the load sends, so only a server that holds a request forever hits it.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(15);

/// How long to wait, after an orderly close with no answer, for the reset
/// that shows the request was never read (see
/// `Connection::reset_follows`). Generous: only the broken requests, a
/// handful at most, wait it out.
const RESET_WAIT: Duration = Duration::from_millis(250);

/// What the clients share with the thread that sends the signal.
pub struct Shared {
    pub addr: SocketAddr,
    /// Raised just *before* the signal is sent (see [`classify`]).
    pub signalled: AtomicBool,
    /// Raised once the process has exited: the clients stop.
    pub stop: AtomicBool,
    /// No client loop runs past this, whatever else happens.
    pub hard_stop: Instant,
    pub seed: u64,
    pub slow_ms: u64,
    /// Tag each request with `?rid=N` so the server's request log can be
    /// matched against the verdicts.
    pub tag_requests: bool,
    /// Every client sends `GET /health` on one kept-alive connection: the
    /// cheapest request there is, to measure what the server around it
    /// costs.
    pub health_only: bool,
}

impl Shared {
    fn signalled(&self) -> bool {
        self.signalled.load(Ordering::SeqCst)
    }
}

/// What a request does; each has a row in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Write,
    Read,
    Health,
    Slow,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Write, Kind::Read, Kind::Health, Kind::Slow];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Write => "POST /bookmarks",
            Kind::Read => "GET /bookmarks/{id}",
            Kind::Health => "GET /health",
            Kind::Slow => "GET /slow?ms=…",
        }
    }

    /// What client number `index` sends next.
    ///
    /// Clients 0 and 1 (one keep-alive, one not), and every eighth pair
    /// after them, send only slow requests: some requests are then always
    /// in flight when the signal comes, which is what a drain is for. The
    /// others send fast requests, half of them writes, since writes are
    /// what a shutdown can lose. Mixing slow requests into every client
    /// would do neither well: each client would spend nearly all its time
    /// waiting on a slow answer, and a busy keep-alive connection cannot
    /// show the race that an idle one runs into (see [`classify`]).
    fn pick(index: usize, rng: &mut Rng) -> Kind {
        if index % 8 < 2 {
            return Kind::Slow;
        }
        match rng.u8(..100) {
            0..50 => Kind::Write,
            50..75 => Kind::Read,
            _ => Kind::Health,
        }
    }
}

/// How a client uses connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One connection for request after request, as a pooled client does.
    KeepAlive,
    /// A new connection for each request, `Connection: close`.
    NewConnection,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::KeepAlive, Mode::NewConnection];

    pub fn of_client(index: usize) -> Mode {
        if index.is_multiple_of(2) {
            Mode::KeepAlive
        } else {
            Mode::NewConnection
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Mode::KeepAlive => "keep-alive",
            Mode::NewConnection => "new connection",
        }
    }
}

/// The verdict on one request: a column of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A whole answer with a 2xx status.
    Ok,
    /// A whole answer with another status.
    Error,
    /// The server never took the request: the connect was refused, or the
    /// new connection was reset before the server read a byte of it.
    Refused,
    /// The server took the request and never answered it.
    Broken,
    /// The request went out on a reused connection that the server closed
    /// at that very instant; the client cannot know whether it ran.
    Unknown,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::Refused,
        Outcome::Broken,
        Outcome::Unknown,
    ];
}

/// What a client knows about one request once it has ended.
#[derive(Debug)]
pub struct Attempt {
    /// It went out on a connection that had already carried an answer.
    pub reused: bool,
    /// The signal flag was up when the write finished (or the connect
    /// failed).
    pub written_after_signal: bool,
    /// The signal flag was up when the attempt ended.
    pub ended_after_signal: bool,
    pub ended_at: Instant,
    /// From the start of the attempt (the connect, if it needed one) to
    /// its end.
    pub took: Duration,
    pub result: Result<Response, Failure>,
}

/// Decides, from the client's side alone, what happened to a request.
///
/// An answer is an answer. A refused connect is the server saying no before
/// anything started. The hard cases are the connections that end with no
/// byte of an answer, and there the rules lean on two facts:
///
/// - The kernel *resets* a socket that is closed with bytes still unread
///   in it (RST), and closes it in order (FIN) otherwise. A reset therefore
///   means the server never read our request. hyper closes politely,
///   shutdown(2) before close(2), so its FIN may come first and the reset
///   a moment later: the client waits briefly for that reset after an
///   orderly close (`Connection::reset_follows`) and counts it as one. An
///   orderly close with no reset means the server read the request.
/// - A step closes connections on its own only once it is shutting down:
///   an idle keep-alive connection the moment the drain starts, a new one
///   that has not yet been read from, and, for step 1, every connection at
///   once. The signal flag is raised before kill(2) and read *after* our
///   write, so "written after the signal" errs towards "the server was
///   already stopping", never towards blaming it.
///
/// Hence:
///
/// - no answer and no shutdown under way: the server dropped a request for
///   no reason: **broken**;
/// - a reset, or an orderly close of a request written after the signal:
///   the server closed the connection without reading the request, or was
///   already stopping when it went out. On a reused connection that is the
///   keep-alive race, **unknown** to the client; on a new connection it is
///   a refusal that came a little late, **refused**;
/// - an orderly close, no reset, of a request written before the signal:
///   the server read it and closed without answering: **broken**;
/// - part of an answer, or none at all within [`ANSWER_LIMIT`]: **broken**.
///
/// `loadtest --verify` checks these verdicts against the server's own
/// request log.
pub fn classify(attempt: &Attempt) -> Outcome {
    let failure = match &attempt.result {
        Ok(response) if (200..300).contains(&response.status) => return Outcome::Ok,
        Ok(_) => return Outcome::Error,
        Err(failure) => failure,
    };
    let closed_unread = if attempt.reused {
        Outcome::Unknown
    } else {
        Outcome::Refused
    };
    match failure {
        // Refused after the signal is what a draining server should do;
        // before it, the server (or the machine) failed: an error.
        Failure::Refused | Failure::ConnectFailed(_) if attempt.ended_after_signal => {
            Outcome::Refused
        }
        Failure::Refused | Failure::ConnectFailed(_) => Outcome::Error,
        Failure::CutMidAnswer | Failure::TimedOut | Failure::Malformed(_) => Outcome::Broken,
        Failure::WriteFailed | Failure::NoAnswer { .. } if !attempt.ended_after_signal => {
            Outcome::Broken
        }
        Failure::WriteFailed | Failure::NoAnswer { reset: true } => closed_unread,
        Failure::NoAnswer { reset: false } if attempt.written_after_signal => closed_unread,
        Failure::NoAnswer { reset: false } => Outcome::Broken,
    }
}

/// One request's verdict, kept for the table and for `--verify`.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pub kind: Kind,
    pub mode: Mode,
    pub outcome: Outcome,
    /// The status answered, 0 if none.
    pub status: u16,
    /// The `rid` it was tagged with (when tagging).
    pub rid: u64,
    /// A connection was made (so a refusal was a late one).
    pub connected: bool,
    /// What the client saw, for `--verify` to show a verdict it doubts.
    pub seen: &'static str,
    pub reused: bool,
    pub written_after_signal: bool,
    /// It ended after the signal flag went up.
    pub ended_after_signal: bool,
    /// In flight when the signal came, and answered after it.
    pub drained: bool,
    /// When the client saw the request end.
    pub ended_at: Instant,
    /// How long it took, connect included.
    pub took: Duration,
}

/// Everything one client saw.
#[derive(Debug, Default)]
pub struct ClientReport {
    pub verdicts: Vec<Verdict>,
    /// Ids of the writes answered `201`.
    pub acknowledged: Vec<i64>,
    /// Idle keep-alive connections found closed before reuse.
    pub closed_before_reuse: u64,
}

/// Runs client number `index` until the process is gone, the client's
/// connection is refused, or a bound is reached.
pub fn run(index: usize, shared: &Shared) -> ClientReport {
    let mode = if shared.health_only {
        Mode::KeepAlive
    } else {
        Mode::of_client(index)
    };
    let mut rng = client_rng(shared.seed, index);
    let mut report = ClientReport::default();
    let mut connection = None;
    for sequence in 0..MAX_REQUESTS_PER_CLIENT {
        if shared.stop.load(Ordering::SeqCst) || Instant::now() >= shared.hard_stop {
            break;
        }
        let rid = ((index as u64) << 32) | sequence;
        let (kind, request) = next_request(index, &mut rng, shared, rid, &report.acknowledged);
        if mode == Mode::NewConnection {
            connection = None;
        }
        let attempt = exchange(&mut connection, mode, &request, shared, &mut report);
        let outcome = classify(&attempt);
        if let (Kind::Write, Ok(response)) = (kind, &attempt.result)
            && response.status == 201
            && let Some(id) = stored_id(response)
        {
            report.acknowledged.push(id);
        }
        report.verdicts.push(Verdict {
            kind,
            mode,
            outcome,
            status: attempt
                .result
                .as_ref()
                .map_or(0, |response| response.status),
            rid,
            connected: !matches!(
                attempt.result,
                Err(Failure::Refused | Failure::ConnectFailed(_))
            ),
            seen: seen(&attempt.result),
            reused: attempt.reused,
            written_after_signal: attempt.written_after_signal,
            ended_after_signal: attempt.ended_after_signal,
            drained: outcome == Outcome::Ok
                && !attempt.written_after_signal
                && attempt.ended_after_signal,
            ended_at: attempt.ended_at,
            took: attempt.took,
        });
        if outcome == Outcome::Refused {
            // Nothing listens any more. A real client would go to another
            // instance; spinning on connect here would only take CPU from
            // the server's drain.
            break;
        }
    }
    report
}

/// Sends `request` and reads the answer, on the client's connection if it
/// has a usable one, on a new one otherwise.
fn exchange(
    connection: &mut Option<Connection>,
    mode: Mode,
    request: &Request,
    shared: &Shared,
    report: &mut ClientReport,
) -> Attempt {
    if connection
        .as_ref()
        .is_some_and(Connection::closed_by_server)
    {
        *connection = None;
        report.closed_before_reuse += 1;
    }
    let reused = connection.is_some();
    let started = Instant::now();
    let open = match connection {
        Some(open) => open,
        None => match Connection::open(shared.addr, ANSWER_LIMIT) {
            Ok(new) => connection.insert(new),
            Err(failure) => {
                let after = shared.signalled();
                let ended_at = Instant::now();
                return Attempt {
                    reused,
                    written_after_signal: after,
                    ended_after_signal: after,
                    ended_at,
                    took: ended_at - started,
                    result: Err(failure),
                };
            }
        },
    };
    let keep_alive = mode == Mode::KeepAlive;
    let written = open.write(request, keep_alive);
    // Read after the write, not before: this thread can be preempted
    // between the two, and a request that may have left after the signal
    // must not count against the server.
    let written_after_signal = shared.signalled();
    let mut result = written.and_then(|()| open.read_response());
    let ended_at = Instant::now();
    let ended_after_signal = shared.signalled();
    if result == Err(Failure::NoAnswer { reset: false }) && open.reset_follows(RESET_WAIT) {
        result = Err(Failure::NoAnswer { reset: true });
    }
    let reusable = matches!(&result, Ok(response) if response.keep_alive && keep_alive);
    if !reusable {
        *connection = None;
    }
    Attempt {
        reused,
        written_after_signal,
        ended_after_signal,
        ended_at,
        took: ended_at - started,
        result,
    }
}

fn next_request(
    index: usize,
    rng: &mut Rng,
    shared: &Shared,
    rid: u64,
    acknowledged: &[i64],
) -> (Kind, Request) {
    let mut kind = if shared.health_only {
        Kind::Health
    } else {
        Kind::pick(index, rng)
    };
    // Reads go to bookmarks this client has seen stored, so every read has
    // an answer to find; until there is one, read the health check instead.
    if kind == Kind::Read && acknowledged.is_empty() {
        kind = Kind::Health;
    }
    let tagged = |path: String| {
        if !shared.tag_requests {
            return path;
        }
        let separator = if path.contains('?') { '&' } else { '?' };
        format!("{path}{separator}rid={rid}")
    };
    let request = match kind {
        Kind::Write => Request::post_json(
            tagged("/bookmarks".to_owned()),
            json!({
                "url": format!("https://example.com/load/{rid}"),
                "title": format!("load {rid}"),
            })
            .to_string(),
        ),
        Kind::Read => {
            let id = acknowledged[rng.usize(..acknowledged.len())];
            Request::get(tagged(format!("/bookmarks/{id}")))
        }
        Kind::Health => Request::get(tagged("/health".to_owned())),
        Kind::Slow => {
            let shortest = shared.slow_ms / 4;
            let ms = rng.u64(shortest..=shared.slow_ms);
            Request::get(tagged(format!("/slow?ms={ms}")))
        }
    };
    (kind, request)
}

/// A few words on how an attempt ended.
fn seen(result: &Result<Response, Failure>) -> &'static str {
    match result {
        Ok(_) => "answer",
        Err(Failure::Refused) => "connect refused",
        Err(Failure::ConnectFailed(_)) => "connect failed",
        Err(Failure::WriteFailed) => "write failed",
        Err(Failure::NoAnswer { reset: true }) => "reset, no answer",
        Err(Failure::NoAnswer { reset: false }) => "orderly close, no answer",
        Err(Failure::CutMidAnswer) => "cut mid-answer",
        Err(Failure::TimedOut) => "timed out",
        Err(Failure::Malformed(_)) => "malformed answer",
    }
}

fn stored_id(response: &Response) -> Option<i64> {
    serde_json::from_slice::<serde_json::Value>(&response.body)
        .ok()?
        .get("id")?
        .as_i64()
}

/// Client `index`'s generator: the `index`-th fork of one seeded by
/// `seed`, so a run's request mix can be repeated with `--seed` and no two
/// clients draw the same sequence.
pub fn client_rng(seed: u64, index: usize) -> Rng {
    let mut run = Rng::with_seed(seed);
    for _earlier_client in 0..index {
        let _ = run.fork();
    }
    run.fork()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(reused: bool, written_after: bool, ended_after: bool, failure: Failure) -> Attempt {
        Attempt {
            reused,
            written_after_signal: written_after,
            ended_after_signal: ended_after,
            ended_at: Instant::now(),
            took: Duration::ZERO,
            result: Err(failure),
        }
    }

    const EOF: Failure = Failure::NoAnswer { reset: false };
    const RESET: Failure = Failure::NoAnswer { reset: true };

    #[test]
    fn answers_are_ok_or_errors() {
        let answered = |status| Attempt {
            reused: false,
            written_after_signal: true,
            ended_after_signal: true,
            ended_at: Instant::now(),
            took: Duration::ZERO,
            result: Ok(Response {
                status,
                body: Vec::new(),
                keep_alive: false,
            }),
        };
        assert_eq!(classify(&answered(201)), Outcome::Ok);
        assert_eq!(classify(&answered(503)), Outcome::Error);
    }

    #[test]
    fn a_connection_dropped_with_no_shutdown_under_way_is_broken() {
        for failure in [EOF, RESET, Failure::WriteFailed] {
            assert_eq!(
                classify(&attempt(true, false, false, failure)),
                Outcome::Broken
            );
        }
    }

    #[test]
    fn a_request_read_and_then_dropped_is_broken() {
        // Written before the signal, closed in order after it: step 1 dying
        // with the request in its hands.
        assert_eq!(classify(&attempt(true, false, true, EOF)), Outcome::Broken);
        assert_eq!(classify(&attempt(false, false, true, EOF)), Outcome::Broken);
        assert_eq!(
            classify(&attempt(false, false, true, Failure::CutMidAnswer)),
            Outcome::Broken
        );
    }

    #[test]
    fn the_keep_alive_race_is_unknown() {
        // The server closed the idle connection as the request went out:
        // it reset (request unread), or its FIN crossed a request written
        // after the signal.
        assert_eq!(
            classify(&attempt(true, false, true, RESET)),
            Outcome::Unknown
        );
        assert_eq!(classify(&attempt(true, true, true, EOF)), Outcome::Unknown);
        assert_eq!(
            classify(&attempt(true, true, true, Failure::WriteFailed)),
            Outcome::Unknown
        );
    }

    #[test]
    fn a_refusal_before_the_signal_is_an_error() {
        assert_eq!(
            classify(&attempt(false, false, false, Failure::Refused)),
            Outcome::Error
        );
    }

    #[test]
    fn a_new_connection_closed_unread_is_a_late_refusal() {
        assert_eq!(
            classify(&attempt(false, false, true, RESET)),
            Outcome::Refused
        );
        assert_eq!(classify(&attempt(false, true, true, EOF)), Outcome::Refused);
        assert_eq!(
            classify(&attempt(false, true, true, Failure::Refused)),
            Outcome::Refused
        );
    }

    #[test]
    fn the_request_mix_repeats_with_its_seed() {
        let draw = |seed, index| {
            let mut rng = client_rng(seed, index);
            (0..100).map(|_| rng.u8(..100)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1, 3), draw(1, 3));
        assert_ne!(draw(1, 3), draw(2, 3), "another seed");
        assert_ne!(draw(1, 3), draw(1, 4), "another client");
    }
}
