//! Training jobs: snapshot the store (skipping, and counting, stored events the bounds refuse),
//! fit the configured model on a holdout of the newest events and compare it there with the model
//! that serves (the publication gate), fit on everything, and build the artifact.
//!
//! The gate compares like with like on data neither model was trained on: the holdout is the
//! newest `holdout_ratio` of the events, and only those the serving version was not trained on
//! (sequence numbers above its `trained_on_seq`); the candidate is fitted on the events before the
//! holdout, and the serving version itself scores the holdout's users (by its vector, or by
//! fold-in of their history when they have events it never saw). When fewer than
//! `MIN_GATE_EVENTS` events are new to the serving version, the serving version's configuration
//! is fitted on the candidate's split instead, and the outcome says so (the same configuration
//! means there is nothing to compare: a retrain on more data).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use aisle_core::eval::{RankingMetrics, RankingOptions, evaluate_ranking};
use aisle_core::models::registry::{Model, ModelSpec};
use aisle_core::recommender::{ModelError, Recommender};
use aisle_core::{
    DEFAULT_SESSION_GAP_S, EventKind, EventWeights, Feedback, FitContext, IdMap, Interactions, ItemIdx,
    ListIndex, Scored, Sequences, SideInfo, UserIdx,
};
use aisle_ingest::{Event, to_interactions, to_sequences};
use aisle_store::{ItemRecord, Store, UserRecord};

use crate::config::TrainingConfig;
use crate::gate::{Comparison, MIN_GATE_EVENTS};
use crate::published::{ARTIFACT_FORMAT, Artifact, Published, Rows, kind_bit};
use crate::{Engine, EngineError};

/// The data of one training run, in dense indexes.
pub(crate) struct Snapshot {
    pub users: IdMap,
    pub items: IdMap,
    pub events: Vec<Event>,
    /// Store sequence number per event (increasing).
    pub seqs: Vec<u64>,
    /// Basket key per event: the session (interned), else user and day.
    pub baskets: Vec<u64>,
    pub last_seq: u64,
    pub side: SideInfo,
    /// Stored events left out because the bounds refuse them (an older aisle's data).
    pub skipped: u64,
    /// Seconds spent reading it from the store (a training's `snapshot_seconds`).
    pub read_seconds: f64,
}

/// Events or users per read of the store.
pub(crate) const PAGE: usize = 50_000;

/// `key=value` tokens of a user's attributes (what the hybrid model's user features are).
fn user_tokens(u: &UserRecord) -> Vec<String> {
    u.attributes
        .iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some(format!("{k}={s}")),
            serde_json::Value::Number(n) => Some(format!("{k}={n}")),
            serde_json::Value::Bool(b) => Some(format!("{k}={b}")),
            serde_json::Value::Null | serde_json::Value::Array(_) | serde_json::Value::Object(_) => None,
        })
        .collect()
}

impl Engine {
    /// Reads catalog, users and the events (the kept training snapshot and the log after it, see
    /// `kept/`) into a [`Snapshot`]; its time goes to the `aisle_training_snapshot_seconds`
    /// histogram, the log and the version's `snapshot_seconds` metric.
    pub(crate) async fn snapshot(&self) -> Result<Snapshot, EngineError> {
        let started = std::time::Instant::now();
        let mut snapshot = self.read_snapshot().await?;
        snapshot.read_seconds = started.elapsed().as_secs_f64();
        metrics::histogram!("aisle_training_snapshot_seconds").record(snapshot.read_seconds);
        tracing::info!(
            events = snapshot.events.len(),
            seconds = snapshot.read_seconds,
            "training snapshot read"
        );
        Ok(snapshot)
    }

    async fn read_snapshot(&self) -> Result<Snapshot, EngineError> {
        let mut catalog: Vec<Arc<ItemRecord>> = self.catalog.snapshot();
        catalog.sort_by(|a, b| a.id.cmp(&b.id));
        let ids = catalog.iter().map(|r| r.id.clone()).collect();
        let mut snapshot = self.read_kept(ids, crate::kept::SEGMENT_EVENTS).await?.snapshot;
        let (users, items, skipped) = (&snapshot.users, &snapshot.items, snapshot.skipped);
        if skipped > 0 {
            metrics::counter!("aisle_training_skipped_events_total").increment(skipped);
            tracing::warn!(skipped, "training skipped stored events the event bounds refuse");
        }
        let mut side = SideInfo { items: vec![None; items.len()], users: vec![Vec::new(); users.len()] };
        for (k, r) in catalog.iter().enumerate() {
            side.items[k] = Some(r.model_attributes());
        }
        let mut after = None;
        loop {
            let page =
                self.store.users(aisle_store::PageRequest { limit: PAGE, after: after.clone() }).await?;
            for u in &page.rows {
                if let Some(idx) = users.get(&u.id) {
                    side.users[idx as usize] = user_tokens(u);
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        snapshot.side = side;
        Ok(snapshot)
    }
}

/// The outcome of fitting and evaluating, before anything is stored.
pub(crate) struct Fitted {
    pub artifact: Artifact,
    pub metrics: BTreeMap<String, f64>,
    /// What the gate compared, with the figures.
    pub comparison: Comparison,
}

/// The serving version, as the gate needs it.
pub(crate) struct GateInput {
    pub serving: Arc<Published>,
    /// Its configuration, when it still parses.
    pub spec: Option<ModelSpec>,
    /// Snapshot users it must not serve (deleted since it was trained).
    pub hidden: HashSet<u32>,
}

/// The matrix of `events` (a slice of the snapshot's), pairs capped at `cap`.
pub(crate) fn interactions(
    s: &Snapshot,
    events: &[Event],
    weights: &EventWeights,
    cap: f32,
) -> Result<Interactions, EngineError> {
    let mut m = to_interactions(events, s.users.len(), s.items.len(), Feedback::Implicit, weights)
        .map_err(|e| EngineError::Training(e.to_string()))?;
    m.cap_values(cap);
    Ok(m)
}

/// The order of `events` ([`ordered`]) for a model that reads it, else `None`.
fn sequences(
    s: &Snapshot,
    events: &[Event],
    spec: &ModelSpec,
    weights: &EventWeights,
) -> Result<Option<Sequences>, EngineError> {
    if !spec.reads_sequences() {
        return Ok(None);
    }
    ordered(s, events, weights).map(Some)
}

/// The order of `events` (a slice of the snapshot's): the steps the implicit matrix counts
/// (positive weight), sessions by the events' session ids, else cut by the inactivity gap (the
/// snapshot's times are milliseconds).
pub(crate) fn ordered(
    s: &Snapshot,
    events: &[Event],
    weights: &EventWeights,
) -> Result<Sequences, EngineError> {
    let gap_ms = DEFAULT_SESSION_GAP_S * 1_000;
    to_sequences(events, s.users.len(), s.items.len(), Feedback::Implicit, weights, gap_ms)
        .map_err(|e| EngineError::Training(e.to_string()))
}

/// Train on the events before `at`; test on the (user, item) pairs of the rest that training has
/// not seen (what a model should find next: a pair seen before is no candidate, so it could only
/// count as a miss).
struct Holdout {
    train: Interactions,
    test: Interactions,
    at: usize,
}

impl Holdout {
    /// The events from `at` on are held out; of their users, at most `t.max_eval_users` (a
    /// sample fixed by the seed) are evaluated.
    fn at(
        s: &Snapshot,
        at: usize,
        weights: &EventWeights,
        t: &TrainingConfig,
    ) -> Result<Holdout, EngineError> {
        let (before, after) = s.events.split_at(at);
        let train = interactions(s, before, weights, t.max_pair_weight)?;
        let mut new: Vec<Event> =
            after.iter().filter(|e| train.get(e.user, e.item).is_none()).copied().collect();
        if let Some(keep) = sample_users(new.iter().map(|e| e.user), t.max_eval_users, t.seed) {
            new.retain(|e| keep.contains(&e.user));
        }
        Ok(Holdout { test: interactions(s, &new, weights, t.max_pair_weight)?, train, at })
    }

    fn events(&self, s: &Snapshot) -> u64 {
        (s.events.len() - self.at) as u64
    }

    /// NDCG@10 and friends of `model` on this holdout, or `None` when no user could be scored.
    fn evaluate(&self, model: &dyn Recommender) -> Option<RankingMetrics> {
        evaluate_ranking(model, &self.train, &self.test, &RankingOptions::default())
            .ok()
            .filter(|m| m.users > 0)
    }

    /// Fits `spec` on the train part and evaluates it.
    fn fit_and_evaluate(
        &self,
        s: &Snapshot,
        spec: &ModelSpec,
        weights: &EventWeights,
        seed: u64,
    ) -> Result<Option<RankingMetrics>, EngineError> {
        Ok(self.evaluate(&self.fit(s, spec, weights, seed)?))
    }

    /// Fits `spec` on the train part (with its order, for the models that read it).
    fn fit(
        &self,
        s: &Snapshot,
        spec: &ModelSpec,
        weights: &EventWeights,
        seed: u64,
    ) -> Result<Model, EngineError> {
        let seqs = sequences(s, &s.events[..self.at], spec, weights)?;
        let mut ctx = FitContext::seeded(seed).with_side(&s.side);
        if let Some(seqs) = &seqs {
            ctx = ctx.with_sequences(seqs);
        }
        spec.fit(&self.train, &ctx).map_err(|e| EngineError::Training(e.to_string()))
    }
}

fn metric_map(m: &RankingMetrics, holdout_events: u64) -> BTreeMap<String, f64> {
    BTreeMap::from([
        ("ndcg@10".to_owned(), m.ndcg),
        ("precision@10".to_owned(), m.precision),
        ("recall@10".to_owned(), m.recall),
        ("map@10".to_owned(), m.map),
        ("hit_rate@10".to_owned(), m.hit_rate),
        ("coverage@10".to_owned(), m.coverage),
        ("eval_users".to_owned(), m.users as f64),
        ("holdout_events".to_owned(), holdout_events as f64),
    ])
}

/// At most `max` of the distinct `users`, a sample fixed by `seed` (each user's rank is a hash of
/// the seed and its index), or `None` when there are no more than `max`: evaluations on a large
/// shop score a bounded number of shoppers against the whole catalog, not every one of them.
pub(crate) fn sample_users(
    users: impl Iterator<Item = UserIdx>,
    max: usize,
    seed: u64,
) -> Option<HashSet<UserIdx>> {
    let mut all: Vec<UserIdx> = users.collect();
    all.sort_unstable();
    all.dedup();
    if all.len() <= max {
        return None;
    }
    let mut ranked: Vec<(u64, UserIdx)> =
        all.into_iter().map(|u| (splitmix(seed ^ u64::from(u.0)), u)).collect();
    ranked.select_nth_unstable(max);
    Some(ranked[..max].iter().map(|&(_, u)| u).collect())
}

/// SplitMix64's finaliser: a well-mixed 64-bit hash of `x`.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Where the newest `ratio` of `n` events start (at least one event held out when there are any).
fn ratio_split(n: usize, ratio: f64) -> usize {
    let held = ((n as f64 * ratio).ceil() as usize).clamp(n.min(1), n);
    n - held
}

/// Evaluates the candidate (and what it is compared with) on a holdout: the gate's comparison
/// and the candidate's metrics.
fn compare(
    s: &Snapshot,
    spec: &ModelSpec,
    gate: Option<&GateInput>,
    weights: &EventWeights,
    t: &TrainingConfig,
) -> Result<(BTreeMap<String, f64>, Comparison), EngineError> {
    let n = s.events.len();
    let by_ratio = ratio_split(n, t.holdout_ratio);
    let unevaluable = |reason: &str| Comparison::Unevaluable { reason: reason.to_owned() };
    let Some(g) = gate else {
        let h = Holdout::at(s, by_ratio, weights, t)?;
        let metrics = h.fit_and_evaluate(s, spec, weights, t.seed)?.map(|m| metric_map(&m, h.events(s)));
        return Ok((metrics.unwrap_or_default(), Comparison::NothingServing));
    };
    let version = g.serving.version();
    let new_from = s.seqs.partition_point(|&q| q <= g.serving.trained_on_seq());
    let at = by_ratio.max(new_from);
    if n - at >= MIN_GATE_EVENTS {
        let h = Holdout::at(s, at, weights, t)?;
        let Some(cand) = h.fit_and_evaluate(s, spec, weights, t.seed)? else {
            return Ok((BTreeMap::new(), unevaluable("no user of the holdout could be scored")));
        };
        let view = ServingView::new(&g.serving, s, &h, &g.hidden);
        let metrics = metric_map(&cand, h.events(s));
        let Some(serving) = h.evaluate(&view) else {
            return Ok((metrics, unevaluable("the serving version could score no user of the holdout")));
        };
        let recorded =
            g.serving.record.model.metrics.get("ndcg@10").copied().filter(|v| v.is_finite() && *v > 0.0);
        let comparison = Comparison::ServingModel {
            version,
            holdout_events: h.events(s),
            users: serving.users as u64,
            candidate_ndcg: cand.ndcg,
            serving_ndcg: serving.ndcg,
            serving_recorded_ndcg: recorded,
        };
        return Ok((metrics, comparison));
    }
    let h = Holdout::at(s, by_ratio, weights, t)?;
    let Some(cand) = h.fit_and_evaluate(s, spec, weights, t.seed)? else {
        return Ok((BTreeMap::new(), unevaluable("no user of the holdout could be scored")));
    };
    let metrics = metric_map(&cand, h.events(s));
    let new_events = (n - new_from) as u64;
    let comparison = match &g.spec {
        Some(old) if old == spec => Comparison::ServingConfiguration {
            version,
            new_events,
            identical: true,
            candidate_ndcg: cand.ndcg,
            serving_ndcg: cand.ndcg,
        },
        Some(old) => match h.fit_and_evaluate(s, old, weights, t.seed)? {
            Some(m) => Comparison::ServingConfiguration {
                version,
                new_events,
                identical: false,
                candidate_ndcg: cand.ndcg,
                serving_ndcg: m.ndcg,
            },
            None => unevaluable("the serving configuration could score no user of the holdout"),
        },
        None => unevaluable("the serving version's configuration no longer parses"),
    };
    Ok((metrics, comparison))
}

/// Evaluates `spec` for the gate, then fits it on everything. Pure CPU; runs on the blocking pool.
pub(crate) fn fit(
    s: &Snapshot,
    spec: &ModelSpec,
    gate: Option<&GateInput>,
    weights: &EventWeights,
    t: &TrainingConfig,
) -> Result<Fitted, EngineError> {
    let (metrics, comparison) = compare(s, spec, gate, weights, t)?;
    fit_all(s, spec, weights, t, metrics, comparison)
}

/// Fits `spec` on everything, judged by a `comparison` made elsewhere (the follow-up of `auto`
/// compares on its validation split). Pure CPU; runs on the blocking pool.
pub(crate) fn fit_all(
    s: &Snapshot,
    spec: &ModelSpec,
    weights: &EventWeights,
    t: &TrainingConfig,
    mut metrics: BTreeMap<String, f64>,
    comparison: Comparison,
) -> Result<Fitted, EngineError> {
    let data = interactions(s, &s.events, weights, t.max_pair_weight)?;
    let started = std::time::Instant::now();
    let seqs = sequences(s, &s.events, spec, weights)?;
    let mut ctx = FitContext::seeded(t.seed).with_side(&s.side);
    if let Some(seqs) = &seqs {
        ctx = ctx.with_sequences(seqs);
    }
    let model: Model = spec.fit(&data, &ctx).map_err(|e| EngineError::Training(e.to_string()))?;
    metrics.insert("fit_seconds".to_owned(), started.elapsed().as_secs_f64());
    metrics.insert("events".to_owned(), s.events.len() as f64);
    metrics.insert("skipped_events".to_owned(), s.skipped as f64);
    metrics.insert("snapshot_seconds".to_owned(), s.read_seconds);
    let started = std::time::Instant::now();
    let similar = similar_lists(&model, t, &mut metrics);
    if !similar.is_empty() {
        metrics.insert("similar_seconds".to_owned(), started.elapsed().as_secs_f64());
    }
    let artifact = Artifact {
        format: ARTIFACT_FORMAT,
        model,
        users: (0..s.users.len() as u32).map(|u| s.users.id(u).unwrap_or_default().to_owned()).collect(),
        items: (0..s.items.len() as u32).map(|i| s.items.id(i).unwrap_or_default().to_owned()).collect(),
        history: history(s, weights, t.max_pair_weight),
        bought_together: bought_together(s),
        similar,
    };
    Ok(Fitted { artifact, metrics, comparison })
}

/// Items whose exact lists measure the recall of lists from a cluster index.
const RECALL_SAMPLE: usize = 256;

/// Every item's similar items, `training.similar_depth` deep, when the model has them: exact up
/// to `training.similar_max_items` items, from a cluster index past that (its recall on a sample
/// of exact lists, its clusters, probe and candidates per item go into `metrics`); no rows
/// otherwise (serving then ranks on demand). Lists keep only finite scores, as serving would.
fn similar_lists(model: &Model, t: &TrainingConfig, metrics: &mut BTreeMap<String, f64>) -> Rows {
    if t.similar_depth == 0 {
        return Rows::default();
    }
    let lists = if model.n_items() <= t.similar_max_items {
        model.similar_lists(t.similar_depth)
    } else {
        let index = ListIndex { min_recall: t.similar_min_recall, sample: RECALL_SAMPLE, seed: t.seed };
        match model.similar_lists_indexed(t.similar_depth, &index) {
            Ok(Some(got)) => {
                for (key, value) in [
                    ("similar_clusters", got.clusters as f64),
                    ("similar_probe", got.probe as f64),
                    ("similar_candidates", got.candidates),
                    ("similar_recall_sample", got.sampled as f64),
                    ("similar_recall_at_10", got.recall_at_10),
                    ("similar_recall_at_depth", got.recall_at_depth),
                ] {
                    metrics.insert(key.to_owned(), value);
                }
                if got.recall_at_10 < t.similar_min_recall {
                    tracing::warn!(
                        recall = got.recall_at_10,
                        wanted = t.similar_min_recall,
                        probe = got.probe,
                        "the similar-item index did not reach training.similar_min_recall at its widest probe"
                    );
                }
                Ok(got.lists)
            }
            Ok(None) => return Rows::default(),
            Err(e) => Err(e),
        }
    };
    match lists {
        Ok(lists) => Rows::from_rows(
            lists
                .into_iter()
                .map(|l| l.into_iter().filter(|s| s.score.is_finite()).map(|s| (s.item.0, s.score, 0))),
        ),
        Err(ModelError::Unsupported { .. }) => Rows::default(),
        Err(e) => {
            tracing::warn!(error = %e, "no similar-item lists for this version: they will be ranked on demand");
            Rows::default()
        }
    }
}

/// The serving version as a [`Recommender`] over a snapshot's ids, so that it is scored on the
/// gate's holdout exactly as it serves: a user it was trained on (with nothing new since) by
/// their vector, anyone else by fold-in of what they did before the holdout; items it does not
/// know rank last.
struct ServingView<'a> {
    published: &'a Published,
    train: &'a Interactions,
    /// Snapshot user → the version's user, for those scored by their vector.
    user: Vec<Option<UserIdx>>,
    /// The version's item → snapshot item.
    to_snapshot: Vec<Option<u32>>,
    /// Snapshot item → the version's item.
    from_snapshot: Vec<Option<ItemIdx>>,
}

impl<'a> ServingView<'a> {
    fn new(published: &'a Published, s: &Snapshot, h: &'a Holdout, hidden: &HashSet<u32>) -> Self {
        let trained = published.trained_on_seq();
        let mut fresh = vec![false; s.users.len()];
        for (e, &seq) in s.events[..h.at].iter().zip(&s.seqs) {
            if seq > trained {
                fresh[e.user.index()] = true;
            }
        }
        let user = (0..s.users.len() as u32)
            .map(|u| {
                let id = s.users.id(u).unwrap_or_default();
                published.user(id).filter(|_| !fresh[u as usize] && !hidden.contains(&u))
            })
            .collect();
        let to_snapshot: Vec<Option<u32>> =
            published.artifact.items.iter().map(|id| s.items.get(id)).collect();
        let mut from_snapshot = vec![None; s.items.len()];
        for (k, snap) in to_snapshot.iter().enumerate() {
            if let Some(j) = snap {
                from_snapshot[*j as usize] = Some(ItemIdx(k as u32));
            }
        }
        ServingView { published, train: &h.train, user, to_snapshot, from_snapshot }
    }

    /// Scores in the version's item space, scattered into the snapshot's.
    fn scatter(&self, theirs: &[f32], out: &mut [f32]) {
        out.fill(f32::MIN);
        for (k, snap) in self.to_snapshot.iter().enumerate() {
            if let Some(j) = snap
                && theirs[k].is_finite()
            {
                out[*j as usize] = theirs[k];
            }
        }
    }
}

impl Recommender for ServingView<'_> {
    fn name(&self) -> &'static str {
        "serving"
    }

    fn n_users(&self) -> usize {
        self.user.len()
    }

    fn n_items(&self) -> usize {
        self.from_snapshot.len()
    }

    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError> {
        if let Some(u) = self.user.get(user.index()).copied().flatten() {
            let mut theirs = vec![0f32; self.published.model().n_items()];
            self.published.model().score_user(u, &mut theirs)?;
            self.scatter(&theirs, out);
            return Ok(());
        }
        let row = self.train.user(user);
        let history: Vec<(ItemIdx, f32)> = row.iter().map(|(i, w)| (ItemIdx(i), w)).collect();
        self.score_history(&history, out)
    }

    fn score_history(&self, history: &[(ItemIdx, f32)], out: &mut [f32]) -> Result<(), ModelError> {
        let theirs_history: Vec<(ItemIdx, f32)> = history
            .iter()
            .filter_map(|&(i, w)| self.from_snapshot.get(i.index()).copied().flatten().map(|t| (t, w)))
            .collect();
        if theirs_history.is_empty() {
            // Nothing it knows of them: every item ties, as for any model with no information.
            out.fill(0.0);
            return Ok(());
        }
        let mut theirs = vec![0f32; self.published.model().n_items()];
        self.published.model().score_history(&theirs_history, &mut theirs)?;
        self.scatter(&theirs, out);
        Ok(())
    }

    fn similar_items(&self, _: ItemIdx, _: usize, _: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        Err(ModelError::Unsupported { model: "serving", operation: "similar items" })
    }

    fn predict(&self, _: UserIdx, _: ItemIdx) -> Result<f32, ModelError> {
        Err(ModelError::Unsupported { model: "serving", operation: "rating prediction" })
    }
}

/// Each user's items with summed weight (capped like the training matrix) and kinds (zero-weight
/// events, e.g. impressions, leave no trace: they are not interest).
fn history(s: &Snapshot, weights: &EventWeights, cap: f32) -> Rows {
    let mut rows: Vec<HashMap<u32, (f32, u8)>> = vec![HashMap::new(); s.users.len()];
    for e in &s.events {
        let w = weights.weight(e.kind, e.value);
        if w == 0.0 && e.kind != EventKind::Purchase {
            continue;
        }
        let slot = rows[e.user.index()].entry(e.item.0).or_insert((0.0, 0));
        slot.0 += w;
        slot.1 |= kind_bit(e.kind);
    }
    Rows::from_rows(rows.into_iter().map(|r| {
        let mut v: Vec<(u32, f32, u8)> =
            r.into_iter().map(|(i, (w, k))| (i, w.clamp(-cap, cap), k)).collect();
        v.sort_unstable_by_key(|x| x.0);
        v
    }))
}

/// Most frequently bought together: items put in the cart or purchased in the same basket
/// (session, or user and day), counted once per basket, the 20 most frequent per item (ties by
/// item index).
fn bought_together(s: &Snapshot) -> Rows {
    let mut baskets: HashMap<u64, Vec<u32>> = HashMap::new();
    for (e, &b) in s.events.iter().zip(&s.baskets) {
        if matches!(e.kind, EventKind::Purchase | EventKind::AddToCart) {
            baskets.entry(b).or_default().push(e.item.0);
        }
    }
    let mut pairs: Vec<HashMap<u32, u32>> = vec![HashMap::new(); s.items.len()];
    for mut items in baskets.into_values() {
        items.sort_unstable();
        items.dedup();
        items.truncate(50);
        for (k, &a) in items.iter().enumerate() {
            for &b in &items[k + 1..] {
                *pairs[a as usize].entry(b).or_insert(0) += 1;
                *pairs[b as usize].entry(a).or_insert(0) += 1;
            }
        }
    }
    Rows::from_rows(pairs.into_iter().map(|p| {
        let mut v: Vec<(u32, u32)> = p.into_iter().collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.into_iter().take(20).map(|(i, c)| (i, c as f32, 0))
    }))
}
