//! aisle-engine: the service layer between the API and the store.
//!
//! Owns the serving model and its atomic hot swap, the live catalog, each shopper's events since
//! the model was trained (fold-in on the next request), popular lists, the similar-item cache,
//! ingest batches and training jobs. Maps external string ids to the model's dense indexes: they
//! never go further down. Knows no HTTP and no SQL: the server calls it, it calls a
//! [`aisle_store::Store`].
//!
//! Concurrency: requests read the serving [`Published`] through an `ArcSwap` (never blocked by
//! training, never a half-built model); training runs on the blocking pool and publishes by one
//! pointer swap; ingest is serialised by one async lock so that the in-memory history follows the
//! store's sequence order.

mod catalog;
mod config;
mod data;
mod error;
mod forget;
mod gate;
mod history;
pub mod impact;
mod jobs;
mod kafka;
mod popular;
mod published;
mod query;
mod recommend;
mod replica;
mod seed;
mod select;
mod serve;
mod state;
mod train;
pub mod wire;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aisle_core::Scored;
use aisle_store::{AnyStore, Store};
use arc_swap::ArcSwapOption;
use lru::LruCache;

pub use aisle_ingest::kafka::{KafkaConfig as KafkaSourceConfig, KafkaError as KafkaSourceError};
pub use aisle_records::validate::{self, MAX_ID_BYTES, check_id};
pub use aisle_records::{EventLimits, Invalid};
pub use catalog::LiveCatalog;
pub use config::{
    CacheConfig, EngineConfig, Gate, ImpactConfig, MAX_CANDIDATES, MAX_TRIALS, MAX_VALIDATION_STEPS,
    ModelChoice, ModelConfig, PopularConfig, ReplicationConfig, TrainingConfig,
};
pub use data::{Ingested, ItemPatch};
pub use error::EngineError;
pub use gate::{Comparison, MAX_UNEVALUATED, MIN_DRIFT_USERS, MIN_GATE_EVENTS};
pub use history::{HistoryCache, Recent, RecentEvent};
pub use jobs::{FollowUp, TrainOutcome, TrainRequest, TrainingStatus};
pub use kafka::{KafkaSink, run_kafka};
pub use popular::{Popularity, Window};
pub use published::{ARTIFACT_FORMAT, Artifact, Published};
pub use query::{
    Boost, Filters, PopularRequest, Reason, RecommendRequest, Recommendations, RecommendedItem, Source,
    Subject,
};
pub use seed::{Loaded, shop_records};
pub use select::{CandidateResult, Selection};

/// Unix milliseconds now (the engine's one clock; the core never reads one).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Similar-item lists by (model version, item).
type SimilarCache = LruCache<(u64, u32), Arc<Vec<Scored>>>;

/// Sizes the dashboard and `/metrics` report.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct EngineStats {
    /// Catalog items.
    pub items: u64,
    /// User records.
    pub users: u64,
    /// Stored events.
    pub events: u64,
    /// Users in the history cache.
    pub cached_users: u64,
    /// The serving model version, if any.
    pub serving_version: Option<u64>,
    /// Deleted users whose tombstones are kept.
    pub deleted_users: u64,
}

/// What is wrong with serving, for `/health/ready` and the log: the store's active version
/// could not be read, so another one (or popular lists) serves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServingHealth {
    /// Why serving is degraded, if it is.
    pub degraded: Option<String>,
    /// Versions that did not decode (not retried by a follower's polls).
    pub unreadable: std::collections::BTreeSet<u64>,
}

/// The engine. Cheap to share (`Arc<Engine>`); every method takes `&self`.
pub struct Engine {
    store: AnyStore,
    config: EngineConfig,
    catalog: LiveCatalog,
    serving: ArcSwapOption<Published>,
    history: HistoryCache,
    popular: Popularity,
    similar: Mutex<SimilarCache>,
    ingest_lock: tokio::sync::Mutex<()>,
    patch_lock: tokio::sync::Mutex<()>,
    training: Mutex<TrainingStatus>,
    events: AtomicU64,
    users: AtomicU64,
    /// Deleted users, for every version trained while they existed (see `forget`).
    forgotten: forget::Forgotten,
    /// Whether this replica trains (see `replica`).
    leader: AtomicBool,
    /// The epoch of the lease this replica leads by, the fence of its activations (none on the
    /// embedded store, which one process always leads).
    fence: Mutex<Option<u64>>,
    /// Whether the active version could be served.
    health: Mutex<ServingHealth>,
    /// Permits for CPU-heavy request work (scoring a catalog), run on the blocking pool: at most
    /// as many at once as there are cores, so a flood of expensive requests queues instead of
    /// stalling the async workers or spawning a thread each.
    cpu: tokio::sync::Semaphore,
    /// Where this replica is in a shared store's event log.
    tail: Mutex<replica::Tail>,
    /// Serialises swapping in a version (training, activation, following another replica).
    model_lock: tokio::sync::Mutex<()>,
    /// The sequence number of the last state kept in the store, + 1 (0: none kept yet).
    saved_state: AtomicU64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("store", &self.store).field("items", &self.catalog.len()).finish()
    }
}

impl Engine {
    /// Opens the engine over `store`: validates `config`, loads the catalog, restores the state
    /// kept in the store (popularity, the known-empty index; see `state.rs`) and counts the event
    /// log after it (all of it without a usable state), and loads the active model version, if any.
    pub async fn open(store: AnyStore, config: EngineConfig) -> Result<Arc<Engine>, EngineError> {
        config.validate()?;
        // Seconds since the previous call: each phase of the start, for the log line at the end.
        let mut mark = std::time::Instant::now();
        let mut lap = move || {
            let now = std::time::Instant::now();
            let s = now.duration_since(mark).as_secs_f64();
            mark = now;
            s
        };
        let items = store.all_items().await?;
        let catalog_s = lap();
        let counts = store.counts().await?;
        let counts_s = lap();
        let popular = Popularity::new(now_ms(), config.popular.cache_ttl_ms);
        let history = HistoryCache::new(config.cache.history_users, config.cache.history_events_per_user);
        let active = store.active_model().await?;
        history.start_index(active.as_ref().map_or(0, |m| m.model.trained_on_seq));
        let forgotten = forget::Forgotten::default();
        forgotten.load(store.deleted_users().await?);
        let catalog = LiveCatalog::new(items);
        let (popular, history, mut seq) = state::restore(&store, &config, popular, history).await?;
        let restored_seq = seq;
        let restore_s = lap();
        loop {
            let page = store.events_after(seq, 50_000).await?;
            let Some(last) = page.last() else { break };
            seq = last.seq;
            let (now, read) = (now_ms(), catalog.read());
            let counted: Vec<(Arc<str>, i64, f32)> = page
                .iter()
                .filter(|e| popular_counts(&config, &read, &e.event, now))
                .map(|e| {
                    let w = config.weights.weight(e.event.kind, e.event.value.unwrap_or(1.0));
                    (Arc::from(e.event.item_id.as_str()), e.event.ts_ms, w)
                })
                .collect();
            popular.record_many(counted.iter().map(|(i, ts, w)| (i, *ts, *w)), popular_cap(&config, &read));
            drop(read);
            for e in &page {
                history.note(&e.event.user_id, e.seq);
            }
        }
        let scan_s = lap();
        let similar_cap = NonZeroUsize::new(config.cache.similar_items).unwrap_or(NonZeroUsize::MIN);
        let cores = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
        let engine = Arc::new(Engine {
            history,
            similar: Mutex::new(LruCache::new(similar_cap)),
            catalog,
            serving: ArcSwapOption::empty(),
            popular,
            ingest_lock: tokio::sync::Mutex::new(()),
            patch_lock: tokio::sync::Mutex::new(()),
            training: Mutex::new(TrainingStatus::default()),
            events: AtomicU64::new(counts.events),
            users: AtomicU64::new(counts.users),
            forgotten,
            leader: AtomicBool::new(!store.is_shared()),
            fence: Mutex::new(None),
            health: Mutex::new(ServingHealth::default()),
            cpu: tokio::sync::Semaphore::new(cores),
            tail: Mutex::new(replica::Tail { cursor: seq, ..Default::default() }),
            model_lock: tokio::sync::Mutex::new(()),
            // A restored state needs no writing again until the log moves past it.
            saved_state: AtomicU64::new(if restored_seq > 0 && restored_seq == seq { seq + 1 } else { 0 }),
            store,
            config,
        });
        if let Some(active) = active {
            engine.load_or_fall_back(active).await?;
        }
        tracing::info!(
            items = engine.catalog.len(),
            events = counts.events,
            restored_seq,
            catalog_s,
            counts_s,
            restore_s,
            scan_s,
            model_s = lap(),
            "engine opened"
        );
        Ok(engine)
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &AnyStore {
        &self.store
    }

    /// The serving version, if any.
    pub fn serving(&self) -> Option<Arc<Published>> {
        self.serving.load_full()
    }

    /// The live catalog.
    pub fn catalog(&self) -> &LiveCatalog {
        &self.catalog
    }

    /// Current sizes.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            items: self.catalog.len() as u64,
            users: self.users.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            cached_users: self.history.len() as u64,
            serving_version: self.serving().map(|p| p.version()),
            deleted_users: self.forgotten.len() as u64,
        }
    }

    /// Whether serving is degraded (an unreadable active version), for readiness.
    pub fn serving_health(&self) -> ServingHealth {
        self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Runs CPU-heavy request work (scoring, ranking a catalog) on the blocking pool, at most one
    /// job per core at a time; the async workers stay free for I/O and cheap requests.
    pub(crate) async fn cpu<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, EngineError> {
        let _permit = self.cpu.acquire().await.map_err(|e| EngineError::Task(e.to_string()))?;
        Ok(tokio::task::spawn_blocking(work).await?)
    }

    /// Keeps the engine state ([`Engine::save_state`]) and makes everything durable (graceful
    /// shutdown).
    pub async fn flush(self: &Arc<Self>) -> Result<(), EngineError> {
        self.save_state().await?;
        let _ingest = self.ingest_lock.lock().await;
        Ok(self.store.flush().await?)
    }
}

/// Whether an event counts towards popular lists: its time is not beyond the clock skew (a
/// far-future time would pin its item in every window), and its item is in the catalog (with no
/// catalog at all, every item counts, up to `popular.max_items`).
pub(crate) fn popular_counts(
    config: &EngineConfig,
    catalog: &catalog::CatalogRead<'_>,
    e: &aisle_store::EventRecord,
    now_ms: i64,
) -> bool {
    e.ts_ms <= config.events.latest_ms(now_ms)
        && (catalog.is_empty() || catalog.contains_key(e.item_id.as_str()))
}

/// The bound on distinct items popular lists count: the catalog when there is one, else
/// `popular.max_items`.
pub(crate) fn popular_cap(config: &EngineConfig, catalog: &catalog::CatalogRead<'_>) -> Option<usize> {
    catalog.is_empty().then_some(config.popular.max_items)
}
