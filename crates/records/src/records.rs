//! The records: what a shop's catalog item, user and event are, wherever they come from.

use aisle_core::{EventKind, ItemAttributes};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A catalog item. The same record is written by the API, read from catalog files, generated for
/// the demo shop, kept by the store and served back. Every field but `id` may be omitted when it
/// is read (`in_stock` then defaults to true).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ItemRecord {
    /// External item id (1..=256 bytes, no control characters).
    pub id: String,
    /// Display title (may be empty).
    pub title: String,
    /// Free-text description (may be empty).
    pub description: String,
    /// Categories, e.g. a parent and a leaf.
    pub categories: Vec<String>,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Brand, if known.
    pub brand: Option<String>,
    /// Price, if known (finite, ≥ 0).
    pub price: Option<f64>,
    /// Whether the item can be bought now.
    pub in_stock: bool,
    /// Any other attributes (release year, url, colour, ...).
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// When the record was last written, Unix milliseconds (0 until stored).
    pub updated_at_ms: i64,
}

impl Default for ItemRecord {
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
            updated_at_ms: 0,
        }
    }
}

impl ItemRecord {
    /// An item with only an id and a title.
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self { id: id.into(), title: title.into(), ..Self::default() }
    }

    /// What content and hybrid models learn from the item.
    pub fn model_attributes(&self) -> ItemAttributes {
        ItemAttributes {
            title: self.title.clone(),
            description: self.description.clone(),
            tags: self.tags.clone(),
            categories: self.categories.clone(),
            brand: self.brand.clone(),
            price: self.price,
        }
    }
}

/// A user (shopper) and their attributes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserRecord {
    /// External user id.
    pub id: String,
    /// Attributes (segment, country, ...); strings, numbers and booleans become features of the
    /// hybrid model.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// When the record was last written, Unix milliseconds (0 until stored).
    pub updated_at_ms: i64,
}

/// One event: a shopper did something with an item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Idempotency key: a second event with the same id is not stored again.
    pub event_id: Option<String>,
    /// Who.
    pub user_id: String,
    /// What.
    pub item_id: String,
    /// What happened.
    pub kind: EventKind,
    /// The rating of a rating event; otherwise optional (e.g. a price or a quantity).
    pub value: Option<f32>,
    /// When, Unix milliseconds.
    pub ts_ms: i64,
    /// The shopper's session, if known.
    pub session_id: Option<String>,
    /// The recommendation this event followed, for attribution.
    pub recommendation_id: Option<String>,
}
