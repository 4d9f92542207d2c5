//! Persistence for aisle: catalog items, users, events and trained model artifacts behind one
//! [`Store`] trait, with the embedded SQLite backend ([`SqliteStore`], the default: one database
//! file, zero set-up) and, through [`AnyStore`], a closed set of backends the engine serves.
//!
//! The trait is async and takes owned arguments so that a networked backend (PostgreSQL, next)
//! implements it directly; the SQLite backend runs its blocking calls on tokio's blocking pool.
//! Every backend runs the same conformance suite (`tests/it/conformance.rs`).

mod any;
mod codec;
mod error;
mod impact;
mod postgres;
mod records;
mod sqlite;

use std::future::Future;

pub use any::{AnyStore, Leadership};

/// Bytes of each part a model artifact is stored in: a large shop's artifact (a million items and
/// shoppers, with similar-item lists) passes the one-gigabyte limit of a single SQLite blob or
/// PostgreSQL `bytea`.
pub const ARTIFACT_PART_BYTES: usize = 16 * 1024 * 1024;
pub use codec::redact_url;
pub use error::StoreError;
pub use impact::{
    Credit, CreditKind, ExperimentRecord, ImpactStore, Impression, InterleaveOutcome, PlacementRecord,
    Rollup, RollupQuery, Shown, UnitCounters, hour_bucket,
};
pub use postgres::{Change, ChangeFeed, Lease, PgStore};
pub use records::{
    Appended, Counts, DeadLetter, EventRecord, ItemRecord, ModelRecord, NewModel, Page, PageRequest,
    StateRecord, StoredDeadLetter, StoredEvent, Tombstone, UserRecord, UserRemoval,
};
pub use sqlite::SqliteStore;

/// Result of every store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// What aisle keeps: the system of record for catalog, users, events and model versions.
///
/// Writes are durable when their future resolves: a crash after that loses nothing. Batch writes
/// are all-or-nothing. Listing is keyset-paginated by id (cursors are opaque strings).
pub trait Store: Send + Sync + 'static {
    /// Inserts or replaces items by id, all in one transaction.
    fn put_items(&self, items: Vec<ItemRecord>) -> impl Future<Output = StoreResult<()>> + Send;

    /// The item with `id`, if any.
    fn item(&self, id: String) -> impl Future<Output = StoreResult<Option<ItemRecord>>> + Send;

    /// Deletes the item; true when it existed. Its events stay (they are history).
    fn delete_item(&self, id: String) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Items in id order after `page.after`, at most `page.limit`.
    fn items(&self, page: PageRequest) -> impl Future<Output = StoreResult<Page<ItemRecord>>> + Send;

    /// Inserts or replaces users by id, all in one transaction.
    fn put_users(&self, users: Vec<UserRecord>) -> impl Future<Output = StoreResult<()>> + Send;

    /// The user with `id`, if any.
    fn user(&self, id: String) -> impl Future<Output = StoreResult<Option<UserRecord>>> + Send;

    /// Deletes the user and every event of theirs (a shopper's right to be forgotten), and keeps
    /// a [`Tombstone`] at the log's newest sequence number, in one transaction.
    fn delete_user(&self, id: String) -> impl Future<Output = StoreResult<UserRemoval>> + Send;

    /// Every kept tombstone: model versions trained on events up to a tombstone's `at_seq` may
    /// hold that user and must not serve them.
    fn deleted_users(&self) -> impl Future<Output = StoreResult<Vec<Tombstone>>> + Send;

    /// Forgets the tombstones below `below_seq` (no stored model version was trained that
    /// early any more); returns how many.
    fn prune_deleted_users(&self, below_seq: u64) -> impl Future<Output = StoreResult<usize>> + Send;

    /// Users in id order after `page.after`, at most `page.limit`.
    fn users(&self, page: PageRequest) -> impl Future<Output = StoreResult<Page<UserRecord>>> + Send;

    /// Appends events in one durable transaction and returns, in input order, each one's fate: a
    /// new sequence number, or the sequence number of the earlier event with the same `event_id`
    /// (idempotent re-send; also within one batch). Sequence numbers increase with every insert.
    fn append_events(
        &self,
        events: Vec<EventRecord>,
    ) -> impl Future<Output = StoreResult<Vec<Appended>>> + Send;

    /// Prepares the event log for (`defer`) or ends a bulk load of many events: while deferred,
    /// the embedded store keeps no per-user index on the log and builds it once, sorted, when
    /// `defer` is `false` again. That is several times cheaper than a random B-tree insert per
    /// event, and each commit no longer rewrites the index pages it touched. Reads stay correct
    /// meanwhile (a user's events are found by a scan, slowly), appends stay durable and
    /// idempotent, and a store opened with the index missing (a load that stopped half way)
    /// builds it again. PostgreSQL does nothing here: replicas serve from the shared log.
    fn defer_event_index(&self, defer: bool) -> impl Future<Output = StoreResult<()>> + Send;

    /// Events with sequence number above `after_seq`, in sequence order, at most `limit`, never
    /// past a sequence number an append still in flight may commit: a caller that reads on from
    /// the last one it got (a replica's tail) misses no event committed late. An empty answer
    /// means nothing more may be read now.
    fn events_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<StoredEvent>>> + Send;

    /// The events of one user with sequence number above `after_seq`, in sequence order, at most
    /// `limit` (the newest `limit` when there are more).
    fn user_events_after(
        &self,
        user_id: String,
        after_seq: u64,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<StoredEvent>>> + Send;

    /// How many items, users and events are stored, and the highest event sequence number.
    fn counts(&self) -> impl Future<Output = StoreResult<Counts>> + Send;

    /// Stores a trained model's artifact and metadata as a new version (numbered 1, 2, ... in
    /// creation order); does not activate it.
    fn put_model(
        &self,
        model: NewModel,
        artifact: Vec<u8>,
    ) -> impl Future<Output = StoreResult<ModelRecord>> + Send;

    /// Every stored model version, newest first.
    fn models(&self) -> impl Future<Output = StoreResult<Vec<ModelRecord>>> + Send;

    /// The artifact of `version`, if stored.
    fn model_artifact(&self, version: u64) -> impl Future<Output = StoreResult<Option<Vec<u8>>>> + Send;

    /// Marks `version` as the serving one (exactly one is active); `NotFound` if it is not stored.
    ///
    /// With a `fence` (the epoch of a [`Lease`]), the activation commits only if that lease is
    /// still the store's current leadership, checked inside the activating transaction: a replica
    /// that lost the lease while it trained cannot publish over its successor ([`StoreError::Fenced`]).
    fn activate_model(
        &self,
        version: u64,
        fence: Option<u64>,
    ) -> impl Future<Output = StoreResult<ModelRecord>> + Send;

    /// The serving version, if one was ever activated.
    fn active_model(&self) -> impl Future<Output = StoreResult<Option<ModelRecord>>> + Send;

    /// Deletes the oldest versions beyond the newest `keep`, never the active one; returns how many
    /// were deleted.
    fn prune_models(&self, keep: usize) -> impl Future<Output = StoreResult<usize>> + Send;

    /// Stores dead letters in one transaction, skipping any already stored (same source,
    /// partition and offset); returns how many were new.
    fn put_dead_letters(&self, letters: Vec<DeadLetter>) -> impl Future<Output = StoreResult<usize>> + Send;

    /// Dead letters with id above `after_id`, in id order, at most `limit`.
    fn dead_letters_after(
        &self,
        after_id: u64,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<StoredDeadLetter>>> + Send;

    /// Keeps `state` under its name unless one with a higher `seq` is stored there already (a
    /// replica's older state never replaces another's newer one); returns whether it was kept.
    fn put_state(&self, state: StateRecord) -> impl Future<Output = StoreResult<bool>> + Send;

    /// The state kept under `name`, if any.
    fn state(&self, name: String) -> impl Future<Output = StoreResult<Option<StateRecord>>> + Send;

    /// Makes everything written so far durable and releases what can be released (called on
    /// graceful shutdown).
    fn flush(&self) -> impl Future<Output = StoreResult<()>> + Send;
}
