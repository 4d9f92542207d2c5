//! Session-based kNN, the V-SKNN variant (Ludewig & Jannach 2018, "Evaluation of session-based
//! recommendation algorithms", following Jannach & Ludewig 2017 and Bonnin & Jannach 2014).
//!
//! The current context `c` (a session, or a user's latest steps) is a vector over items where the
//! step `d` places from the newest weighs `decay(d)`. Candidate neighbours are the `sample` most
//! recent past sessions that share an item with `c` (each item indexes its `per_item` most recent
//! sessions). A candidate's similarity is the summed weight of the context items it contains; the
//! `k` most similar are the neighbours. Each item of a neighbour `n` gains
//! `sim(c, n) · decay(d*) · idf(item)`, where `d*` is how far from the newest context step the
//! newest item `n` shares lies (session-rec's `*_score` weighting), and `idf` is
//! `ln(sessions / sessions with the item)` when `idf` is on, else 1.
//!
//! Nothing is learnt beyond the index, so a fit costs one pass over the sequences; a query costs
//! `O(context · per_item + sample · (context · log L + L))` for sessions of length `L`.

use serde::{Deserialize, Serialize};

use super::{Decay, MAX_CONTEXT, Tails, check_tiebreak, history_tail, popularity_tiebreak};
use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::models::invariant::{Check, ensure, len_or_empty};
use crate::models::sparse::Sparse;
use crate::recommender::{
    FitContext, FitError, ModelError, ModelParams, ParamError, Recommender, Scored, check_history,
    check_user, top_excluding,
};

const MODEL: &str = "sknn";

/// Most neighbours, candidate sessions or sessions per item a model may claim: a query's cost.
const MAX_SEARCH: usize = 100_000;

/// Parameters of [`SknnModel`]. Defaults: session-rec's V-SKNN weighting (`div`) with more
/// neighbours and candidates than its example configuration (k 200, sample 1000 rather than 100
/// and 500: better on validation both on MovieLens leave-last-one and the synthetic shop's
/// sessions, see `docs/benchmarks.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SknnParams {
    /// Neighbour sessions that vote.
    pub k: usize,
    /// The most recent candidate sessions considered (those sharing an item with the context).
    pub sample: usize,
    /// Sessions each item indexes (its most recent): bounds the candidate search.
    pub per_item: usize,
    /// Newest steps of the context that count (a known user's tail; an unseen one's history).
    pub context: usize,
    /// A known user's context is their last session only, not their last steps across sessions.
    pub last_session: bool,
    /// How weight falls with distance from the newest step.
    pub decay: Decay,
    /// Weigh items by their inverse session frequency.
    pub idf: bool,
}

impl Default for SknnParams {
    fn default() -> Self {
        Self {
            k: 200,
            sample: 1_000,
            per_item: 1_000,
            context: 20,
            last_session: false,
            decay: Decay::Div,
            idf: false,
        }
    }
}

/// A trained V-SKNN: the sessions, each item's recent sessions, users' tails.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SknnModel {
    params: SknnParams,
    n_users: usize,
    n_items: usize,
    /// Sessions (rows, oldest ending first) × their distinct items.
    sessions: Sparse,
    /// Items (rows) × their most recent sessions (ascending: the newest last).
    item_sessions: Sparse,
    /// `ln(sessions / df)` per item, or empty when `idf` is off.
    idf: Vec<f32>,
    tails: Tails,
    pop: Vec<f32>,
}

fn bounded(field: &'static str, v: usize, max: usize) -> Result<(), ParamError> {
    if (1..=max).contains(&v) {
        Ok(())
    } else {
        Err(ParamError::new(MODEL, field, format!("must be in 1..={max}")))
    }
}

impl ModelParams for SknnParams {
    type Model = SknnModel;

    fn validate(&self) -> Result<(), ParamError> {
        bounded("k", self.k, MAX_SEARCH)?;
        bounded("sample", self.sample, MAX_SEARCH)?;
        bounded("per_item", self.per_item, MAX_SEARCH)?;
        bounded("context", self.context, MAX_CONTEXT)
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<SknnModel, FitError> {
        self.validate()?;
        let seqs = ctx.sequences_for(MODEL, data)?;
        if seqs.n_steps() == 0 {
            return Err(FitError::EmptyData { model: MODEL });
        }
        // Sessions ordered by their last step's time (then by position), so a higher row is a
        // more recent session.
        let mut order: Vec<(i64, usize)> =
            (0..seqs.n_sessions()).map(|s| (seqs.session_ts(s).last().copied().unwrap_or(0), s)).collect();
        order.sort_unstable();
        let sessions = Sparse::from_rows(order.iter().map(|&(_, s)| {
            let mut items: Vec<u32> = seqs.session(s).to_vec();
            items.sort_unstable();
            items.dedup();
            items.into_iter().map(|i| (i, 1.0)).collect()
        }));
        let by_item = sessions.transpose(data.n_items());
        let n_sessions = sessions.n_rows();
        let idf = if self.idf {
            (0..data.n_items())
                .map(|i| {
                    let df = by_item.row(i).0.len();
                    if df == 0 { 0.0 } else { (n_sessions as f64 / df as f64).ln() as f32 }
                })
                .collect()
        } else {
            Vec::new()
        };
        let item_sessions = Sparse::from_rows((0..data.n_items()).map(|i| {
            let (idx, _) = by_item.row(i);
            idx[idx.len().saturating_sub(self.per_item)..].iter().map(|&s| (s, 1.0)).collect()
        }));
        ctx.report(MODEL, 1, 1, None);
        Ok(SknnModel {
            params: self.clone(),
            n_users: data.n_users(),
            n_items: data.n_items(),
            sessions,
            item_sessions,
            idf,
            tails: Tails::of(&seqs, self.context, self.last_session),
            pop: popularity_tiebreak(data),
        })
    }
}

impl SknnModel {
    pub(crate) fn check(&self) -> Check {
        let p = &self.params;
        for (field, v) in [("k", p.k), ("sample", p.sample), ("per_item", p.per_item)] {
            ensure((1..=MAX_SEARCH).contains(&v), || format!("{field} is {v}"))?;
        }
        ensure((1..=MAX_CONTEXT).contains(&p.context), || format!("context is {}", p.context))?;
        self.sessions.check_cols("sessions", self.n_items)?;
        self.item_sessions.check_shape("item sessions", self.n_items, self.sessions.n_rows())?;
        len_or_empty("idf", self.idf.len(), self.n_items)?;
        ensure(self.idf.iter().all(|v| v.is_finite()), || "idf: not finite".to_owned())?;
        self.tails.check(self.n_users, self.n_items)?;
        check_tiebreak(&self.pop, self.n_items)
    }

    /// Scores every item for `context` (oldest first) into `out`.
    fn score_context(&self, context: &[u32], out: &mut [f32]) {
        out.copy_from_slice(&self.pop);
        let p = &self.params;
        let context = &context[context.len().saturating_sub(p.context)..];
        // (item, weight, distance from the newest step), newest first, each item once.
        let mut weighted: Vec<(u32, f32, usize)> = Vec::with_capacity(context.len());
        for (d, &item) in context.iter().rev().enumerate() {
            if !weighted.iter().any(|&(i, _, _)| i == item) {
                weighted.push((item, p.decay.weight(d + 1), d + 1));
            }
        }
        let mut candidates: Vec<u32> = Vec::new();
        for &(item, _, _) in &weighted {
            candidates.extend_from_slice(self.item_sessions.row(item as usize).0);
        }
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        candidates.dedup();
        candidates.truncate(p.sample);
        // (similarity, decay of the newest shared step, session), most similar first, then the
        // most recent.
        let mut neighbours: Vec<(f32, f32, u32)> = candidates
            .iter()
            .map(|&s| {
                let (mut sim, mut newest) = (0f32, None);
                for &(item, w, d) in &weighted {
                    if self.sessions.get(s as usize, item).is_some() {
                        sim += w;
                        newest.get_or_insert(d);
                    }
                }
                (sim, p.decay.weight(newest.unwrap_or(1)), s)
            })
            .collect();
        neighbours.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(b.2.cmp(&a.2)));
        neighbours.truncate(p.k);
        for (sim, decay, s) in neighbours {
            let vote = sim * decay;
            for &j in self.sessions.row(s as usize).0 {
                let idf = self.idf.get(j as usize).copied().unwrap_or(1.0);
                out[j as usize] += vote * idf;
            }
        }
    }
}

impl Recommender for SknnModel {
    fn name(&self) -> &'static str {
        MODEL
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

    /// The items of the sessions most like a session of `item` alone (its co-session items,
    /// weighted by idf when on), popularity breaking ties.
    fn similar_items(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        if item.index() >= self.n_items {
            return Err(ModelError::UnknownItem { index: item.0, n: self.n_items });
        }
        let mut scores = vec![0f32; self.n_items];
        self.score_context(&[item.0], &mut scores);
        scores[item.index()] = f32::NEG_INFINITY;
        Ok(top_excluding(&mut scores, n, exclude))
    }

    fn predict(&self, _: UserIdx, _: ItemIdx) -> Result<f32, ModelError> {
        Err(ModelError::Unsupported { model: MODEL, operation: "rating prediction" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Feedback, Interaction};
    use crate::seq::{SeqEvent, Sequences};

    /// Sessions (one user each, in order): [0,1,2], [0,1,2], [0,1,3], [4,5].
    fn fixture() -> (Interactions, Sequences) {
        let sessions: [&[u32]; 4] = [&[0, 1, 2], &[0, 1, 2], &[0, 1, 3], &[4, 5]];
        let (mut events, mut entries) = (Vec::new(), Vec::new());
        for (u, s) in sessions.iter().enumerate() {
            for (t, &i) in s.iter().enumerate() {
                let ts = (u * 10 + t) as i64;
                events.push(SeqEvent { user: UserIdx(u as u32), item: ItemIdx(i), ts, session: None });
                entries.push(Interaction { user: UserIdx(u as u32), item: ItemIdx(i), value: 1.0, ts });
            }
        }
        let data = Interactions::new(4, 6, Feedback::Implicit, entries).unwrap();
        (data, Sequences::new(4, 6, events, 1_000).unwrap())
    }

    #[test]
    fn neighbours_vote_for_what_followed() {
        let (data, seqs) = fixture();
        let ctx = FitContext::seeded(0).with_sequences(&seqs);
        let model = SknnParams::default().fit(&data, &ctx).unwrap();
        model.check().unwrap();
        let mut out = vec![0f32; 6];
        model.score_history(&[(ItemIdx(0), 1.0), (ItemIdx(1), 1.0)], &mut out).unwrap();
        // Three sessions share 0 and 1: item 2 is in two of them, item 3 in one; 4 and 5 in none.
        assert!(out[2] > out[3] && out[3] > out[4], "{out:?}");
        assert!(out[4] <= crate::models::session::POP_TIEBREAK);
        // The last session's own tail is [4, 5]: it votes for 4 and 5 only through itself.
        model.score_user(UserIdx(3), &mut out).unwrap();
        assert!(out[4] > out[0], "{out:?}");
        let similar = model.similar_items(ItemIdx(3), 3, &[]).unwrap();
        assert!(similar.iter().all(|s| s.item != ItemIdx(3)));
        assert!(matches!(similar[0].item, ItemIdx(0) | ItemIdx(1)), "{similar:?}");
    }

    #[test]
    fn k_limits_the_voters() {
        let (data, seqs) = fixture();
        let ctx = FitContext::seeded(0).with_sequences(&seqs);
        let params = SknnParams { k: 1, ..SknnParams::default() };
        let model = params.fit(&data, &ctx).unwrap();
        let mut out = vec![0f32; 6];
        model.score_history(&[(ItemIdx(0), 1.0), (ItemIdx(1), 1.0)], &mut out).unwrap();
        // One neighbour, the most recent of the equally similar three: session [0, 1, 3].
        assert!(out[3] > out[2], "{out:?}");
        assert!(SknnParams { k: 0, ..SknnParams::default() }.validate().is_err());
    }
}
