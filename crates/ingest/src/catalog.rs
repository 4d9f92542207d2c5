//! Catalog items: what the shop sells, indexed by the same dense item indexes as events.

use aisle_core::{ItemAttributes, ItemIdx};
use serde::{Deserialize, Serialize};

/// One catalog item. Also the line schema of [`crate::ItemFormat::CatalogJsonl`]; every field
/// but `id` may be omitted (`in_stock` then defaults to true).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ItemMeta {
    /// External item id.
    pub id: String,
    /// Display title.
    pub title: String,
    /// Free-text description.
    pub description: String,
    /// Categories, e.g. a parent and a leaf path.
    pub categories: Vec<String>,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Brand, if known.
    pub brand: Option<String>,
    /// Price, if known (non-negative, finite).
    pub price: Option<f64>,
    /// Whether the item can be bought now.
    pub in_stock: bool,
    /// Any other attributes (release year, url, ...).
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl Default for ItemMeta {
    fn default() -> Self {
        Self {
            id: String::new(),
            title: String::new(),
            description: String::new(),
            categories: Vec::new(),
            tags: Vec::new(),
            brand: None,
            price: None,
            in_stock: true,
            attributes: serde_json::Map::new(),
        }
    }
}

impl ItemMeta {
    /// An item with only an id and a title.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self { id: id.into(), title: title.into(), ..Self::default() }
    }
}

/// Item metadata by [`ItemIdx`]; items seen only in events have none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    items: Vec<Option<ItemMeta>>,
    described: usize,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// The metadata of `item`, if described.
    pub fn get(&self, item: ItemIdx) -> Option<&ItemMeta> {
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
    pub fn iter(&self) -> impl Iterator<Item = (ItemIdx, &ItemMeta)> {
        self.items.iter().enumerate().filter_map(|(k, m)| Some((ItemIdx(k as u32), m.as_ref()?)))
    }

    /// What content and hybrid models learn from, for items `0..n_items` (`None` where an item
    /// is not described).
    pub fn attributes(&self, n_items: usize) -> Vec<Option<ItemAttributes>> {
        (0..n_items)
            .map(|i| {
                self.get(ItemIdx(i as u32)).map(|m| ItemAttributes {
                    title: m.title.clone(),
                    description: m.description.clone(),
                    tags: m.tags.clone(),
                    categories: m.categories.clone(),
                    brand: m.brand.clone(),
                    price: m.price,
                })
            })
            .collect()
    }

    /// Sets the metadata of `item`, replacing any previous one.
    pub fn insert(&mut self, item: ItemIdx, meta: ItemMeta) {
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
        c.insert(ItemIdx(3), ItemMeta::new("x", "X"));
        c.insert(ItemIdx(3), ItemMeta::new("x", "X2"));
        c.insert(ItemIdx(0), ItemMeta::new("a", "A"));
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
