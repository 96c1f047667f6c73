//! The SQLite store behind the API.
//!
//! rusqlite is a synchronous library: every call may wait on the disk. Run on
//! one of tokio's few worker threads, such a call would stall every other
//! connection scheduled there, so each operation goes through
//! [`tokio::task::spawn_blocking`], onto the pool of threads meant for
//! blocking work. The one connection sits behind a mutex: SQLite lets a
//! single writer in at a time anyway, and one connection means one place to
//! close.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use rusqlite::{Connection, OptionalExtension, functions::FunctionFlags, params};
use serde::Serialize;

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
    Sqlite(rusqlite::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Closed => f.write_str("the database is closed"),
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
    // Every bookmark created, for whoever listens (step 6's event stream).
    created: tokio::sync::broadcast::Sender<Bookmark>,
}

/// The bookmark that `GET /slow?mode=query` writes in its transaction.
pub const SLOW_QUERY_URL: &str = "https://example.com/slow-query";
pub const SLOW_QUERY_TITLE: &str = "slow query";

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
    /// Write-ahead logging makes a committed transaction durable the moment
    /// `COMMIT` returns, even if the process is killed right after; with
    /// `synchronous = NORMAL` that holds for a crash of the process (what
    /// this course is about), though not for a power cut.
    pub fn open(path: &str) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // `:memory:` answers "memory" here: it has no file to log beside.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        // A clock that SQL can read, in milliseconds since the store opened:
        // `slow_query` checks it at every row, so one statement runs for
        // as long as asked. Not deterministic, so SQLite calls it each time.
        let opened = Instant::now();
        conn.create_scalar_function("clock_ms", 0, FunctionFlags::SQLITE_UTF8, move |_| {
            Ok(i64::try_from(opened.elapsed().as_millis()).unwrap_or(i64::MAX))
        })?;
        Ok(Store {
            conn: Arc::new(Mutex::new(Some(conn))),
            created: tokio::sync::broadcast::channel(64).0,
        })
    }

    /// Runs `op` on the connection, off the async worker threads. Later
    /// steps use it for tables of their own.
    pub async fn call<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = lock(&conn);
            let conn = guard.as_mut().ok_or(StoreError::Closed)?;
            op(conn).map_err(StoreError::from)
        })
        .await
        // The closure does not panic on its own; if it ever did, that is a
        // bug worth crashing the request over, and the handler's panic
        // catcher turns it into a 500.
        .unwrap_or_else(|join_err| std::panic::resume_unwind(join_err.into_panic()))
    }

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
        let _ = self.created.send(bookmark.clone());
        Ok(bookmark)
    }

    /// Bookmarks created from now on. A listener that falls more than 64
    /// behind skips the ones it missed.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Bookmark> {
        self.created.subscribe()
    }

    pub async fn list(&self) -> Result<Vec<Bookmark>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT id, url, title, created_at FROM bookmarks ORDER BY id")?;
            let rows = stmt.query_map([], row_to_bookmark)?;
            rows.collect()
        })
        .await
    }

    pub async fn get(&self, id: i64) -> Result<Option<Bookmark>, StoreError> {
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
    pub async fn delete(&self, id: i64) -> Result<bool, StoreError> {
        self.call(move |conn| Ok(conn.execute("DELETE FROM bookmarks WHERE id = ?1", [id])? > 0))
            .await
    }

    /// `GET /slow?mode=query`: one write transaction that inserts the
    /// bookmark [`SLOW_QUERY_URL`], keeps SQLite busy for about `busy_for`
    /// in a single statement, and commits.
    pub async fn slow_query(&self, busy_for: Duration) -> Result<(), StoreError> {
        let busy_ms = i64::try_from(busy_for.as_millis()).unwrap_or(i64::MAX);
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO bookmarks (url, title) VALUES (?1, ?2)",
                params![SLOW_QUERY_URL, SLOW_QUERY_TITLE],
            )?;
            // Counts up, one row at a time, until the clock passes the end
            // it read at the start: timed, not guessed, and one statement.
            tx.query_row(
                "WITH RECURSIVE spin(n, until) AS (
                     SELECT 0, clock_ms() + ?1
                     UNION ALL
                     SELECT n + 1, until FROM spin WHERE clock_ms() < until
                 )
                 SELECT max(n) FROM spin",
                [busy_ms],
                |_| Ok(()),
            )?;
            tx.commit()
        })
        .await
    }

    /// Closes the connection and reports what SQLite said about it.
    ///
    /// Dropping a `Connection` closes it too, but swallows any error; a
    /// shutdown should say whether the last checkpoint of the write-ahead log
    /// went through. Later calls on any clone get [`StoreError::Closed`].
    pub async fn close(&self) -> Result<(), StoreError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || match lock(&conn).take() {
            Some(conn) => conn.close().map_err(|(_, err)| StoreError::Sqlite(err)),
            None => Err(StoreError::Closed),
        })
        .await
        .unwrap_or_else(|join_err| std::panic::resume_unwind(join_err.into_panic()))
    }
}

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
