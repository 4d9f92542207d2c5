//! Catalog items: what the shop sells, indexed by the same dense item indexes as events.

use aisle_core::{ItemAttributes, ItemIdx};
use aisle_records::ItemRecord;

/// Item metadata by [`ItemIdx`]; items seen only in events have none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    items: Vec<Option<ItemRecord>>,
    described: usize,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// The metadata of `item`, if described.
    pub fn get(&self, item: ItemIdx) -> Option<&ItemRecord> {
        self.items.get(item.index()).and_then(Option::as_ref)
    }

    /// True when `item` is described.
    pub fn contains(&self, item: ItemIdx) -> bool {
        self.get(item).is_some()
    }

    /// Number of described items.
    pub fn len(&self) -> usize {
        self.described
    }

    /// True when no item is described (no catalog was loaded).
    pub fn is_empty(&self) -> bool {
        self.described == 0
    }

    /// Described items in index order.
    pub fn iter(&self) -> impl Iterator<Item = (ItemIdx, &ItemRecord)> {
        self.items.iter().enumerate().filter_map(|(k, m)| Some((ItemIdx(k as u32), m.as_ref()?)))
    }

    /// What content and hybrid models learn from, for items `0..n_items` (`None` where an item
    /// is not described).
    pub fn attributes(&self, n_items: usize) -> Vec<Option<ItemAttributes>> {
        (0..n_items).map(|i| self.get(ItemIdx(i as u32)).map(ItemRecord::model_attributes)).collect()
    }

    /// Sets the metadata of `item`, replacing any previous one.
    pub fn insert(&mut self, item: ItemIdx, meta: ItemRecord) {
        let k = item.index();
        if k >= self.items.len() {
            self.items.resize_with(k + 1, || None);
        }
        if self.items[k].replace(meta).is_none() {
            self.described += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_counts_described_items_once() {
        let mut c = Catalog::new();
        assert!(c.is_empty());
        c.insert(ItemIdx(3), ItemRecord::new("x", "X"));
        c.insert(ItemIdx(3), ItemRecord::new("x", "X2"));
        c.insert(ItemIdx(0), ItemRecord::new("a", "A"));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(ItemIdx(3)).map(|m| m.title.as_str()), Some("X2"));
        assert!(!c.contains(ItemIdx(1)));
        assert!(!c.contains(ItemIdx(9)));
        assert_eq!(c.iter().map(|(i, _)| i.0).collect::<Vec<_>>(), [0, 3]);
        let attrs = c.attributes(5);
        assert_eq!(attrs.len(), 5);
        assert_eq!(attrs[3].as_ref().map(|a| a.title.as_str()), Some("X2"));
        assert!(attrs[1].is_none() && attrs[4].is_none());
    }
}
