//! Bulk loading: a generated demo shop or already-decoded records, written through the engine in
//! store-sized batches so the in-memory state follows.

use aisle_core::EventKind;
use aisle_ingest::synth::Shop;
use aisle_store::{EventRecord, ItemRecord, Store, UserRecord};

use crate::{Engine, EngineError};

/// What a bulk load wrote.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Items written.
    pub items: usize,
    /// Users written.
    pub users: usize,
    /// Events stored.
    pub events: usize,
    /// Events already stored (same event id).
    pub duplicates: usize,
}

/// Records of a generated shop, with the log shifted by `shift_ms` (to end it now). Events get
/// ids `demo-<n>` so loading the same shop twice stores nothing twice. The event records are made
/// one at a time, as they are taken: a load of 20M events then holds one batch of records, not
/// all of them (about 4 GB).
pub fn shop_records(
    shop: &Shop,
    shift_ms: i64,
) -> (Vec<ItemRecord>, Vec<UserRecord>, impl ExactSizeIterator<Item = EventRecord> + Send + '_) {
    let items = (0..shop.items.len()).map(|i| shop.item_record(i)).collect();
    let users = (0..shop.users.len()).map(|u| shop.user_record(u)).collect();
    let events = shop.events.iter().enumerate().map(move |(k, e)| EventRecord {
        event_id: Some(format!("demo-{k}")),
        user_id: Shop::user_id(e.user as usize),
        item_id: Shop::item_id(e.item as usize),
        kind: e.kind,
        value: matches!(e.kind, EventKind::Purchase | EventKind::Rating).then_some(e.value),
        ts_ms: e.ts * 1000 + shift_ms,
        session_id: Some(format!("s{}", e.session + 1)),
        recommendation_id: None,
    });
    (items, users, events)
}

const BATCH: usize = 100_000;

/// A load of at least this many events, and of at least as many as the log holds, defers the
/// store's per-user event index ([`aisle_store::Store::defer_event_index`]).
const DEFER_INDEX_EVENTS: usize = 1_000_000;

/// Whether a load of `load` events into a log of `stored` defers the per-user index. Building it
/// again sorts the whole log once: that costs less than the random inserts it saves only when the
/// load is about as large as what is there (then a series of such loads costs linear time).
/// Below a million the saving is seconds, not worth slowing other readers' user lookups.
fn defers_index(load: usize, stored: u64) -> bool {
    load >= DEFER_INDEX_EVENTS && load as u64 >= stored
}

/// `records` in batches of at most [`BATCH`], in order, each moved out once (no copy of the rest).
fn batches<T>(records: impl IntoIterator<Item = T>) -> impl Iterator<Item = Vec<T>> {
    let mut rest = records.into_iter();
    std::iter::from_fn(move || {
        let batch: Vec<T> = rest.by_ref().take(BATCH).collect();
        (!batch.is_empty()).then_some(batch)
    })
}

impl Engine {
    /// Writes items, users and events in batches (events in order).
    pub async fn load(
        self: &std::sync::Arc<Self>,
        items: Vec<ItemRecord>,
        users: Vec<UserRecord>,
        events: impl IntoIterator<Item = EventRecord, IntoIter: ExactSizeIterator + Send> + Send,
    ) -> Result<Loaded, EngineError> {
        self.load_with_progress(items, users, events, |_| {}).await
    }

    /// [`Engine::load`], calling `progress` with what is written so far after every batch of
    /// items, users or events (its `events + duplicates` count the events done).
    ///
    /// Event records are taken from `events` one batch at a time. A load of at least a million
    /// events into a log holding no more defers the store's per-user event index until the last
    /// batch is written, and builds it again even if a batch fails.
    pub async fn load_with_progress(
        self: &std::sync::Arc<Self>,
        items: Vec<ItemRecord>,
        users: Vec<UserRecord>,
        events: impl IntoIterator<Item = EventRecord, IntoIter: ExactSizeIterator + Send> + Send,
        mut progress: impl FnMut(&Loaded) + Send,
    ) -> Result<Loaded, EngineError> {
        let mut out = Loaded::default();
        for batch in batches(items) {
            out.items += batch.len();
            self.put_items(batch).await?;
            progress(&out);
        }
        for batch in batches(users) {
            out.users += batch.len();
            self.put_users(batch).await?;
            progress(&out);
        }
        let events = events.into_iter();
        // The size alone first: a small load never asks the store for its count.
        let defer = events.len() >= DEFER_INDEX_EVENTS
            && defers_index(events.len(), self.store.counts().await?.events);
        if defer {
            self.store.defer_event_index(true).await?;
        }
        let mut written: Result<(), EngineError> = Ok(());
        for batch in batches(events) {
            match self.ingest(batch).await {
                Ok(r) => {
                    out.events += r.inserted;
                    out.duplicates += r.duplicates;
                    progress(&out);
                }
                Err(e) => {
                    written = Err(e);
                    break;
                }
            }
        }
        // Built again after a failed batch too: the batches before it are stored.
        let rebuilt = if defer { self.store.defer_event_index(false).await } else { Ok(()) };
        written?;
        rebuilt?;
        self.save_state().await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_load_of_a_million_and_as_large_as_the_log_defers_the_index() {
        assert!(defers_index(DEFER_INDEX_EVENTS, 0));
        assert!(defers_index(DEFER_INDEX_EVENTS, DEFER_INDEX_EVENTS as u64));
        assert!(!defers_index(DEFER_INDEX_EVENTS, DEFER_INDEX_EVENTS as u64 + 1), "the log is larger");
        assert!(!defers_index(DEFER_INDEX_EVENTS - 1, 0), "a small load");
        assert!(defers_index(20_000_000, 19_999_999));
    }

    #[test]
    fn batches_keep_every_record_in_order() {
        let cut: Vec<Vec<usize>> = batches(0..2 * BATCH + 3).collect();
        assert_eq!(cut.iter().map(Vec::len).collect::<Vec<_>>(), [BATCH, BATCH, 3]);
        assert!(cut.concat().into_iter().eq(0..2 * BATCH + 3));
        assert_eq!(batches(Vec::<u8>::new()).count(), 0);
    }
}
