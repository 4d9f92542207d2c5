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

const BATCH: usize = 10_000;

impl Engine {
    /// Writes items, users and events in batches (events in order).
    pub async fn load(
        self: &std::sync::Arc<Self>,
        items: Vec<ItemRecord>,
        users: Vec<UserRecord>,
        events: Vec<EventRecord>,
    ) -> Result<Loaded, EngineError> {
        let mut out = Loaded { items: items.len(), users: users.len(), ..Loaded::default() };
        let mut items = items;
        while !items.is_empty() {
            let rest = items.split_off(items.len().min(BATCH));
            self.put_items(std::mem::replace(&mut items, rest)).await?;
        }
        for chunk in users.chunks(BATCH) {
            self.put_users(chunk.to_vec()).await?;
        }
        let mut events = events;
        while !events.is_empty() {
            let rest = events.split_off(events.len().min(BATCH));
            let r = self.ingest(std::mem::replace(&mut events, rest)).await?;
            out.events += r.inserted;
            out.duplicates += r.duplicates;
        }
        Ok(out)
    }
}
