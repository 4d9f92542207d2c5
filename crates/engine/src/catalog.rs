//! The live catalog: every item record in memory, updated in place as the API writes, read by
//! every recommendation to apply filters (stock, price, category) and to show titles and prices.
//!
//! The engine's catalog part. It owns two locks: the records' `RwLock` (a std lock, held only to
//! read a request's fields or to swap an `Arc`, never across an await) and the patch lock (an
//! async mutex held over an item's read-modify-write, so that concurrent merge patches do not lose
//! each other's fields; the store write it waits for takes the event log's apply lock inside it).

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use aisle_store::ItemRecord;

/// Item records by id behind one lock; writers hold it only to swap an `Arc`.
#[derive(Debug, Default)]
pub struct LiveCatalog {
    items: RwLock<HashMap<Arc<str>, Arc<ItemRecord>>>,
    patch: tokio::sync::Mutex<()>,
}

/// A read view of the catalog for the length of one request.
pub type CatalogRead<'a> = RwLockReadGuard<'a, HashMap<Arc<str>, Arc<ItemRecord>>>;

impl LiveCatalog {
    /// A catalog holding `items`.
    pub fn new(items: Vec<ItemRecord>) -> Self {
        let map = items.into_iter().map(|r| (Arc::<str>::from(r.id.as_str()), Arc::new(r))).collect();
        Self { items: RwLock::new(map), patch: tokio::sync::Mutex::new(()) }
    }

    /// Takes the patch lock, for one item's read-modify-write.
    pub(crate) async fn patching(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.patch.lock().await
    }

    /// A read view (recommendation paths take it once per request).
    pub fn read(&self) -> CatalogRead<'_> {
        self.items.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, HashMap<Arc<str>, Arc<ItemRecord>>> {
        self.items.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The record of `id`.
    pub fn get(&self, id: &str) -> Option<Arc<ItemRecord>> {
        self.read().get(id).cloned()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Every record, in no particular order (training and index builds).
    pub fn snapshot(&self) -> Vec<Arc<ItemRecord>> {
        self.read().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, price: f64) -> ItemRecord {
        ItemRecord { id: id.into(), price: Some(price), ..ItemRecord::default() }
    }

    #[tokio::test]
    async fn writes_swap_records_and_patches_take_turns() {
        let catalog = LiveCatalog::new(vec![item("a", 1.0), item("b", 2.0)]);
        assert_eq!((catalog.len(), catalog.get("a").and_then(|r| r.price)), (2, Some(1.0)));
        // A reader's record outlives the write that replaces it.
        let before = catalog.get("a").expect("a");
        catalog.write().insert(Arc::from("a"), Arc::new(item("a", 3.0)));
        assert_eq!((before.price, catalog.get("a").and_then(|r| r.price)), (Some(1.0), Some(3.0)));
        catalog.write().remove("b");
        assert_eq!(catalog.snapshot().len(), 1);
        // While one patch runs, another waits.
        let first = catalog.patching().await;
        assert!(catalog.patch.try_lock().is_err());
        drop(first);
        assert!(catalog.patch.try_lock().is_ok());
        assert!(!LiveCatalog::default().read().contains_key("a"));
    }
}
