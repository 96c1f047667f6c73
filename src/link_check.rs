//! Step 5's periodic job: a link checker that works in units.
//!
//! Every `CHECK_INTERVAL` it passes over the bookmarks, ten at a time. For
//! each unit it checks every link (a stand-in that takes `CHECK_DELAY` per
//! link, as `/slow` stands in for a slow request) and then records the
//! unit's results in one transaction. The unit is what makes it safe to
//! stop: the job looks at its stop token only *between* units, and a unit
//! is written whole or not at all, so the history table never holds half a
//! unit, whatever moment the signal picks.

use std::time::Duration;

use rusqlite::params;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::store::{Store, StoreError};

/// Links checked per unit, and per transaction.
const UNIT_SIZE: i64 = 10;

/// Creates step 5's tables: a row per finished unit, and a row per link
/// checked in it.
pub(crate) async fn create_tables(store: &Store) -> Result<(), StoreError> {
    store
        .call(|conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS check_units (
                     id          INTEGER PRIMARY KEY AUTOINCREMENT,
                     links       INTEGER NOT NULL,
                     finished_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                 );
                 CREATE TABLE IF NOT EXISTS link_checks (
                     unit        INTEGER NOT NULL REFERENCES check_units (id),
                     bookmark_id INTEGER NOT NULL,
                     url         TEXT NOT NULL
                 );",
            )
        })
        .await
}

pub struct LinkChecker {
    pub store: Store,
    pub interval: Duration,
    pub delay: Duration,
}

impl LinkChecker {
    /// A checker with `CHECK_INTERVAL` and `CHECK_DELAY`.
    pub fn from_config(config: &crate::config::Config, store: Store) -> LinkChecker {
        LinkChecker {
            store,
            interval: config.check_interval,
            delay: config.check_delay,
        }
    }

    // ANCHOR: run
    /// Runs a pass every `interval` until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            match self.pass(&stop).await {
                Ok(()) => debug!("link check pass finished"),
                Err(err) => warn!(%err, "link check pass failed"),
            }
        }
    }

    async fn pass(&self, stop: &CancellationToken) -> Result<(), StoreError> {
        let mut after = 0;
        // Between units is the one place this job stops when asked: the
        // unit in hand is finished and written first.
        while !stop.is_cancelled() {
            let unit = self.next_unit(after).await?;
            let Some(&(last, _)) = unit.last() else {
                return Ok(()); // every bookmark checked this pass
            };
            after = last;
            info!(links = unit.len(), "link check unit started");
            for _link in &unit {
                // A real checker would send a request here; it is not
                // interrupted, so a unit is always checked whole.
                tokio::time::sleep(self.delay).await;
            }
            let id = self.record(unit).await?;
            info!(unit = id, "link check unit committed");
        }
        Ok(())
    }
    // ANCHOR_END: run

    async fn next_unit(&self, after: i64) -> Result<Vec<(i64, String)>, StoreError> {
        self.store
            .call(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, url FROM bookmarks WHERE id > ?1 ORDER BY id LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![after, UNIT_SIZE], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?;
                rows.collect()
            })
            .await
    }

    /// Writes the unit and its links in one transaction.
    async fn record(&self, unit: Vec<(i64, String)>) -> Result<i64, StoreError> {
        self.store
            .call(move |conn| {
                let tx = conn.transaction()?;
                tx.execute(
                    "INSERT INTO check_units (links) VALUES (?1)",
                    [unit.len() as i64],
                )?;
                let id = tx.last_insert_rowid();
                {
                    let mut add = tx.prepare_cached(
                        "INSERT INTO link_checks (unit, bookmark_id, url) VALUES (?1, ?2, ?3)",
                    )?;
                    for (bookmark, url) in &unit {
                        add.execute(params![id, bookmark, url])?;
                    }
                }
                tx.commit()?;
                Ok(id)
            })
            .await
    }
}
