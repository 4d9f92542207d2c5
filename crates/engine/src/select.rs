//! Model selection by validation (`model.name = "auto"`): every candidate model is fitted with a
//! few settings on the events before the time cut the publication gate uses (the newest
//! `training.holdout_ratio` of the events held out) and asked, for every shopper active on both
//! sides of the cut, for their first new item after it from what they did before it (oldest
//! first, the full catalog ranked: the next-item cases of `aisle eval --split leave-last-one`,
//! at one cut in time). The best by NDCG@10 there is the one trained on everything. A shop is
//! served by what works on its own data, not by defaults tuned on MovieLens. Pure CPU; runs
//! inside the training job's blocking task.

use std::collections::BTreeMap;
use std::time::Instant;

use aisle_core::eval::{NextCase, evaluate_next};
use aisle_core::models::registry::ModelSpec;
use aisle_core::tune::{self, Search};
use aisle_core::{DEFAULT_SESSION_GAP_S, EventWeights, Feedback, ItemIdx};
use aisle_ingest::to_sequences;
use serde::{Deserialize, Serialize};

use crate::EngineError;
use crate::config::TrainingConfig;
use crate::train::{Holdout, Snapshot, ratio_split};

/// What one candidate scored on the time split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CandidateResult {
    /// The candidate as configured (`item-knn`, `sr`, ...).
    pub name: String,
    /// Its best setting's parameters (its defaults when nothing could be scored).
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// NDCG@10 of its best setting on the next-item cases; `None` when no setting could be
    /// scored.
    pub ndcg: Option<f64>,
    /// Settings fitted.
    pub settings: usize,
    /// Seconds its fits and evaluations took.
    pub seconds: f64,
    /// The first fit error, when a setting failed.
    pub error: Option<String>,
}

/// Which candidate was trained and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Selection {
    /// The chosen candidate's name.
    pub chosen: String,
    /// Events held out (the newest `training.holdout_ratio`).
    pub holdout_events: u64,
    /// Next-item cases scored: shoppers with events before the cut and a new item after it.
    pub cases: u64,
    /// Every candidate, best first (unscored ones last, in configured order).
    pub candidates: Vec<CandidateResult>,
    /// The choice in words.
    pub reason: String,
}

impl Selection {
    /// `selection:NAME` → the candidate's NDCG@10, for the version's stored metrics.
    pub(crate) fn metrics(&self) -> BTreeMap<String, f64> {
        self.candidates.iter().filter_map(|c| Some((format!("selection:{}", c.name), c.ndcg?))).collect()
    }
}

/// The settings tried for `base`: its defaults, then `trials − 1` draws from its default search
/// space (those the model refuses are skipped; a model without a space has only its defaults).
fn settings(base: &ModelSpec, trials: usize, seed: u64) -> Vec<ModelSpec> {
    let mut specs = vec![base.clone()];
    let Some(dims) = tune::default_space(base).filter(|_| trials > 1) else { return specs };
    let drawn = tune::settings(&dims, Search::Random { trials: trials - 1 }, seed).unwrap_or_default();
    for setting in drawn {
        if let Ok(spec) = tune::apply(base, &setting)
            && !specs.contains(&spec)
        {
            specs.push(spec);
        }
    }
    specs
}

/// Each shopper's first new item after the cut (in arrival order; an item they had before the
/// cut is no news), with what they did before it, in order (the steps the sequential models
/// train on, values from the training matrix).
fn next_cases(s: &Snapshot, h: &Holdout, weights: &EventWeights) -> Result<Vec<NextCase>, EngineError> {
    let before = &s.events[..h.at];
    let gap_ms = DEFAULT_SESSION_GAP_S * 1_000;
    let seqs = to_sequences(before, s.users.len(), s.items.len(), Feedback::Implicit, weights, gap_ms)
        .map_err(|e| EngineError::Training(e.to_string()))?;
    let mut done = vec![false; s.users.len()];
    let mut cases = Vec::new();
    for e in &s.events[h.at..] {
        let seen = |i: ItemIdx| h.train.get(e.user, i);
        if done[e.user.index()] || weights.weight(e.kind, e.value) <= 0.0 || seen(e.item).is_some() {
            continue;
        }
        done[e.user.index()] = true;
        let history: Vec<(ItemIdx, f32)> =
            seqs.user(e.user).iter().map(|&i| (ItemIdx(i), seen(ItemIdx(i)).unwrap_or(1.0))).collect();
        if !history.is_empty() {
            cases.push(NextCase { user: e.user, history, target: e.item });
        }
    }
    Ok(cases)
}

/// Fits every candidate's settings before the time cut and picks the best by NDCG@10 (ties: the
/// earlier candidate, then the earlier setting). When nothing could be scored (too few users
/// in the holdout), the first candidate that fits is chosen with its defaults, and the reason
/// says so; when none fits, the error of the first.
pub(crate) fn select(
    s: &Snapshot,
    candidates: &[(String, ModelSpec)],
    trials: usize,
    weights: &EventWeights,
    t: &TrainingConfig,
) -> Result<(String, ModelSpec, Selection), EngineError> {
    let h = Holdout::at(s, ratio_split(s.events.len(), t.holdout_ratio), weights, t.max_pair_weight)?;
    let cases = next_cases(s, &h, weights)?;
    let mut rows = Vec::with_capacity(candidates.len());
    let mut best: Option<(f64, usize, ModelSpec)> = None;
    for (k, (name, base)) in candidates.iter().enumerate() {
        let started = Instant::now();
        let specs = settings(base, trials, t.seed);
        let (mut top, mut error): (Option<(f64, &ModelSpec)>, Option<String>) = (None, None);
        for spec in &specs {
            let scored = h.fit(s, spec, weights, t.seed).and_then(|model| {
                evaluate_next(&model, &cases).map_err(|e| EngineError::Training(e.to_string()))
            });
            match scored {
                Ok(m) if m.cases > 0 && m.ndcg_10.is_finite() && top.is_none_or(|(b, _)| m.ndcg_10 > b) => {
                    top = Some((m.ndcg_10, spec));
                }
                Ok(_) => {}
                Err(e) => {
                    error.get_or_insert(e.to_string());
                }
            }
        }
        if let Some((ndcg, spec)) = top
            && best.as_ref().is_none_or(|(b, _, _)| ndcg > *b)
        {
            best = Some((ndcg, k, spec.clone()));
        }
        rows.push(CandidateResult {
            name: name.clone(),
            params: top.map_or(base, |(_, spec)| spec).params(),
            ndcg: top.map(|(v, _)| v),
            settings: specs.len(),
            seconds: started.elapsed().as_secs_f64(),
            error,
        });
    }
    let holdout_events = h.events(s);
    let share = format!("{:.0}%", t.holdout_ratio * 100.0);
    let (chosen, spec, reason) = match best {
        Some((ndcg, k, spec)) => {
            let others: Vec<String> = order(&rows)
                .iter()
                .filter(|&&j| j != k)
                .map(|&j| match rows[j].ndcg {
                    Some(v) => format!("{} {v:.4}", rows[j].name),
                    None => format!("{} (not scored)", rows[j].name),
                })
                .collect();
            let reason = format!(
                "chosen by validation: fitted before the newest {share} of events, the first new item \
                 of {} shoppers after it: {} NDCG@10 {ndcg:.4} (best of {} settings){}",
                cases.len(),
                rows[k].name,
                rows[k].settings,
                if others.is_empty() { String::new() } else { format!(", over {}", others.join(", ")) },
            );
            (k, spec, reason)
        }
        None => {
            let Some(k) = rows.iter().position(|r| r.error.is_none()) else {
                let first = rows.first().and_then(|r| r.error.clone()).unwrap_or_default();
                return Err(EngineError::Training(format!("no candidate model could be fitted: {first}")));
            };
            let reason = format!(
                "no candidate could be scored ({} shoppers with events on both sides of the cut at \
                 the newest {share} of events): the first in the list, {}, with its defaults",
                cases.len(),
                rows[k].name
            );
            (k, candidates[k].1.clone(), reason)
        }
    };
    let name = rows[chosen].name.clone();
    let ordered = order(&rows).into_iter().map(|j| rows[j].clone()).collect();
    let selection = Selection {
        chosen: name.clone(),
        holdout_events,
        cases: cases.len() as u64,
        candidates: ordered,
        reason,
    };
    Ok((name, spec, selection))
}

/// Row indexes, scored best first (ties in configured order), then the unscored.
fn order(rows: &[CandidateResult]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..rows.len()).collect();
    idx.sort_by(|&a, &b| match (rows[a].ndcg, rows[b].ndcg) {
        (Some(x), Some(y)) => y.total_cmp(&x).then(a.cmp(&b)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(&b),
    });
    idx
}
