//! The embedded backend: one SQLite database file in WAL mode.
//!
//! One writer connection serialises every write (SQLite allows one writer at a time anyway, and a
//! single connection keeps its prepared statements hot); a small pool of read-only connections
//! serves reads concurrently with it, which WAL mode allows. All blocking work runs on tokio's
//! blocking pool so that the async runtime never waits on the disk.

mod catalog;
mod dead;
mod events;
mod impact;
mod models;
mod pool;
mod schema;
mod state;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rusqlite::Connection;

use crate::codec::{backend as db, corrupt, sql_limit, sql_seq, stored_u64};
use crate::{
    Appended, Counts, Credit, DeadLetter, EventRecord, ExperimentRecord, Impression, InterleaveOutcome,
    ItemRecord, ModelRecord, NewModel, Page, PageRequest, PlacementRecord, Rollup, RollupQuery, StateRecord,
    Store, StoreError, StoreResult, StoredDeadLetter, StoredEvent, Tombstone, UnitCounters, UserRecord,
    UserRemoval,
};

use pool::ReaderPool;

/// The embedded SQLite store: one database file (plus its `-wal` and `-shm` companions).
///
/// Clones are cheap and share the connections. Every write is committed with `synchronous=FULL`,
/// so a write whose future resolved survives a process kill and a power loss.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: ReaderPool,
    /// The writer connection's `PRAGMA data_version` when the store was opened: it changes only
    /// when another connection (another process) commits, never by this connection's own commits.
    data_version_at_open: i64,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

/// Why the database could not be opened, beyond what SQLite itself reports.
#[derive(Debug, thiserror::Error)]
enum OpenError {
    #[error("cannot create the directory {path:?} for the store")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the SQLite database {path:?}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if needed) the database at `path`, configures
    /// it (WAL, `synchronous=FULL`, foreign keys, a busy timeout) and migrates its schema.
    ///
    /// Fails with [`StoreError::Corrupt`] when the file was written by a newer aisle (a schema
    /// version this build does not know), and with [`StoreError::Backend`] when it cannot be
    /// created, opened or migrated.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|source| db(OpenError::CreateDir { path: parent.to_path_buf(), source }))?;
        }
        let mut writer =
            Connection::open(&path).map_err(|source| db(OpenError::Open { path: path.clone(), source }))?;
        schema::configure_writer(&writer)?;
        schema::migrate(&mut writer)?;
        schema::defer_event_index(&mut writer, false)?;
        let data_version_at_open = schema::data_version(&writer)?;
        let readers = ReaderPool::new(path.clone());
        Ok(SqliteStore {
            inner: Arc::new(Inner { path, writer: Mutex::new(writer), readers, data_version_at_open }),
        })
    }

    /// The database file this store was opened on.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Opens the store on tokio's blocking pool, for async callers.
    pub(crate) async fn open_off_runtime(path: PathBuf) -> StoreResult<SqliteStore> {
        tokio::task::spawn_blocking(move || SqliteStore::open(path)).await.map_err(db)?
    }

    /// Whether another connection (another process: an `aisle import` beside a running server)
    /// committed to the database since it was opened.
    pub async fn written_by_others(&self) -> StoreResult<bool> {
        let at_open = self.inner.data_version_at_open;
        self.write(move |conn| Ok(schema::data_version(conn)? != at_open)).await
    }

    /// Runs `f` on the writer connection, on the blocking pool.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&mut lock(&inner.writer))).await.map_err(db)?
    }

    /// Runs `f` on a read-only connection from the pool, on the blocking pool.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.readers.with(f)).await.map_err(db)?
    }
}

impl Store for SqliteStore {
    async fn put_items(&self, items: Vec<ItemRecord>) -> StoreResult<()> {
        self.write(move |conn| catalog::put_items(conn, &items)).await
    }

    async fn item(&self, id: String) -> StoreResult<Option<ItemRecord>> {
        self.read(move |conn| catalog::item(conn, &id)).await
    }

    async fn delete_item(&self, id: String) -> StoreResult<bool> {
        self.write(move |conn| catalog::delete_item(conn, &id)).await
    }

    async fn items(&self, page: PageRequest) -> StoreResult<Page<ItemRecord>> {
        self.read(move |conn| catalog::items(conn, &page)).await
    }

    async fn put_users(&self, users: Vec<UserRecord>) -> StoreResult<()> {
        self.write(move |conn| catalog::put_users(conn, &users)).await
    }

    async fn user(&self, id: String) -> StoreResult<Option<UserRecord>> {
        self.read(move |conn| catalog::user(conn, &id)).await
    }

    async fn delete_user(&self, id: String) -> StoreResult<UserRemoval> {
        let at_ms = crate::codec::now_ms();
        self.write(move |conn| catalog::delete_user(conn, &id, at_ms)).await
    }

    async fn deleted_users(&self) -> StoreResult<Vec<Tombstone>> {
        self.read(catalog::deleted_users).await
    }

    async fn prune_deleted_users(&self, below_seq: u64) -> StoreResult<usize> {
        self.write(move |conn| catalog::prune_deleted_users(conn, below_seq)).await
    }

    async fn users(&self, page: PageRequest) -> StoreResult<Page<UserRecord>> {
        self.read(move |conn| catalog::users(conn, &page)).await
    }

    async fn append_events(&self, events: Vec<EventRecord>) -> StoreResult<Vec<Appended>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.write(move |conn| events::append(conn, &events)).await
    }

    async fn defer_event_index(&self, defer: bool) -> StoreResult<()> {
        self.write(move |conn| schema::defer_event_index(conn, defer)).await
    }

    async fn events_after(&self, after_seq: u64, limit: usize) -> StoreResult<Vec<StoredEvent>> {
        self.read(move |conn| events::after(conn, after_seq, limit)).await
    }

    async fn user_events_after(
        &self,
        user_id: String,
        after_seq: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.read(move |conn| events::user_after(conn, &user_id, after_seq, limit)).await
    }

    async fn counts(&self) -> StoreResult<Counts> {
        self.read(events::counts).await
    }

    async fn put_model(&self, model: NewModel, artifact: Vec<u8>) -> StoreResult<ModelRecord> {
        self.write(move |conn| models::put(conn, model, &artifact)).await
    }

    async fn models(&self) -> StoreResult<Vec<ModelRecord>> {
        self.read(models::all).await
    }

    async fn model_artifact(&self, version: u64) -> StoreResult<Option<Vec<u8>>> {
        self.read(move |conn| models::artifact(conn, version)).await
    }

    async fn activate_model(&self, version: u64, _fence: Option<u64>) -> StoreResult<ModelRecord> {
        // One process writes an embedded store: it always leads, so there is no lease to check.
        self.write(move |conn| models::activate(conn, version)).await
    }

    async fn active_model(&self) -> StoreResult<Option<ModelRecord>> {
        self.read(models::active).await
    }

    async fn prune_models(&self, keep: usize) -> StoreResult<usize> {
        self.write(move |conn| models::prune(conn, keep)).await
    }

    async fn put_dead_letters(&self, letters: Vec<DeadLetter>) -> StoreResult<usize> {
        if letters.is_empty() {
            return Ok(0);
        }
        self.write(move |conn| dead::put(conn, &letters)).await
    }

    async fn dead_letters_after(&self, after_id: u64, limit: usize) -> StoreResult<Vec<StoredDeadLetter>> {
        self.read(move |conn| dead::after(conn, after_id, limit)).await
    }

    async fn put_state(&self, state: StateRecord) -> StoreResult<bool> {
        self.write(move |conn| state::put(conn, &state)).await
    }

    async fn state(&self, name: String) -> StoreResult<Option<StateRecord>> {
        self.read(move |conn| state::get(conn, &name)).await
    }

    async fn flush(&self) -> StoreResult<()> {
        self.write(schema::checkpoint).await
    }
}

/// Locks `mutex` even when a thread panicked while holding it: every multi-statement write runs in
/// a `rusqlite::Transaction`, which rolls back when dropped during unwinding, so the connection is
/// consistent again by the time the lock is released.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl crate::ImpactStore for SqliteStore {
    async fn put_placement(
        &self,
        id: String,
        config: Option<String>,
        at_ms: i64,
    ) -> StoreResult<PlacementRecord> {
        self.write(move |conn| impact::put_placement(conn, &id, config.as_deref(), at_ms)).await
    }

    async fn placement(&self, id: String, version: Option<u64>) -> StoreResult<Option<PlacementRecord>> {
        self.read(move |conn| impact::placement(conn, &id, version)).await
    }

    async fn placements(&self) -> StoreResult<Vec<PlacementRecord>> {
        self.read(impact::placements).await
    }

    async fn create_experiment(&self, record: ExperimentRecord) -> StoreResult<bool> {
        self.write(move |conn| impact::create_experiment(conn, &record)).await
    }

    async fn update_experiment(&self, record: ExperimentRecord) -> StoreResult<bool> {
        self.write(move |conn| impact::update_experiment(conn, &record)).await
    }

    async fn experiments(&self) -> StoreResult<Vec<ExperimentRecord>> {
        self.read(impact::experiments).await
    }

    async fn log_impressions(&self, batch: Vec<Impression>) -> StoreResult<usize> {
        if batch.is_empty() {
            return Ok(0);
        }
        self.write(move |conn| impact::log_impressions(conn, &batch)).await
    }

    async fn impression(&self, recommendation_id: String) -> StoreResult<Option<Impression>> {
        self.read(move |conn| impact::impression(conn, &recommendation_id)).await
    }

    async fn user_impressions(
        &self,
        user_id: String,
        since_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<Impression>> {
        self.read(move |conn| impact::user_impressions(conn, &user_id, since_ms, limit)).await
    }

    async fn impressions_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> StoreResult<Vec<Impression>> {
        self.read(move |conn| impact::impressions_between(conn, from_ms, to_ms, after.as_ref(), limit)).await
    }

    async fn prune_impressions(&self, before_ms: i64) -> StoreResult<usize> {
        self.write(move |conn| impact::prune_impressions(conn, before_ms)).await
    }

    async fn attribution_cursor(&self) -> StoreResult<u64> {
        self.read(impact::attribution_cursor).await
    }

    async fn commit_attribution(
        &self,
        from_seq: u64,
        to_seq: u64,
        credits: Vec<Credit>,
    ) -> StoreResult<bool> {
        self.write(move |conn| impact::commit_attribution(conn, from_seq, to_seq, &credits)).await
    }

    async fn rollups(&self, query: RollupQuery) -> StoreResult<Vec<Rollup>> {
        self.read(move |conn| impact::rollups(conn, &query)).await
    }

    async fn experiment_units(&self, experiment: String) -> StoreResult<Vec<UnitCounters>> {
        self.read(move |conn| impact::experiment_units(conn, &experiment)).await
    }

    async fn interleave_outcomes(&self, experiment: String) -> StoreResult<Vec<InterleaveOutcome>> {
        self.read(move |conn| impact::interleave_outcomes(conn, &experiment)).await
    }
}
