//! Experiments on a placement: A/B (variants with weights, each a change of the placement's
//! configuration) or team-draft interleaving of two variants. Assignment is a salted hash of the
//! experiment's stored salt and the unit (`aisle_impact::assign`): deterministic, sticky across
//! restarts and replicas, and never two variants for one unit, since a running experiment's
//! variants and weights cannot change.
//!
//! The part owns the experiments in memory (one `RwLock`, never held across an await) and their
//! records in the store (updated by compare-and-swap on a revision).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aisle_store::{AnyStore, ExperimentRecord, ImpactStore};
use serde::{Deserialize, Serialize};

use super::placements::{Diversity, Exploration, PlacementConfig, PlacementKind, PlacementRules};
use crate::EngineError;

/// Most variants of one experiment.
pub const MAX_VARIANTS: usize = 10;

/// What is randomised.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A shopper (`user_id`): the same variant on every visit.
    #[default]
    User,
    /// A session (`session_id`).
    Session,
}

/// How variants meet shoppers.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Each unit sees one variant.
    #[default]
    Ab,
    /// Every list merges two variants by team-draft interleaving; clicks credit the team that
    /// contributed the item.
    Interleaving,
}

/// One variant: a name, a weight and what it changes in the placement's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantConfig {
    /// 1..=64 characters of a-z, 0-9, `_` and `-`.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub name: String,
    /// Share of units, > 0 (A/B only; weights are relative). Default 1.
    #[serde(default = "unit_weight")]
    #[schema(exclusive_minimum = 0.0, maximum = 1000000.0)]
    pub weight: f64,
    /// Serve with this stored model version instead of the serving one.
    #[serde(default)]
    pub model_version: Option<u64>,
    /// Another kind of list (e.g. `popular` against the placement's `user`).
    #[serde(default)]
    pub kind: Option<PlacementKind>,
    /// Other default rules.
    #[serde(default)]
    pub rules: Option<PlacementRules>,
    /// Other diversity.
    #[serde(default)]
    pub diversity: Option<Diversity>,
    /// Other exploration.
    #[serde(default)]
    pub exploration: Option<Exploration>,
}

fn unit_weight() -> f64 {
    1.0
}

impl VariantConfig {
    /// The placement's configuration with this variant's changes.
    pub fn apply(&self, base: &PlacementConfig) -> PlacementConfig {
        let mut c = base.clone();
        if self.model_version.is_some() {
            c.model_version = self.model_version;
        }
        if let Some(k) = self.kind {
            c.kind = k;
            if k != PlacementKind::Popular {
                c.window = None;
            }
            if k != PlacementKind::Trending {
                c.half_life_hours = None;
            }
        }
        if let Some(r) = &self.rules {
            c.rules = r.clone();
        }
        if let Some(d) = &self.diversity {
            c.diversity = Some(d.clone());
        }
        if let Some(e) = &self.exploration {
            c.exploration = e.clone();
        }
        c
    }
}

/// A new experiment, as `POST /v1/experiments` takes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// The experiment's id: 1..=64 characters of a-z, 0-9, `_` and `-`.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub id: String,
    /// The placement it runs on (one running experiment per placement).
    #[schema(min_length = 1, max_length = 256)]
    pub placement: String,
    /// A/B or interleaving.
    #[serde(default)]
    pub mode: Mode,
    /// What is randomised.
    #[serde(default)]
    pub unit: UnitKind,
    /// 2..=10 variants, the first is the control (interleaving: exactly 2, A and B).
    #[schema(min_items = 2, max_items = 10)]
    pub variants: Vec<VariantConfig>,
    /// When it starts (Unix ms; default now).
    #[serde(default)]
    pub start_ms: Option<i64>,
    /// When it stops by itself (Unix ms; default never).
    #[serde(default)]
    pub stop_ms: Option<i64>,
    /// The smallest relative effect worth detecting, for the fixed-horizon sample size the
    /// report states (default 0.05: 5%).
    #[serde(default = "default_mde")]
    #[schema(exclusive_minimum = 0.0, maximum = 10.0)]
    pub minimum_effect: f64,
}

fn default_mde() -> f64 {
    0.05
}

fn bad(key: impl Into<String>, reason: impl Into<String>) -> EngineError {
    EngineError::Config { key: key.into(), reason: reason.into() }
}

fn check_name(key: &str, name: &str) -> Result<(), EngineError> {
    let ok = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok { Ok(()) } else { Err(bad(key, "1..=64 characters of a-z, 0-9, _ and -")) }
}

impl ExperimentConfig {
    /// Checks every field against the placement it runs on, naming the first bad one.
    pub fn validate(&self, placement: Option<&PlacementConfig>, now_ms: i64) -> Result<(), EngineError> {
        check_name("id", &self.id)?;
        let Some(base) = placement else {
            return Err(bad("placement", format!("no placement {:?}", self.placement)));
        };
        let (lo, hi) = match self.mode {
            Mode::Ab => (2, MAX_VARIANTS),
            Mode::Interleaving => (2, 2),
        };
        if !(lo..=hi).contains(&self.variants.len()) {
            return Err(bad("variants", format!("{:?} experiments take {lo}..={hi} variants", self.mode)));
        }
        let mut names = std::collections::HashSet::new();
        for (k, v) in self.variants.iter().enumerate() {
            check_name(&format!("variants[{k}].name"), &v.name)?;
            if v.name == super::INTERLEAVED {
                return Err(bad(format!("variants[{k}].name"), "is reserved"));
            }
            if !names.insert(v.name.as_str()) {
                return Err(bad(format!("variants[{k}].name"), "names must be unique"));
            }
            if !(v.weight.is_finite() && v.weight > 0.0 && v.weight <= 1e6) {
                return Err(bad(format!("variants[{k}].weight"), "must be a number in (0, 1e6]"));
            }
            let c = v.apply(base);
            c.validate().map_err(|e| match e {
                EngineError::Config { key, reason } => bad(format!("variants[{k}].{key}"), reason),
                other => other,
            })?;
            if self.mode == Mode::Interleaving && c.exploration != Exploration::None {
                return Err(bad(
                    format!("variants[{k}].exploration"),
                    "interleaving variants do not explore",
                ));
            }
        }
        if let Some(stop) = self.stop_ms
            && stop <= self.start_ms.unwrap_or(now_ms)
        {
            return Err(bad("stop_ms", "must be after the start"));
        }
        if self.start_ms.is_some_and(|s| s < 0 || s > now_ms + 366 * 86_400_000) {
            return Err(bad("start_ms", "must be within a year from now"));
        }
        if !(self.minimum_effect.is_finite() && self.minimum_effect > 0.0 && self.minimum_effect <= 10.0) {
            return Err(bad("minimum_effect", "must be a number in (0, 10]"));
        }
        Ok(())
    }
}

/// Where an experiment is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Status {
    /// Serving its variants (from `start_ms` until `stop_ms`).
    Running,
    /// Stopped by hand.
    Stopped {
        /// When.
        at_ms: i64,
    },
    /// A variant was shipped: its configuration became the placement's.
    Shipped {
        /// When.
        at_ms: i64,
        /// The variant.
        variant: String,
        /// The placement version it wrote.
        placement_version: u64,
    },
}

/// An experiment as stored and listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Experiment {
    /// Its configuration.
    #[serde(flatten)]
    pub config: ExperimentConfig,
    /// Its state.
    pub status: Status,
    /// The assignment salt (random at creation, then fixed).
    pub salt: String,
    /// When it was created (Unix ms).
    pub created_at_ms: i64,
    /// Its start (Unix ms).
    pub started_ms: i64,
    /// The store revision (compare-and-swap).
    #[serde(skip)]
    pub revision: u64,
}

impl Experiment {
    /// Whether it serves at `now_ms`.
    pub fn live(&self, now_ms: i64) -> bool {
        self.status == Status::Running
            && self.started_ms <= now_ms
            && self.config.stop_ms.is_none_or(|s| now_ms < s)
    }

    /// The variant of `unit` (A/B), by the salted hash.
    pub fn assign(&self, unit: &str) -> Option<usize> {
        let weights: Vec<f64> = self.config.variants.iter().map(|v| v.weight).collect();
        aisle_impact::assign::pick(&self.salt, unit, &weights)
    }

    fn record(&self) -> Result<ExperimentRecord, EngineError> {
        Ok(ExperimentRecord {
            id: self.config.id.clone(),
            body: serde_json::to_string(&Stored::from(self))
                .map_err(|e| EngineError::Invalid(e.to_string()))?,
            revision: self.revision,
            created_at_ms: self.created_at_ms,
        })
    }
}

/// The stored body (the salt and revision kept too, which the API's `Experiment` skips or shows).
#[derive(Serialize, Deserialize)]
struct Stored {
    config: ExperimentConfig,
    status: Status,
    salt: String,
    started_ms: i64,
}

impl From<&Experiment> for Stored {
    fn from(e: &Experiment) -> Self {
        Stored {
            config: e.config.clone(),
            status: e.status.clone(),
            salt: e.salt.clone(),
            started_ms: e.started_ms,
        }
    }
}

/// The experiments part.
#[derive(Debug, Default)]
pub struct Experiments {
    by_id: RwLock<HashMap<String, Arc<Experiment>>>,
}

impl Experiments {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Experiment>>> {
        self.by_id.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Experiment>>> {
        self.by_id.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads every experiment from the store (at start, and to follow other replicas); a stored
    /// body that does not decode is skipped and logged.
    pub async fn load(&self, store: &AnyStore) -> Result<(), EngineError> {
        let mut all = HashMap::new();
        for r in store.experiments().await? {
            match serde_json::from_str::<Stored>(&r.body) {
                Ok(s) => {
                    let e = Experiment {
                        config: s.config,
                        status: s.status,
                        salt: s.salt,
                        created_at_ms: r.created_at_ms,
                        started_ms: s.started_ms,
                        revision: r.revision,
                    };
                    all.insert(r.id, Arc::new(e));
                }
                Err(e) => tracing::warn!(experiment = %r.id, error = %e, "stored experiment skipped"),
            }
        }
        *self.write() = all;
        Ok(())
    }

    /// The experiment `id`.
    pub fn get(&self, id: &str) -> Option<Arc<Experiment>> {
        self.read().get(id).cloned()
    }

    /// Every experiment, by id.
    pub fn list(&self) -> Vec<Arc<Experiment>> {
        let mut all: Vec<_> = self.read().values().cloned().collect();
        all.sort_by(|a, b| a.config.id.cmp(&b.config.id));
        all
    }

    /// The experiment live on `placement` at `now_ms`, if any.
    pub fn live_on(&self, placement: &str, now_ms: i64) -> Option<Arc<Experiment>> {
        self.read().values().find(|e| e.config.placement == placement && e.live(now_ms)).cloned()
    }

    /// Creates an experiment (validated against its placement; one running per placement).
    pub async fn create(
        &self,
        store: &AnyStore,
        config: ExperimentConfig,
        placement: Option<&PlacementConfig>,
        now_ms: i64,
    ) -> Result<Arc<Experiment>, EngineError> {
        config.validate(placement, now_ms)?;
        if let Some(other) = self
            .read()
            .values()
            .find(|e| e.config.placement == config.placement && e.status == Status::Running)
        {
            return Err(bad("placement", format!("experiment {:?} already runs on it", other.config.id)));
        }
        let salt = format!(
            "{}:{:016x}",
            config.id,
            std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), now_ms)
        );
        let started_ms = config.start_ms.unwrap_or(now_ms);
        let e = Experiment {
            config,
            status: Status::Running,
            salt,
            created_at_ms: now_ms,
            started_ms,
            revision: 1,
        };
        if !store.create_experiment(e.record()?).await? {
            return Err(bad("id", format!("experiment {:?} exists", e.config.id)));
        }
        let e = Arc::new(e);
        self.write().insert(e.config.id.clone(), Arc::clone(&e));
        Ok(e)
    }

    /// Moves a running experiment to `status` (stop or ship).
    pub async fn finish(
        &self,
        store: &AnyStore,
        id: &str,
        status: Status,
    ) -> Result<Arc<Experiment>, EngineError> {
        let current =
            self.get(id).ok_or_else(|| EngineError::NotFound { what: "experiment", id: id.to_owned() })?;
        if current.status != Status::Running {
            return Err(bad("state", "the experiment is not running"));
        }
        let next = Experiment { status, revision: current.revision + 1, ..(*current).clone() };
        if !store.update_experiment(next.record()?).await? {
            // Another replica changed it first: follow the store.
            self.load(store).await?;
            return Err(bad("state", "the experiment changed meanwhile; read it again"));
        }
        let next = Arc::new(next);
        self.write().insert(id.to_owned(), Arc::clone(&next));
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> PlacementConfig {
        serde_json::from_value(serde_json::json!({"kind": "user"})).expect("placement")
    }

    fn config(json: serde_json::Value) -> ExperimentConfig {
        serde_json::from_value(json).expect("experiment")
    }

    #[test]
    fn bad_configs_name_the_field() {
        let ok = serde_json::json!({"id": "e1", "placement": "home",
            "variants": [{"name": "control"}, {"name": "pop", "kind": "popular"}]});
        config(ok.clone()).validate(Some(&base()), 0).expect("valid");
        for (patch, key) in [
            (serde_json::json!({"variants": [{"name": "a"}]}), "config variants:"),
            (serde_json::json!({"variants": [{"name": "a"}, {"name": "a"}]}), "config variants[1].name:"),
            (
                serde_json::json!({"variants": [{"name": "a", "weight": 0}, {"name": "b"}]}),
                "config variants[0].weight:",
            ),
            (serde_json::json!({"variants": [{"name": "A"}, {"name": "b"}]}), "config variants[0].name:"),
            (
                serde_json::json!({"variants": [{"name": "a"}, {"name": "b", "diversity": {"lambda": 2}}]}),
                "config variants[1].diversity.lambda:",
            ),
            (serde_json::json!({"stop_ms": 0, "start_ms": 10}), "config stop_ms:"),
            (serde_json::json!({"minimum_effect": 0}), "config minimum_effect:"),
            (serde_json::json!({"id": "has space"}), "config id:"),
            (
                serde_json::json!({"mode": "interleaving", "variants": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
                "config variants:",
            ),
        ] {
            let mut json = ok.clone();
            for (k, v) in patch.as_object().expect("object") {
                json[k] = v.clone();
            }
            let err = config(json.clone()).validate(Some(&base()), 100).expect_err("refused").to_string();
            assert!(err.starts_with(key), "{json} gave {err}");
        }
        let err = config(ok).validate(None, 0).expect_err("no placement").to_string();
        assert!(err.starts_with("config placement:"), "{err}");
    }

    #[test]
    fn assignment_is_sticky_and_follows_the_weights() {
        let e = Experiment {
            config: config(serde_json::json!({"id": "e1", "placement": "home",
                "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 3}]})),
            status: Status::Running,
            salt: "e1:salt".into(),
            created_at_ms: 0,
            started_ms: 0,
            revision: 1,
        };
        let first: Vec<Option<usize>> = (0..2000).map(|u| e.assign(&format!("u{u}"))).collect();
        let again: Vec<Option<usize>> = (0..2000).map(|u| e.assign(&format!("u{u}"))).collect();
        assert_eq!(first, again, "the same unit always gets the same variant");
        let b = first.iter().filter(|v| **v == Some(1)).count();
        assert!((1400..1600).contains(&b), "about 3/4 in b: {b}");
        assert!(e.live(5));
        assert!(!Experiment { status: Status::Stopped { at_ms: 1 }, ..e }.live(5));
    }
}
