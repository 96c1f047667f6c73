//! The behaviours the book claims, one function each, run against any
//! binary: `cargo test` runs them on the reference steps and the one-file
//! example, and the workbook runs the very same functions on the reader's
//! lesson binaries. Which check applies to which binary is declared once,
//! in [`crate::matrix`]; a check is handed the [`Binary`] and what it has.
//! Grouped by the step whose idea they check: one file per family.
//!
//! A check panics, with the child's output, when the behaviour is missing.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    os::unix::{net::UnixDatagram, process::ExitStatusExt},
    path::Path,
    process::ExitStatus,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::json;

pub use crate::harness::Signal;
pub use crate::matrix::Binary;
use crate::{
    client::{
        Answer, get, half_request, idle_keep_alive, post_json, slow_request_in_flight,
        wait_until_refused,
    },
    harness::{Server, assert_exit_code, describe_status, line_index},
    http::{Connection, Request},
};
use tungstenite::{Message, WebSocket, protocol::frame::coding::CloseCode};

mod drain;
pub use drain::*;
mod deadline;
pub use deadline::*;
mod second_signal;
pub use second_signal::*;
mod bound;
pub use bound::*;
mod workers;
pub use workers::*;
mod ready;
pub use ready::*;
mod accept;
pub use accept::*;
mod restart;
pub use restart::*;

// The failure messages: a check that fails says what the server failed to
// do, in the terms of the contract (the log lines, the settings), and how
// far its stop got; the harness adds the whole output below it.

/// What the absence of a log line the checks look for means, in a
/// reader's terms (empty if the line speaks for itself). `held`: the
/// process is still there after its cut-off.
fn absence_of(line: &str, held: bool) -> &'static str {
    match line {
        "server starting" => "the server did not start",
        "shutting down" => "the signal was not handled: no drain began",
        "not ready" => {
            "the signal did not make the server say it is not ready (`/ready` 503) before \
             the drain"
        }
        "shutdown timed out" => "nothing ended the drain at its deadline",
        "forced shutdown" => "the second signal did not cut the stop short",
        "abandoned" => "nothing cut off what was still in flight",
        "requests drained" => "the stop did not log the end of the request drain",
        "stopping workers" => "the stop did not log that it is stopping the workers",
        "workers stopped" => "the stop did not log that the workers have stopped",
        "database closed" if held => {
            "the cut-off ran, yet the database close has not returned: something still \
             holds the connection (a statement still running?)"
        }
        "database closed" => "the database has not been closed",
        "closing the database failed" => {
            "the close is still waiting for the connection, which something still holds (a \
             query waiting for another connection's lock): it did not give up at the bound"
        }
        "server stopped" => "the stop did not run to its end",
        "request closed unanswered during the drain" => {
            "nothing closed the half-sent request head at HEADER_TIMEOUT"
        }
        line if line.starts_with("visits flushed") => {
            "the visits counted in memory were not written at the stop"
        }
        _ => "",
    }
}

/// `no `line` line`, and what that means.
fn no_line(line: &str, held: bool) -> String {
    match absence_of(line, held) {
        "" => format!("no `{line}` line"),
        meaning => format!("no `{line}` line: {meaning}"),
    }
}

/// How a process ended, for a message: a SIGTERM or SIGINT that killed it
/// was not handled.
fn how_it_ended(status: ExitStatus) -> String {
    match status.signal() {
        Some(signal) if signal == Signal::SIGTERM as i32 || signal == Signal::SIGINT as i32 => {
            format!(
                "killed by {}: nothing handled the signal, so the process ended at once, \
                 with no drain and no cleanup",
                describe_status(status)
            )
        }
        Some(_) => format!("killed by {}", describe_status(status)),
        None => format!("exit status {}", describe_status(status)),
    }
}

/// The first of `expected` (a stop's lines, in order) the log lacks.
fn first_missing<'a>(server: &Server, expected: &[&'a str]) -> Option<&'a str> {
    let logs = server.logs();
    expected
        .iter()
        .copied()
        .find(|line| !logs.iter().any(|logged| logged.contains(line)))
}

/// Waits at most `limit` for a log line with `needle`, the last of
/// `expected` (the lines of the stop up to it, in order), and returns it.
/// Fails saying how far the stop got, counted from `after` (`"the
/// SIGTERM (SHUTDOWN_TIMEOUT=500ms)"`).
#[track_caller]
pub fn expect_log(server: &mut Server, expected: &[&str], limit: Duration, after: &str) -> String {
    let needle = expected.last().expect("a line to wait for");
    if let Some((_, line)) = server.wait_for_line(0, limit, |text| text.contains(needle)) {
        return line.text;
    }
    // The wait also ends when the output closes: the process is ending,
    // and is reaped a moment later.
    let ended = server.wait_exit(Duration::from_millis(200));
    let held = ended.is_none() && server.has_log("abandoned");
    let why = match first_missing(server, expected) {
        Some(missing) if missing != *needle => {
            format!("and before it, {}", no_line(missing, held))
        }
        _ => absence_of(needle, held).to_owned(),
    };
    let state = match ended {
        Some(status) => format!("the process is gone ({})", how_it_ended(status)),
        None => "the process is still running".to_owned(),
    };
    panic!(
        "{}: no `{needle}` line within {limit:?} of {after}: {why}; {state}",
        server.name
    );
}

/// Waits at most `limit` for the exit, and returns the status. Fails
/// saying how far the stop got (its lines `expected`, in order), counted
/// from `after`.
#[track_caller]
pub fn expect_exit_after(
    server: &mut Server,
    limit: Duration,
    after: &str,
    expected: &[&str],
) -> ExitStatus {
    if let Some(status) = server.wait_exit(limit) {
        return status;
    }
    let got = match first_missing(server, expected) {
        Some(missing) => no_line(missing, server.has_log("abandoned")),
        None => format!(
            "`{}` is logged, yet the process is still there: something outlives the stop \
             (the runtime, dropped at the end of `main`, waits for every blocking thread)",
            expected.last().unwrap_or(&"server stopped")
        ),
    };
    panic!(
        "{} still running {limit:?} after {after}: {got}",
        server.name
    );
}

/// Sends SIGTERM and asserts a clean stop: exit 0 within 5 s. A stop
/// still running by then fails saying how far it got (`expected`, its
/// lines in order), counted from `after`.
#[track_caller]
pub fn sigterm_stops_cleanly(server: &mut Server, after: &str, expected: &[&str]) {
    server.signal(Signal::SIGTERM);
    let status = expect_exit_after(server, Duration::from_secs(5), after, expected);
    assert_exit_status(status, 0);
}

/// Asserts the exit status is `code`, naming a signal nobody handled.
#[track_caller]
pub fn assert_exit_status(status: ExitStatus, code: i32) {
    if status.code().is_none() {
        panic!("expected exit {code}, {}", how_it_ended(status));
    }
    assert_exit_code(status, code);
}

/// Asserts that each line is in the logs, each after the one before, and
/// returns the index of each; a line missing is named with what its
/// absence means.
#[track_caller]
pub fn assert_logged_in_order(logs: &[String], lines: &[&str]) -> Vec<usize> {
    if let Some(line) = lines
        .iter()
        .find(|line| !logs.iter().any(|logged| logged.contains(*line)))
    {
        panic!(
            "{}; expected these lines, in this order: {lines:?}",
            no_line(line, false)
        );
    }
    crate::harness::assert_logged_in_order(logs, lines)
}

// ANCHOR: promptly
/// Bounds for "promptly": far above what the steps need (a few
/// milliseconds), far below the deadlines the tests would otherwise hit.
pub const PROMPTLY: Duration = Duration::from_secs(2);
// ANCHOR_END: promptly

// ANCHOR: bound
/// The contract's bound: the process is gone at most 250 ms after the
/// drain deadline or a second signal, whatever is in flight (step 5 on;
/// steps 3 and 4 keep it for async work and connections). The tests assert
/// it as stated, and print what they measured; `scripts/bound.sh` gives
/// the distribution.
pub const BOUND: Duration = Duration::from_millis(250);

/// The `SHUTDOWN_TIMEOUT` every test sets unless it needs another.
pub const DEADLINE: Duration = Duration::from_millis(500);
// ANCHOR_END: bound

// ANCHOR: slow_in_flight
/// Starts `GET /slow?ms=60000&mode=…` in a thread and returns once the
/// handler has logged `slow request started` for it: work of that kind is
/// in flight, and will be for a minute.
#[track_caller]
pub fn slow_in_flight(server: &Server, mode: &str) -> thread::JoinHandle<Answer> {
    let from = server.line_count();
    let url = server.url(&format!("/slow?ms=60000&mode={mode}"));
    let request = thread::spawn(move || get(&url, Duration::from_secs(70)));
    let field = format!("mode={mode}");
    let started = server.wait_for_line(from, Duration::from_secs(10), |text| {
        text.contains("slow request started") && text.split_whitespace().any(|word| word == field)
    });
    assert!(started.is_some(), "mode={mode} never started");
    request
}
// ANCHOR_END: slow_in_flight

// ANCHOR: abandoned
/// What the `abandoned` line of a cut-off counted: requests, blocking
/// tasks, queries, connections.
#[track_caller]
pub fn abandoned(logs: &[String]) -> [usize; 4] {
    let line = &logs[line_index(logs, "abandoned requests=")];
    ["requests", "blocking", "queries", "connections"].map(|name| {
        let value = line
            .split_whitespace()
            .find_map(|field| field.strip_prefix(&format!("{name}=")));
        match value {
            Some(value) => value
                .parse()
                .unwrap_or_else(|_| panic!("{name}={value} in {line:?}")),
            // A service without a database (the one-file example) has no
            // queries to count.
            None if name == "queries" => 0,
            None => panic!("no {name}= in {line:?}"),
        }
    })
}

/// Asserts the `abandoned` line: the requests, blocking tasks and queries
/// exactly; at least `connections` connections (one that just answered may
/// not be closed yet).
#[track_caller]
pub fn assert_abandoned(
    logs: &[String],
    requests: usize,
    blocking: usize,
    queries: usize,
    connections: usize,
) {
    let [r, b, q, c] = abandoned(logs);
    assert_eq!(
        (r, b, q),
        (requests, blocking, queries),
        "abandoned requests, blocking, queries"
    );
    assert!(
        c >= connections,
        "abandoned {c} connections, expected {connections} or more"
    );
}
// ANCHOR_END: abandoned

/// A step whose only work in flight at the cut-off is the test's own, so
/// that the `abandoned` counts are exact. From step 5 on, two workers
/// could queue a database call behind a running query, and be counted
/// with it: the visit flush, every second by default (here every hour),
/// and the link checker's first pass, made at start (here waited for).
fn launch_counted(bin: &Binary, deadline: &str) -> Server {
    let server = bin
        .launch()
        .env("SHUTDOWN_TIMEOUT", deadline)
        .env("FLUSH_INTERVAL", "1h")
        .env("RUST_LOG", "info,bookmarks::link_check=debug")
        .start();
    // Not asserted: lesson 6 as shipped is step 5, which has no workers and
    // must pass the checks of step 5 (`cargo xtask check`); it only costs
    // the wait.
    if bin.has.workers {
        server.wait_for_line(0, PROMPTLY, |line| {
            line.contains("link check pass finished")
        });
    }
    server
}

// ANCHOR: assert_cut_query_rolled_back
/// After a stop that cut `/slow?mode=query` off: its bookmark is not in the
/// database, the database is sound, and it was closed cleanly (the last
/// close checkpoints the write-ahead log and deletes it).
#[track_caller]
pub fn assert_cut_query_rolled_back(db_path: &Path) {
    let wal = db_path.with_extension("db-wal");
    assert!(
        !wal.exists(),
        "{} left behind: not closed cleanly",
        wal.display()
    );
    let conn = rusqlite::Connection::open(db_path).expect("open the database");
    assert_sound_without_the_query(&conn);
}

/// The database is sound, and holds no row of a cut-off `/slow?mode=query`.
#[track_caller]
pub fn assert_sound_without_the_query(conn: &rusqlite::Connection) {
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    assert_eq!(slow_query_rows(conn), 0, "the cut-off query's row is there");
}

/// How many `/slow?mode=query` bookmarks the database holds.
pub fn slow_query_rows(conn: &rusqlite::Connection) -> i64 {
    conn.query_row(
        "SELECT COUNT(*) FROM bookmarks WHERE url = 'https://example.com/slow-query'",
        [],
        |row| row.get(0),
    )
    .unwrap()
}
// ANCHOR_END: assert_cut_query_rolled_back

// ANCHOR: stops_within_the_bound
/// The lines of a stop cut off at its deadline, in order (the database
/// line only where the binary has a database: [`with_database`]).
pub const CUT_OFF_LINES: &[&str] = &[
    "shutting down",
    "shutdown timed out",
    "abandoned",
    "database closed",
    "server stopped",
];

/// Sends SIGTERM and asserts the process exits with status 1 after the
/// deadline and within the bound (asserted generously) of it, having
/// logged the cut-off in order. Returns how long after the deadline it
/// exited.
#[track_caller]
fn assert_cut_at_the_deadline(bin: &Binary, server: &mut Server, what: &str) -> Duration {
    let stop = with_database(bin, CUT_OFF_LINES);
    let sent = server.signal(Signal::SIGTERM);
    let after = format!("the SIGTERM (SHUTDOWN_TIMEOUT={DEADLINE:?}; in flight: {what})");
    let status = expect_exit_after(server, DEADLINE + BOUND + PROMPTLY, &after, &stop);
    let took = sent.elapsed();

    assert!(
        took >= DEADLINE,
        "{what}: exited ({}) {took:?} after the signal, before the {DEADLINE:?} deadline: \
         the stop should have waited for it until the deadline, then cut it off (exit 1)",
        how_it_ended(status)
    );
    assert_exit_status(status, 1);
    let past = took - DEADLINE;
    assert!(
        past < BOUND,
        "{what}: exited {past:?} after the deadline (the bound is {BOUND:?})"
    );
    assert_logged_in_order(&server.logs(), &stop);
    // What was cut off ended: no wait after the deadline ran out.
    assert!(
        !server.has_log("left behind"),
        "{what}: the server task still ran after the cut-off (the log says `left behind`): \
         every connection must end once cut off, and `serve` must have been told to stop \
         at the drain"
    );
    println!("{what}: exit {past:?} after the {DEADLINE:?} deadline");
    past
}
// ANCHOR_END: stops_within_the_bound

// ANCHOR: half_request_in_flight
/// Sends half a request line on one connection and returns it once the
/// server is serving it: a full request on a second connection, accepted
/// after the first, has been answered.
fn half_request_in_flight(server: &Server) -> TcpStream {
    let half = half_request(server.addr());
    assert_eq!(
        get(&server.url("/health"), PROMPTLY),
        Ok((200, "ok".into()))
    );
    half
}
// ANCHOR_END: half_request_in_flight

// ANCHOR: still_draining
/// Sends SIGTERM and asserts that the drain starts and is still going three
/// seconds later: six times the `SHUTDOWN_TIMEOUT` every test sets, which a
/// step without a deadline does not read.
#[track_caller]
fn assert_signal_leaves_it_draining(server: &mut Server) {
    server.signal(Signal::SIGTERM);
    expect_log(server, &["shutting down"], PROMPTLY, "the SIGTERM");

    assert_eq!(
        server.wait_exit(Duration::from_secs(3)),
        None,
        "step 2 has no deadline: it must still be draining"
    );
    assert!(
        !server.has_log("server stopped"),
        "the server stopped while a request was still in flight"
    );
}
// ANCHOR_END: still_draining

// ANCHOR: stored_ids
/// The ids in the database file, read after the server has exited.
pub fn stored_ids(db_path: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db_path).expect("open the database");
    let mut stmt = conn
        .prepare("SELECT id FROM bookmarks ORDER BY id")
        .unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}
// ANCHOR_END: stored_ids

// ANCHOR: create_bookmarks
/// Adds `n` bookmarks through the API and returns their ids.
#[track_caller]
pub fn create_bookmarks(server: &Server, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let body =
                json!({ "url": format!("https://example.com/{i}"), "title": format!("page {i}") });
            let (status, body) = post_json(&server.url("/bookmarks"), &body).expect("POST");
            assert_eq!(status, 201, "{body}");
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
                .as_i64()
                .expect("an id")
        })
        .collect()
}
// ANCHOR_END: create_bookmarks

// ANCHOR: stored_visits
/// The total in `visit_counts` for `id`, read after the server exited.
pub fn stored_visits(db_path: &Path, id: i64) -> i64 {
    let conn = rusqlite::Connection::open(db_path).expect("open the database");
    conn.query_row(
        "SELECT COALESCE(SUM(visits), 0) FROM visit_counts WHERE bookmark_id = ?1",
        [id],
        |row| row.get(0),
    )
    .expect("visit_counts")
}
// ANCHOR_END: stored_visits

// ANCHOR: assert_units_whole
/// Asserts that the link checker's history holds only whole units: every
/// unit has exactly the links it says, and no link belongs to a unit that
/// was never committed. Returns the number of units.
#[track_caller]
pub fn assert_units_whole(db_path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db_path).expect("open the database");
    let broken: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM check_units u
             WHERE u.links != (SELECT COUNT(*) FROM link_checks c WHERE c.unit = u.id)",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let orphans: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM link_checks c
             WHERE NOT EXISTS (SELECT 1 FROM check_units u WHERE u.id = c.unit)",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!((broken, orphans), (0, 0), "half-written units");
    conn.query_row("SELECT COUNT(*) FROM check_units", [], |row| row.get(0))
        .unwrap()
}
// ANCHOR_END: assert_units_whole

/// `lines` without `database closed` for a binary with no database.
pub fn with_database<'a>(bin: &Binary, lines: &[&'a str]) -> Vec<&'a str> {
    lines
        .iter()
        .copied()
        .filter(|line| bin.has.database || *line != "database closed")
        .collect()
}
