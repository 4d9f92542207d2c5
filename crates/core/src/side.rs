//! Side information: what is known about items and users besides their interactions.
//!
//! Content-based and hybrid models read it; collaborative models ignore it. It is plain data
//! indexed by the same dense indexes as the interaction matrix, filled at the boundary (import,
//! the store) from the catalog and the user records.

/// What the catalog says about one item: the fields content and hybrid models learn from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemAttributes {
    /// Display title.
    pub title: String,
    /// Free-text description.
    pub description: String,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Categories (a leaf and its parents, or genres).
    pub categories: Vec<String>,
    /// Brand, if known.
    pub brand: Option<String>,
    /// Price, if known.
    pub price: Option<f64>,
}

/// Item and user attributes of one training set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SideInfo {
    /// By item index; `None` (or past the end) where the item is not described.
    pub items: Vec<Option<ItemAttributes>>,
    /// By user index: categorical attributes as `key=value` tokens (`segment=loyal`); empty (or
    /// past the end) where nothing is known.
    pub users: Vec<Vec<String>>,
}

/// No side information at all, for contexts that have none.
pub static NO_SIDE_INFO: SideInfo = SideInfo { items: Vec::new(), users: Vec::new() };

impl SideInfo {
    /// The attributes of item `i`, if described.
    pub fn item(&self, i: usize) -> Option<&ItemAttributes> {
        self.items.get(i).and_then(Option::as_ref)
    }

    /// The attribute tokens of user `u` (empty when unknown).
    pub fn user(&self, u: usize) -> &[String] {
        self.users.get(u).map_or(&[], Vec::as_slice)
    }

    /// Number of described items.
    pub fn described_items(&self) -> usize {
        self.items.iter().filter(|i| i.is_some()).count()
    }

    /// Number of users with at least one attribute.
    pub fn described_users(&self) -> usize {
        self.users.iter().filter(|u| !u.is_empty()).count()
    }
}
