//! Bulk loading: a generated demo shop or already-decoded records, written through the engine in
//! store-sized batches so the in-memory state follows.

use aisle_core::EventKind;
use aisle_ingest::synth::Shop;
use aisle_store::{EventRecord, ItemRecord, UserRecord};

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
/// ids `demo-<n>` so loading the same shop twice stores nothing twice.
pub fn shop_records(shop: &Shop, shift_ms: i64) -> (Vec<ItemRecord>, Vec<UserRecord>, Vec<EventRecord>) {
    let items = (0..shop.items.len()).map(|i| shop.item_record(i)).collect();
    let users = (0..shop.users.len()).map(|u| shop.user_record(u)).collect();
    let events = shop
        .events
        .iter()
        .enumerate()
        .map(|(k, e)| EventRecord {
            event_id: Some(format!("demo-{k}")),
            user_id: Shop::user_id(e.user as usize),
            item_id: Shop::item_id(e.item as usize),
            kind: e.kind,
            value: matches!(e.kind, EventKind::Purchase | EventKind::Rating).then_some(e.value),
            ts_ms: e.ts * 1000 + shift_ms,
            session_id: Some(format!("s{}", e.session + 1)),
            recommendation_id: None,
        })
        .collect();
    (items, users, events)
}

const BATCH: usize = 100_000;

/// `records` in batches of at most [`BATCH`], in order, each moved out once (no copy of the rest).
fn batches<T>(records: Vec<T>) -> impl Iterator<Item = Vec<T>> {
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
        events: Vec<EventRecord>,
    ) -> Result<Loaded, EngineError> {
        self.load_with_progress(items, users, events, |_| {}).await
    }

    /// [`Engine::load`], calling `progress` with what is written so far after every batch of
    /// items, users or events (its `events + duplicates` count the events done).
    pub async fn load_with_progress(
        self: &std::sync::Arc<Self>,
        items: Vec<ItemRecord>,
        users: Vec<UserRecord>,
        events: Vec<EventRecord>,
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
        for batch in batches(events) {
            let r = self.ingest(batch).await?;
            out.events += r.inserted;
            out.duplicates += r.duplicates;
            progress(&out);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_every_record_in_order() {
        let cut: Vec<Vec<usize>> = batches((0..2 * BATCH + 3).collect()).collect();
        assert_eq!(cut.iter().map(Vec::len).collect::<Vec<_>>(), [BATCH, BATCH, 3]);
        assert!(cut.concat().into_iter().eq(0..2 * BATCH + 3));
        assert_eq!(batches(Vec::<u8>::new()).count(), 0);
    }
}
