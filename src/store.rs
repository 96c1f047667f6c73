//! The SQLite store behind the API.
//!
//! rusqlite is a synchronous library: every call may wait on the disk. Run on
//! one of tokio's few worker threads, such a call would stall every other
//! connection scheduled there, so each operation goes through
//! [`tokio::task::spawn_blocking`], onto the pool of threads meant for
//! blocking work. The one connection sits behind a mutex: SQLite lets a
//! single writer in at a time anyway, and one connection means one place to
//! close.
//!
//! A blocking call cannot be cancelled: dropping the future that awaits it
//! leaves it running, and holding the mutex. So the store can also *cut
//! off* its calls, for a shutdown whose deadline has passed: see
//! [`Store::cut_off`].

use std::{
    future::Future,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering::SeqCst},
    },
    time::{Duration, Instant},
};

use rusqlite::{Connection, InterruptHandle, OptionalExtension, functions::FunctionFlags, params};

use crate::shutdown::in_flight;
use serde::Serialize;
use tokio::sync::broadcast;

/// A stored bookmark, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bookmark {
    pub id: i64,
    pub url: String,
    pub title: String,
    pub created_at: String,
}

/// What can go wrong talking to the database.
#[derive(Debug)]
pub enum StoreError {
    /// [`Store::close`] has run: the process is shutting down.
    Closed,
    /// [`Store::cut_off`] stopped the call, or it never ran: the shutdown's
    /// deadline has passed.
    CutOff,
    /// The caller stopped waiting (see [`before`],
    /// [`Store::close_or_give_up`]); the call may still run.
    GaveUp,
    Sqlite(rusqlite::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Closed => f.write_str("the database is closed"),
            StoreError::CutOff => f.write_str("cut off by the shutdown"),
            StoreError::GaveUp => f.write_str("gave up waiting for the database"),
            StoreError::Sqlite(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Sqlite(err)
    }
}

/// A handle to the database, cheap to clone into every request.
#[derive(Clone)]
pub struct Store {
    // `None` once closed: handlers that still hold a clone get
    // `StoreError::Closed` instead of a connection that no longer exists.
    conn: Arc<Mutex<Option<Connection>>>,
    // Taken when the connection opens: it reaches the connection from any
    // thread, without the mutex that a running call holds.
    interrupt: Arc<InterruptHandle>,
    cut_offs: Arc<CutOffs>,
    // The cut-offs this handle has moved past: 0 for every handle but the
    // one a shutdown keeps for its last writes (see `cut_off`).
    past: u64,
    // Every bookmark inserted, for whoever listens (step 7's streams). Sent
    // from `insert` itself, so that no middleware on every request has to
    // look for the one that creates.
    inserted: broadcast::Sender<Bookmark>,
}

/// The bookmark that `GET /slow?mode=query` writes in its transaction.
const SLOW_QUERY_URL: &str = "https://example.com/slow-query";
const SLOW_QUERY_TITLE: &str = "slow query";

/// What the store needs to tell a call it must stop from one it must run.
#[derive(Default)]
struct CutOffs {
    /// How many times [`Store::cut_off`] has run.
    count: AtomicU64,
    /// The cut-offs that the handle of the call now on the connection had
    /// moved past.
    running: AtomicU64,
}

impl CutOffs {
    /// Whether the call on the connection is one a cut-off left behind.
    fn running_call_is_cut_off(&self) -> bool {
        self.running.load(SeqCst) != self.count.load(SeqCst)
    }
}

/// How many virtual-machine steps SQLite runs between two looks at the
/// cut-off: a few microseconds of work.
const CUT_OFF_CHECK_STEPS: i32 = 1000;

/// One statement that keeps SQLite busy for `?1` milliseconds: it counts
/// up, a row at a time, until the clock passes the end it read at the start.
const SPIN: &str = "
    WITH RECURSIVE spin(n, until) AS (
        SELECT 0, clock_us() + ?1 * 1000
        UNION ALL
        SELECT n + 1, until FROM spin WHERE clock_us() < until
    )
    SELECT max(n) FROM spin
";

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS bookmarks (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        url        TEXT NOT NULL,
        title      TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
";

impl Store {
    /// Opens (or creates) the database and its schema.
    ///
    /// A committed transaction survives the process being killed right
    /// after `COMMIT`, in any journal mode. Write-ahead logging (WAL) is
    /// chosen so that readers and the writer do not block each other
    /// (<https://www.sqlite.org/wal.html>). With `synchronous = NORMAL` a
    /// commit is not synced to disk, so it survives a crash of the process
    /// (what this course is about) but not necessarily a power cut
    /// (<https://www.sqlite.org/pragma.html#pragma_synchronous>).
    pub fn open(path: &str) -> Result<Store, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // `:memory:` answers "memory" here: it has no file to log beside.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        // A clock that SQL can read, in microseconds since the store opened:
        // `slow_query` checks it at every row, so one statement runs for
        // as long as asked. Not deterministic, so SQLite calls it each time.
        let opened = Instant::now();
        conn.create_scalar_function("clock_us", 0, FunctionFlags::SQLITE_UTF8, move |_| {
            Ok(i64::try_from(opened.elapsed().as_micros()).unwrap_or(i64::MAX))
        })?;
        // ANCHOR: progress_handler
        // Every CUT_OFF_CHECK_STEPS steps of any statement, SQLite asks this
        // whether to go on. `true` stops the statement with SQLITE_INTERRUPT,
        // as `sqlite3_interrupt` would; unlike that call's flag, which
        // SQLite clears when the next statement starts, this answer stays
        // `true` for every statement of a call that was cut off.
        let cut_offs = Arc::new(CutOffs::default());
        let checked = Arc::clone(&cut_offs);
        conn.progress_handler(
            CUT_OFF_CHECK_STEPS,
            Some(move || checked.running_call_is_cut_off()),
        )?;
        // ANCHOR_END: progress_handler
        Ok(Store {
            interrupt: Arc::new(conn.get_interrupt_handle()),
            cut_offs,
            past: 0,
            conn: Arc::new(Mutex::new(Some(conn))),
            inserted: broadcast::channel(64).0,
        })
    }

    // ANCHOR: call
    /// Runs `op` on the connection, off the async worker threads. Later
    /// steps use it for tables of their own.
    ///
    /// After a [`cut_off`](Store::cut_off), a call through any handle but
    /// the one that cut off does not run: stopped if it is running, its
    /// transaction rolled back; refused if it is waiting for the connection
    /// or comes later, from a handler or worker not yet dropped.
    pub(crate) async fn call<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let cut_offs = Arc::clone(&self.cut_offs);
        let past = self.past;
        let in_flight = in_flight::QUERIES.enter();
        let joined = tokio::task::spawn_blocking(move || {
            let _in_flight = in_flight;
            let mut guard = lock(&conn);
            let conn = guard.as_mut().ok_or(StoreError::Closed)?;
            // Marked running first, checked second: a cut-off between the
            // two is caught by the progress handler, at the first statement.
            cut_offs.running.store(past, SeqCst);
            if cut_offs.running_call_is_cut_off() {
                return Err(StoreError::CutOff);
            }
            let result = op(conn);
            if !conn.is_autocommit() {
                // The op left its transaction open: its own rollback (a
                // `Transaction` dropped on error) was stopped by the cut-off
                // too. Roll back here, out of the cut-off's reach, so the
                // next call does not run inside it.
                cut_offs.running.store(cut_offs.count.load(SeqCst), SeqCst);
                conn.execute_batch("ROLLBACK")?;
            }
            result.map_err(|err| match err.sqlite_error_code() {
                Some(rusqlite::ErrorCode::OperationInterrupted) => StoreError::CutOff,
                _ => StoreError::Sqlite(err),
            })
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(err) => match err.try_into_panic() {
                // The closure does not panic on its own; if it ever did,
                // that is a bug worth crashing the request over, and the
                // handler's panic catcher turns it into a 500.
                Ok(panic) => std::panic::resume_unwind(panic),
                // Cancelled, not panicked: the runtime shut down before the
                // call could start.
                Err(_cancelled) => Err(StoreError::CutOff),
            },
        }
    }
    // ANCHOR_END: call

    // ANCHOR: cut_off
    /// Cuts off every other handle's calls, for a shutdown past its
    /// deadline: the statement running stops with SQLITE_INTERRUPT and its
    /// transaction is rolled back; calls waiting for the connection, or
    /// made later, through a clone held by a handler or a worker, do not
    /// run. This handle moves past the cut-off: the shutdown's last writes
    /// go through it, and the close.
    pub fn cut_off(&mut self) {
        self.past = self.cut_offs.count.fetch_add(1, SeqCst) + 1;
        // The progress handler would stop the statement within
        // CUT_OFF_CHECK_STEPS steps; `sqlite3_interrupt` also reaches into
        // the long single steps (a sort, a checkpoint) that it cannot.
        self.interrupt.interrupt();
    }
    // ANCHOR_END: cut_off

    pub async fn insert(&self, url: String, title: String) -> Result<Bookmark, StoreError> {
        let bookmark = self
            .call(move |conn| {
                let mut insert = conn.prepare_cached(
                    "INSERT INTO bookmarks (url, title) VALUES (?1, ?2)
                     RETURNING id, url, title, created_at",
                )?;
                let mut rows = insert.query(params![url, title])?;
                let bookmark = match rows.next()? {
                    Some(row) => row_to_bookmark(row)?,
                    None => return Err(rusqlite::Error::QueryReturnedNoRows),
                };
                // Step the statement to its end. SQLite finishes the write,
                // and runs its automatic checkpoint of the write-ahead log,
                // only when the statement completes; stopped at the first
                // row (as `query_row` does), the log grows without bound and
                // all the checkpointing waits for `close`.
                while rows.next()?.is_some() {}
                Ok(bookmark)
            })
            .await?;
        // No listener is the usual case, and not an error.
        let _ = self.inserted.send(bookmark.clone());
        Ok(bookmark)
    }

    /// Every bookmark inserted from now on, through any handle. A receiver
    /// that falls more than 64 behind skips the ones it missed.
    pub fn subscribe_inserted(&self) -> broadcast::Receiver<Bookmark> {
        self.inserted.subscribe()
    }

    pub(crate) async fn list(&self) -> Result<Vec<Bookmark>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT id, url, title, created_at FROM bookmarks ORDER BY id")?;
            let rows = stmt.query_map([], row_to_bookmark)?;
            rows.collect()
        })
        .await
    }

    pub(crate) async fn get(&self, id: i64) -> Result<Option<Bookmark>, StoreError> {
        self.call(move |conn| {
            conn.query_row(
                "SELECT id, url, title, created_at FROM bookmarks WHERE id = ?1",
                [id],
                row_to_bookmark,
            )
            .optional()
        })
        .await
    }

    /// Returns whether a bookmark was there to delete.
    pub(crate) async fn delete(&self, id: i64) -> Result<bool, StoreError> {
        self.call(move |conn| Ok(conn.execute("DELETE FROM bookmarks WHERE id = ?1", [id])? > 0))
            .await
    }

    /// `GET /slow?mode=query`: one write transaction that inserts the
    /// bookmark [`SLOW_QUERY_URL`], keeps SQLite busy for about `busy_for`
    /// in a single statement, and commits.
    pub(crate) async fn slow_query(&self, busy_for: Duration) -> Result<(), StoreError> {
        // Capped so that `?1 * 1000` in SPIN stays an integer: 10^12 ms
        // is thirty years.
        const LONGEST_MS: i64 = 1_000_000_000_000;
        let busy_ms =
            i64::try_from(busy_for.as_millis()).map_or(LONGEST_MS, |ms| ms.min(LONGEST_MS));
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO bookmarks (url, title) VALUES (?1, ?2)",
                params![SLOW_QUERY_URL, SLOW_QUERY_TITLE],
            )?;
            // Timed, not guessed, and one statement.
            tx.query_row(SPIN, [busy_ms], |_| Ok(()))?;
            tx.commit()
        })
        .await
    }

    // ANCHOR: close
    /// Closes the connection and reports what SQLite said about it.
    ///
    /// Dropping a `Connection` closes it too, but swallows any error; a
    /// shutdown should say whether the last checkpoint of the write-ahead log
    /// went through. Later calls on any clone get [`StoreError::Closed`].
    ///
    /// It waits for the call running on the connection, however long that
    /// takes; [`close_or_give_up`](Store::close_or_give_up) does not. Logs
    /// `database closed`, or why not.
    pub async fn close(&self) -> Result<(), StoreError> {
        logged(self.close_by(None).await)
    }

    /// As [`close`](Store::close), but gives up ([`StoreError::GaveUp`]) if
    /// the connection is still held by a call at `by`. After a cut-off, a
    /// call can still hold it: one stuck outside SQLite, or a query waiting
    /// in SQLite's busy handler for a lock another connection holds, which
    /// the interrupt does not reach (up to the 5 s `busy_timeout`).
    ///
    /// Once the close has the connection, it runs to its end: its final
    /// checkpoint writes to the database file, and cut short it would leave
    /// the `-wal` file behind. That write is the disk's to finish: a process
    /// whose thread is inside `fsync` cannot exit before it returns anyway.
    pub async fn close_or_give_up(&self, by: tokio::time::Instant) -> Result<(), StoreError> {
        logged(self.close_by(Some(by)).await)
    }

    async fn close_by(&self, by: Option<tokio::time::Instant>) -> Result<(), StoreError> {
        let conn = Arc::clone(&self.conn);
        let (taken, has_taken) = tokio::sync::oneshot::channel();
        let mut closing = tokio::task::spawn_blocking(move || {
            let Some(conn) = lock(&conn).take() else {
                return Err(StoreError::Closed);
            };
            let _ = taken.send(());
            // An interrupt from `cut_off` that found no statement running is
            // still pending, and the close's checkpoint would stop on it,
            // leaving the -wal file behind. SQLite clears it whenever a
            // statement is prepared with none running: prepare one.
            drop(conn.prepare("SELECT 1"));
            conn.close().map_err(|(_, err)| StoreError::Sqlite(err))
        });
        if let Some(by) = by {
            // Ends when the connection is taken, or when the close returned
            // without it (the sender dropped): either way, no more giving up.
            if tokio::time::timeout_at(by, has_taken).await.is_err() {
                return Err(StoreError::GaveUp);
            }
        }
        match (&mut closing).await {
            Ok(result) => result,
            Err(err) => match err.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_cancelled) => Err(StoreError::CutOff),
            },
        }
    }
    // ANCHOR_END: close
}

/// The line every step's stop prints about its close.
fn logged(closed: Result<(), StoreError>) -> Result<(), StoreError> {
    match &closed {
        Ok(()) => tracing::info!("database closed"),
        Err(err) => tracing::error!(%err, "closing the database failed"),
    }
    closed
}

// ANCHOR: before
/// Waits for a store operation until `deadline`, then gives up with
/// [`StoreError::GaveUp`]. Giving up does not stop the blocking call (a
/// query waiting for another connection's lock, which no interrupt
/// reaches): a shutdown that gives up says so and exits anyway.
pub async fn before<T>(
    deadline: tokio::time::Instant,
    op: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout_at(deadline, op)
        .await
        .unwrap_or(Err(StoreError::GaveUp))
}
// ANCHOR_END: before

fn lock(conn: &Mutex<Option<Connection>>) -> MutexGuard<'_, Option<Connection>> {
    // A panic while the lock was held (a bug in one request) leaves the
    // connection itself intact: SQLite rolls back the unfinished statement.
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn row_to_bookmark(row: &rusqlite::Row<'_>) -> rusqlite::Result<Bookmark> {
    Ok(Bookmark {
        id: row.get(0)?,
        url: row.get(1)?,
        title: row.get(2)?,
        created_at: row.get(3)?,
    })
}

#[cfg(test)]
mod tests {
    use std::{path::Path, time::Duration};

    use super::*;

    fn wal_of(db: &Path) -> std::path::PathBuf {
        db.with_extension("db-wal")
    }

    /// Waits, bounded, until another connection finds the database locked
    /// for writing: a write transaction is open on the store.
    fn wait_for_a_write_transaction(db: &Path) {
        let other = Connection::open(db).unwrap();
        other.busy_timeout(Duration::ZERO).unwrap();
        let started = Instant::now();
        loop {
            match other.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
                Err(err) if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
                    return;
                }
                _ => {}
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no write transaction began"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn slow_query_rows(db: &Path) -> i64 {
        let conn = Connection::open(db).unwrap();
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        conn.query_row(
            "SELECT COUNT(*) FROM bookmarks WHERE url = ?1",
            [SLOW_QUERY_URL],
            |row| row.get(0),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_cut_off_query_stops_rolls_back_and_the_close_is_clean() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bookmarks.db");
        let mut store = Store::open(db.to_str().unwrap()).unwrap();
        let query = tokio::spawn({
            let store = store.clone();
            async move { store.slow_query(Duration::from_secs(60)).await }
        });
        let db_path = db.clone();
        tokio::task::spawn_blocking(move || wait_for_a_write_transaction(&db_path))
            .await
            .unwrap();

        let cut = Instant::now();
        store.cut_off();
        let stopped = tokio::time::timeout(Duration::from_secs(5), query)
            .await
            .expect("the query stopped")
            .unwrap();
        println!("query stopped {:?} after the cut-off", cut.elapsed());

        assert!(matches!(stopped, Err(StoreError::CutOff)), "{stopped:?}");
        store.close().await.unwrap();
        assert!(!wal_of(&db).exists(), "-wal left behind");
        assert_eq!(slow_query_rows(&db), 0, "the transaction rolled back");
    }

    #[tokio::test]
    async fn a_cut_off_that_finds_nothing_running_lets_the_close_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bookmarks.db");
        let mut store = Store::open(db.to_str().unwrap()).unwrap();
        store
            .insert("https://example.com/".into(), "example".into())
            .await
            .unwrap();
        assert!(wal_of(&db).exists(), "the write went to the -wal file");

        store.cut_off();
        store.close().await.unwrap();

        assert!(!wal_of(&db).exists(), "-wal left behind");
        assert_eq!(stored_urls(&db), ["https://example.com/"]);
    }

    #[tokio::test]
    async fn a_call_still_waiting_at_the_cut_off_never_starts() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bookmarks.db");
        let mut store = Store::open(db.to_str().unwrap()).unwrap();
        // One call holds the connection until told to let go.
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (holding, held) = tokio::sync::oneshot::channel();
        let holder = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .call(move |_| {
                        let _ = holding.send(());
                        let _ = released.recv();
                        Ok(())
                    })
                    .await
            }
        });
        held.await.unwrap();
        // Polled once, the call is queued behind the holder.
        let queued = store.clone();
        let mut waiting = Box::pin(async move {
            queued
                .insert("https://example.com/late".into(), "late".into())
                .await
        });
        std::future::poll_fn(|cx| {
            assert!(waiting.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        let left_behind = store.clone();

        store.cut_off();
        release.send(()).unwrap();

        assert!(holder.await.unwrap().is_ok(), "no statement to stop");
        let late = waiting.await;
        assert!(matches!(late, Err(StoreError::CutOff)), "{late:?}");
        // A clone made before the cut-off stays behind it, even for a call
        // made after it; the handle that cut off runs calls as usual.
        let refused = left_behind
            .insert("https://example.com/left".into(), "left".into())
            .await;
        assert!(matches!(refused, Err(StoreError::CutOff)), "{refused:?}");
        store
            .insert("https://example.com/after".into(), "after".into())
            .await
            .unwrap();
        store.close().await.unwrap();
        assert_eq!(stored_urls(&db), ["https://example.com/after"]);
    }

    #[tokio::test]
    async fn a_cut_off_between_two_statements_stops_the_second() {
        let mut store = Store::open(":memory:").unwrap();
        let (between, reached) = tokio::sync::oneshot::channel();
        let (go_on, told) = std::sync::mpsc::channel::<()>();
        let call = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .call(move |conn| {
                        conn.execute_batch("SELECT 1")?;
                        let _ = between.send(());
                        let _ = told.recv();
                        // `sqlite3_interrupt` alone would be forgotten here:
                        // SQLite clears its flag as this statement starts.
                        let started = Instant::now();
                        let spun = conn.query_row(SPIN, [3_000], |_| Ok(()));
                        Ok((spun, started.elapsed()))
                    })
                    .await
            }
        });
        reached.await.unwrap();

        store.cut_off();
        go_on.send(()).unwrap();

        let (spun, took) = call.await.unwrap().unwrap();
        assert!(spun.is_err(), "the second statement ran to its end");
        assert!(took < Duration::from_millis(500), "stopped after {took:?}");
    }

    #[tokio::test]
    async fn a_close_gives_up_on_a_connection_held_past_its_bound() {
        let store = Store::open(":memory:").unwrap();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (holding, held) = tokio::sync::oneshot::channel();
        let holder = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .call(move |_| {
                        let _ = holding.send(());
                        let _ = released.recv();
                        Ok(())
                    })
                    .await
            }
        });
        held.await.unwrap();

        let started = Instant::now();
        let closed = store
            .close_or_give_up(tokio::time::Instant::now() + Duration::from_millis(50))
            .await;

        assert!(matches!(closed, Err(StoreError::GaveUp)), "{closed:?}");
        let took = started.elapsed();
        assert!(took < Duration::from_millis(500), "gave up after {took:?}");
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
    }

    fn stored_urls(db: &Path) -> Vec<String> {
        let conn = Connection::open(db).unwrap();
        let mut stmt = conn
            .prepare("SELECT url FROM bookmarks ORDER BY id")
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}
