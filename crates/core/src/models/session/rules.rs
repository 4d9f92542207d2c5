//! Sequential rules (Kamehkhosh, Jannach & Ludewig 2017, "A comparison of frequent pattern
//! techniques and a deep learning method for session-based recommendation"; evaluated in Ludewig
//! & Jannach 2018) and, as its one-step case, item-to-item transitions (a first-order Markov
//! chain over consecutive steps).
//!
//! A rule `a → b` gains `decay(q − p)` each time `b` follows `a` within `steps` steps of one
//! session (or of one user's whole sequence, when `across_sessions`); each item keeps its
//! `max_rules` strongest rules. A context is scored from its newest `context` steps: the step `d`
//! places from the newest adds `decay(d) · weight(a → b)` to every `b` it has a rule to. The
//! defaults are session-rec's SR (steps 10, `div`, the newest step only); `markov` is steps 1,
//! `same`, across sessions.

use serde::{Deserialize, Serialize};

use super::{Decay, MAX_CONTEXT, Tails, check_tiebreak, history_tail, popularity_tiebreak};
use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::models::invariant::{Check, ensure};
use crate::models::sparse::Sparse;
use crate::recommender::{
    FitContext, FitError, ModelError, ModelParams, ParamError, Recommender, Scored, check_history, check_user,
};
use crate::seq::Sequences;

const MODEL: &str = "sr";

/// Most steps a rule may span and most rules an item may keep.
const MAX_STEPS: usize = 100;
const MAX_RULES: usize = 100_000;

/// Parameters of [`RulesModel`]. Defaults: session-rec's sequential rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesParams {
    /// Farthest a later step may be from an earlier one to form a rule.
    pub steps: usize,
    /// How a rule's weight falls with the distance it spans (and a context step's with its age).
    pub decay: Decay,
    /// Rules kept per item, the strongest.
    pub max_rules: usize,
    /// Newest steps of the context that vote.
    pub context: usize,
    /// Rules span session boundaries (a user's whole sequence is one run).
    pub across_sessions: bool,
}

impl Default for RulesParams {
    fn default() -> Self {
        Self { steps: 10, decay: Decay::Div, max_rules: 100, context: 1, across_sessions: false }
    }
}

impl RulesParams {
    /// Item-to-item transitions: what directly follows each item, over users' whole sequences.
    pub fn markov() -> Self {
        Self { steps: 1, decay: Decay::Same, across_sessions: true, ..Self::default() }
    }
}

/// Trained rules: each item's strongest successors, users' tails.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RulesModel {
    params: RulesParams,
    n_users: usize,
    n_items: usize,
    /// Items (rows) × the items that follow them, valued by rule weight.
    rules: Sparse,
    tails: Tails,
    pop: Vec<f32>,
}

impl ModelParams for RulesParams {
    type Model = RulesModel;

    fn validate(&self) -> Result<(), ParamError> {
        let bounded = |field: &'static str, v: usize, max: usize| {
            if (1..=max).contains(&v) {
                Ok(())
            } else {
                Err(ParamError::new(MODEL, field, format!("must be in 1..={max}")))
            }
        };
        bounded("steps", self.steps, MAX_STEPS)?;
        bounded("max_rules", self.max_rules, MAX_RULES)?;
        bounded("context", self.context, MAX_CONTEXT)
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<RulesModel, FitError> {
        self.validate()?;
        let seqs = ctx.sequences_for(MODEL, data)?;
        if seqs.n_steps() == 0 {
            return Err(FitError::EmptyData { model: MODEL });
        }
        let rules = self.count(&seqs);
        ctx.report(MODEL, 1, 1, None);
        Ok(RulesModel {
            params: self.clone(),
            n_users: data.n_users(),
            n_items: data.n_items(),
            rules,
            tails: Tails::of(&seqs, self.context, false),
            pop: popularity_tiebreak(data),
        })
    }
}

impl RulesParams {
    /// Every rule's weight, each item's `max_rules` strongest kept (ties: the lower item).
    fn count(&self, seqs: &Sequences) -> Sparse {
        let mut pairs: Vec<(u32, u32, f32)> = Vec::new();
        let mut add_run = |run: &[u32]| {
            for (p, &a) in run.iter().enumerate() {
                for (d, &b) in run[p + 1..].iter().take(self.steps).enumerate() {
                    if a != b {
                        pairs.push((a, b, self.decay.weight(d + 1)));
                    }
                }
            }
        };
        if self.across_sessions {
            (0..seqs.n_users()).for_each(|u| add_run(seqs.user(UserIdx(u as u32))));
        } else {
            seqs.sessions().for_each(add_run);
        }
        pairs.sort_unstable_by_key(|&(a, b, _)| (a, b));
        let mut rows: Vec<Vec<(u32, f32)>> = vec![Vec::new(); seqs.n_items()];
        for chunk in pairs.chunk_by(|x, y| (x.0, x.1) == (y.0, y.1)) {
            // Summed in f64 in sorted order: the same weights whatever the input order.
            let w: f64 = chunk.iter().map(|&(_, _, w)| f64::from(w)).sum();
            rows[chunk[0].0 as usize].push((chunk[0].1, w as f32));
        }
        for row in &mut rows {
            row.sort_unstable_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            row.truncate(self.max_rules);
        }
        Sparse::from_rows(rows)
    }
}

impl RulesModel {
    pub(crate) fn check(&self) -> Check {
        let p = &self.params;
        ensure((1..=MAX_CONTEXT).contains(&p.context), || format!("context is {}", p.context))?;
        self.rules.check_shape("rules", self.n_items, self.n_items)?;
        self.tails.check(self.n_users, self.n_items)?;
        check_tiebreak(&self.pop, self.n_items)
    }

    /// Scores every item for `context` (oldest first) into `out`.
    fn score_context(&self, context: &[u32], out: &mut [f32]) {
        out.copy_from_slice(&self.pop);
        let newest = context.iter().rev().take(self.params.context);
        for (d, &a) in newest.enumerate() {
            let w = self.params.decay.weight(d + 1);
            let (idx, val) = self.rules.row(a as usize);
            for (&b, &v) in idx.iter().zip(val) {
                out[b as usize] += w * v;
            }
        }
    }
}

impl Recommender for RulesModel {
    fn name(&self) -> &'static str {
        if self.params.steps == 1 { "markov" } else { MODEL }
    }

    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError> {
        check_user(self, user, out)?;
        self.score_context(self.tails.user(user), out);
        Ok(())
    }

    fn score_history(&self, history: &[(ItemIdx, f32)], out: &mut [f32]) -> Result<(), ModelError> {
        check_history(self, history, out)?;
        self.score_context(&history_tail(history, self.params.context), out);
        Ok(())
    }

    fn user_steps(&self, user: UserIdx) -> Option<&[u32]> {
        self.tails.get(user)
    }

    /// The items that follow `item`, by rule weight (only items with a rule of finite weight).
    fn similar_items(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        if item.index() >= self.n_items {
            return Err(ModelError::UnknownItem { index: item.0, n: self.n_items });
        }
        let (idx, val) = self.rules.row(item.index());
        let mut out: Vec<Scored> = idx
            .iter()
            .zip(val)
            // A stored weight that is not finite (a corrupt artifact) lists nothing.
            .filter(|&(&b, &w)| w.is_finite() && !exclude.contains(&ItemIdx(b)))
            .map(|(&b, &score)| Scored { item: ItemIdx(b), score })
            .collect();
        out.sort_unstable_by(|x, y| y.score.total_cmp(&x.score).then(x.item.cmp(&y.item)));
        out.truncate(n);
        Ok(out)
    }

    fn item_affinity(&self, a: ItemIdx, b: ItemIdx) -> Option<f32> {
        (a.index() < self.n_items && b.index() < self.n_items)
            .then(|| self.rules.get(a.index(), b.0))
            .flatten()
    }

    fn predict(&self, _: UserIdx, _: ItemIdx) -> Result<f32, ModelError> {
        Err(ModelError::Unsupported { model: self.name(), operation: "rating prediction" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Feedback, Interaction};
    use crate::seq::SeqEvent;

    /// One user: session [0, 1, 2], then (after a long pause) session [3, 0].
    fn fixture() -> (Interactions, Sequences) {
        let steps = [(0, 0), (1, 10), (2, 20), (3, 100_000), (0, 100_010)];
        let events: Vec<SeqEvent> = steps
            .iter()
            .map(|&(i, ts)| SeqEvent { user: UserIdx(0), item: ItemIdx(i), ts, session: None })
            .collect();
        let entries = steps
            .iter()
            .map(|&(i, ts)| Interaction { user: UserIdx(0), item: ItemIdx(i), value: 1.0, ts })
            .collect();
        let data = Interactions::new(1, 4, Feedback::Implicit, entries).unwrap();
        (data, Sequences::new(1, 4, events, 1_000).unwrap())
    }

    #[test]
    fn rules_weigh_by_distance_and_stay_in_sessions() {
        let (data, seqs) = fixture();
        let ctx = FitContext::seeded(0).with_sequences(&seqs);
        let sr = RulesParams::default().fit(&data, &ctx).unwrap();
        sr.check().unwrap();
        assert_eq!(sr.item_affinity(ItemIdx(0), ItemIdx(1)), Some(1.0));
        assert_eq!(sr.item_affinity(ItemIdx(0), ItemIdx(2)), Some(0.5));
        // 2 → 3 crosses the session boundary: no rule; 3 → 0 is inside the second session.
        assert_eq!(sr.item_affinity(ItemIdx(2), ItemIdx(3)), None);
        assert_eq!(sr.item_affinity(ItemIdx(3), ItemIdx(0)), Some(1.0));
        let mut out = vec![0f32; 4];
        sr.score_history(&[(ItemIdx(2), 1.0), (ItemIdx(0), 1.0)], &mut out).unwrap();
        // Only the newest step votes: 0 → 1 (1.0) beats 0 → 2 (0.5).
        assert!(out[1] > out[2] && out[2] > out[3], "{out:?}");
        // The user's tail is [0]: the same scores.
        let mut known = vec![0f32; 4];
        sr.score_user(UserIdx(0), &mut known).unwrap();
        assert_eq!(known, out);
        let similar = sr.similar_items(ItemIdx(0), 5, &[ItemIdx(2)]).unwrap();
        assert_eq!(similar, vec![Scored { item: ItemIdx(1), score: 1.0 }]);
    }

    #[test]
    fn markov_spans_sessions_one_step_at_a_time() {
        let (data, seqs) = fixture();
        let ctx = FitContext::seeded(0).with_sequences(&seqs);
        let markov = RulesParams::markov().fit(&data, &ctx).unwrap();
        assert_eq!(markov.name(), "markov");
        assert_eq!(markov.item_affinity(ItemIdx(2), ItemIdx(3)), Some(1.0));
        assert_eq!(markov.item_affinity(ItemIdx(0), ItemIdx(2)), None);
        let capped =
            RulesParams { max_rules: 1, steps: 3, ..RulesParams::default() }.fit(&data, &ctx).unwrap();
        assert_eq!(capped.similar_items(ItemIdx(0), 5, &[]).unwrap().len(), 1);
    }
}
