//! Proving the value: placements, the impression log, attribution and the impact report, as a
//! part beside the [`Engine`] with its own state, storage ([`aisle_store::ImpactStore`]), locks
//! and tests.
//!
//! A placed request goes: placement (kind, default rules, diversity, exploration) → the engine's
//! query → re-ranking of a larger pool (MMR over category, then exploration with exact
//! propensities) → the response, whose list is queued as an impression. A background task
//! writes queued impressions in batches and attributes new events from the log (see
//! `attribution`), so rollups follow ingest within `impact.flush_ms`.
//!
//! Locks: `Placements` has one `RwLock` (never held across an await); the worker owns its queue
//! and batch. Nothing here takes an engine lock.

mod attribution;
mod experiments;
mod log;
mod offline;
mod overview;
mod placements;
mod report;
mod verdict;
mod worker;

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use aisle_impact::explore::Policy;
use aisle_store::{ImpactStore, Impression, Shown};
use tokio::sync::{mpsc, oneshot};

pub use experiments::{
    Experiment, ExperimentConfig, Experiments, MAX_VARIANTS, Mode, Status, UnitKind, VariantConfig,
};
pub use log::ImpressionLog;
pub use offline::{OpeData, OpeQuery, Reward};
pub use placements::{
    Diversity, Exploration, Fallback, Placement, PlacementConfig, PlacementKind, PlacementRules, Placements,
};
pub use report::{Granularity, ImpactQuery, ImpactReport, ImpactRow, Measure, Metrics};
pub use verdict::{ExperimentReport, InterleavingReport, MetricReport, VariantReport};

use crate::{
    Engine, EngineError, Filters, PopularRequest, RecommendRequest, Recommendations, Subject, Window, now_ms,
};

/// What a list is asked for, before a placement shapes it.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// Personalised (a user or a session); the request's `n` is replaced by the placed one.
    Personal(RecommendRequest),
    /// Items similar to an item.
    Similar {
        /// The item.
        item: String,
        /// The request's rules.
        filters: Filters,
        /// Attach reasons.
        explain: bool,
    },
    /// Items bought with an item.
    BoughtTogether {
        /// The item.
        item: String,
        /// The request's rules.
        filters: Filters,
    },
    /// Popular items.
    Popular {
        /// The request's window (default 7 days).
        window: Option<Window>,
        /// The request's rules.
        filters: Filters,
    },
    /// Trending items (popularity with exponential decay).
    Trending {
        /// The half-life in hours.
        half_life_hours: f64,
        /// The request's rules.
        filters: Filters,
    },
}

impl Query {
    fn filters(self) -> Filters {
        match self {
            Query::Personal(r) => r.filters,
            Query::Similar { filters, .. }
            | Query::BoughtTogether { filters, .. }
            | Query::Popular { filters, .. }
            | Query::Trending { filters, .. } => filters,
        }
    }
}

/// The trending half-life when a placement gives none.
const DEFAULT_HALF_LIFE_HOURS: f64 = 24.0;

/// A list request, with its placement.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    /// The placement id, if any (none: served as without placements, and logged as such).
    pub placement: Option<String>,
    /// The request's list length, if it gave one (else the placement's, else 10).
    pub n: Option<usize>,
    /// What is asked.
    pub query: Query,
    /// The shopper, when the request names one beside its subject (item and popular lists):
    /// for last-touch attribution and user-randomised experiments.
    pub user_id: Option<String>,
    /// The session, for session-randomised experiments.
    pub session_id: Option<String>,
    /// Log the list as an impression (false: a preview no shopper sees).
    pub log: bool,
}

/// The variant name of interleaved impressions.
pub const INTERLEAVED: &str = "interleaved";

/// Pinned model versions kept loaded for experiments.
const PINNED: usize = 4;

/// The impact part.
#[derive(Debug)]
pub struct Impact {
    engine: Arc<Engine>,
    placements: Placements,
    experiments: Experiments,
    log: ImpressionLog,
    flush: mpsc::Sender<oneshot::Sender<()>>,
    /// Model versions experiments pin, by version (at most [`PINNED`]).
    pinned: std::sync::Mutex<std::collections::HashMap<u64, Arc<crate::Published>>>,
    /// The last shop overview.
    overview: overview::Cached,
}

impl Impact {
    /// Loads the placements and starts the worker that writes impressions and attributes events.
    pub async fn start(engine: Arc<Engine>) -> Result<Arc<Impact>, EngineError> {
        let config = engine.config().impact.clone();
        let placements = Placements::default();
        placements.load(engine.store()).await?;
        let experiments = Experiments::default();
        experiments.load(engine.store()).await?;
        let (log, queue) = ImpressionLog::new(config.queue);
        let (flush, flushes) = mpsc::channel(16);
        let impact = Arc::new(Impact {
            engine: Arc::clone(&engine),
            placements,
            experiments,
            log,
            flush,
            pinned: std::sync::Mutex::default(),
            overview: tokio::sync::Mutex::default(),
        });
        tokio::spawn(worker::run(Arc::downgrade(&impact), queue, flushes));
        Ok(impact)
    }

    /// The placements.
    pub fn placements(&self) -> &Placements {
        &self.placements
    }

    /// The impression log.
    pub fn log(&self) -> &ImpressionLog {
        &self.log
    }

    /// The experiments.
    pub fn experiments(&self) -> &Experiments {
        &self.experiments
    }

    /// Creates an experiment on one of the placements.
    pub async fn create_experiment(&self, config: ExperimentConfig) -> Result<Arc<Experiment>, EngineError> {
        let placement = self.placements.get(&config.placement);
        for (k, v) in config.variants.iter().enumerate() {
            if let Some(version) = v.model_version
                && let Err(e) = self.pinned(version).await
            {
                return Err(EngineError::Config {
                    key: format!("variants[{k}].model_version"),
                    reason: format!("cannot serve version {version}: {e}"),
                });
            }
        }
        self.experiments
            .create(self.engine.store(), config, placement.as_ref().map(|p| &p.config), now_ms())
            .await
    }

    /// Stops a running experiment.
    pub async fn stop_experiment(&self, id: &str) -> Result<Arc<Experiment>, EngineError> {
        self.experiments.finish(self.engine.store(), id, Status::Stopped { at_ms: now_ms() }).await
    }

    /// Ships a variant: its configuration becomes a new version of the placement (a pinned model
    /// version stays pinned there; activating it instead makes it every list's model), and the
    /// experiment ends.
    pub async fn ship(&self, id: &str, variant: &str) -> Result<Arc<Experiment>, EngineError> {
        let e = self
            .experiments
            .get(id)
            .ok_or_else(|| EngineError::NotFound { what: "experiment", id: id.to_owned() })?;
        let v = e.config.variants.iter().find(|v| v.name == variant).ok_or_else(|| EngineError::Config {
            key: "variant".to_owned(),
            reason: format!("experiment {id:?} has no variant {variant:?}"),
        })?;
        let base = self
            .placements
            .get(&e.config.placement)
            .ok_or_else(|| EngineError::NotFound { what: "placement", id: e.config.placement.clone() })?;
        if e.status != Status::Running {
            return Err(EngineError::Config {
                key: "state".to_owned(),
                reason: "the experiment is not running".to_owned(),
            });
        }
        let shipped = self.put_placement(&base.id, v.apply(&base.config)).await?;
        let status = Status::Shipped {
            at_ms: now_ms(),
            variant: variant.to_owned(),
            placement_version: shipped.version,
        };
        self.experiments.finish(self.engine.store(), id, status).await
    }

    /// An experiment's report, from its units' counters.
    pub async fn experiment_report(&self, id: &str) -> Result<ExperimentReport, EngineError> {
        let e = self
            .experiments
            .get(id)
            .ok_or_else(|| EngineError::NotFound { what: "experiment", id: id.to_owned() })?;
        let units = self.engine.store().experiment_units(id.to_owned()).await?;
        let outcomes = match e.config.mode {
            Mode::Ab => Vec::new(),
            Mode::Interleaving => self.engine.store().interleave_outcomes(id.to_owned()).await?,
        };
        let engine = Arc::clone(&self.engine);
        let e2 = Arc::clone(&e);
        let dropped = self.log.dropped();
        engine.cpu(move || verdict::report(&e2, &units, &outcomes, dropped)).await
    }

    /// A pinned model version (loaded once, kept among the last [`PINNED`]).
    async fn pinned(&self, version: u64) -> Result<Arc<crate::Published>, EngineError> {
        if let Some(p) = self.pinned.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&version) {
            return Ok(Arc::clone(p));
        }
        let p = self.engine.published(version).await?;
        let mut cache = self.pinned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= PINNED
            && let Some(&old) = cache.keys().min()
        {
            cache.remove(&old);
        }
        cache.insert(version, Arc::clone(&p));
        Ok(p)
    }

    /// Writes every queued impression and attributes every stored event, then returns (tests,
    /// reports that must see everything, graceful shutdown).
    pub async fn flush(&self) -> Result<(), EngineError> {
        let (done, wait) = oneshot::channel();
        self.flush.send(done).await.map_err(|_| EngineError::Task("the impact worker stopped".to_owned()))?;
        wait.await.map_err(|_| EngineError::Task("the impact worker stopped".to_owned()))
    }

    /// Writes a placement version (a pinned model version must be stored and readable).
    pub async fn put_placement(
        &self,
        id: &str,
        config: PlacementConfig,
    ) -> Result<Arc<Placement>, EngineError> {
        if let Some(version) = config.model_version
            && let Err(e) = self.pinned(version).await
        {
            return Err(EngineError::Config {
                key: "model_version".to_owned(),
                reason: format!("cannot serve version {version}: {e}"),
            });
        }
        let max = self.engine.config().impact.max_placements;
        self.placements.put(self.engine.store(), id, config, max, now_ms()).await
    }

    /// Deletes a placement.
    pub async fn delete_placement(&self, id: &str) -> Result<bool, EngineError> {
        self.placements.delete(self.engine.store(), id, now_ms()).await
    }

    /// A placement's version `version` (deleted ones included), from the store.
    pub async fn placement_version(&self, id: &str, version: u64) -> Result<Option<Placement>, EngineError> {
        let Some(record) = self.engine.store().placement(id.to_owned(), Some(version)).await? else {
            return Ok(None);
        };
        let Some(text) = record.config else { return Ok(None) };
        let config: PlacementConfig = serde_json::from_str(&text).map_err(|e| {
            EngineError::Store(aisle_store::StoreError::Corrupt { what: "placement", reason: e.to_string() })
        })?;
        Ok(Some(Placement { id: record.id, version: record.version, updated_at_ms: record.at_ms, config }))
    }

    /// Serves a list: shaped by its placement (and the variant of a live experiment on it),
    /// re-ranked, and logged as an impression.
    pub async fn serve(&self, placed: Placed) -> Result<Recommendations, EngineError> {
        let placement = match &placed.placement {
            Some(id) => Some(
                self.placements
                    .get(id)
                    .ok_or_else(|| EngineError::NotFound { what: "placement", id: id.clone() })?,
            ),
            None => None,
        };
        let n = placed.n.or(placement.as_ref().map(|p| p.config.n)).unwrap_or(10);
        let user = match &placed.query {
            Query::Personal(r) => match &r.subject {
                Subject::User(u) => Some(u.clone()),
                Subject::Session(_) => placed.user_id.clone(),
            },
            _ => placed.user_id.clone(),
        };
        let now = now_ms();
        let live = placement.as_ref().and_then(|p| self.experiments.live_on(&p.id, now));
        let unit = live.as_ref().and_then(|e| match e.config.unit {
            UnitKind::User => user.clone(),
            UnitKind::Session => placed.session_id.clone(),
        });
        let mut arm = Arm::default();
        let (mut out, propensities, teams) = match (&placement, live.zip(unit)) {
            (None, _) => (self.query(None, placed.query, n).await?, None, None),
            (Some(p), None) => {
                let pinned = self.pin(p.config.model_version).await;
                let (out, prop) = self.placed(&p.id, &p.config, pinned, placed.query, n).await?;
                (out, prop, None)
            }
            (Some(p), Some((e, unit))) => {
                arm.covariate = self.covariate(user.as_deref());
                arm.experiment = e.config.id.clone();
                arm.unit = unit.clone();
                match e.config.mode {
                    Mode::Ab => {
                        let Some(k) = e.assign(&unit) else {
                            return Err(EngineError::Invalid(
                                "the experiment has no variant to assign".to_owned(),
                            ));
                        };
                        let v = &e.config.variants[k];
                        arm.variant = v.name.clone();
                        let c = v.apply(&p.config);
                        let pinned = self.pin(c.model_version).await;
                        let (out, prop) = self.placed(&p.id, &c, pinned, placed.query, n).await?;
                        (out, prop, None)
                    }
                    Mode::Interleaving => {
                        arm.variant = INTERLEAVED.to_owned();
                        let (out, teams) = self.interleaved(p, &e, &unit, placed.query, n).await?;
                        (out, None, Some(teams))
                    }
                }
            }
        };
        out.items.truncate(n);
        if placed.log && self.engine.config().impact.log_impressions {
            let shown = Shown_ { propensities: propensities.as_deref(), teams: teams.as_deref() };
            self.log.record(impression(&out, shown, placement.as_deref(), user, arm, now));
        }
        Ok(out)
    }

    /// A pinned version, or the serving one when none is pinned or it cannot be loaded (then
    /// counted: the variant serves the serving model).
    async fn pin(&self, version: Option<u64>) -> Option<Arc<crate::Published>> {
        let v = version?;
        match self.pinned(v).await {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(version = v, error = %e, "an experiment's pinned version cannot be served");
                metrics::counter!("aisle_experiment_pinned_missing_total").increment(1);
                None
            }
        }
    }

    /// Both variants' lists merged by team-draft interleaving.
    async fn interleaved(
        &self,
        p: &Placement,
        e: &Experiment,
        unit: &str,
        query: Query,
        n: usize,
    ) -> Result<(Recommendations, Vec<u8>), EngineError> {
        let (ca, cb) = (e.config.variants[0].apply(&p.config), e.config.variants[1].apply(&p.config));
        let pa = self.pin(ca.model_version).await;
        let pb = self.pin(cb.model_version).await;
        let (a, _) = self.placed(&p.id, &ca, pa, query.clone(), n).await?;
        let (b, _) = self.placed(&p.id, &cb, pb, query, n).await?;
        let ids_a: Vec<&str> = a.items.iter().map(|i| i.id.as_str()).collect();
        let ids_b: Vec<&str> = b.items.iter().map(|i| i.id.as_str()).collect();
        let mut rng = aisle_core::rng::seeded(RandomState::new().hash_one((&a.recommendation_id, unit)));
        let merged = aisle_impact::interleave::team_draft(&ids_a, &ids_b, n, &mut rng);
        let mut rows: std::collections::HashMap<&str, &crate::RecommendedItem> =
            b.items.iter().map(|i| (i.id.as_str(), i)).collect();
        rows.extend(a.items.iter().map(|i| (i.id.as_str(), i)));
        let mut items = Vec::with_capacity(merged.len());
        let mut teams = Vec::with_capacity(merged.len());
        for (id, team) in merged {
            if let Some(row) = rows.get(id) {
                items.push((*row).clone());
                teams.push(match team {
                    aisle_impact::interleave::Team::A => 0,
                    aisle_impact::interleave::Team::B => 1,
                });
            }
        }
        let out = Recommendations { items, fallback: a.fallback && b.fallback, ..a.clone() };
        Ok((out, teams))
    }

    /// The unit's pre-experiment activity, the CUPED covariate: how many items the serving
    /// model's training history holds for the shopper (events before it was trained, so before
    /// any exposure that training could not have seen; 0 when unknown).
    fn covariate(&self, user: Option<&str>) -> f64 {
        let Some(p) = self.engine.serving() else { return 0.0 };
        user.and_then(|u| p.user(u)).map_or(0.0, |u| p.artifact.history.row(u.index()).count() as f64)
    }

    /// The query as it is, `n` items, by version `pinned` (or the serving one).
    async fn query(
        &self,
        pinned: Option<Arc<crate::Published>>,
        query: Query,
        n: usize,
    ) -> Result<Recommendations, EngineError> {
        let p = pinned.or_else(|| self.engine.serving());
        match query {
            Query::Personal(mut r) => {
                r.n = n;
                self.engine.recommend_with(p, &r).await
            }
            Query::Similar { item, filters, explain } => {
                self.engine.similar_with(p, &item, n, &filters, explain).await
            }
            Query::BoughtTogether { item, filters } => {
                self.engine.bought_together_with(p, &item, n, &filters)
            }
            Query::Popular { window, filters } => Ok(self.engine.popular(&PopularRequest {
                window: window.unwrap_or(Window::Week),
                n,
                filters,
            })),
            Query::Trending { half_life_hours, filters } => {
                Ok(self.engine.trending(half_life_hours, n, &filters))
            }
        }
    }

    /// The query as placement configuration `c` shapes it.
    async fn placed(
        &self,
        id: &str,
        c: &PlacementConfig,
        pinned: Option<Arc<crate::Published>>,
        query: Query,
        n: usize,
    ) -> Result<(Recommendations, Option<Vec<f64>>), EngineError> {
        let pool = if c.reranks() { (n * c.pool_factor).min(1000) } else { n };
        let mismatch = |asked: &str| EngineError::Config {
            key: "placement".to_owned(),
            reason: format!("placement {id:?} serves {:?} lists, not {asked}", c.kind),
        };
        let shaped = match (c.kind, query) {
            (PlacementKind::Popular, q) => {
                let window = c.window.as_deref().and_then(Window::parse);
                Query::Popular { window, filters: c.filters(&q.filters()) }
            }
            (PlacementKind::Trending, q) => Query::Trending {
                half_life_hours: c.half_life_hours.unwrap_or(DEFAULT_HALF_LIFE_HOURS),
                filters: c.filters(&q.filters()),
            },
            (PlacementKind::User | PlacementKind::Session, Query::Personal(mut r)) => {
                r.filters = c.filters(&r.filters);
                r.exclude_seen |= c.rules.exclude_seen;
                r.include_purchased |= c.rules.include_purchased;
                Query::Personal(r)
            }
            (PlacementKind::ItemToItem, Query::Similar { item, filters, explain }) => {
                Query::Similar { item, filters: c.filters(&filters), explain }
            }
            (PlacementKind::ItemToItem, Query::BoughtTogether { item, filters }) => {
                Query::Similar { item, filters: c.filters(&filters), explain: false }
            }
            (
                PlacementKind::BoughtTogether,
                Query::Similar { item, filters, .. } | Query::BoughtTogether { item, filters },
            ) => Query::BoughtTogether { item, filters: c.filters(&filters) },
            (PlacementKind::User | PlacementKind::Session, _) => {
                return Err(mismatch("an item's or a popular"));
            }
            (PlacementKind::ItemToItem | PlacementKind::BoughtTogether, _) => {
                return Err(mismatch("a shopper's"));
            }
        };
        let fallback_ok = c.fallback == Fallback::Popular;
        let mut out = match self.query(pinned, shaped, pool).await {
            Err(EngineError::NotFound { what, .. }) if fallback_ok && what != "placement" => {
                self.query(
                    None,
                    Query::Popular { window: None, filters: c.filters(&Filters::default()) },
                    pool,
                )
                .await?
            }
            other => other?,
        };
        if out.fallback && !fallback_ok {
            out.items.clear();
        }
        let propensities = self.rerank(c, &mut out, n);
        Ok((out, propensities))
    }

    /// Diversity, then exploration, over the pool; leaves `n` items and returns, under
    /// exploration, each slot's propensity.
    fn rerank(&self, c: &PlacementConfig, out: &mut Recommendations, n: usize) -> Option<Vec<f64>> {
        let mut reordered = false;
        if let Some(d) = &c.diversity {
            let catalog = self.engine.catalog().read();
            let mut names: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
            let cats: Vec<Option<u32>> = out
                .items
                .iter()
                .map(|i| {
                    let first = catalog.get(i.id.as_str()).and_then(|r| r.categories.first().cloned())?;
                    let next = names.len() as u32;
                    Some(*names.entry(first).or_insert(next))
                })
                .collect();
            drop(catalog);
            let scores: Vec<f64> = out.items.iter().map(|i| f64::from(i.score)).collect();
            let order = aisle_impact::diversify::diversify(
                &scores,
                &cats,
                out.items.len(),
                d.lambda,
                d.max_per_category,
            );
            out.items = take_order(std::mem::take(&mut out.items), &order);
            reordered = true;
        }
        let policy = match c.exploration {
            Exploration::None => None,
            Exploration::Epsilon { epsilon } => Some(Policy::Epsilon { eps: epsilon }),
            Exploration::PlackettLuce { temperature } => Some(Policy::PlackettLuce { temperature }),
        };
        let Some(policy) = policy else {
            out.items.truncate(n);
            return None;
        };
        let len = out.items.len();
        let scores: Vec<f64> = if reordered || matches!(policy, Policy::Epsilon { .. }) {
            // The list's own order is the ranking explored around.
            (0..len).map(|r| 1.0 - r as f64 / len.max(1) as f64).collect()
        } else {
            normalised(out.items.iter().map(|i| f64::from(i.score)))
        };
        let mut rng = aisle_core::rng::seeded(RandomState::new().hash_one(&out.recommendation_id));
        match policy.sample(&scores, n, &mut rng) {
            Ok(picks) => {
                let order: Vec<usize> = picks.iter().map(|p| p.index).collect();
                out.items = take_order(std::mem::take(&mut out.items), &order);
                Some(picks.iter().map(|p| p.propensity).collect())
            }
            Err(e) => {
                tracing::warn!(error = %e, "exploration skipped");
                out.items.truncate(n);
                None
            }
        }
    }

    /// The impact report, from the rollups (which trail the queue by up to `impact.flush_ms`;
    /// [`Impact::flush`] first to see everything).
    pub async fn report(&self, q: &ImpactQuery) -> Result<ImpactReport, EngineError> {
        let rows = self.engine.store().rollups(q.rollup_query()).await?;
        Ok(report::build(q, &rows, self.log.dropped()))
    }
}

fn take_order<T>(items: Vec<T>, order: &[usize]) -> Vec<T> {
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order.iter().filter_map(|&i| slots.get_mut(i).and_then(Option::take)).collect()
}

/// Scores min–max normalised to [0, 1] (all 1 when they are equal).
fn normalised(scores: impl Iterator<Item = f64> + Clone) -> Vec<f64> {
    let (lo, hi) =
        scores.clone().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| (lo.min(s), hi.max(s)));
    scores.map(|s| if hi > lo { (s - lo) / (hi - lo) } else { 1.0 }).collect()
}

/// Where an impression belongs in an experiment (all empty outside one).
#[derive(Debug, Default)]
struct Arm {
    experiment: String,
    variant: String,
    unit: String,
    covariate: f64,
}

/// What each slot carried besides its item.
struct Shown_<'a> {
    propensities: Option<&'a [f64]>,
    teams: Option<&'a [u8]>,
}

/// The impression of a served list.
fn impression(
    out: &Recommendations,
    shown: Shown_<'_>,
    placement: Option<&Placement>,
    user: Option<String>,
    arm: Arm,
    at_ms: i64,
) -> Impression {
    let items = out
        .items
        .iter()
        .enumerate()
        .map(|(k, i)| Shown {
            item: i.id.clone(),
            position: k as u32,
            propensity: shown.propensities.and_then(|p| p.get(k).copied()),
            team: shown.teams.and_then(|t| t.get(k).copied()),
        })
        .collect();
    Impression {
        recommendation_id: out.recommendation_id.clone(),
        at_ms,
        placement: placement.map(|p| p.id.clone()).unwrap_or_default(),
        experiment: arm.experiment,
        variant: arm.variant,
        unit: arm.unit,
        user_id: user,
        model_version: out.model_version,
        covariate: arm.covariate,
        items,
    }
}
