//! A stored model artifact (postcard) read back from the store: `Artifact::decode` never panics,
//! and a model it decodes can be served — published, then asked what a request asks, with
//! in-range arguments only — without panicking. Errors (`Unsupported`, ...) are fine.
#![no_main]

use std::collections::BTreeMap;

use aisle_core::recommender::Recommender;
use aisle_core::{ItemIdx, UserIdx};
use aisle_engine::{Artifact, Published};
use aisle_store::{ModelRecord, NewModel};
use libfuzzer_sys::fuzz_target;

/// Longest score buffer the harness allocates. A model claiming more items than this would make
/// serving allocate that much; such claims are left to the model's own validation and not
/// exercised here (their buffers would only hit libFuzzer's malloc limit).
const MAX_ITEMS: usize = 1 << 22;

fn record(name: &str) -> ModelRecord {
    ModelRecord {
        version: 1,
        active: true,
        artifact_bytes: 0,
        model: NewModel {
            name: name.to_owned(),
            params: serde_json::Value::Null,
            trained_on_seq: 0,
            metrics: BTreeMap::new(),
            created_at_ms: 0,
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(artifact) = Artifact::decode(1, data) else { return };
    let name = artifact.model.name();
    let published = Published::new(record(name), artifact, std::iter::empty());
    let model = published.model();
    let (n_users, n_items) = (model.n_users(), model.n_items());
    if n_items == 0 || n_items > MAX_ITEMS {
        return;
    }
    let last_item = ItemIdx(u32::try_from(n_items - 1).unwrap_or(u32::MAX));
    let mid_item = ItemIdx(u32::try_from(n_items / 2).unwrap_or(u32::MAX));
    let first_item = ItemIdx(0);
    let mut all = vec![0f32; n_items];

    // A known user by their vector, as `serve.rs` scores one.
    let users: Vec<UserIdx> = match n_users {
        0 => Vec::new(),
        n => vec![UserIdx(0), UserIdx(u32::try_from(n - 1).unwrap_or(u32::MAX))],
    };
    let candidates = [first_item, last_item];
    for &u in &users {
        let _ = model.score_user(u, &mut all);
        let mut some = [0f32; 2];
        let _ = model.score_user_items(u, &candidates, &mut some);
        let _ = model.predict(u, first_item);
        let _ = model.predict(u, last_item);
    }

    // A user the model never saw, by fold-in of a short history.
    let history = [(first_item, 1.0f32), (mid_item, 3.0), (last_item, 0.5)];
    let _ = model.score_history(&history, &mut all);
    let mut some = [0f32; 2];
    let _ = model.score_history_items(&history[..2], &candidates, &mut some);

    // Similar items and the affinities that explain recommendations.
    for (item, exclude) in [(first_item, &[][..]), (last_item, &[first_item][..])] {
        if let Ok(list) = model.similar_items(item, 10, exclude) {
            assert!(list.len() <= 10, "{name}: similar_items gave {} items for n = 10", list.len());
            for s in &list {
                assert!(s.item.index() < n_items, "{name}: similar_items gave unknown item {:?}", s.item);
                assert!(
                    s.item != item && !exclude.contains(&s.item),
                    "{name}: similar_items listed {:?}",
                    s.item
                );
            }
        }
    }
    let _ = model.item_affinity(first_item, last_item);
    let _ = model.item_affinity(last_item, mid_item);
});
