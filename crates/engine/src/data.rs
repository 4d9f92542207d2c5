//! Writes and reads of catalog items, users and events: validation, the store write, then the
//! in-memory state that follows it (live catalog, category index, history cache, popularity).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use aisle_store::{Appended, EventRecord, ItemRecord, Page, PageRequest, Store, UserRecord, UserRemoval};

use crate::history::RecentEvent;
use crate::{Engine, EngineError, now_ms};

/// Longest accepted id, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Longest accepted title, in bytes.
pub const MAX_TITLE_BYTES: usize = 1_000;
/// Longest accepted description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 20_000;
/// Most categories or tags per item.
pub const MAX_LABELS: usize = 100;

/// An RFC 7396 JSON merge patch of an item: fields present replace, `null` clears.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemPatch(pub serde_json::Map<String, serde_json::Value>);

/// What an event batch did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ingested {
    /// Per input event, its fate.
    pub results: Vec<Appended>,
    /// Events stored now.
    pub inserted: usize,
    /// Events already stored (same event id).
    pub duplicates: usize,
}

/// Checks an id: 1..=256 bytes, no control characters.
pub fn check_id(what: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!("{what} is {} bytes; at most {MAX_ID_BYTES} are allowed", id.len()));
    }
    if id.chars().any(char::is_control) {
        return Err(format!("{what} must not contain control characters"));
    }
    Ok(())
}

/// Checks every field of an item record, naming the first bad one.
pub fn validate_item(r: &ItemRecord) -> Result<(), (String, String)> {
    let field = |f: &str, m: String| Err((f.to_owned(), m));
    if let Err(m) = check_id("id", &r.id) {
        return field("id", m);
    }
    if r.title.len() > MAX_TITLE_BYTES {
        return field("title", format!("at most {MAX_TITLE_BYTES} bytes"));
    }
    if r.description.len() > MAX_DESCRIPTION_BYTES {
        return field("description", format!("at most {MAX_DESCRIPTION_BYTES} bytes"));
    }
    for (name, list) in [("categories", &r.categories), ("tags", &r.tags)] {
        if list.len() > MAX_LABELS {
            return field(name, format!("at most {MAX_LABELS} entries"));
        }
        if let Some(bad) = list.iter().find(|c| c.is_empty() || c.len() > MAX_ID_BYTES) {
            return field(name, format!("entry {bad:?} must be 1..={MAX_ID_BYTES} bytes"));
        }
    }
    if r.price.is_some_and(|p| !(p.is_finite() && p >= 0.0)) {
        return field("price", "must be a finite number ≥ 0".to_owned());
    }
    Ok(())
}

/// Checks one event, naming the first bad field.
pub fn validate_event(e: &EventRecord) -> Result<(), (String, String)> {
    let field = |f: &str, m: String| Err((f.to_owned(), m));
    for (name, id) in [("user_id", Some(&e.user_id)), ("item_id", Some(&e.item_id))]
        .into_iter()
        .chain([("event_id", e.event_id.as_ref()), ("session_id", e.session_id.as_ref())])
        .chain([("recommendation_id", e.recommendation_id.as_ref())])
    {
        if let Some(id) = id
            && let Err(m) = check_id(name, id)
        {
            return field(name, m);
        }
    }
    match (e.kind, e.value) {
        (aisle_core::EventKind::Rating, None) => return field("value", "a rating needs a value".to_owned()),
        (_, Some(v)) if !v.is_finite() => return field("value", "must be a finite number".to_owned()),
        _ => {}
    }
    // Year 1970..=2200 in milliseconds: catches seconds passed as milliseconds and garbage.
    if !(0..=7_258_118_400_000).contains(&e.ts_ms) {
        return field("timestamp", "must be between 1970 and 2200".to_owned());
    }
    Ok(())
}

fn merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

impl Engine {
    /// Stores items (replacing by id) and updates the live catalog and the category index.
    pub async fn put_items(&self, mut items: Vec<ItemRecord>) -> Result<(), EngineError> {
        let now = now_ms();
        for r in &mut items {
            r.updated_at_ms = now;
        }
        let _w = self.ingest_lock.lock().await;
        self.store.put_items(items.clone()).await?;
        for r in items {
            self.catalog_put(r);
        }
        Ok(())
    }

    /// Puts a stored item into the live catalog and the serving category index.
    pub(crate) fn catalog_put(&self, r: ItemRecord) {
        let serving = self.serving();
        let mut cat = self.catalog.write();
        let id: Arc<str> = Arc::from(r.id.as_str());
        let old = cat.insert(id, Arc::new(r.clone()));
        if let Some(p) = &serving {
            p.recategorise(&r.id, old.as_ref().map_or(&[][..], |o| &o.categories), &r.categories);
        }
    }

    /// Takes a deleted item out of the live catalog and the serving category index.
    pub(crate) fn catalog_remove(&self, id: &str) {
        if let Some(old) = self.catalog.write().remove(id)
            && let Some(p) = self.serving()
        {
            p.recategorise(id, &old.categories, &[]);
        }
    }

    /// Applies a merge patch to item `id` (which must exist); returns the new record.
    pub async fn patch_item(&self, id: &str, patch: &ItemPatch) -> Result<ItemRecord, EngineError> {
        // Read-modify-write of one record: concurrent patches must not lose each other's fields.
        let _p = self.patch_lock.lock().await;
        let old =
            self.catalog.get(id).ok_or_else(|| EngineError::NotFound { what: "item", id: id.to_owned() })?;
        let mut value = serde_json::to_value(&*old).map_err(|e| EngineError::Invalid(e.to_string()))?;
        merge(&mut value, &serde_json::Value::Object(patch.0.clone()));
        if let serde_json::Value::Object(m) = &mut value {
            m.insert("id".to_owned(), serde_json::Value::String(id.to_owned()));
            for (k, default) in [("title", ""), ("description", "")] {
                m.entry(k).or_insert_with(|| serde_json::Value::String(default.to_owned()));
            }
            for k in ["categories", "tags"] {
                m.entry(k).or_insert_with(|| serde_json::Value::Array(Vec::new()));
            }
            m.entry("in_stock").or_insert(serde_json::Value::Bool(true));
            m.entry("attributes").or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
        }
        let new: ItemRecord =
            serde_json::from_value(value).map_err(|e| EngineError::Invalid(format!("patched item: {e}")))?;
        validate_item(&new).map_err(|(f, m)| EngineError::Invalid(format!("{f}: {m}")))?;
        self.put_items(vec![new.clone()]).await?;
        Ok(self.catalog.get(id).map_or(new, |r| (*r).clone()))
    }

    /// The item `id`.
    pub fn item(&self, id: &str) -> Option<Arc<ItemRecord>> {
        self.catalog.get(id)
    }

    /// Deletes item `id`; true when it existed. It stops being recommended at once.
    pub async fn delete_item(&self, id: &str) -> Result<bool, EngineError> {
        let _w = self.ingest_lock.lock().await;
        let existed = self.store.delete_item(id.to_owned()).await?;
        self.catalog_remove(id);
        Ok(existed)
    }

    /// A page of items in id order.
    pub async fn items(&self, page: PageRequest) -> Result<Page<ItemRecord>, EngineError> {
        Ok(self.store.items(page).await?)
    }

    /// Stores a user (replacing by id).
    pub async fn put_user(&self, mut user: UserRecord) -> Result<bool, EngineError> {
        user.updated_at_ms = now_ms();
        let existed = self.store.user(user.id.clone()).await?.is_some();
        self.store.put_users(vec![user]).await?;
        if !existed {
            self.users.fetch_add(1, Ordering::Relaxed);
        }
        Ok(existed)
    }

    /// Stores many users (replacing by id) in one transaction.
    pub async fn put_users(&self, mut users: Vec<UserRecord>) -> Result<(), EngineError> {
        let now = now_ms();
        for u in &mut users {
            u.updated_at_ms = now;
        }
        self.store.put_users(users).await?;
        self.users.store(self.store.counts().await?.users, Ordering::Relaxed);
        Ok(())
    }

    /// The user `id`.
    pub async fn user(&self, id: &str) -> Result<Option<UserRecord>, EngineError> {
        Ok(self.store.user(id.to_owned()).await?)
    }

    /// Deletes user `id` and their events; they are treated as unknown from the next request.
    pub async fn delete_user(&self, id: &str) -> Result<UserRemoval, EngineError> {
        let _w = self.ingest_lock.lock().await;
        let removed = self.store.delete_user(id.to_owned()).await?;
        let last = self.store.counts().await?.last_seq;
        self.history.remove(id);
        self.lock_forgotten().insert(id.to_owned(), last);
        if removed.existed {
            self.users.fetch_sub(1, Ordering::Relaxed);
        }
        self.events.fetch_sub(removed.events.min(self.events.load(Ordering::Relaxed)), Ordering::Relaxed);
        Ok(removed)
    }

    /// A page of users in id order.
    pub async fn users(&self, page: PageRequest) -> Result<Page<UserRecord>, EngineError> {
        Ok(self.store.users(page).await?)
    }

    /// Stores a batch of validated events durably, then makes them visible to fold-in and the
    /// popular lists before returning.
    pub async fn ingest(&self, events: Vec<EventRecord>) -> Result<Ingested, EngineError> {
        let _w = self.ingest_lock.lock().await;
        let results = self.store.append_events(events.clone()).await?;
        let inserted: Vec<(u64, &EventRecord)> = events
            .iter()
            .zip(&results)
            .filter_map(|(e, r)| match *r {
                Appended::Inserted(seq) => Some((seq, e)),
                Appended::Duplicate(_) => None,
            })
            .collect();
        {
            // The replication tail reads these back from the log too: it skips them, under the
            // ingest lock this method holds until they are applied.
            let mut tail = self.lock_tail();
            if tail.following {
                tail.own.extend(inserted.iter().map(|(seq, _)| *seq));
            }
        }
        let n = inserted.len();
        let mut by_kind = [0u64; aisle_core::EventKind::ALL.len()];
        for (_, e) in &inserted {
            if let Some(k) = aisle_core::EventKind::ALL.iter().position(|k| *k == e.kind) {
                by_kind[k] += 1;
            }
        }
        for (kind, n) in aisle_core::EventKind::ALL.iter().zip(by_kind) {
            if n > 0 {
                metrics::counter!("aisle_events_ingested_total", "type" => kind.as_str()).increment(n);
            }
        }
        self.apply_events(inserted);
        Ok(Ingested { inserted: n, duplicates: results.len() - n, results })
    }

    /// Makes stored events visible to popularity and fold-in. Called under the ingest lock, in
    /// sequence order per source (this replica's writes, or another's read from the log).
    pub(crate) fn apply_events<'a>(&self, events: impl IntoIterator<Item = (u64, &'a EventRecord)>) {
        let mut by_user: BTreeMap<&str, Vec<RecentEvent>> = BTreeMap::new();
        let mut seen: Vec<(Arc<str>, i64, f32)> = Vec::new();
        for (seq, e) in events {
            let w = self.config.weights.weight(e.kind, e.value.unwrap_or(1.0));
            let item: Arc<str> = Arc::from(e.item_id.as_str());
            seen.push((item.clone(), e.ts_ms, w));
            by_user.entry(&e.user_id).or_default().push(RecentEvent { seq, item, kind: e.kind, weight: w });
        }
        self.popular.record_many(seen.iter().map(|(item, ts, w)| (item, *ts, *w)));
        for (user, list) in by_user {
            self.history.append(user, &list);
        }
        self.events.fetch_add(seen.len() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_replaces_clears_and_recurses() {
        let mut v = serde_json::json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4});
        merge(&mut v, &serde_json::json!({"a": 9, "b": {"c": null}, "e": null, "f": [1]}));
        assert_eq!(v, serde_json::json!({"a": 9, "b": {"d": 3}, "f": [1]}));
    }

    #[test]
    fn ids_are_bounded_and_printable() {
        assert!(check_id("id", "sku-1").is_ok());
        assert!(check_id("id", "").is_err());
        assert!(check_id("id", &"x".repeat(257)).is_err());
        assert!(check_id("id", "a\nb").is_err());
    }
}
