//! The live catalog: every item record in memory, updated in place as the API writes, read by
//! every recommendation to apply filters (stock, price, category) and to show titles and prices.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use aisle_store::ItemRecord;

/// Item records by id behind one lock; writers hold it only to swap an `Arc`.
#[derive(Debug, Default)]
pub struct LiveCatalog {
    items: RwLock<HashMap<Arc<str>, Arc<ItemRecord>>>,
}

/// A read view of the catalog for the length of one request.
pub type CatalogRead<'a> = RwLockReadGuard<'a, HashMap<Arc<str>, Arc<ItemRecord>>>;

impl LiveCatalog {
    /// A catalog holding `items`.
    pub fn new(items: Vec<ItemRecord>) -> Self {
        let map = items.into_iter().map(|r| (Arc::<str>::from(r.id.as_str()), Arc::new(r))).collect();
        Self { items: RwLock::new(map) }
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
