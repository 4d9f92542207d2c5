//! Writes and reads of catalog items, users and events: validation, the store write, then the
//! in-memory state that follows it (live catalog, category index, history cache, popularity).

use std::future::Future;
use std::sync::Arc;

use aisle_records::validate::validate_item;
use aisle_store::{Appended, EventRecord, ItemRecord, Page, PageRequest, Store, UserRecord, UserRemoval};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::log::{Applying, Batch};
use crate::{Engine, EngineError, now_ms, popular_cap, popular_counts};

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
    /// Runs a write to completion in a task of its own: the store commit and the in-memory state
    /// that follows it happen together even when the caller stops waiting (a client that hangs
    /// up, a request timeout). Otherwise a committed write could miss its in-memory half until a
    /// restart, and a retry would be a duplicate that is never applied either.
    async fn detached<T, F>(self: &Arc<Self>, write: impl FnOnce(Arc<Engine>) -> F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, EngineError>> + Send + 'static,
    {
        tokio::spawn(write(Arc::clone(self))).await?
    }

    /// Stores items (replacing by id) and updates the live catalog and the category index.
    pub async fn put_items(self: &Arc<Self>, items: Vec<ItemRecord>) -> Result<(), EngineError> {
        self.detached(move |e| async move { e.put_items_now(items).await }).await
    }

    async fn put_items_now(&self, mut items: Vec<ItemRecord>) -> Result<(), EngineError> {
        let now = now_ms();
        for r in &mut items {
            r.updated_at_ms = now;
        }
        let _w = self.log.applying().await;
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
    pub async fn patch_item(
        self: &Arc<Self>,
        id: &str,
        patch: &ItemPatch,
    ) -> Result<ItemRecord, EngineError> {
        // Read-modify-write of one record: concurrent patches must not lose each other's fields.
        let _p = self.catalog.patching().await;
        let old =
            self.catalog.get(id).ok_or_else(|| EngineError::NotFound { what: "item", id: id.to_owned() })?;
        let mut value = serde_json::to_value(&*old).map_err(|e| EngineError::Invalid(e.to_string()))?;
        merge(&mut value, &serde_json::Value::Object(patch.0.clone()));
        if let serde_json::Value::Object(m) = &mut value {
            // A cleared field takes its default (the record's serde defaults); the id stays.
            m.insert("id".to_owned(), serde_json::Value::String(id.to_owned()));
        }
        let new: ItemRecord =
            serde_json::from_value(value).map_err(|e| EngineError::Invalid(format!("patched item: {e}")))?;
        validate_item(&new).map_err(|e| EngineError::Invalid(e.to_string()))?;
        self.put_items(vec![new.clone()]).await?;
        Ok(self.catalog.get(id).map_or(new, |r| (*r).clone()))
    }

    /// The item `id`.
    pub fn item(&self, id: &str) -> Option<Arc<ItemRecord>> {
        self.catalog.get(id)
    }

    /// Deletes item `id`; true when it existed. It stops being recommended at once.
    pub async fn delete_item(self: &Arc<Self>, id: &str) -> Result<bool, EngineError> {
        let id = id.to_owned();
        self.detached(move |e| async move {
            let _w = e.log.applying().await;
            let existed = e.store.delete_item(id.clone()).await?;
            e.catalog_remove(&id);
            Ok(existed)
        })
        .await
    }

    /// A page of items in id order.
    pub async fn items(&self, page: PageRequest) -> Result<Page<ItemRecord>, EngineError> {
        Ok(self.store.items(page).await?)
    }

    /// Stores a user (replacing by id).
    pub async fn put_user(self: &Arc<Self>, mut user: UserRecord) -> Result<bool, EngineError> {
        self.detached(move |e| async move {
            user.updated_at_ms = now_ms();
            let existed = e.store.user(user.id.clone()).await?.is_some();
            e.store.put_users(vec![user]).await?;
            if !existed {
                e.log.user_added();
            }
            Ok(existed)
        })
        .await
    }

    /// Stores many users (replacing by id) in one transaction.
    pub async fn put_users(self: &Arc<Self>, mut users: Vec<UserRecord>) -> Result<(), EngineError> {
        self.detached(move |e| async move {
            let now = now_ms();
            for u in &mut users {
                u.updated_at_ms = now;
            }
            e.store.put_users(users).await?;
            e.log.set_users(e.store.counts().await?.users);
            Ok(())
        })
        .await
    }

    /// The user `id`.
    pub async fn user(&self, id: &str) -> Result<Option<UserRecord>, EngineError> {
        Ok(self.store.user(id.to_owned()).await?)
    }

    /// Deletes user `id` and their events; they are treated as unknown from the next request,
    /// by every stored model version that may hold them, on every replica and after a restart
    /// (the store keeps a tombstone; see `forget`).
    pub async fn delete_user(self: &Arc<Self>, id: &str) -> Result<UserRemoval, EngineError> {
        let id = id.to_owned();
        self.detached(move |e| async move {
            let _w = e.log.applying().await;
            let removed = e.store.delete_user(id.clone()).await?;
            e.log.user_deleted(&id, removed.at_seq, removed.existed, removed.events);
            Ok(removed)
        })
        .await
    }

    /// A page of users in id order.
    pub async fn users(&self, page: PageRequest) -> Result<Page<UserRecord>, EngineError> {
        Ok(self.store.users(page).await?)
    }

    /// Stores a batch of validated events durably, then makes them visible to fold-in and the
    /// popular lists before returning. Both halves run to the end even if the caller stops
    /// waiting.
    pub async fn ingest(self: &Arc<Self>, events: Vec<EventRecord>) -> Result<Ingested, EngineError> {
        self.detached(move |e| async move { e.ingest_now(events, None).await }).await
    }

    /// [`Engine::ingest`] as a task of its own, and a signal sent once its events are stored and it
    /// holds the apply lock (dropped unsent if the write fails). A bulk load starts the next
    /// batch's store write on that signal: the log keeps the load's order, batches are applied in
    /// that order, and one batch is applied while the next is written.
    pub(crate) fn ingest_in_turn(
        self: &Arc<Self>,
        events: Vec<EventRecord>,
    ) -> (oneshot::Receiver<()>, JoinHandle<Result<Ingested, EngineError>>) {
        let (stored, signal) = oneshot::channel();
        let engine = Arc::clone(self);
        (signal, tokio::spawn(async move { engine.ingest_now(events, Some(stored)).await }))
    }

    async fn ingest_now(
        &self,
        events: Vec<EventRecord>,
        stored: Option<oneshot::Sender<()>>,
    ) -> Result<Ingested, EngineError> {
        // The store write runs outside the apply lock, beside other writes (a shared store takes
        // them at once); applying what it stored waits for the lock.
        let writing = self.log.writing();
        let results = self.store.append_events(events.clone()).await?;
        let lock = self.log.applying().await;
        if let Some(stored) = stored {
            // The receiver may be gone (a load that stopped waiting); the events are stored anyway.
            let _sent = stored.send(());
        }
        let inserted: Vec<(u64, &EventRecord)> = events
            .iter()
            .zip(&results)
            .filter_map(|(e, r)| match *r {
                Appended::Inserted(seq) => Some((seq, e)),
                Appended::Duplicate(_) => None,
            })
            .collect();
        // Only what the replication tail has not read back and applied already.
        let fresh = self.log.applied_by_write(&lock, writing, &inserted, self.store.is_shared());
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
        self.apply_events(&lock, fresh);
        Ok(Ingested { inserted: n, duplicates: results.len() - n, results })
    }

    /// Makes stored events visible to popularity and fold-in (see [`crate::log::EventLog::apply`]): weighs
    /// them, and counts for popular lists the ones in the catalog and not too far in the future.
    pub(crate) fn apply_events<'a>(
        &self,
        lock: &Applying<'_>,
        events: impl IntoIterator<Item = (u64, &'a EventRecord)>,
    ) {
        let mut batch = Batch::default();
        let (now, catalog) = (now_ms(), self.catalog.read());
        for (seq, e) in events {
            let w = self.config.weights.weight(e.kind, e.value.unwrap_or(1.0));
            batch.push(seq, e, w, popular_counts(&self.config, &catalog, e, now));
        }
        batch.popular_cap = popular_cap(&self.config, &catalog);
        drop(catalog);
        self.log.apply(lock, batch);
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
}
