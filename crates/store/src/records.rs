//! The plain data the store keeps and returns.

use std::collections::BTreeMap;

use aisle_core::EventKind;
use serde::{Deserialize, Serialize};

/// A catalog item as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// External item id (1..=256 bytes).
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
    /// Price, if known.
    pub price: Option<f64>,
    /// Whether the item can be bought now.
    pub in_stock: bool,
    /// Any other attributes.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// When the record was last written, Unix milliseconds.
    pub updated_at_ms: i64,
}

/// A user as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// External user id.
    pub id: String,
    /// Attributes (segment, country, ...).
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// When the record was last written, Unix milliseconds.
    pub updated_at_ms: i64,
}

/// What deleting a user removed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRemoval {
    /// Whether a user record existed.
    pub existed: bool,
    /// How many of their events were deleted.
    pub events: u64,
}

/// One event to append.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Client-chosen id for idempotency: a second event with the same id is not stored again.
    pub event_id: Option<String>,
    /// Who.
    pub user_id: String,
    /// What.
    pub item_id: String,
    /// What happened.
    pub kind: EventKind,
    /// The rating of a rating event; otherwise optional (e.g. a price).
    pub value: Option<f32>,
    /// When, Unix milliseconds.
    pub ts_ms: i64,
    /// The shopper's session, if known.
    pub session_id: Option<String>,
    /// The recommendation this event followed, for attribution.
    pub recommendation_id: Option<String>,
}

/// A stored event and its sequence number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Position in the store's event log (1, 2, ...; increasing, possibly with gaps).
    pub seq: u64,
    /// The event.
    pub event: EventRecord,
}

/// The fate of one appended event.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Appended {
    /// Stored now, at this sequence number.
    Inserted(u64),
    /// An event with the same `event_id` was stored before, at this sequence number.
    Duplicate(u64),
}

impl Appended {
    /// The sequence number of the stored event.
    pub fn seq(self) -> u64 {
        match self {
            Appended::Inserted(s) | Appended::Duplicate(s) => s,
        }
    }
}

/// How much the store holds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Catalog items.
    pub items: u64,
    /// Users with a record.
    pub users: u64,
    /// Events.
    pub events: u64,
    /// The highest event sequence number (0 when there are none).
    pub last_seq: u64,
}

/// A model version to store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewModel {
    /// The model's name (`ials`, ...).
    pub name: String,
    /// Its parameters as JSON.
    pub params: serde_json::Value,
    /// The highest event sequence number it was trained on.
    pub trained_on_seq: u64,
    /// Offline metrics (e.g. `ndcg@10`) from its evaluation.
    pub metrics: BTreeMap<String, f64>,
    /// When training finished, Unix milliseconds.
    pub created_at_ms: i64,
}

/// A stored model version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// 1, 2, ... in creation order.
    pub version: u64,
    /// Whether this is the serving version.
    pub active: bool,
    /// Artifact size in bytes.
    pub artifact_bytes: u64,
    /// What was stored.
    #[serde(flatten)]
    pub model: NewModel,
}

/// One page request of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many rows (callers bound it; 0 gives an empty page).
    pub limit: usize,
    /// The cursor of the previous page (`Page::next`), or none for the first page.
    pub after: Option<String>,
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The rows, in id order.
    pub rows: Vec<T>,
    /// Cursor of the next page; none when this is the last one.
    pub next: Option<String>,
}

/// A message that could not be taken in (bad JSON, an invalid event), kept with its reason so
/// that its partition moves on and nothing is lost silently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Where it came from, e.g. `kafka:events`.
    pub source: String,
    /// Its partition in the source (0 when the source has none).
    pub partition: i32,
    /// Its offset in the partition; `(source, partition, offset)` identifies a letter, so storing
    /// a redelivered one again is a no-op.
    pub offset: i64,
    /// The message as received.
    pub payload: Vec<u8>,
    /// Why it was refused.
    pub reason: String,
    /// When it was refused, Unix milliseconds.
    pub at_ms: i64,
}

/// A stored dead letter and its position in the dead-letter log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDeadLetter {
    /// 1, 2, ... in storing order.
    pub id: u64,
    /// The letter.
    pub letter: DeadLetter,
}
