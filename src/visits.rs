//! Step 5's visit counter: counted in memory, written in batches.
//!
//! `GET /bookmarks/{id}/visit` redirects to the bookmark and counts a visit.
//! Writing each visit to SQLite would cost a transaction per click, so
//! visits are added up in memory and a background task writes the totals
//! every `FLUSH_INTERVAL`, in one transaction. The price of the buffer is
//! the subject of step 5: whatever sits in it when the process stops is
//! lost unless shutdown flushes it, after the last request that could add
//! to it, and before the database closes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{FromRef, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::{
    routes::{self, ApiError, PathParam},
    store::{Bookmark, Store, StoreError},
};

/// Visits counted but not yet written, by bookmark id.
#[derive(Clone, Default)]
pub struct VisitBuffer {
    pending: Arc<Mutex<HashMap<i64, u64>>>,
}

impl VisitBuffer {
    pub fn new() -> Self {
        VisitBuffer::default()
    }

    pub fn record(&self, id: i64) {
        *self.lock().entry(id).or_default() += 1;
    }

    /// Visits of `id` still waiting in memory.
    fn pending(&self, id: i64) -> u64 {
        self.lock().get(&id).copied().unwrap_or(0)
    }

    /// All visits still waiting in memory.
    pub fn pending_total(&self) -> u64 {
        self.lock().values().sum()
    }

    // ANCHOR: flush
    /// Writes every buffered visit in one transaction and returns how many
    /// it wrote.
    ///
    /// The buffer is emptied inside the blocking call, while it holds the
    /// connection, and refilled there if the write fails. So a failed flush
    /// loses nothing, and neither does one whose caller gives up waiting
    /// (a task aborted at the deadline): the blocking call runs to its end
    /// either way. And since readers of the count hold the connection too
    /// (see [`VisitBuffer::total`]), no reader sees a batch in neither place.
    /// The last flush of a stop: [`flush`](VisitBuffer::flush), given up
    /// at `by`, and logged: `visits flushed visits=N`, or what was lost.
    pub async fn flush_last(
        &self,
        store: &Store,
        by: tokio::time::Instant,
    ) -> Result<u64, StoreError> {
        let flushed = crate::store::before(by, self.flush(store)).await;
        match &flushed {
            Ok(count) => tracing::info!(visits = count, "visits flushed"),
            Err(err) => {
                tracing::error!(%err, lost = self.pending_total(), "flushing visits failed")
            }
        }
        flushed
    }

    pub async fn flush(&self, store: &Store) -> Result<u64, StoreError> {
        let buffer = self.clone();
        store
            .call(move |conn| {
                let batch = std::mem::take(&mut *buffer.lock());
                let written = write_batch(conn, &batch);
                if written.is_err() {
                    let mut pending = buffer.lock();
                    for (id, count) in batch {
                        *pending.entry(id).or_default() += count;
                    }
                }
                written
            })
            .await
    }
    // ANCHOR_END: flush

    /// Visits of `id`, written and buffered, read while holding the
    /// connection so that a flush cannot move a batch in between.
    async fn total(&self, store: &Store, id: i64) -> Result<u64, StoreError> {
        let buffer = self.clone();
        store
            .call(move |conn| {
                let stored: i64 = conn
                    .query_row(
                        "SELECT visits FROM visit_counts WHERE bookmark_id = ?1",
                        [id],
                        |row| row.get(0),
                    )
                    .optional()?
                    .unwrap_or(0);
                Ok(stored as u64 + buffer.pending(id))
            })
            .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, u64>> {
        // Counters stay valid even if a thread panicked while holding them.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Adds `batch` to the stored counts in one transaction.
fn write_batch(
    conn: &mut rusqlite::Connection,
    batch: &HashMap<i64, u64>,
) -> rusqlite::Result<u64> {
    if batch.is_empty() {
        return Ok(0);
    }
    let tx = conn.transaction()?;
    {
        let mut add = tx.prepare_cached(
            "INSERT INTO visit_counts (bookmark_id, visits) VALUES (?1, ?2)
             ON CONFLICT (bookmark_id) DO UPDATE SET visits = visits + excluded.visits",
        )?;
        for (id, count) in batch {
            add.execute(params![id, *count as i64])?;
        }
    }
    tx.commit()?;
    Ok(batch.values().sum())
}

/// Creates step 5's table, next to the bookmarks.
pub async fn create_tables(store: &Store) -> Result<(), StoreError> {
    store
        .call(|conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS visit_counts (
                     bookmark_id INTEGER PRIMARY KEY,
                     visits      INTEGER NOT NULL
                 );",
            )
        })
        .await
}

// ANCHOR: flusher
/// The background task that writes the buffer every `interval`, until
/// `stop` is cancelled. It does not flush on its way out: shutdown does
/// that once, after the last request has finished, so that no visit can
/// arrive after the final write.
pub async fn flush_every(
    interval: Duration,
    visits: VisitBuffer,
    store: Store,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate; nothing to write yet
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let Err(err) = visits.flush(&store).await {
            warn!(%err, "visit flush failed; will retry");
        }
    }
}
// ANCHOR_END: flusher

/// What step 5's handlers share.
#[derive(Clone)]
struct VisitState {
    store: Store,
    visits: VisitBuffer,
}

impl FromRef<VisitState> for Store {
    fn from_ref(state: &VisitState) -> Store {
        state.store.clone()
    }
}

/// The API of steps 1 to 4, plus `GET /bookmarks/{id}/visit`, and `visits`
/// in `GET /bookmarks/{id}`.
pub fn api(store: Store, visits: VisitBuffer) -> Router {
    routes::table(get(get_bookmark_with_visits))
        .route("/bookmarks/{id}/visit", get(visit))
        .with_state(VisitState { store, visits })
}

#[derive(Serialize)]
struct BookmarkWithVisits {
    #[serde(flatten)]
    bookmark: Bookmark,
    /// Written and still buffered: what a user has actually clicked.
    visits: u64,
}

async fn get_bookmark_with_visits(
    State(state): State<VisitState>,
    PathParam(id): PathParam<i64>,
) -> Result<Json<BookmarkWithVisits>, ApiError> {
    let bookmark = state
        .store
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(id))?;
    let visits = state.visits.total(&state.store, id).await?;
    Ok(Json(BookmarkWithVisits { bookmark, visits }))
}

/// Counts the visit in memory and redirects; the count reaches the
/// database with the next flush.
async fn visit(
    State(state): State<VisitState>,
    PathParam(id): PathParam<i64>,
) -> Result<Response, ApiError> {
    let bookmark = state
        .store
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(id))?;
    let location = HeaderValue::try_from(bookmark.url).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "stored URL is not a valid header",
        )
    })?;
    state.visits.record(id);
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}
