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
//! pointer swap; what the store wrote is applied under one async lock, the event log's, so that
//! the in-memory history follows the store's sequence order.
//!
//! The [`Engine`] is made of parts that each own their state and locks: the catalog
//! (`catalog.rs`), serving (`serving.rs`), the event log and what follows it (`log.rs`),
//! training (`jobs.rs`) and replication (`replica.rs`), plus the impact part (`impact/`) beside
//! it. The order in which their locks may be taken is written on [`Engine`].

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
mod kept;
mod log;
mod popular;
mod published;
mod query;
mod recommend;
mod replica;
mod seed;
mod select;
mod serve;
mod serving;
mod state;
mod train;
pub mod wire;

use std::num::NonZeroUsize;
use std::sync::Arc;

use aisle_store::{AnyStore, Store};

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
pub use seed::{EventBatches, InOrder, LOAD_BATCH, Loaded, shop_records};
pub use select::{CandidateResult, Selection};
pub use serving::ServingHealth;

/// Unix milliseconds now (the engine's one clock; the core never reads one).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

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

/// The engine. Cheap to share (`Arc<Engine>`); every method takes `&self`.
///
/// It is the store, the configuration and five parts, each owning its state and locks (see
/// each part's module). Lock order, for the locks one task may hold at once (an async lock may
/// be held across awaits, a std lock never is):
///
/// 1. the catalog's patch lock (`catalog.rs`), held over an item's read-modify-write;
/// 2. serving's swap lock (`serving.rs`), held while a version is activated and swapped in;
/// 3. the event log's apply lock (`log.rs`), held while what the store wrote is applied;
/// 4. std locks: the catalog's records, then the leaves, one at a time (every other std lock:
///    the log's tail, the history cache's, popularity's, the tombstones', serving's health and
///    similar-items LRU, the training status, the tombstones the last training read applied, the
///    fence; a version's category index takes its `categories` then its `blocks`, see
///    `published.rs`).
///
/// A task takes a lock only after the ones above it in this list, never the other way round;
/// the swap lock and the apply lock are never held together, and a std lock is released before
/// any await.
pub struct Engine {
    store: AnyStore,
    config: EngineConfig,
    /// Items, and the patch lock.
    catalog: LiveCatalog,
    /// The serving version, its swap lock and health, the similar-items LRU, the CPU permits.
    serving: serving::Serving,
    /// The event log as applied here: the apply lock, the tail, fold-in profiles, popularity,
    /// tombstones and counts.
    log: log::EventLog,
    /// The training slot and what the jobs did.
    training: jobs::Training,
    /// Whether this replica leads, and its fence.
    replication: replica::Replication,
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
        let cores = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
        // A restored state needs no writing again until the log moves past it.
        let kept = restored_seq > 0 && restored_seq == seq;
        let engine = Arc::new(Engine {
            catalog,
            serving: serving::Serving::new(config.cache.similar_items, cores),
            log: log::EventLog::new(history, popular, forgotten, &counts, seq, kept),
            training: jobs::Training::default(),
            replication: replica::Replication::new(!store.is_shared()),
            store,
            config,
        });
        if let Some(active) = active {
            let swap = engine.serving.swapping().await;
            engine.load_or_fall_back(&swap, active).await?;
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
        self.serving.get()
    }

    /// The live catalog.
    pub fn catalog(&self) -> &LiveCatalog {
        &self.catalog
    }

    /// Current sizes.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            items: self.catalog.len() as u64,
            users: self.log.users(),
            events: self.log.events(),
            cached_users: self.log.history.len() as u64,
            serving_version: self.serving().map(|p| p.version()),
            deleted_users: self.log.forgotten.len() as u64,
        }
    }

    /// Whether serving is degraded (an unreadable active version), for readiness.
    pub fn serving_health(&self) -> ServingHealth {
        self.serving.health()
    }

    /// Runs CPU-heavy request work (scoring, ranking a catalog) on the blocking pool, at most one
    /// job per core at a time; the async workers stay free for I/O and cheap requests.
    pub(crate) async fn cpu<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, EngineError> {
        self.serving.cpu(work).await
    }

    /// Keeps the engine state ([`Engine::save_state`]) and makes everything durable (graceful
    /// shutdown).
    pub async fn flush(self: &Arc<Self>) -> Result<(), EngineError> {
        self.save_state().await?;
        let _lock = self.log.applying().await;
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
