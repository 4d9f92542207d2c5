//! What proving a recommender's value keeps: placements (named, versioned serving
//! configurations), experiments, the impression log (what was shown, to whom, under which
//! placement and variant), and the rollups and per-unit counters that attribution updates.
//!
//! A trait of its own ([`ImpactStore`]) beside [`crate::Store`]: the engine's impact parts own
//! this state, and its conformance suite (`tests/it/impact.rs`) runs on both backends.
//!
//! Configurations are opaque JSON text here: the engine owns their schema and validation, the
//! store keeps versions. Counters are only ever added to, in the transaction that records why
//! (an impression batch, or an attribution step whose cursor moves by compare-and-swap), so a
//! kill loses none and a replay counts none twice.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// One version of a placement's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementRecord {
    /// The placement's id ("home", "pdp-similar").
    pub id: String,
    /// 1, 2, ... per id; a deletion is a version too (and ends the id's life until it is put
    /// again).
    pub version: u64,
    /// The configuration (JSON), `None` for a deletion.
    pub config: Option<String>,
    /// When this version was written.
    pub at_ms: i64,
}

/// An experiment: its configuration and state (JSON the engine owns), with a revision for
/// compare-and-swap updates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExperimentRecord {
    /// The experiment's id.
    pub id: String,
    /// Configuration and state (JSON).
    pub body: String,
    /// 1 when created, +1 per update.
    pub revision: u64,
    /// When it was created.
    pub created_at_ms: i64,
}

/// One item of a served list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    /// The item id.
    pub item: String,
    /// 0-based position in the list.
    pub position: u32,
    /// Under exploration, the probability the logging policy gave this item at this slot, given
    /// the slots before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensity: Option<f64>,
    /// Under interleaving, the team that contributed the item (0 = A, 1 = B).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<u8>,
}

/// A served list, as it was shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Impression {
    /// The recommendation id the response carried (unique).
    pub recommendation_id: String,
    /// When it was served.
    pub at_ms: i64,
    /// The placement, `""` for none.
    pub placement: String,
    /// The experiment, `""` for none.
    pub experiment: String,
    /// The variant (or `interleaved`), `""` for none.
    pub variant: String,
    /// The experiment's unit (a user or session id), `""` outside experiments.
    pub unit: String,
    /// The shopper, when the request named one.
    pub user_id: Option<String>,
    /// The serving model version.
    pub model_version: Option<u64>,
    /// The unit's pre-experiment activity (the CUPED covariate), kept from its first impression.
    pub covariate: f64,
    /// The items, in order.
    pub items: Vec<Shown>,
}

/// What an event is credited as.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditKind {
    /// A click on a shown item.
    Click,
    /// A cart add.
    Cart,
    /// A purchase (with revenue).
    Purchase,
}

/// One attributed event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Credit {
    /// The hour (Unix ms, a multiple of 3,600,000) of the event.
    pub bucket_ms: i64,
    /// The placement credited, `""` for none.
    pub placement: String,
    /// The experiment, `""` for none.
    pub experiment: String,
    /// The variant, `""` for none.
    pub variant: String,
    /// The experiment's unit, `""` outside experiments.
    pub unit: String,
    /// The impression credited.
    pub recommendation_id: String,
    /// What the event was.
    pub kind: CreditKind,
    /// Revenue (purchases; 0 otherwise).
    pub revenue: f64,
    /// Under interleaving, the team whose item it was.
    pub team: Option<u8>,
}

/// One hour of one placement × experiment × variant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    /// The hour (Unix ms).
    pub bucket_ms: i64,
    /// The placement, `""` for none.
    pub placement: String,
    /// The experiment, `""` for none.
    pub experiment: String,
    /// The variant, `""` for none.
    pub variant: String,
    /// Lists served.
    pub impressions: u64,
    /// Items shown (over all lists).
    pub shown: u64,
    /// Attributed clicks.
    pub clicks: u64,
    /// Attributed cart adds.
    pub carts: u64,
    /// Attributed purchases.
    pub purchases: u64,
    /// Attributed revenue.
    pub revenue: f64,
    /// Sum of squared revenue per purchase (for intervals).
    pub revenue_sq: f64,
}

/// What a rollup query selects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollupQuery {
    /// From this time (inclusive, Unix ms).
    pub from_ms: i64,
    /// To this time (exclusive).
    pub to_ms: i64,
    /// Only this placement.
    pub placement: Option<String>,
    /// Only this experiment.
    pub experiment: Option<String>,
    /// Only this variant.
    pub variant: Option<String>,
}

/// One experiment unit's counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UnitCounters {
    /// The unit (user or session id).
    pub unit: String,
    /// Its variant.
    pub variant: String,
    /// Its first impression.
    pub first_ms: i64,
    /// Lists it was shown.
    pub impressions: u64,
    /// Its attributed clicks.
    pub clicks: u64,
    /// Its attributed cart adds.
    pub carts: u64,
    /// Its attributed purchases.
    pub purchases: u64,
    /// Its attributed revenue.
    pub revenue: f64,
    /// Its pre-experiment activity (the CUPED covariate).
    pub covariate: f64,
}

/// One interleaved impression's clicks by team.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterleaveOutcome {
    /// The impression.
    pub recommendation_id: String,
    /// Its unit.
    pub unit: String,
    /// Clicks on team A's items.
    pub clicks_a: u64,
    /// Clicks on team B's items.
    pub clicks_b: u64,
}

/// The impact parts' storage. Every write is durable when its future resolves.
pub trait ImpactStore: Send + Sync + 'static {
    /// Writes a new version of placement `id` (`config` `None` deletes it); returns the version.
    fn put_placement(
        &self,
        id: String,
        config: Option<String>,
        at_ms: i64,
    ) -> impl Future<Output = StoreResult<PlacementRecord>> + Send;

    /// The newest version of `id` (or version `version`), deletions included.
    fn placement(
        &self,
        id: String,
        version: Option<u64>,
    ) -> impl Future<Output = StoreResult<Option<PlacementRecord>>> + Send;

    /// The newest version of every placement that is not deleted, by id.
    fn placements(&self) -> impl Future<Output = StoreResult<Vec<PlacementRecord>>> + Send;

    /// Creates an experiment (revision 1); `false` if the id exists.
    fn create_experiment(&self, record: ExperimentRecord) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Replaces an experiment's body if its revision is still `record.revision - 1`; `false`
    /// when another writer got there first (or it does not exist).
    fn update_experiment(&self, record: ExperimentRecord) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Every experiment, by id.
    fn experiments(&self) -> impl Future<Output = StoreResult<Vec<ExperimentRecord>>> + Send;

    /// Logs impressions (idempotent by recommendation id) and, in the same transaction, adds
    /// them to the rollups and to their units' counters (a unit's variant, first time and
    /// covariate are set by its first impression). Returns how many were new.
    fn log_impressions(&self, batch: Vec<Impression>) -> impl Future<Output = StoreResult<usize>> + Send;

    /// One impression by recommendation id.
    fn impression(
        &self,
        recommendation_id: String,
    ) -> impl Future<Output = StoreResult<Option<Impression>>> + Send;

    /// The shopper's impressions at or after `since_ms`, newest first, at most `limit`.
    fn user_impressions(
        &self,
        user_id: String,
        since_ms: i64,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Impression>>> + Send;

    /// Impressions in `[from_ms, to_ms)` ordered by (time, recommendation id), after the key
    /// `after` (keyset paging), at most `limit` (for `aisle ope`).
    fn impressions_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Impression>>> + Send;

    /// Deletes impressions older than `before_ms` (retention); rollups and unit counters stay.
    fn prune_impressions(&self, before_ms: i64) -> impl Future<Output = StoreResult<usize>> + Send;

    /// The event sequence number attribution has reached.
    fn attribution_cursor(&self) -> impl Future<Output = StoreResult<u64>> + Send;

    /// Adds `credits` to the rollups, unit counters and interleaving outcomes and moves the
    /// cursor from `from_seq` to `to_seq`, in one transaction — only if the cursor is still at
    /// `from_seq` (`false` otherwise: another replica attributed those events).
    fn commit_attribution(
        &self,
        from_seq: u64,
        to_seq: u64,
        credits: Vec<Credit>,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Rollup rows matching `query`, by hour.
    fn rollups(&self, query: RollupQuery) -> impl Future<Output = StoreResult<Vec<Rollup>>> + Send;

    /// The counters of every unit of an experiment.
    fn experiment_units(
        &self,
        experiment: String,
    ) -> impl Future<Output = StoreResult<Vec<UnitCounters>>> + Send;

    /// The interleaving outcomes of an experiment, one per impression that got a click.
    fn interleave_outcomes(
        &self,
        experiment: String,
    ) -> impl Future<Output = StoreResult<Vec<InterleaveOutcome>>> + Send;
}

/// The hour bucket of a time.
pub fn hour_bucket(ms: i64) -> i64 {
    ms.div_euclid(3_600_000).saturating_mul(3_600_000)
}

/// A rollup row's key: (hour, placement, experiment, variant).
pub(crate) type RollupKey = (i64, String, String, String);
/// An experiment unit's key: (experiment, unit).
pub(crate) type UnitKey = (String, String);

/// What one impression batch adds to a unit.
#[derive(Debug)]
pub(crate) struct UnitShown {
    pub variant: String,
    pub first_ms: i64,
    pub impressions: u64,
    pub covariate: f64,
}

/// What attributed events add to a rollup row or a unit.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Credited {
    pub clicks: u64,
    pub carts: u64,
    pub purchases: u64,
    pub revenue: f64,
    pub revenue_sq: f64,
}

/// Clicks on each team's items in one interleaved list.
#[derive(Debug, Default)]
pub(crate) struct TeamClicks {
    pub unit: String,
    pub a: u64,
    pub b: u64,
}

/// Per-key sums of one impression batch: the rollup and unit rows to add, computed once so
/// every backend adds the same thing.
#[derive(Debug, Default)]
pub(crate) struct BatchSums {
    /// Rollup key → (impressions, shown).
    pub rollups: std::collections::BTreeMap<RollupKey, (u64, u64)>,
    pub units: std::collections::BTreeMap<UnitKey, UnitShown>,
}

impl BatchSums {
    pub(crate) fn of<'a>(batch: impl Iterator<Item = &'a Impression>) -> BatchSums {
        let mut sums = BatchSums::default();
        for imp in batch {
            let key =
                (hour_bucket(imp.at_ms), imp.placement.clone(), imp.experiment.clone(), imp.variant.clone());
            let r = sums.rollups.entry(key).or_default();
            r.0 += 1;
            r.1 += imp.items.len() as u64;
            if !imp.experiment.is_empty() && !imp.unit.is_empty() {
                let u = sums.units.entry((imp.experiment.clone(), imp.unit.clone())).or_insert_with(|| {
                    UnitShown {
                        variant: imp.variant.clone(),
                        first_ms: imp.at_ms,
                        impressions: 0,
                        covariate: imp.covariate,
                    }
                });
                u.first_ms = u.first_ms.min(imp.at_ms);
                u.impressions += 1;
            }
        }
        sums
    }
}

/// Per-key sums of one attribution step.
#[derive(Debug, Default)]
pub(crate) struct CreditSums {
    pub rollups: std::collections::BTreeMap<RollupKey, Credited>,
    pub units: std::collections::BTreeMap<UnitKey, Credited>,
    /// (experiment, recommendation id) → clicks by team.
    pub interleave: std::collections::BTreeMap<(String, String), TeamClicks>,
}

impl Credited {
    fn add(&mut self, kind: CreditKind, revenue: f64) {
        match kind {
            CreditKind::Click => self.clicks += 1,
            CreditKind::Cart => self.carts += 1,
            CreditKind::Purchase => self.purchases += 1,
        }
        self.revenue += revenue;
        self.revenue_sq += revenue * revenue;
    }
}

impl CreditSums {
    pub(crate) fn of(credits: &[Credit]) -> CreditSums {
        let mut sums = CreditSums::default();
        for c in credits {
            let key = (c.bucket_ms, c.placement.clone(), c.experiment.clone(), c.variant.clone());
            sums.rollups.entry(key).or_default().add(c.kind, c.revenue);
            if !c.experiment.is_empty() && !c.unit.is_empty() {
                sums.units.entry((c.experiment.clone(), c.unit.clone())).or_default().add(c.kind, c.revenue);
                if let (Some(team), CreditKind::Click) = (c.team, c.kind) {
                    let i = sums
                        .interleave
                        .entry((c.experiment.clone(), c.recommendation_id.clone()))
                        .or_insert_with(|| TeamClicks { unit: c.unit.clone(), a: 0, b: 0 });
                    if team == 0 {
                        i.a += 1;
                    } else {
                        i.b += 1;
                    }
                }
            }
        }
        sums
    }
}

/// The JSON column of an impression's items.
pub(crate) fn items_json(items: &[Shown]) -> StoreResult<String> {
    serde_json::to_string(items).map_err(|e| crate::codec::corrupt("impression items", e))
}

/// An impression's items read back.
pub(crate) fn items_from_json(text: &str) -> StoreResult<Vec<Shown>> {
    serde_json::from_str(text).map_err(|e| crate::codec::corrupt("impression items", e))
}
