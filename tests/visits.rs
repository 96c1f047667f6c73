//! Why step 5's shutdown order matters, shown on the library itself: the
//! visit buffer must be flushed before the database is closed.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use bookmarks::{
    store::Store,
    store::StoreError,
    visits::{self, VisitBuffer},
};
use libtest2_mimic::Trial;

/// This file's tests, for `tests/steps.rs` to run.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        async closing_before_flushing_loses_the_visits,
        async flushing_before_closing_keeps_the_visits,
        async(multi_thread) visits_counted_during_a_flush_are_kept_for_the_next,
    ]
}

/// A store in a temporary file with one bookmark, and ten visits of it
/// counted in the buffer but not yet written.
async fn ten_buffered_visits(path: &Path) -> (Store, VisitBuffer, i64) {
    let store = Store::open(path.to_str().unwrap()).unwrap();
    visits::create_tables(&store).await.unwrap();
    let bookmark = store
        .insert("https://tokio.rs/".into(), "Tokio".into())
        .await
        .unwrap();
    let buffer = VisitBuffer::new();
    for _ in 0..10 {
        buffer.record(bookmark.id);
    }
    (store, buffer, bookmark.id)
}

/// What a later process finds in the file.
fn visits_in_file(path: &Path, id: i64) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT COALESCE(SUM(visits), 0) FROM visit_counts WHERE bookmark_id = ?1",
            [id],
            |row| row.get(0),
        )
        .unwrap()
}

// ANCHOR: wrong_order
/// Close first, flush second: the flush has no database to write to, and
/// the ten visits die with the process.
async fn closing_before_flushing_loses_the_visits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bookmarks.db");
    let (store, buffer, id) = ten_buffered_visits(&path).await;

    store.close().await.unwrap();
    let flushed = buffer.flush(&store).await;

    assert!(matches!(flushed, Err(StoreError::Closed)), "{flushed:?}");
    assert_eq!(visits_in_file(&path, id), 0, "nothing reached the file");
    assert_eq!(buffer.pending_total(), 10, "still only in memory");
}

/// Flush first, close second: all ten are in the file.
async fn flushing_before_closing_keeps_the_visits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bookmarks.db");
    let (store, buffer, id) = ten_buffered_visits(&path).await;

    assert_eq!(buffer.flush(&store).await.unwrap(), 10);
    store.close().await.unwrap();

    assert_eq!(visits_in_file(&path, id), 10);
    assert_eq!(buffer.pending_total(), 0);
}
// ANCHOR_END: wrong_order

/// Visits counted while a flush is being written are kept for the next
/// one: the flush takes the batch it writes, and a visit that comes in
/// meanwhile goes into a fresh one.
async fn visits_counted_during_a_flush_are_kept_for_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bookmarks.db");
    let (store, buffer, id) = ten_buffered_visits(&path).await;
    // Another connection holds SQLite's write lock, so the flush, once it
    // has taken its batch, waits (up to the store's busy timeout) to write.
    let mut blocker = rusqlite::Connection::open(&path).unwrap();
    let lock = blocker
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let flush = tokio::spawn({
        let (buffer, store) = (buffer.clone(), store.clone());
        async move { buffer.flush(&store).await }
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    while buffer.pending_total() != 0 {
        assert!(Instant::now() < deadline, "the flush never took its batch");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    buffer.record(id);
    buffer.record(id);
    lock.rollback().unwrap();
    drop(blocker);

    assert_eq!(flush.await.unwrap().unwrap(), 10, "the batch it took");
    assert_eq!(buffer.pending_total(), 2, "the two counted meanwhile");
    assert_eq!(buffer.flush(&store).await.unwrap(), 2);
    store.close().await.unwrap();
    assert_eq!(visits_in_file(&path, id), 12);
}
