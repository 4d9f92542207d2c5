//! The closed set of backends: what config opens and the engine serves.

use std::path::PathBuf;

use crate::{
    Appended, ChangeFeed, Counts, Credit, DeadLetter, EventRecord, ExperimentRecord, Impression,
    InterleaveOutcome, ItemRecord, Lease, ModelRecord, NewModel, Page, PageRequest, PgStore, PlacementRecord,
    Rollup, RollupQuery, SqliteStore, StateRecord, Store, StoreError, StoreResult, StoredDeadLetter,
    StoredEvent, Tombstone, UnitCounters, UserRecord, UserRemoval,
};

/// A store of any known backend, dispatched by exhaustive match.
#[derive(Clone, Debug)]
pub enum AnyStore {
    /// The embedded default.
    Sqlite(SqliteStore),
    /// PostgreSQL, for several replicas.
    Postgres(PgStore),
}

/// Rows read per page by [`AnyStore::all_items`] and [`AnyStore::all_users`].
const LISTING_PAGE: usize = 10_000;

/// Every row of a paged listing, page after page.
async fn every_page<T, Fut>(mut page: impl FnMut(PageRequest) -> Fut) -> StoreResult<Vec<T>>
where
    Fut: std::future::Future<Output = StoreResult<Page<T>>>,
{
    let (mut rows, mut after) = (Vec::new(), None);
    loop {
        let p = page(PageRequest { limit: LISTING_PAGE, after }).await?;
        rows.extend(p.rows);
        match p.next {
            Some(n) => after = Some(n),
            None => return Ok(rows),
        }
    }
}

impl AnyStore {
    /// The whole catalog, in id order (read page by page).
    pub async fn all_items(&self) -> StoreResult<Vec<ItemRecord>> {
        every_page(|p| self.items(p)).await
    }

    /// Every user record, in id order (read page by page).
    pub async fn all_users(&self) -> StoreResult<Vec<UserRecord>> {
        every_page(|p| self.users(p)).await
    }

    /// Opens the store `url` names: `sqlite://PATH`, `sqlite:PATH` or a plain file path open the
    /// embedded backend (creating the file if needed); `postgres://` or `postgresql://` connect to
    /// PostgreSQL (see [`PgStore::open`]).
    pub async fn open(url: &str) -> StoreResult<AnyStore> {
        let trimmed = url.trim();
        if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
            return Ok(AnyStore::Postgres(PgStore::open(trimmed).await?));
        }
        let path = sqlite_path(url)?;
        Ok(AnyStore::Sqlite(SqliteStore::open_off_runtime(path).await?))
    }

    /// Whether other processes may write to this store too (so that a replica must follow their
    /// writes and elect one trainer).
    pub fn is_shared(&self) -> bool {
        matches!(self, AnyStore::Postgres(_))
    }

    /// Whether another process wrote to a store only this process should write (the embedded
    /// store: an `aisle import` beside a running server); a shared store's other writers are
    /// followed by the replication tail, so `false` for it.
    pub async fn written_by_others(&self) -> StoreResult<bool> {
        match self {
            AnyStore::Sqlite(s) => s.written_by_others().await,
            AnyStore::Postgres(_) => Ok(false),
        }
    }

    /// The changes committed to a shared store; `None` for a store only this process writes.
    pub async fn changes(&self) -> StoreResult<Option<ChangeFeed>> {
        match self {
            AnyStore::Sqlite(_) => Ok(None),
            AnyStore::Postgres(s) => s.changes().await.map(Some),
        }
    }

    /// Takes leadership of a shared store if no other live replica holds it; a store only this
    /// process writes is always led by it ([`Leadership::Sole`]).
    pub async fn try_lead(&self) -> StoreResult<Option<Leadership>> {
        match self {
            AnyStore::Sqlite(_) => Ok(Some(Leadership::Sole)),
            AnyStore::Postgres(s) => Ok(s.try_lead().await?.map(Leadership::Lease)),
        }
    }
}

/// Proof of being the replica that trains.
#[derive(Debug)]
pub enum Leadership {
    /// The only process on an embedded store.
    Sole,
    /// Holder of the shared store's leader lock.
    Lease(Lease),
}

impl Leadership {
    /// Whether it is still held.
    pub async fn check(&mut self) -> bool {
        match self {
            Leadership::Sole => true,
            Leadership::Lease(l) => l.check().await,
        }
    }

    /// The fence a leader's activations carry ([`Store::activate_model`]): the lease's epoch on
    /// a shared store, none on a store only this process writes.
    pub fn fence(&self) -> Option<u64> {
        match self {
            Leadership::Sole => None,
            Leadership::Lease(l) => Some(l.epoch()),
        }
    }
}

/// Why a store URL names no backend this build has.
#[derive(Debug, thiserror::Error)]
enum UrlError {
    #[error("unknown store URL scheme {0:?}; use sqlite://PATH, postgres://... or a file path")]
    UnknownScheme(String),
    #[error("empty store path")]
    Empty,
}

/// The database file of a SQLite store URL.
fn sqlite_path(url: &str) -> StoreResult<PathBuf> {
    let url = url.trim();
    let path = match url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        Some(path) => path,
        None => match url.split_once("://") {
            Some((scheme, _)) => {
                return Err(StoreError::Backend(Box::new(UrlError::UnknownScheme(scheme.to_owned()))));
            }
            None => url,
        },
    };
    if path.is_empty() {
        return Err(StoreError::Backend(Box::new(UrlError::Empty)));
    }
    Ok(PathBuf::from(path))
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $e,
            AnyStore::Postgres($s) => $e,
        }
    };
}

impl Store for AnyStore {
    async fn put_items(&self, items: Vec<ItemRecord>) -> StoreResult<()> {
        dispatch!(self, s => s.put_items(items).await)
    }
    async fn item(&self, id: String) -> StoreResult<Option<ItemRecord>> {
        dispatch!(self, s => s.item(id).await)
    }
    async fn delete_item(&self, id: String) -> StoreResult<bool> {
        dispatch!(self, s => s.delete_item(id).await)
    }
    async fn items(&self, page: PageRequest) -> StoreResult<Page<ItemRecord>> {
        dispatch!(self, s => s.items(page).await)
    }
    async fn put_users(&self, users: Vec<UserRecord>) -> StoreResult<()> {
        dispatch!(self, s => s.put_users(users).await)
    }
    async fn user(&self, id: String) -> StoreResult<Option<UserRecord>> {
        dispatch!(self, s => s.user(id).await)
    }
    async fn delete_user(&self, id: String) -> StoreResult<UserRemoval> {
        dispatch!(self, s => s.delete_user(id).await)
    }
    async fn users(&self, page: PageRequest) -> StoreResult<Page<UserRecord>> {
        dispatch!(self, s => s.users(page).await)
    }
    async fn deleted_users(&self) -> StoreResult<Vec<Tombstone>> {
        dispatch!(self, s => s.deleted_users().await)
    }
    async fn prune_deleted_users(&self, below_seq: u64) -> StoreResult<usize> {
        dispatch!(self, s => s.prune_deleted_users(below_seq).await)
    }
    async fn append_events(&self, events: Vec<EventRecord>) -> StoreResult<Vec<Appended>> {
        dispatch!(self, s => s.append_events(events).await)
    }
    async fn defer_event_index(&self, defer: bool) -> StoreResult<()> {
        dispatch!(self, s => s.defer_event_index(defer).await)
    }
    async fn events_after(&self, after_seq: u64, limit: usize) -> StoreResult<Vec<StoredEvent>> {
        dispatch!(self, s => s.events_after(after_seq, limit).await)
    }
    async fn user_events_after(
        &self,
        user_id: String,
        after_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        dispatch!(self, s => s.user_events_after(user_id, after_seq, limit).await)
    }
    async fn counts(&self) -> StoreResult<Counts> {
        dispatch!(self, s => s.counts().await)
    }
    async fn put_model(&self, model: NewModel, artifact: Vec<u8>) -> StoreResult<ModelRecord> {
        dispatch!(self, s => s.put_model(model, artifact).await)
    }
    async fn models(&self) -> StoreResult<Vec<ModelRecord>> {
        dispatch!(self, s => s.models().await)
    }
    async fn model_artifact(&self, version: u64) -> StoreResult<Option<Vec<u8>>> {
        dispatch!(self, s => s.model_artifact(version).await)
    }
    async fn activate_model(&self, version: u64, fence: Option<u64>) -> StoreResult<ModelRecord> {
        dispatch!(self, s => s.activate_model(version, fence).await)
    }
    async fn active_model(&self) -> StoreResult<Option<ModelRecord>> {
        dispatch!(self, s => s.active_model().await)
    }
    async fn prune_models(&self, keep: usize) -> StoreResult<usize> {
        dispatch!(self, s => s.prune_models(keep).await)
    }
    async fn put_dead_letters(&self, letters: Vec<DeadLetter>) -> StoreResult<usize> {
        dispatch!(self, s => s.put_dead_letters(letters).await)
    }
    async fn dead_letters_after(&self, after_id: u64, limit: usize) -> StoreResult<Vec<StoredDeadLetter>> {
        dispatch!(self, s => s.dead_letters_after(after_id, limit).await)
    }
    async fn put_state(&self, state: StateRecord) -> StoreResult<bool> {
        dispatch!(self, s => s.put_state(state).await)
    }
    async fn state(&self, name: String) -> StoreResult<Option<StateRecord>> {
        dispatch!(self, s => s.state(name).await)
    }
    async fn flush(&self) -> StoreResult<()> {
        dispatch!(self, s => s.flush().await)
    }
}

impl crate::ImpactStore for AnyStore {
    async fn put_placement(
        &self,
        id: String,
        config: Option<String>,
        at_ms: i64,
    ) -> StoreResult<PlacementRecord> {
        dispatch!(self, s => s.put_placement(id, config, at_ms).await)
    }
    async fn placement(&self, id: String, version: Option<u64>) -> StoreResult<Option<PlacementRecord>> {
        dispatch!(self, s => s.placement(id, version).await)
    }
    async fn placements(&self) -> StoreResult<Vec<PlacementRecord>> {
        dispatch!(self, s => s.placements().await)
    }
    async fn create_experiment(&self, record: ExperimentRecord) -> StoreResult<bool> {
        dispatch!(self, s => s.create_experiment(record).await)
    }
    async fn update_experiment(&self, record: ExperimentRecord) -> StoreResult<bool> {
        dispatch!(self, s => s.update_experiment(record).await)
    }
    async fn experiments(&self) -> StoreResult<Vec<ExperimentRecord>> {
        dispatch!(self, s => s.experiments().await)
    }
    async fn log_impressions(&self, batch: Vec<Impression>) -> StoreResult<usize> {
        dispatch!(self, s => s.log_impressions(batch).await)
    }
    async fn impression(&self, recommendation_id: String) -> StoreResult<Option<Impression>> {
        dispatch!(self, s => s.impression(recommendation_id).await)
    }
    async fn user_impressions(
        &self,
        user_id: String,
        since_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<Impression>> {
        dispatch!(self, s => s.user_impressions(user_id, since_ms, limit).await)
    }
    async fn impressions_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> StoreResult<Vec<Impression>> {
        dispatch!(self, s => s.impressions_between(from_ms, to_ms, after, limit).await)
    }
    async fn prune_impressions(&self, before_ms: i64) -> StoreResult<usize> {
        dispatch!(self, s => s.prune_impressions(before_ms).await)
    }
    async fn attribution_cursor(&self) -> StoreResult<u64> {
        dispatch!(self, s => s.attribution_cursor().await)
    }
    async fn commit_attribution(
        &self,
        from_seq: u64,
        to_seq: u64,
        credits: Vec<Credit>,
    ) -> StoreResult<bool> {
        dispatch!(self, s => s.commit_attribution(from_seq, to_seq, credits).await)
    }
    async fn rollups(&self, query: RollupQuery) -> StoreResult<Vec<Rollup>> {
        dispatch!(self, s => s.rollups(query).await)
    }
    async fn experiment_units(&self, experiment: String) -> StoreResult<Vec<UnitCounters>> {
        dispatch!(self, s => s.experiment_units(experiment).await)
    }
    async fn interleave_outcomes(&self, experiment: String) -> StoreResult<Vec<InterleaveOutcome>> {
        dispatch!(self, s => s.interleave_outcomes(experiment).await)
    }
}
