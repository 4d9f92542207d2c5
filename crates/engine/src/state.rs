//! The engine's state derived from the event log, kept in the store so that a start reads only
//! the log after it instead of all of it.
//!
//! The state is the popularity counters (hourly buckets for 30 days and all-time totals) and the
//! index of users with events since the serving model was trained ([`crate::history`]), as of
//! the tail cursor: every event up to it is counted, none after it. It is written under the
//! event log's apply lock, so nothing is applied meanwhile, and only when every event this replica applied is
//! at or below the cursor (on a shared store, its own writes above the cursor are skipped until
//! the tail passes them; the state is then written at the next occasion).
//!
//! It is written when the engine flushes (a graceful shutdown, the end of `aisle import`), after
//! a bulk load and after every training that finishes. A start that finds it (written with the
//! same event weights and bounds) restores it and reads the log after its sequence number; a
//! state that is missing, written under other settings or unreadable is ignored with a warning,
//! and the whole log is read as before. On the embedded store, once another process wrote to the database (an
//! `aisle import` beside a running server) no state is kept: this process never applied those
//! events, and a state claiming them would lose them for good.
//!
//! A deleted shopper's id leaves the index, and so the next state. Their past events stay in the
//! popularity counters, which hold item ids and weights only, as they did in a running engine;
//! before, a restart also took them out by counting the log again.

use std::sync::Arc;

use aisle_store::{AnyStore, StateRecord, Store};
use serde::{Deserialize, Serialize};

use crate::history::{ActiveState, HistoryCache};
use crate::popular::{PopularState, Popularity};
use crate::{Engine, EngineConfig, EngineError, now_ms};

/// The state's name in the store.
const NAME: &str = "engine";

/// The encoding's version; a state of another version is ignored (the log is read instead).
const FORMAT: u32 = 1;

/// A state larger than this is not written: a start then reads the log. (512 MiB; the store keeps
/// a state in one row.)
const MAX_BYTES: usize = 512 << 20;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: u32,
    settings: String,
    popular: PopularState,
    active: ActiveState,
}

/// What the counted weights depend on besides the log: a state written under other settings
/// would count events by other weights or bounds.
fn settings(config: &EngineConfig) -> String {
    serde_json::json!({
        "weights": config.weights,
        "events": config.events,
        "popular_max_items": config.popular.max_items,
    })
    .to_string()
}

/// Restores the kept state into `popular` and `history` (moved in and out: the work runs on the
/// blocking pool); answers the sequence number the log is to be read after (0 without a usable
/// state).
pub(crate) async fn restore(
    store: &AnyStore,
    config: &EngineConfig,
    popular: Popularity,
    history: HistoryCache,
) -> Result<(Popularity, HistoryCache, u64), EngineError> {
    // The state is in the same database as the log, so a backup restores both: its sequence
    // number may pass the log's newest (that user's events were deleted since), never the log.
    let Some(record) = store.state(NAME.to_owned()).await? else {
        return Ok((popular, history, 0));
    };
    let settings = settings(config);
    let (popular, history, restored) = tokio::task::spawn_blocking(move || {
        let restored = postcard::from_bytes::<Snapshot>(&record.body)
            .map_err(|e| e.to_string())
            .and_then(|s| match s {
                s if s.format != FORMAT => Err(format!("format {} (this build writes {FORMAT})", s.format)),
                s if s.settings != settings => Err("written under other event weights or bounds".to_owned()),
                s => popular.restore(s.popular).map(|()| s.active),
            })
            .map(|active| history.restore_active(active));
        (popular, history, restored.map(|()| record.seq))
    })
    .await?;
    match restored {
        Ok(seq) => Ok((popular, history, seq)),
        Err(reason) => {
            // A refused state changed nothing: `history` is only touched once the rest holds.
            tracing::warn!(%reason, "the kept engine state is not used: reading the whole log");
            Ok((popular, history, 0))
        }
    }
}

impl Engine {
    /// Writes the engine's state derived from the log into the store, so that the next start
    /// reads only the log after it; answers the sequence number it covers, or `None` when it was
    /// not written (nothing new since the last one, this replica's own writes still being
    /// written or not yet passed by its tail, or too large).
    pub async fn save_state(self: &Arc<Self>) -> Result<Option<u64>, EngineError> {
        let lock = self.log.applying().await;
        if self.store.written_by_others().await? {
            tracing::warn!(
                "another process wrote to the embedded store: the engine state is not kept, the next start reads the whole log"
            );
            return Ok(None);
        }
        let Some(seq) = self.log.state_to_keep(&lock) else { return Ok(None) };
        let e = Arc::clone(self);
        let snapshot = tokio::task::spawn_blocking(move || Snapshot {
            format: FORMAT,
            settings: settings(&e.config),
            popular: e.log.popular.export(),
            active: e.log.history.export_active(),
        })
        .await?;
        drop(lock);
        let body = tokio::task::spawn_blocking(move || postcard::to_allocvec(&snapshot))
            .await?
            .map_err(|e| EngineError::Task(format!("the engine state does not encode: {e}")))?;
        if body.len() > MAX_BYTES {
            tracing::warn!(
                bytes = body.len(),
                "the engine state is too large to keep: a start reads the whole log"
            );
            return Ok(None);
        }
        let bytes = body.len();
        self.store.put_state(StateRecord { name: NAME.to_owned(), seq, at_ms: now_ms(), body }).await?;
        self.log.kept(seq);
        tracing::info!(seq, bytes, "engine state kept");
        Ok(Some(seq))
    }
}
