//! Training jobs: snapshot the store, fit the configured model on a time split and evaluate it,
//! compare with the serving configuration on the same split (the publication gate), fit on
//! everything, and store the artifact as a new version.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aisle_core::eval::{RankingOptions, SplitStrategy, evaluate_ranking, split};
use aisle_core::models::registry::{Model, ModelSpec};
use aisle_core::{
    EventKind, EventWeights, Feedback, FitContext, IdMap, Interactions, ItemIdx, SideInfo, UserIdx,
};
use aisle_ingest::{Event, to_interactions};
use aisle_store::{ItemRecord, Store, UserRecord};

use crate::catalog::attributes;
use crate::published::{ARTIFACT_FORMAT, Artifact, Rows, kind_bit};
use crate::{Engine, EngineError};

/// The data of one training run, in dense indexes.
pub(crate) struct Snapshot {
    pub users: IdMap,
    pub items: IdMap,
    pub events: Vec<Event>,
    /// Basket key per event: the session (interned), else user and day.
    pub baskets: Vec<u64>,
    pub last_seq: u64,
    pub side: SideInfo,
}

const PAGE: usize = 50_000;

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
    /// Reads catalog, users and the whole event log into a [`Snapshot`].
    pub(crate) async fn snapshot(&self) -> Result<Snapshot, EngineError> {
        let mut catalog: Vec<Arc<ItemRecord>> = self.catalog.snapshot();
        catalog.sort_by(|a, b| a.id.cmp(&b.id));
        let mut items = IdMap::new();
        for r in &catalog {
            items.get_or_insert(&r.id);
        }
        let mut users = IdMap::new();
        let mut sessions = IdMap::new();
        let (mut events, mut baskets, mut last_seq) = (Vec::new(), Vec::new(), 0);
        loop {
            let page = self.store.events_after(last_seq, PAGE).await?;
            let Some(last) = page.last() else { break };
            last_seq = last.seq;
            for s in page {
                let e = s.event;
                let user = UserIdx(users.get_or_insert(&e.user_id));
                let item = ItemIdx(items.get_or_insert(&e.item_id));
                baskets.push(match &e.session_id {
                    Some(sid) => u64::from(sessions.get_or_insert(sid)) | 1 << 63,
                    None => u64::from(user.0) << 24 | (e.ts_ms.div_euclid(86_400_000) as u64 & 0xFF_FFFF),
                });
                events.push(Event { user, item, kind: e.kind, value: e.value.unwrap_or(1.0), ts: e.ts_ms });
            }
        }
        let mut side = SideInfo { items: vec![None; items.len()], users: vec![Vec::new(); users.len()] };
        for (k, r) in catalog.iter().enumerate() {
            side.items[k] = Some(attributes(r));
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
        Ok(Snapshot { users, items, events, baskets, last_seq, side })
    }
}

/// The outcome of fitting and evaluating, before anything is stored.
pub(crate) struct Fitted {
    pub artifact: Artifact,
    pub metrics: BTreeMap<String, f64>,
    /// The serving configuration's NDCG@10 on the same split, when it was compared.
    pub serving_ndcg: Option<f64>,
}

fn interactions(s: &Snapshot, weights: &EventWeights) -> Result<Interactions, EngineError> {
    to_interactions(&s.events, s.users.len(), s.items.len(), Feedback::Implicit, weights)
        .map_err(|e| EngineError::Training(e.to_string()))
}

fn holdout_metrics(
    spec: &ModelSpec,
    data: &Interactions,
    side: &SideInfo,
    ratio: f64,
    seed: u64,
) -> Result<Option<BTreeMap<String, f64>>, EngineError> {
    let Ok(mut folds) = split(data, &SplitStrategy::TimeGlobal { test_ratio: ratio }, seed) else {
        return Ok(None);
    };
    let Some(fold) = folds.pop() else { return Ok(None) };
    let model = spec
        .fit(&fold.train, &FitContext::seeded(seed).with_side(side))
        .map_err(|e| EngineError::Training(e.to_string()))?;
    let Ok(m) = evaluate_ranking(&model, &fold.train, &fold.test, &RankingOptions::default()) else {
        return Ok(None);
    };
    Ok(Some(BTreeMap::from([
        ("ndcg@10".to_owned(), m.ndcg),
        ("precision@10".to_owned(), m.precision),
        ("recall@10".to_owned(), m.recall),
        ("map@10".to_owned(), m.map),
        ("hit_rate@10".to_owned(), m.hit_rate),
        ("coverage@10".to_owned(), m.coverage),
        ("eval_users".to_owned(), m.users as f64),
    ])))
}

/// Fits `spec` (and, for the gate, `serving` when it differs) on a time split, then `spec` on
/// everything. Pure CPU; runs on the blocking pool.
pub(crate) fn fit(
    s: &Snapshot,
    spec: &ModelSpec,
    serving: Option<&ModelSpec>,
    weights: &EventWeights,
    ratio: f64,
    seed: u64,
) -> Result<Fitted, EngineError> {
    let data = interactions(s, weights)?;
    let mut metrics = holdout_metrics(spec, &data, &s.side, ratio, seed)?.unwrap_or_default();
    let serving_ndcg = match serving {
        Some(old) if old != spec => {
            holdout_metrics(old, &data, &s.side, ratio, seed)?.and_then(|m| m.get("ndcg@10").copied())
        }
        Some(_) => metrics.get("ndcg@10").copied(),
        None => None,
    };
    let started = std::time::Instant::now();
    let model: Model = spec
        .fit(&data, &FitContext::seeded(seed).with_side(&s.side))
        .map_err(|e| EngineError::Training(e.to_string()))?;
    metrics.insert("fit_seconds".to_owned(), started.elapsed().as_secs_f64());
    metrics.insert("events".to_owned(), s.events.len() as f64);
    let artifact = Artifact {
        format: ARTIFACT_FORMAT,
        model,
        users: (0..s.users.len() as u32).map(|u| s.users.id(u).unwrap_or_default().to_owned()).collect(),
        items: (0..s.items.len() as u32).map(|i| s.items.id(i).unwrap_or_default().to_owned()).collect(),
        history: history(s, weights),
        bought_together: bought_together(s),
    };
    Ok(Fitted { artifact, metrics, serving_ndcg })
}

/// Each user's items with summed weight and kinds (zero-weight events, e.g. impressions, leave
/// no trace: they are not interest).
fn history(s: &Snapshot, weights: &EventWeights) -> Rows {
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
    Rows::from_rows(
        rows.into_iter()
            .map(|r| {
                let mut v: Vec<(u32, f32, u8)> = r.into_iter().map(|(i, (w, k))| (i, w, k)).collect();
                v.sort_unstable_by_key(|x| x.0);
                v
            })
            .collect(),
    )
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
    Rows::from_rows(
        pairs
            .into_iter()
            .map(|p| {
                let mut v: Vec<(u32, u32)> = p.into_iter().collect();
                v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                v.into_iter().take(20).map(|(i, c)| (i, c as f32, 0)).collect()
            })
            .collect(),
    )
}
