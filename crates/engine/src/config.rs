//! The engine's part of aisle's one typed config: which model to train and serve, how training is
//! scheduled and gated, how event kinds weigh, and how much memory the caches may use.

use aisle_core::EventWeights;
use aisle_core::models::registry::{ModelSpec, UnknownModel};
use aisle_records::EventLimits;
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
    /// The bounds of event values and times, applied to every event however it arrives.
    pub events: EventLimits,
    /// Impressions, attribution and placements.
    pub impact: ImpactConfig,
}

/// How served lists are logged and events attributed to them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImpactConfig {
    /// Log every served list as an impression. Default true.
    pub log_impressions: bool,
    /// Impressions waiting to be written; when full, new ones are dropped and counted
    /// (`aisle_impressions_dropped_total`), never waited for. Default 65,536.
    pub queue: usize,
    /// Most impressions written in one transaction. Default 2,000.
    pub batch: usize,
    /// How often the queue is written and new events attributed, in milliseconds. Default 200.
    pub flush_ms: u64,
    /// Impressions older than this many days are deleted (rollups stay). Default 90.
    pub retention_days: u32,
    /// An event without a recommendation id is credited to the newest impression that showed
    /// its item to the same shopper within this many days (last touch). Default 7.
    pub window_days: u32,
    /// Most placements. Default 200.
    pub max_placements: usize,
}

impl Default for ImpactConfig {
    fn default() -> Self {
        Self {
            log_impressions: true,
            queue: 65_536,
            batch: 2_000,
            flush_ms: 200,
            retention_days: 90,
            window_days: 7,
            max_placements: 200,
        }
    }
}

/// The served model: `auto` (chosen by validation among `candidates`), or a name from the
/// model registry with parameter overrides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// `auto` (the default): every training fits each of `candidates` with `trials` settings on
    /// each shopper's steps but the last `validation_steps + 1`, scores each by the NDCG@10 of
    /// the `validation_steps` before the last (each from the steps before it: the validation
    /// cases of `aisle eval --split leave-last-one`, more than one per shopper), and trains the
    /// best. Or a model name (`ials`, `bpr`, `item-knn`, `ease`, `hybrid`, `sknn`, `sr`,
    /// `sasrec`, ...) to train that one.
    pub name: String,
    /// Parameters over the model's defaults, e.g. `{ factors = 64, iterations = 15 }` (not with
    /// `auto`).
    pub params: serde_json::Map<String, serde_json::Value>,
    /// With `auto`: the models tried, by name, at most [`MAX_CANDIDATES`]. Default a neighbour
    /// model, a factor model and the two session models: `item-knn`, `ials`, `sknn`, `sr`.
    pub candidates: Vec<String>,
    /// With `auto`: models that fit in minutes where the `candidates` fit in seconds, by name, at
    /// most [`MAX_CANDIDATES`]. Default `sasrec`; `[]` turns them off. They do not hold up the
    /// training: once the `candidates`' winner is stored, a follow-up job (holding the training
    /// slot) fits each of them with its defaults beside that winner's setting on a fresh
    /// snapshot's validation split, and trains and publishes the best of them only if it
    /// scores higher there. Not run when nothing could be validated.
    pub slow_candidates: Vec<String>,
    /// With `auto`: settings tried per candidate, 1..=[`MAX_TRIALS`]: its defaults, then draws
    /// (seeded by `training.seed`) from the search space `aisle tune` uses for it. Default 4.
    pub trials: usize,
    /// With `auto`: validation steps per shopper, 1..=[`MAX_VALIDATION_STEPS`], the newest before
    /// their last (which is left out, so that `aisle tune` and `aisle eval` can test on it).
    /// Default 2: with one, the choice between the two best candidates followed one step's luck
    /// (docs/benchmarks.md, "Model selection by validation").
    pub validation_steps: usize,
}

/// Most candidate models of `model.name = "auto"`.
pub const MAX_CANDIDATES: usize = 12;
/// Most settings per candidate of `model.name = "auto"`.
pub const MAX_TRIALS: usize = 20;
/// Most validation steps per shopper of `model.name = "auto"`.
pub const MAX_VALIDATION_STEPS: usize = 10;

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            name: "auto".to_owned(),
            params: serde_json::Map::new(),
            candidates: ["item-knn", "ials", "sknn", "sr"].map(str::to_owned).to_vec(),
            slow_candidates: vec!["sasrec".to_owned()],
            trials: 4,
            validation_steps: 2,
        }
    }
}

/// What a training fits: one model, or the best of several by validation.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelChoice {
    /// This model (its configured name, its spec).
    Fixed(String, ModelSpec),
    /// The best of these on the time split.
    Auto {
        /// Each candidate's name and spec, in the configured order (which breaks ties).
        candidates: Vec<(String, ModelSpec)>,
        /// The slow candidates, tried by a follow-up job against the winner.
        slow: Vec<(String, ModelSpec)>,
        /// Settings per candidate.
        trials: usize,
        /// Validation steps per shopper.
        validation_steps: usize,
    },
}

impl ModelConfig {
    /// Whether the model is chosen by validation.
    pub fn is_auto(&self) -> bool {
        self.name.trim().eq_ignore_ascii_case("auto")
    }

    /// The validated choice.
    pub fn choice(&self) -> Result<ModelChoice, EngineError> {
        let bad = |key: String, reason: String| EngineError::Config { key, reason };
        if !self.is_auto() {
            return Ok(ModelChoice::Fixed(self.name.clone(), self.spec()?));
        }
        if let Some(key) = self.params.keys().next() {
            return Err(bad(
                format!("model.params.{key}"),
                "`model.name = \"auto\"` takes no parameters: name a model to set them".into(),
            ));
        }
        if self.candidates.is_empty() || self.candidates.len() > MAX_CANDIDATES {
            return Err(bad("model.candidates".into(), format!("give 1 to {MAX_CANDIDATES} model names")));
        }
        if self.slow_candidates.len() > MAX_CANDIDATES {
            return Err(bad(
                "model.slow_candidates".into(),
                format!("give at most {MAX_CANDIDATES} model names"),
            ));
        }
        if !(1..=MAX_TRIALS).contains(&self.trials) {
            return Err(bad("model.trials".into(), format!("must be from 1 to {MAX_TRIALS}")));
        }
        if !(1..=MAX_VALIDATION_STEPS).contains(&self.validation_steps) {
            return Err(bad(
                "model.validation_steps".into(),
                format!("must be from 1 to {MAX_VALIDATION_STEPS}"),
            ));
        }
        Ok(ModelChoice::Auto {
            candidates: parse_names("model.candidates", &self.candidates)?,
            slow: parse_names("model.slow_candidates", &self.slow_candidates)?,
            trials: self.trials,
            validation_steps: self.validation_steps,
        })
    }

    /// The validated spec of a named model (an error for `auto`, which names none).
    pub fn spec(&self) -> Result<ModelSpec, EngineError> {
        let mut spec: ModelSpec = self.name.parse().map_err(|e: UnknownModel| EngineError::Config {
            key: "model.name".to_owned(),
            reason: if self.is_auto() { "`auto` names no single model".to_owned() } else { e.to_string() },
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

/// Model names as registry specs with their defaults, lowercased; `key[k]` names a bad one.
fn parse_names(key: &str, names: &[String]) -> Result<Vec<(String, ModelSpec)>, EngineError> {
    names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let spec: ModelSpec = name.parse().map_err(|e: UnknownModel| EngineError::Config {
                key: format!("{key}[{k}]"),
                reason: e.to_string(),
            })?;
            Ok((name.trim().to_ascii_lowercase(), spec))
        })
        .collect()
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
    /// Data-quality floor of the gate: when the serving model scores less than this share of
    /// its own recorded holdout NDCG@10 on the newest events (with at least 30 users to judge
    /// by), those events look unlike what it learned from (a flood of junk, a broken tracker, a
    /// sudden change of the shop) and nothing trained on them is published without `force`.
    /// 0 turns the check off. Default 0.5.
    pub drift_floor: f64,
    /// Share of the newest events held out to evaluate a candidate, in (0, 0.5]. Default 0.1.
    pub holdout_ratio: f64,
    /// Fewer events than this: no training (popular lists serve). Default 100.
    pub min_events: u64,
    /// Model versions kept in the store besides the serving one. Default 5.
    pub keep_versions: usize,
    /// Seed of every fit. Default 42.
    pub seed: u64,
    /// Ceiling of one (user, item) pair's summed confidence in training: many events on one pair
    /// (a bot, a scraper, a very loyal shopper) weigh at most this much. Default 100.
    pub max_pair_weight: f32,
    /// Length of each item's similar-item list, computed when a model is trained and stored in
    /// its artifact, so that a similar-items request is a lookup (a request for more, or whose
    /// filters leave fewer, ranks on demand). 0 computes none. Default 50.
    pub similar_depth: usize,
    /// Shoppers scored when a candidate is evaluated (the publication gate's holdout, `auto`'s
    /// validation): at most this many, a sample fixed by `seed`, each ranked against the whole
    /// catalog. Default 10,000 (NDCG@10's standard error over 10,000 shoppers is at most about
    /// 0.003); 1..=10,000,000.
    pub max_eval_users: usize,
    /// Catalogs of up to this many items get exact lists (an all-pairs pass whose cost grows with
    /// the square of the catalog: about 30 s of two cores at 100,000 items and 64 factors);
    /// larger ones get lists from a cluster index, which can miss a neighbour (see
    /// `similar_min_recall`). Default 250,000.
    pub similar_max_items: usize,
    /// The recall@10 that lists from the cluster index must reach against exact lists, measured
    /// on a sample of 256 items of the shop's own catalog at every training: the index scans
    /// more of the catalog per item until it does (at most a sixteenth of its clusters, or 128).
    /// The recall reached goes into the version's metrics (`similar_recall_at_10`). In [0, 1];
    /// default 0.95.
    pub similar_min_recall: f64,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            interval_s: 3600,
            on_start: true,
            gate: Gate::NotWorse,
            tolerance: 0.0,
            drift_floor: 0.5,
            holdout_ratio: 0.1,
            min_events: 100,
            keep_versions: 5,
            seed: 42,
            max_pair_weight: 100.0,
            similar_depth: 50,
            max_eval_users: 10_000,
            similar_max_items: 250_000,
            similar_min_recall: 0.95,
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
    /// Catalogs of at least this many items keep 8-bit copies of the factor models' item vectors
    /// (iALS, BPR, the hybrid; a quarter of the vectors' memory), and recommendation requests
    /// with at least this many candidates are ranked by them: upper bounds from the copies, exact
    /// scores only where they can still make the list, so the list is the exact scan's.
    /// Categories this large get a copy of their own rows side by side on first use (another
    /// quarter at most, per category an item is in). Default 10,000; 0..=100,000,000.
    pub quantized_min_items: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            history_users: 100_000,
            history_events_per_user: 200,
            similar_items: 20_000,
            similar_depth: 100,
            quantized_min_items: 10_000,
        }
    }
}

/// Popular lists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PopularConfig {
    /// How long a computed popular list is reused, in milliseconds. Default 1000.
    pub cache_ttl_ms: u64,
    /// Most distinct items counted when the catalog is empty (a store of events only); with a
    /// catalog, only its items are counted. Default 100,000.
    pub max_items: usize,
}

impl Default for PopularConfig {
    fn default() -> Self {
        Self { cache_ttl_ms: 1000, max_items: 100_000 }
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
    /// Longest wait for one round of following (a lease check, a read of the log, a model load)
    /// before it counts as failed, in milliseconds: a half-open connection cannot stall
    /// replication or keep a lost lease looking held. Default 10,000.
    pub timeout_ms: u64,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self { poll_ms: 1000, leader_check_ms: 2000, timeout_ms: 10_000 }
    }
}

impl EngineConfig {
    /// Checks every field, naming the first bad key.
    pub fn validate(&self) -> Result<(), EngineError> {
        self.model.choice()?;
        let bad = |key: &str, reason: &str| {
            Err(EngineError::Config { key: key.to_owned(), reason: reason.to_owned() })
        };
        let t = &self.training;
        if !(t.holdout_ratio > 0.0 && t.holdout_ratio <= 0.5) {
            return bad("training.holdout_ratio", "must be in (0, 0.5]");
        }
        if !(t.tolerance.is_finite() && (0.0..=1.0).contains(&t.tolerance)) {
            return bad("training.tolerance", "must be a number from 0 to 1");
        }
        if !(0.0..=1.0).contains(&t.drift_floor) {
            return bad("training.drift_floor", "must be a number from 0 to 1");
        }
        if !(1..=1000).contains(&t.keep_versions) {
            return bad("training.keep_versions", "must be 1..=1000");
        }
        if t.interval_s > 366 * 86_400 {
            return bad("training.interval_s", "must be at most a year (31,622,400)");
        }
        if t.min_events > 1_000_000_000 {
            return bad("training.min_events", "must be at most 1,000,000,000");
        }
        if !(t.max_pair_weight.is_finite() && (1.0..=1e6).contains(&t.max_pair_weight)) {
            return bad("training.max_pair_weight", "must be a finite number from 1 to 1e6");
        }
        if t.similar_depth > 1000 {
            return bad("training.similar_depth", "must be 0..=1000");
        }
        if !(1..=10_000_000).contains(&t.max_eval_users) {
            return bad("training.max_eval_users", "must be 1..=10000000");
        }
        if t.similar_max_items > 100_000_000 {
            return bad("training.similar_max_items", "must be at most 100000000");
        }
        if !(0.0..=1.0).contains(&t.similar_min_recall) {
            return bad("training.similar_min_recall", "must be a number from 0 to 1");
        }
        let c = &self.cache;
        if !(1..=10_000_000).contains(&c.history_users) {
            return bad("cache.history_users", "must be 1..=10000000");
        }
        if !(1..=100_000).contains(&c.history_events_per_user) {
            return bad("cache.history_events_per_user", "must be 1..=100000");
        }
        if !(1..=10_000_000).contains(&c.similar_items) {
            return bad("cache.similar_items", "must be 1..=10000000");
        }
        if !(1..=1000).contains(&c.similar_depth) {
            return bad("cache.similar_depth", "must be 1..=1000");
        }
        if c.quantized_min_items > 100_000_000 {
            return bad("cache.quantized_min_items", "must be at most 100000000");
        }
        let p = &self.popular;
        if p.cache_ttl_ms > 3_600_000 {
            return bad("popular.cache_ttl_ms", "must be at most 3600000 (an hour)");
        }
        if !(1..=100_000_000).contains(&p.max_items) {
            return bad("popular.max_items", "must be 1..=100000000");
        }
        for (key, w) in [
            ("weights.view", self.weights.view),
            ("weights.click", self.weights.click),
            ("weights.add_to_cart", self.weights.add_to_cart),
            ("weights.purchase", self.weights.purchase),
            ("weights.like", self.weights.like),
            ("weights.dislike", self.weights.dislike),
            ("weights.impression", self.weights.impression),
        ] {
            if !(w.is_finite() && w.abs() <= 1000.0) {
                return bad(key, "must be a finite number from -1000 to 1000");
            }
        }
        if let Err(e) = self.events.validate() {
            return bad(&format!("events.{}", e.field), &e.message);
        }
        let r = &self.replication;
        if !(10..=600_000).contains(&r.poll_ms) {
            return bad("replication.poll_ms", "must be 10..=600000");
        }
        if !(100..=600_000).contains(&r.leader_check_ms) {
            return bad("replication.leader_check_ms", "must be 100..=600000");
        }
        if !(100..=600_000).contains(&r.timeout_ms) {
            return bad("replication.timeout_ms", "must be 100..=600000");
        }
        let i = &self.impact;
        if !(1..=10_000_000).contains(&i.queue) {
            return bad("impact.queue", "must be 1..=10000000");
        }
        if !(1..=100_000).contains(&i.batch) {
            return bad("impact.batch", "must be 1..=100000");
        }
        if !(10..=60_000).contains(&i.flush_ms) {
            return bad("impact.flush_ms", "must be 10..=60000");
        }
        if !(1..=3650).contains(&i.retention_days) {
            return bad("impact.retention_days", "must be 1..=3650");
        }
        if !(1..=365).contains(&i.window_days) {
            return bad("impact.window_days", "must be 1..=365");
        }
        if !(1..=10_000).contains(&i.max_placements) {
            return bad("impact.max_placements", "must be 1..=10000");
        }
        Ok(())
    }
}
