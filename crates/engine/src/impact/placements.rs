//! Placements: named, versioned serving configurations ("home", "pdp-similar", "cart
//! cross-sell"). The part owns the configurations in memory (one `RwLock`, read by every placed
//! request) and their versions in the store; it knows nothing of serving itself.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aisle_store::{AnyStore, ImpactStore, PlacementRecord};
use serde::{Deserialize, Serialize};

use crate::{EngineError, Filters};

/// What a placement serves.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlacementKind {
    /// Personalised for a user (or a session's items).
    User,
    /// Personalised for an anonymous session's items.
    Session,
    /// Items similar to an item.
    ItemToItem,
    /// Items bought with an item.
    BoughtTogether,
    /// The most popular items of a fixed window.
    Popular,
    /// Trending: popularity with exponential time decay (`half_life_hours`).
    Trending,
}

/// How a placement explores beyond its ranking (the logged propensities make the impressions
/// usable for off-policy evaluation).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "policy", rename_all = "snake_case", deny_unknown_fields)]
pub enum Exploration {
    /// The ranking as it is.
    #[default]
    None,
    /// Each slot takes the best remaining item with probability 1 − epsilon, else a uniformly
    /// random one of the remaining pool.
    Epsilon {
        /// In [0, 1].
        #[schema(minimum = 0.0, maximum = 1.0)]
        epsilon: f64,
    },
    /// Each slot samples from the remaining pool with probability ∝ exp(score / temperature),
    /// scores min–max normalised over the pool.
    PlackettLuce {
        /// In (0, 100].
        #[schema(exclusive_minimum = 0.0, maximum = 100.0)]
        temperature: f64,
    },
}

/// Diversity over category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Diversity {
    /// Maximal marginal relevance weight in [0, 1]: 1 ranks by score alone, lower values
    /// penalise an item whose category is already in the list.
    #[serde(default = "one")]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub lambda: f64,
    /// At most this many items of one category (none: no cap).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub max_per_category: Option<usize>,
}

fn one() -> f64 {
    1.0
}

/// What a placement serves when its kind has nothing (an unknown user, an item the model does
/// not know).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Popular items (marked `fallback: true`).
    #[default]
    Popular,
    /// Nothing: the request fails as without a placement.
    None,
}

/// Default business rules of a placement; a request's own rules take precedence field by field
/// (exclusions are joined).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PlacementRules {
    /// Only this category.
    pub category: Option<String>,
    /// Only items priced at least this.
    #[schema(minimum = 0.0)]
    pub min_price: Option<f64>,
    /// Only items priced at most this.
    #[schema(minimum = 0.0)]
    pub max_price: Option<f64>,
    /// Only in-stock (true) or out-of-stock (false) items.
    pub in_stock: Option<bool>,
    /// Never these items (at most 1,000).
    #[schema(max_items = 1000)]
    pub exclude: Vec<String>,
    /// Leave out every item the shopper interacted with.
    pub exclude_seen: bool,
    /// Also recommend items already bought.
    pub include_purchased: bool,
}

/// A placement's configuration, as `PUT /v1/placements/{id}` takes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementConfig {
    /// What it serves.
    pub kind: PlacementKind,
    /// Serve with this stored model version (e.g. a candidate trained with `"candidate": true`)
    /// instead of the serving one (none: the serving one).
    #[serde(default)]
    pub model_version: Option<u64>,
    /// List length when the request gives none, 1..=1000 (default 10).
    #[serde(default = "ten")]
    #[schema(minimum = 1, maximum = 1000)]
    pub n: usize,
    /// Default rules.
    #[serde(default)]
    pub rules: PlacementRules,
    /// Diversity over category (none: by score).
    #[serde(default)]
    pub diversity: Option<Diversity>,
    /// Exploration policy.
    #[serde(default)]
    pub exploration: Exploration,
    /// How many candidates diversity and exploration choose from, as a multiple of the list
    /// length, 1..=20 (default 3).
    #[serde(default = "three")]
    #[schema(minimum = 1, maximum = 20)]
    pub pool_factor: usize,
    /// What it serves when its kind has nothing.
    #[serde(default)]
    pub fallback: Fallback,
    /// Popular placements: `1h`, `24h`, `7d`, `30d` or `all` (default `7d`).
    #[serde(default)]
    pub window: Option<String>,
    /// Trending placements: the half-life of an event's weight in hours, 1..=720 (default 24).
    #[serde(default)]
    #[schema(minimum = 1.0, maximum = 720.0)]
    pub half_life_hours: Option<f64>,
}

fn ten() -> usize {
    10
}

fn three() -> usize {
    3
}

fn bad(key: &str, reason: impl Into<String>) -> EngineError {
    EngineError::Config { key: key.to_owned(), reason: reason.into() }
}

impl PlacementConfig {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), EngineError> {
        if !(1..=1000).contains(&self.n) {
            return Err(bad("n", "must be 1..=1000"));
        }
        if !(1..=20).contains(&self.pool_factor) {
            return Err(bad("pool_factor", "must be 1..=20"));
        }
        let r = &self.rules;
        for (key, p) in [("rules.min_price", r.min_price), ("rules.max_price", r.max_price)] {
            if p.is_some_and(|p| !(p.is_finite() && p >= 0.0)) {
                return Err(bad(key, "must be a finite number ≥ 0"));
            }
        }
        if let (Some(lo), Some(hi)) = (r.min_price, r.max_price)
            && lo > hi
        {
            return Err(bad("rules.min_price", "is above rules.max_price"));
        }
        if let Some(c) = &r.category {
            crate::check_id("rules.category", c).map_err(|e| bad("rules.category", e.message))?;
        }
        if r.exclude.len() > 1000 {
            return Err(bad("rules.exclude", "at most 1000 ids"));
        }
        for e in &r.exclude {
            crate::check_id("rules.exclude", e).map_err(|e| bad("rules.exclude", e.message))?;
        }
        if let Some(d) = &self.diversity {
            if !(d.lambda.is_finite() && (0.0..=1.0).contains(&d.lambda)) {
                return Err(bad("diversity.lambda", "must be a number from 0 to 1"));
            }
            if d.max_per_category.is_some_and(|k| !(1..=1000).contains(&k)) {
                return Err(bad("diversity.max_per_category", "must be 1..=1000"));
            }
        }
        match self.exploration {
            Exploration::None => {}
            Exploration::Epsilon { epsilon } => {
                if !(epsilon.is_finite() && (0.0..=1.0).contains(&epsilon)) {
                    return Err(bad("exploration.epsilon", "must be a number from 0 to 1"));
                }
            }
            Exploration::PlackettLuce { temperature } => {
                if !(temperature.is_finite() && temperature > 0.0 && temperature <= 100.0) {
                    return Err(bad("exploration.temperature", "must be a number in (0, 100]"));
                }
            }
        }
        match (&self.window, self.kind) {
            (None, _) => {}
            (Some(w), PlacementKind::Popular) => {
                if crate::Window::parse(w).is_none() {
                    return Err(bad(
                        "window",
                        format!("unknown window {w:?}; allowed: 1h, 24h, 7d, 30d, all"),
                    ));
                }
            }
            (Some(_), _) => return Err(bad("window", "only popular placements take a window")),
        }
        match (self.half_life_hours, self.kind) {
            (None, _) => {}
            (Some(h), PlacementKind::Trending) => {
                if !(h.is_finite() && (1.0..=720.0).contains(&h)) {
                    return Err(bad("half_life_hours", "must be a number from 1 to 720"));
                }
            }
            (Some(_), _) => return Err(bad("half_life_hours", "only trending placements take a half-life")),
        }
        Ok(())
    }

    /// The placement's default filters under a request's own: the request's fields win, the
    /// exclusions of both apply.
    pub fn filters(&self, request: &Filters) -> Filters {
        let r = &self.rules;
        let mut exclude = r.exclude.clone();
        exclude.extend(request.exclude.iter().cloned());
        Filters {
            category: request.category.clone().or_else(|| r.category.clone()),
            min_price: request.min_price.or(r.min_price),
            max_price: request.max_price.or(r.max_price),
            in_stock: request.in_stock.or(r.in_stock),
            exclude,
        }
    }

    /// Whether candidates are post-processed (and so a larger pool is ranked).
    pub fn reranks(&self) -> bool {
        self.diversity.is_some() || self.exploration != Exploration::None
    }
}

/// A placement as served: its id, version and configuration.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Placement {
    /// The id.
    pub id: String,
    /// Its version (1, 2, ...).
    pub version: u64,
    /// When this version was written (Unix ms).
    pub updated_at_ms: i64,
    /// The configuration.
    pub config: PlacementConfig,
}

/// The placements part: configurations by id, loaded from the store and written through it.
#[derive(Debug, Default)]
pub struct Placements {
    by_id: RwLock<HashMap<String, Arc<Placement>>>,
}

fn decode(record: PlacementRecord) -> Option<Placement> {
    // A stored configuration that no longer decodes or validates is left out (and logged)
    // rather than served: stored data is outside data.
    let text = record.config?;
    match serde_json::from_str::<PlacementConfig>(&text).map_err(|e| e.to_string()).and_then(|c| {
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }) {
        Ok(config) => {
            Some(Placement { id: record.id, version: record.version, updated_at_ms: record.at_ms, config })
        }
        Err(reason) => {
            tracing::warn!(placement = %record.id, version = record.version, %reason, "stored placement skipped");
            None
        }
    }
}

impl Placements {
    /// Reads every placement from the store (at start and when following other replicas).
    pub async fn load(&self, store: &AnyStore) -> Result<(), EngineError> {
        let all: HashMap<String, Arc<Placement>> = store
            .placements()
            .await?
            .into_iter()
            .filter_map(decode)
            .map(|p| (p.id.clone(), Arc::new(p)))
            .collect();
        *self.by_id.write().unwrap_or_else(std::sync::PoisonError::into_inner) = all;
        Ok(())
    }

    /// The placement `id`.
    pub fn get(&self, id: &str) -> Option<Arc<Placement>> {
        self.by_id.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(id).cloned()
    }

    /// Every placement, by id.
    pub fn list(&self) -> Vec<Arc<Placement>> {
        let mut all: Vec<_> =
            self.by_id.read().unwrap_or_else(std::sync::PoisonError::into_inner).values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Writes a new version of `id` (validated first).
    pub async fn put(
        &self,
        store: &AnyStore,
        id: &str,
        config: PlacementConfig,
        max: usize,
        now_ms: i64,
    ) -> Result<Arc<Placement>, EngineError> {
        crate::check_id("id", id).map_err(|e| bad("id", e.message))?;
        config.validate()?;
        let count = self.by_id.read().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        if self.get(id).is_none() && count >= max {
            return Err(bad("id", format!("at most {max} placements (impact.max_placements)")));
        }
        let text = serde_json::to_string(&config).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let record = store.put_placement(id.to_owned(), Some(text), now_ms).await?;
        let placement =
            Arc::new(Placement { id: id.to_owned(), version: record.version, updated_at_ms: now_ms, config });
        self.by_id
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_owned(), Arc::clone(&placement));
        Ok(placement)
    }

    /// Deletes `id` (a deletion version in the store); `false` if there was none.
    pub async fn delete(&self, store: &AnyStore, id: &str, now_ms: i64) -> Result<bool, EngineError> {
        if self.get(id).is_none() {
            return Ok(false);
        }
        store.put_placement(id.to_owned(), None, now_ms).await?;
        self.by_id.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(id);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> Result<PlacementConfig, String> {
        let c: PlacementConfig = serde_json::from_value(json).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }

    #[test]
    fn defaults_and_bad_fields_are_named() {
        let c = config(serde_json::json!({"kind": "user"})).expect("minimal");
        assert_eq!((c.n, c.pool_factor, c.fallback), (10, 3, Fallback::Popular));
        assert!(!c.reranks());
        for (json, key) in [
            (serde_json::json!({"kind": "user", "n": 0}), "config n:"),
            (serde_json::json!({"kind": "user", "diversity": {"lambda": 1.5}}), "config diversity.lambda:"),
            (
                serde_json::json!({"kind": "user", "exploration": {"policy": "epsilon", "epsilon": -0.1}}),
                "config exploration.epsilon:",
            ),
            (
                serde_json::json!({"kind": "user", "exploration": {"policy": "plackett_luce", "temperature": 0}}),
                "config exploration.temperature:",
            ),
            (serde_json::json!({"kind": "user", "window": "7d"}), "config window:"),
            (serde_json::json!({"kind": "popular", "window": "2w"}), "config window:"),
            (
                serde_json::json!({"kind": "user", "rules": {"min_price": 5, "max_price": 1}}),
                "config rules.min_price:",
            ),
        ] {
            let err = config(json.clone()).expect_err("refused");
            assert!(err.starts_with(key), "{json} gave {err}");
        }
        assert!(config(serde_json::json!({"kind": "shelf"})).is_err(), "unknown kind");
        assert!(config(serde_json::json!({"kind": "user", "colour": 1})).is_err(), "unknown field");
    }

    #[test]
    fn request_rules_win_and_exclusions_join() {
        let c = config(serde_json::json!({"kind": "user", "rules": {"category": "shoes", "max_price": 50,
            "exclude": ["a"]}}))
        .expect("valid");
        let req = Filters { max_price: Some(20.0), exclude: vec!["b".into()], ..Filters::default() };
        let f = c.filters(&req);
        assert_eq!(f.category.as_deref(), Some("shoes"));
        assert_eq!(f.max_price, Some(20.0));
        assert_eq!(f.exclude, ["a", "b"]);
    }
}
