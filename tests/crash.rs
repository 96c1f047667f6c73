//! Crash consistency: a step killed with SIGKILL in the middle of a burst of
//! writes leaves a sound database that holds every write it acknowledged.
//!
//! SIGKILL cannot be caught, so no step's shutdown code runs: this is the
//! case graceful shutdown cannot cover, and the one a supervisor falls back
//! to when a drain takes too long. What keeps the data is SQLite. Each
//! `POST /bookmarks` commits before it answers `201`, and in write-ahead-log
//! mode a committed transaction is in the `-wal` file (in the kernel's page
//! cache) the moment `COMMIT` returns; the kernel writes it out whether or
//! not the process lives on. The WAL is not replayed: the next connection
//! reads committed frames from the `-wal` file until a checkpoint moves
//! them into the database file; frames without a commit are ignored.
//! (A power cut is another matter: see `src/store.rs` on
//! `synchronous = NORMAL`.)

use std::{
    collections::HashSet,
    os::unix::process::ExitStatusExt,
    path::Path,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use libtest2_mimic::Trial;
use serde_json::json;
use tools::{
    client::client,
    harness::{Launch, Signal},
};

/// This file's tests, for `tests/steps.rs` to run.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        step1_sigkill_under_write_load_loses_no_acknowledged_write,
        step2_sigkill_under_write_load_loses_no_acknowledged_write,
        step3_sigkill_under_write_load_loses_no_acknowledged_write,
        step4_sigkill_under_write_load_loses_no_acknowledged_write,
    ]
}

/// Concurrent writers, each on a keep-alive connection of its own.
const WRITERS: usize = 4;

/// Acknowledged writes to see before the kill, so that it lands in the
/// middle of a burst rather than before the first commit.
const ACKS_BEFORE_KILL: usize = 100;

/// Bounds on the burst: every writer stops at one or the other even if
/// the server never goes away.
const BURST_LIMIT: Duration = Duration::from_secs(10);
const MAX_WRITES_PER_WRITER: usize = 10_000;

/// Why a writer stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stopped {
    /// A request failed: the server was gone. What the kill should cause.
    ServerGone,
    /// A bound was reached first: the kill never came.
    Bounded,
}

/// Posts bookmarks until a request fails or a bound is reached, sending
/// the id of every write answered `201` over `acknowledged`.
fn write_until_the_server_is_gone(
    writer: usize,
    url: &str,
    acknowledged: mpsc::Sender<i64>,
    until: Instant,
) -> Stopped {
    // One agent per writer: it keeps its connection alive between writes,
    // so the kill also finds connections idle between two requests.
    let agent = client(Duration::from_secs(5));
    for n in 0..MAX_WRITES_PER_WRITER {
        if Instant::now() >= until {
            return Stopped::Bounded;
        }
        let body = json!({
            "url": format!("https://example.com/crash/{writer}/{n}"),
            "title": format!("writer {writer}, write {n}"),
        });
        let answer = agent.post(url).send_json(&body).and_then(|mut response| {
            let status = response.status().as_u16();
            let body: serde_json::Value = response.body_mut().read_json()?;
            Ok((status, body))
        });
        let Ok((status, body)) = answer else {
            return Stopped::ServerGone;
        };
        assert_eq!(status, 201, "POST answered {status}: {body}");
        let id = body["id"].as_i64().expect("a stored bookmark has an id");
        if acknowledged.send(id).is_err() {
            return Stopped::Bounded;
        }
    }
    Stopped::Bounded
}

/// The ids in the database, and what `PRAGMA integrity_check` says of it.
fn open_after_crash(db_path: &Path) -> (HashSet<i64>, String) {
    // Opened read-write, as the next start of the service would: this
    // connection reads the committed frames from the `-wal` file the killed
    // process left behind.
    let conn = rusqlite::Connection::open(db_path).expect("open the database");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check");
    let mut select = conn.prepare("SELECT id FROM bookmarks").unwrap();
    let ids = select
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (ids, integrity)
}

/// SIGKILL under write load: the database passes `integrity_check` and
/// holds every write that was answered `201`.
fn sigkill_under_write_load_keeps_every_acknowledged_write(bin: &str) {
    // Arrange: writers hammering the step. Only warnings and the step's
    // own lines are logged, so the log pipe costs the burst nothing.
    let mut server = Launch::new(bin)
        .env("RUST_LOG", format!("warn,{bin}=info"))
        .start();
    let url = server.url("/bookmarks");
    let until = Instant::now() + BURST_LIMIT;
    let (acknowledge, acknowledged) = mpsc::channel();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let url = url.clone();
            let acknowledge = acknowledge.clone();
            thread::spawn(move || write_until_the_server_is_gone(writer, &url, acknowledge, until))
        })
        .collect();
    drop(acknowledge);

    // Act: kill it mid-burst.
    let mut ids = Vec::new();
    while ids.len() < ACKS_BEFORE_KILL {
        let left = until.saturating_duration_since(Instant::now());
        match acknowledged.recv_timeout(left) {
            Ok(id) => ids.push(id),
            Err(_) => panic!("only {} writes acknowledged in {BURST_LIMIT:?}", ids.len()),
        }
    }
    server.signal(Signal::SIGKILL);
    let status = server.expect_exit(Duration::from_secs(5));
    // Writes answered between the hundredth and the kill count too. The
    // channel ends when the last writer has stopped, and each stops at its
    // first failed request, or at a bound.
    ids.extend(acknowledged.iter());
    let stopped: Vec<Stopped> = writers
        .into_iter()
        .map(|writer| writer.join().expect("writer thread"))
        .collect();

    // Assert
    assert_eq!(status.signal(), Some(Signal::SIGKILL as i32), "{status:?}");
    assert!(
        stopped.iter().all(|why| *why == Stopped::ServerGone),
        "the kill landed mid-burst: every writer was still writing ({stopped:?})"
    );
    // No close ran, so no checkpoint: the write-ahead log is still beside
    // the database, and the rows below are read from it.
    let wal = server.db_path.with_extension("db-wal");
    assert!(wal.exists(), "{} left behind by the kill", wal.display());
    let (stored, integrity) = open_after_crash(&server.db_path);
    assert_eq!(integrity, "ok", "PRAGMA integrity_check");
    let missing: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| !stored.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes missing after SIGKILL: {missing:?}",
        missing.len(),
        ids.len()
    );
    println!(
        "{bin}: SIGKILL after {} acknowledged writes; {} rows in the database, integrity ok",
        ids.len(),
        stored.len()
    );
}

// ANCHOR: crash_tests
/// Step 1, which has no shutdown at all, loses no acknowledged write to
/// SIGKILL: durability is the database's job, not the shutdown's.
fn step1_sigkill_under_write_load_loses_no_acknowledged_write() {
    sigkill_under_write_load_keeps_every_acknowledged_write("step1");
}

/// Step 2: the same, though its drain never gets to run.
fn step2_sigkill_under_write_load_loses_no_acknowledged_write() {
    sigkill_under_write_load_keeps_every_acknowledged_write("step2");
}

/// Step 3: the same.
fn step3_sigkill_under_write_load_loses_no_acknowledged_write() {
    sigkill_under_write_load_keeps_every_acknowledged_write("step3");
}

/// Step 4: the same, and its close of the database never runs either.
fn step4_sigkill_under_write_load_loses_no_acknowledged_write() {
    sigkill_under_write_load_keeps_every_acknowledged_write("step4");
}
// ANCHOR_END: crash_tests
