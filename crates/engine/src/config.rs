//! The engine's part of aisle's one typed config: which model to train and serve, how training is
//! scheduled and gated, how event kinds weigh, and how much memory the caches may use.

use aisle_core::EventWeights;
use aisle_core::models::registry::ModelSpec;
use serde::{Deserialize, Serialize};

use crate::EngineError;

/// Everything the engine is configured with. Every field has a default; `deny_unknown_fields`
/// makes a misspelt key an error at start-up instead of a silently ignored setting.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// The model trained and served.
    pub model: ModelConfig,
    /// When and how models are trained and published.
    pub training: TrainingConfig,
    /// Memory bounds of the request-time caches.
    pub cache: CacheConfig,
    /// The confidence each event kind adds (ratings weigh their value).
    pub weights: EventWeights,
    /// Popular-list settings.
    pub popular: PopularConfig,
    /// How replicas on a shared store follow each other.
    pub replication: ReplicationConfig,
}

/// The served model: a name from the model registry and parameter overrides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// A model name (`ials`, `bpr`, `item-knn`, `ease`, `hybrid`, ...). Default `ials`.
    pub name: String,
    /// Parameters over the model's defaults, e.g. `{ factors = 64, iterations = 15 }`.
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self { name: "ials".to_owned(), params: serde_json::Map::new() }
    }
}

impl ModelConfig {
    /// The validated model spec.
    pub fn spec(&self) -> Result<ModelSpec, EngineError> {
        let mut spec: ModelSpec =
            self.name.parse().map_err(|e: aisle_core::models::registry::UnknownModel| {
                EngineError::Config { key: "model.name".to_owned(), reason: e.to_string() }
            })?;
        spec.merge(&serde_json::Value::Object(self.params.clone())).map_err(|e| EngineError::Config {
            key: format!("model.params.{}", e.field),
            reason: e.to_string(),
        })?;
        spec.validate().map_err(|e| EngineError::Config {
            key: format!("model.params.{}", e.field),
            reason: e.to_string(),
        })?;
        Ok(spec)
    }
}

/// Whether a newly trained model replaces the serving one.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Publish only if its holdout NDCG@10 is not worse than the serving model's configuration
    /// fitted and evaluated on the same split (minus `tolerance`).
    NotWorse,
    /// Always publish.
    Always,
}

/// Training schedule and publication.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    /// Seconds between scheduled trainings; 0 = only on demand. Default 3600.
    pub interval_s: u64,
    /// Train once at start-up when no model has been published yet. Default true.
    pub on_start: bool,
    /// The publication gate. Default `not_worse`.
    pub gate: Gate,
    /// How much lower the candidate's NDCG@10 may be and still count as not worse. Default 0.
    pub tolerance: f64,
    /// Share of the newest events held out to evaluate a candidate, in (0, 0.5]. Default 0.1.
    pub holdout_ratio: f64,
    /// Fewer events than this: no training (popular lists serve). Default 100.
    pub min_events: u64,
    /// Model versions kept in the store besides the serving one. Default 5.
    pub keep_versions: usize,
    /// Seed of every fit. Default 42.
    pub seed: u64,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            interval_s: 3600,
            on_start: true,
            gate: Gate::NotWorse,
            tolerance: 0.0,
            holdout_ratio: 0.1,
            min_events: 100,
            keep_versions: 5,
            seed: 42,
        }
    }
}

/// Memory bounds of the caches (entries, not bytes: each bound is stated per entry below).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Users whose events since the serving model are kept in memory (LRU). Default 100,000.
    pub history_users: usize,
    /// Newest events kept per user (about 40 bytes each). Default 200.
    pub history_events_per_user: usize,
    /// Items whose similar-item lists are kept (LRU; `similar_depth` entries of 8 bytes each).
    /// Default 20,000.
    pub similar_items: usize,
    /// Length of a cached similar-item list. Default 100.
    pub similar_depth: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            history_users: 100_000,
            history_events_per_user: 200,
            similar_items: 20_000,
            similar_depth: 100,
        }
    }
}

/// Popular lists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PopularConfig {
    /// How long a computed popular list is reused, in milliseconds. Default 1000.
    pub cache_ttl_ms: u64,
}

impl Default for PopularConfig {
    fn default() -> Self {
        Self { cache_ttl_ms: 1000 }
    }
}

/// Replicas on a shared (PostgreSQL) store: how often each one re-reads what the others wrote
/// when no notification arrives, and how often a follower tries to become the leader. Ignored on
/// the embedded store (one process).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationConfig {
    /// Poll interval in milliseconds: the bound on how late another replica's write is seen if
    /// its notification is lost (normally it is seen within milliseconds). Default 1000.
    pub poll_ms: u64,
    /// How often a follower tries to take leadership, and the leader checks it still holds it,
    /// in milliseconds. Default 2000.
    pub leader_check_ms: u64,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self { poll_ms: 1000, leader_check_ms: 2000 }
    }
}

impl EngineConfig {
    /// Checks every field, naming the first bad key.
    pub fn validate(&self) -> Result<(), EngineError> {
        self.model.spec()?;
        let bad = |key: &str, reason: &str| {
            Err(EngineError::Config { key: key.to_owned(), reason: reason.to_owned() })
        };
        let t = &self.training;
        if !(t.holdout_ratio > 0.0 && t.holdout_ratio <= 0.5) {
            return bad("training.holdout_ratio", "must be in (0, 0.5]");
        }
        if !(t.tolerance.is_finite() && t.tolerance >= 0.0) {
            return bad("training.tolerance", "must be a finite number ≥ 0");
        }
        if t.keep_versions == 0 {
            return bad("training.keep_versions", "must be ≥ 1");
        }
        let c = &self.cache;
        if c.history_users == 0 || c.history_events_per_user == 0 {
            return bad("cache.history_users", "history cache bounds must be ≥ 1");
        }
        if c.similar_items == 0 || c.similar_depth == 0 {
            return bad("cache.similar_items", "similar-item cache bounds must be ≥ 1");
        }
        let r = &self.replication;
        if !(10..=600_000).contains(&r.poll_ms) {
            return bad("replication.poll_ms", "must be 10..=600000");
        }
        if !(100..=600_000).contains(&r.leader_check_ms) {
            return bad("replication.leader_check_ms", "must be 100..=600000");
        }
        Ok(())
    }
}
