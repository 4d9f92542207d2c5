//! The plain data the store keeps and returns.

use std::collections::BTreeMap;

pub use aisle_records::{EventRecord, ItemRecord, UserRecord};
use serde::{Deserialize, Serialize};

/// What deleting a user removed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRemoval {
    /// Whether a user record existed.
    pub existed: bool,
    /// How many of their events were deleted.
    pub events: u64,
    /// The highest event sequence number when they were deleted: a model trained on events up
    /// to this number may hold them, a later one cannot.
    pub at_seq: u64,
}

/// A deleted user, kept so that no model version trained while they existed serves them again
/// (after a restart, on another replica, after a rollback).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// The deleted user's id.
    pub user_id: String,
    /// [`UserRemoval::at_seq`] of their (latest) deletion.
    pub at_seq: u64,
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

/// State derived from the event log (the engine's popularity counters, say), kept so that a start
/// reads the log only after `seq` instead of all of it. The body is opaque to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateRecord {
    /// What the state is, e.g. `engine`.
    pub name: String,
    /// The state covers every event up to this sequence number, and none after it.
    pub seq: u64,
    /// When it was written, Unix milliseconds.
    pub at_ms: i64,
    /// The state, encoded by its writer.
    pub body: Vec<u8>,
}

/// A stored dead letter and its position in the dead-letter log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDeadLetter {
    /// 1, 2, ... in storing order.
    pub id: u64,
    /// The letter.
    pub letter: DeadLetter,
}
