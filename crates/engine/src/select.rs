//! Model selection by validation (`model.name = "auto"`): every candidate model is fitted with a
//! few settings on each shopper's steps but their last `validation_steps + 1`, in order, and
//! asked for each of the `validation_steps` before the last from the steps before it, the full
//! catalog ranked. The last step is left out so that `aisle eval --split leave-last-one` can
//! test what the server picks; with `validation_steps = 1` the cases are exactly that split's
//! validation cases (those `aisle tune` searches on), and the default two per shopper make the
//! choice less a matter of one step's luck. The best by NDCG@10 is trained on everything. A
//! shop is served by what works on its own data, not by defaults tuned on MovieLens. Pure CPU;
//! runs inside the training job's blocking task.

use std::collections::BTreeMap;
use std::time::Instant;

use aisle_core::eval::{NextCase, NextError, evaluate_next, leave_last_split};
use aisle_core::models::registry::ModelSpec;
use aisle_core::tune::{self, Search};
use aisle_core::{EventWeights, FitContext};
use serde::{Deserialize, Serialize};

use crate::EngineError;
use crate::config::TrainingConfig;
use crate::train::{Snapshot, interactions, ordered, sample_users};

/// How much a selection fits and scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Settings per candidate (`model.trials`).
    pub trials: usize,
    /// Validation steps per shopper (`model.validation_steps`).
    pub validation_steps: usize,
}

/// What one candidate scored on the validation cases.
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
    /// Shoppers validated on: those with three steps or more, at most `training.max_eval_users`
    /// of them (a sample fixed by the seed).
    pub shoppers: u64,
    /// Validation cases scored: up to `model.validation_steps` per shopper.
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

/// Fits every candidate's settings on the validation split and picks the best by NDCG@10 (ties: the
/// earlier candidate, then the earlier setting). When nothing could be scored (no shopper with
/// three steps, or every validation step a repeat), the first candidate that fits is chosen with
/// its defaults, and the reason says so; when none fits, the error of the first.
pub(crate) fn select(
    s: &Snapshot,
    candidates: &[(String, ModelSpec)],
    budget: Budget,
    weights: &EventWeights,
    t: &TrainingConfig,
) -> Result<(String, ModelSpec, Selection), EngineError> {
    let training = |e: String| EngineError::Training(e);
    let data = interactions(s, &s.events, weights, t.max_pair_weight)?;
    let seqs = ordered(s, &s.events, weights)?;
    let split = match leave_last_split(&data, &seqs, budget.validation_steps) {
        Ok(split) => split,
        // No shopper has three steps (a young or a one-visit shop): nothing to validate on.
        Err(NextError::Empty(_)) => return unvalidated(candidates),
        Err(e) => return Err(training(e.to_string())),
    };
    // At most `training.max_eval_users` shoppers' cases: the same sample for every candidate.
    let sampled: Vec<NextCase>;
    let (cases, n_shoppers, shoppers) =
        match sample_users(split.validation.iter().map(|c| c.user), t.max_eval_users, t.seed) {
            Some(keep) => {
                sampled = split.validation.iter().filter(|c| keep.contains(&c.user)).cloned().collect();
                let words = format!("a sample of {} of {} shoppers", keep.len(), split.test.len());
                (&sampled, keep.len(), words)
            }
            None => (&split.validation, split.test.len(), format!("{} shoppers", split.test.len())),
        };
    let mut rows = Vec::with_capacity(candidates.len());
    let mut best: Option<(f64, usize, ModelSpec)> = None;
    for (k, (name, base)) in candidates.iter().enumerate() {
        let started = Instant::now();
        let specs = settings(base, budget.trials, t.seed);
        let (mut top, mut error): (Option<(f64, &ModelSpec)>, Option<String>) = (None, None);
        for spec in &specs {
            // No `with_validation`: a model that stops early would stop on the very cases it is
            // scored on, and win the selection by it.
            let ctx = FitContext::seeded(t.seed).with_side(&s.side).with_sequences(&split.train_seqs);
            let scored = spec
                .fit(&split.train, &ctx)
                .map_err(|e| training(e.to_string()))
                .and_then(|model| evaluate_next(&model, cases).map_err(|e| training(e.to_string())));
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
                "chosen by validation on {} next steps of {shoppers} (fitted without each one's last \
                 {} steps, asked for {} from the steps before it): {} NDCG@10 {ndcg:.4} (best of {} \
                 settings){}",
                cases.len(),
                budget.validation_steps + 1,
                if budget.validation_steps == 1 {
                    "the second-to-last".to_owned()
                } else {
                    format!("each of the {} before the last", budget.validation_steps)
                },
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
                "no candidate could be scored ({} shoppers with three steps or more): the first in \
                 the list, {}, with its defaults",
                split.test.len(),
                rows[k].name
            );
            (k, candidates[k].1.clone(), reason)
        }
    };
    let name = rows[chosen].name.clone();
    let ordered = order(&rows).into_iter().map(|j| rows[j].clone()).collect();
    let selection = Selection {
        chosen: name.clone(),
        shoppers: n_shoppers as u64,
        cases: cases.len() as u64,
        candidates: ordered,
        reason,
    };
    Ok((name, spec, selection))
}

/// The first candidate with its defaults, when no shopper has the three steps validation needs.
fn unvalidated(candidates: &[(String, ModelSpec)]) -> Result<(String, ModelSpec, Selection), EngineError> {
    let rows = candidates
        .iter()
        .map(|(name, spec)| CandidateResult {
            name: name.clone(),
            params: spec.params(),
            ndcg: None,
            settings: 0,
            seconds: 0.0,
            error: None,
        })
        .collect();
    let Some((name, spec)) = candidates.first().cloned() else {
        return Err(EngineError::Training("no candidate model is configured".to_owned()));
    };
    let reason = format!(
        "not validated: no shopper has three steps yet (one to learn from, one to validate, one to \
         test); the first in the list, {name}, with its defaults"
    );
    Ok((name.clone(), spec, Selection { chosen: name, shoppers: 0, cases: 0, candidates: rows, reason }))
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
