//! Dense indexes and the map from external string ids to them.
//!
//! Shops use string ids; models use dense `u32` indexes so that scores live in flat arrays. The
//! [`IdMap`] is the only place the two meet, and it is used at the boundary (import, serving),
//! never inside a scoring loop.

use std::collections::HashMap;

/// A user's dense index, `0..n_users`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserIdx(pub u32);

/// An item's dense index, `0..n_items`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemIdx(pub u32);

impl UserIdx {
    /// The index as `usize`, for slicing.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl ItemIdx {
    /// The index as `usize`, for slicing.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A bijection between external string ids and dense `u32` indexes, in insertion order.
#[derive(Clone, Debug, Default)]
pub struct IdMap {
    index: HashMap<Box<str>, u32>,
    ids: Vec<Box<str>>,
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `id`, inserting it with the next free index if it is new.
    pub fn get_or_insert(&mut self, id: &str) -> u32 {
        if let Some(&idx) = self.index.get(id) {
            return idx;
        }
        let idx = u32::try_from(self.ids.len()).expect("more than u32::MAX distinct ids");
        let boxed: Box<str> = id.into();
        self.ids.push(boxed.clone());
        self.index.insert(boxed, idx);
        idx
    }

    /// Makes room for `additional` more ids without growing on the way.
    pub fn reserve(&mut self, additional: usize) {
        self.index.reserve(additional);
        self.ids.reserve(additional);
    }

    /// The index of `id`, if known.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The external id of `idx`, if in range.
    pub fn id(&self, idx: u32) -> Option<&str> {
        self.ids.get(idx as usize).map(|s| &**s)
    }

    /// Number of distinct ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no id was inserted.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// External ids in index order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &str> {
        self.ids.iter().map(|s| &**s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idmap_is_a_bijection_in_insertion_order() {
        let mut m = IdMap::new();
        assert_eq!(m.get_or_insert("b"), 0);
        assert_eq!(m.get_or_insert("a"), 1);
        assert_eq!(m.get_or_insert("b"), 0);
        assert_eq!(m.len(), 2);
        assert_eq!(m.get("a"), Some(1));
        assert_eq!(m.get("zz"), None);
        assert_eq!(m.id(0), Some("b"));
        assert_eq!(m.id(2), None);
        assert_eq!(m.ids().collect::<Vec<_>>(), ["b", "a"]);
    }
}
