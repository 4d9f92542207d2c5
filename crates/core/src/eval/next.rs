//! Next-item evaluation: predict what a shopper touches next from what they touched before, with
//! the full catalog ranked.
//!
//! Two protocols, both on [`Sequences`]:
//!
//! - **Leave last one** (Kang & McAuley 2018; RecBole's `LS`): per user with at least three
//!   steps, the last step is the test target (its history: every earlier step), the one before it
//!   the validation target (history: the steps before it), the rest is training. Users with
//!   fewer steps train only.
//! - **Sessions** (Ludewig & Jannach 2018): sessions ordered by their first step; the last
//!   `test_ratio` of them are test, the same share just before them validation, the rest
//!   training. Every step after the first of a held-out session is a target, its history the
//!   session's earlier steps only (an anonymous shopper's session).
//!
//! History values and the training matrix take each pair's value from the whole matrix: where a
//! pair recurs after the cut (a shopper who views an item again in a held-out session), its
//! summed weight includes the later events. The session and sequential models ignore values;
//! the weight-aware baselines (iALS, EASE) gain a little from it, so the comparison errs in their
//! favour.
//!
//! A case's history items are not candidates (the shopper has them; serving filters them too), so
//! a target already in its history cannot be hit: such cases are counted, not evaluated. The
//! rank of the target is 1 + the candidates scoring higher, ties ranked as [`crate::top_k`] ranks
//! them (lower index first). HR@K, MRR@K and NDCG@K (one relevant item: `1 / log2(rank + 1)`)
//! average over the evaluated cases.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::recommender::{ModelError, Recommender};
use crate::seq::{SeqEvent, Sequences};

/// How the sequences are held out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum NextProtocol {
    /// Each user's last step is test, the one before validation.
    LeaveLastOne,
    /// The latest sessions are test, the ones before them validation.
    Sessions {
        /// Share of sessions held out for test (the same share again for validation), in (0, 0.5).
        test_ratio: f64,
    },
}

/// Why a next-item split cannot be made.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum NextError {
    /// The sequences and the matrix differ in shape.
    #[error("the sequences are {seq_users}×{seq_items}, the matrix {users}×{items}")]
    Shape {
        /// Users of the sequences.
        seq_users: usize,
        /// Items of the sequences.
        seq_items: usize,
        /// Users of the matrix.
        users: usize,
        /// Items of the matrix.
        items: usize,
    },
    /// A ratio outside its range.
    #[error("test_ratio must be in (0, 0.5), got {0}")]
    BadRatio(f64),
    /// Nothing to evaluate.
    #[error("no test cases: {0}")]
    Empty(&'static str),
}

/// One prediction to make: after `history` (oldest first), `target`.
#[derive(Clone, Debug, PartialEq)]
pub struct NextCase {
    /// Whose steps these are.
    pub user: UserIdx,
    /// What came before, oldest first, with the matrix's value of each pair.
    pub history: Vec<(ItemIdx, f32)>,
    /// What came next.
    pub target: ItemIdx,
}

/// Training data and the cases held out from it.
#[derive(Clone, Debug)]
pub struct NextSplit {
    /// The matrix of the training steps' pairs (values from the full matrix).
    pub train: Interactions,
    /// The training steps in order.
    pub train_seqs: Sequences,
    /// Validation cases (for early stopping and tuning).
    pub validation: Vec<NextCase>,
    /// Test cases.
    pub test: Vec<NextCase>,
}

/// Splits `seqs` (with `data`, the matrix of the same events, for pair values) by `protocol`.
pub fn next_split(
    data: &Interactions,
    seqs: &Sequences,
    protocol: &NextProtocol,
) -> Result<NextSplit, NextError> {
    match protocol {
        NextProtocol::LeaveLastOne => leave_last_split(data, seqs, 1),
        NextProtocol::Sessions { test_ratio } => sessions_split(data, seqs, *test_ratio),
    }
}

/// The sessions protocol: the latest `test_ratio` of sessions test, the same share before them
/// validation.
fn sessions_split(data: &Interactions, seqs: &Sequences, test_ratio: f64) -> Result<NextSplit, NextError> {
    check_shape(data, seqs)?;
    if !(test_ratio > 0.0 && test_ratio < 0.5) {
        return Err(NextError::BadRatio(test_ratio));
    }
    let n = seqs.n_sessions();
    let mut order: Vec<(i64, usize)> =
        (0..n).map(|s| (seqs.session_ts(s).first().copied().unwrap_or(0), s)).collect();
    order.sort_unstable();
    let n_held = ((test_ratio * n as f64).ceil() as usize).min(n / 2);
    // held[s]: 0 = train, 1 = validation, 2 = test.
    let mut held = vec![0u8; n];
    for (rank, &(_, s)) in order.iter().enumerate() {
        held[s] = match n - rank {
            r if r <= n_held => 2,
            r if r <= 2 * n_held => 1,
            _ => 0,
        };
    }
    let mut owner = vec![UserIdx(0); n];
    for u in 0..seqs.n_users() {
        for s in seqs.user_sessions(UserIdx(u as u32)) {
            owner[s] = UserIdx(u as u32);
        }
    }
    let (mut validation, mut test) = (Vec::new(), Vec::new());
    for (s, &h) in held.iter().enumerate() {
        let steps = seqs.session(s);
        let out = match h {
            1 => &mut validation,
            2 => &mut test,
            _ => continue,
        };
        for t in 1..steps.len() {
            out.push(NextCase {
                user: owner[s],
                history: history(data, owner[s], &steps[..t]),
                target: ItemIdx(steps[t]),
            });
        }
    }
    finish(data, select(seqs, |_, s, _| held[s] == 0), validation, test)
}

/// Leave last one with `validation_steps` validation cases per user: each user with at least
/// three steps has the last as test (its history: every earlier step) and up to
/// `validation_steps` steps before it as validation, each predicted from the steps before it (a
/// model fitted on the training steps folds the earlier held-out ones in, as it does the
/// validation step of the test case), at least one step always training. Users with fewer
/// steps train only. `validation_steps = 1` (or 0) is [`NextProtocol::LeaveLastOne`]; more cases per
/// user make a choice between models less a matter of one step's luck (model selection).
pub fn leave_last_split(
    data: &Interactions,
    seqs: &Sequences,
    validation_steps: usize,
) -> Result<NextSplit, NextError> {
    check_shape(data, seqs)?;
    let (mut validation, mut test) = (Vec::new(), Vec::new());
    let mut keep = vec![0usize; seqs.n_users()];
    for (u, keep) in keep.iter_mut().enumerate() {
        let user = UserIdx(u as u32);
        let steps = seqs.user(user);
        let n = steps.len();
        if n < 3 {
            *keep = n;
            continue;
        }
        *keep = (n - 1).saturating_sub(validation_steps.max(1)).max(1);
        for t in *keep..n - 1 {
            validation.push(NextCase {
                user,
                history: history(data, user, &steps[..t]),
                target: ItemIdx(steps[t]),
            });
        }
        test.push(NextCase {
            user,
            history: history(data, user, &steps[..n - 1]),
            target: ItemIdx(steps[n - 1]),
        });
    }
    let train_seqs = select(seqs, |u, _, k| k < keep[u.index()]);
    finish(data, train_seqs, validation, test)
}

/// Fails when `seqs` and `data` differ in shape.
fn check_shape(data: &Interactions, seqs: &Sequences) -> Result<(), NextError> {
    if seqs.matches(data) {
        return Ok(());
    }
    Err(NextError::Shape {
        seq_users: seqs.n_users(),
        seq_items: seqs.n_items(),
        users: data.n_users(),
        items: data.n_items(),
    })
}

/// A case's history: `user`'s `steps` with each pair's value from `data`.
fn history(data: &Interactions, user: UserIdx, steps: &[u32]) -> Vec<(ItemIdx, f32)> {
    steps.iter().map(|&i| (ItemIdx(i), data.get(user, ItemIdx(i)).unwrap_or(1.0))).collect()
}

/// The split's training matrix: the pairs of the training steps, values from the whole matrix.
fn finish(
    data: &Interactions,
    train_seqs: Sequences,
    validation: Vec<NextCase>,
    test: Vec<NextCase>,
) -> Result<NextSplit, NextError> {
    if test.is_empty() {
        return Err(NextError::Empty("no user or held-out session has a step to predict"));
    }
    let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(train_seqs.n_steps());
    for u in 0..train_seqs.n_users() {
        pairs.extend(train_seqs.user(UserIdx(u as u32)).iter().map(|&i| (u as u32, i)));
    }
    pairs.sort_unstable();
    pairs.dedup();
    let train = data.filter(|e| pairs.binary_search(&(e.user.0, e.item.0)).is_ok());
    Ok(NextSplit { train, train_seqs, validation, test })
}

/// The steps of `seqs` that `keep(user, session, step index within the user)` keeps, sessions
/// kept apart as they were.
fn select(seqs: &Sequences, keep: impl Fn(UserIdx, usize, usize) -> bool) -> Sequences {
    let mut events = Vec::with_capacity(seqs.n_steps());
    for u in 0..seqs.n_users() {
        let user = UserIdx(u as u32);
        let mut k = 0;
        for s in seqs.user_sessions(user) {
            for (&item, &ts) in seqs.session(s).iter().zip(seqs.session_ts(s)) {
                if keep(user, s, k) {
                    events.push(SeqEvent { user, item: ItemIdx(item), ts, session: Some(s as u64) });
                }
                k += 1;
            }
        }
    }
    Sequences::new(seqs.n_users(), seqs.n_items(), events, 0).expect("indexes come from valid sequences")
}

/// Next-item quality averaged over the evaluated cases.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NextMetrics {
    /// Cases evaluated.
    pub cases: usize,
    /// Cases whose target was already in their history (not evaluated).
    pub repeats: usize,
    /// Share of cases with the target in the top 10.
    pub hr_10: f64,
    /// Share of cases with the target in the top 20.
    pub hr_20: f64,
    /// Mean reciprocal rank, counting ranks past 20 as 0.
    pub mrr_20: f64,
    /// Mean NDCG@10.
    pub ndcg_10: f64,
    /// Mean NDCG@20.
    pub ndcg_20: f64,
}

/// Cases scored per rayon task (a score buffer each).
const CASE_CHUNK: usize = 64;

/// Scores every case with [`Recommender::score_history`] (its history's items are not
/// candidates) and averages the metrics of the target's rank. Fails on the first item the model
/// does not know, in a history or as a target.
pub fn evaluate_next(model: &dyn Recommender, cases: &[NextCase]) -> Result<NextMetrics, ModelError> {
    let n_items = model.n_items();
    let chunks: Vec<Result<Vec<Option<usize>>, ModelError>> = cases
        .par_chunks(CASE_CHUNK)
        .map(|chunk| {
            let mut scores = vec![0f32; n_items];
            chunk
                .iter()
                .map(|case| {
                    if case.target.index() >= n_items {
                        return Err(ModelError::UnknownItem { index: case.target.0, n: n_items });
                    }
                    if case.history.iter().any(|&(i, _)| i == case.target) {
                        return Ok(None);
                    }
                    model.score_history(&case.history, &mut scores)?;
                    for &(i, _) in &case.history {
                        scores[i.index()] = f32::NEG_INFINITY;
                    }
                    Ok(Some(rank_of(&scores, case.target)))
                })
                .collect()
        })
        .collect();
    let mut m = NextMetrics::default();
    for chunk in chunks {
        for rank in chunk? {
            let Some(r) = rank else {
                m.repeats += 1;
                continue;
            };
            m.cases += 1;
            let gain = 1.0 / ((r + 1) as f64).log2();
            if r <= 10 {
                m.hr_10 += 1.0;
                m.ndcg_10 += gain;
            }
            if r <= 20 {
                m.hr_20 += 1.0;
                m.ndcg_20 += gain;
                m.mrr_20 += 1.0 / r as f64;
            }
        }
    }
    let n = m.cases.max(1) as f64;
    for v in [&mut m.hr_10, &mut m.hr_20, &mut m.mrr_20, &mut m.ndcg_10, &mut m.ndcg_20] {
        *v /= n;
    }
    Ok(m)
}

/// The 1-based rank of `target` in `scores`: 1 + the items scoring higher or equal with a lower
/// index (the order [`crate::top_k`] lists them in). A non-finite target score ranks last.
fn rank_of(scores: &[f32], target: ItemIdx) -> usize {
    let t = scores[target.index()];
    if t.is_nan() || t == f32::NEG_INFINITY {
        return scores.len();
    }
    let ti = target.index();
    1 + scores.iter().enumerate().filter(|&(i, &s)| s > t || (s == t && i < ti)).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ModelParams;
    use crate::data::{Feedback, Interaction};

    fn data(steps: &[(u32, u32, i64)]) -> (Interactions, Sequences) {
        let entries = steps
            .iter()
            .map(|&(u, i, ts)| Interaction { user: UserIdx(u), item: ItemIdx(i), value: 1.0, ts })
            .collect();
        let events = steps
            .iter()
            .map(|&(u, i, ts)| SeqEvent { user: UserIdx(u), item: ItemIdx(i), ts, session: None })
            .collect();
        (
            Interactions::new(3, 6, Feedback::Implicit, entries).unwrap(),
            Sequences::new(3, 6, events, 100).unwrap(),
        )
    }

    #[test]
    fn leave_last_one_holds_out_the_last_two_steps() {
        let (m, s) = data(&[(0, 0, 1), (0, 1, 2), (0, 2, 3), (0, 3, 4), (1, 4, 1), (1, 5, 2)]);
        let split = next_split(&m, &s, &NextProtocol::LeaveLastOne).unwrap();
        assert_eq!(split.train_seqs.user(UserIdx(0)), &[0, 1]);
        assert_eq!(split.train_seqs.user(UserIdx(1)), &[4, 5], "too short to hold out: trains");
        assert_eq!(split.validation.len(), 1);
        assert_eq!(split.validation[0].target, ItemIdx(2));
        assert_eq!(split.test[0].target, ItemIdx(3));
        assert_eq!(split.test[0].history.iter().map(|h| h.0.0).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(split.train.nnz(), 4);
        assert_eq!(split.train.get(UserIdx(0), ItemIdx(2)), None);
    }

    #[test]
    fn more_validation_steps_hold_out_more_of_each_user_but_never_the_first() {
        // u0: 5 steps, u1: 3 steps, u2: 2 steps.
        let (m, s) = data(&[
            (0, 0, 1),
            (0, 1, 2),
            (0, 2, 3),
            (0, 3, 4),
            (0, 4, 5),
            (1, 5, 1),
            (1, 0, 2),
            (1, 1, 3),
            (2, 2, 1),
            (2, 3, 2),
        ]);
        let (one, lol) =
            (leave_last_split(&m, &s, 1).unwrap(), next_split(&m, &s, &NextProtocol::LeaveLastOne).unwrap());
        assert_eq!((one.validation, one.test), (lol.validation, lol.test), "one step is leave last one");
        let split = leave_last_split(&m, &s, 3).unwrap();
        assert_eq!(split.train_seqs.user(UserIdx(0)), &[0], "three validation steps before the test one");
        assert_eq!(split.train_seqs.user(UserIdx(1)), &[5], "the first step always trains");
        assert_eq!(split.train_seqs.user(UserIdx(2)), &[2, 3], "too short to hold out: trains");
        let cases: Vec<(u32, u32, usize)> =
            split.validation.iter().map(|c| (c.user.0, c.target.0, c.history.len())).collect();
        assert_eq!(cases, vec![(0, 1, 1), (0, 2, 2), (0, 3, 3), (1, 0, 1)], "each from its own prefix");
        let test: Vec<(u32, u32, usize)> =
            split.test.iter().map(|c| (c.user.0, c.target.0, c.history.len())).collect();
        assert_eq!(test, vec![(0, 4, 4), (1, 1, 2)], "the test cases do not move");
        assert_eq!(split.train.nnz(), 4);
    }

    #[test]
    fn sessions_hold_out_the_latest_sessions_step_by_step() {
        // Four sessions (gap 100): u0 [0,1] at 0, u1 [2,3,4] at 1000, u0 [1,5] at 2000, u2 [3,4] at 3000.
        let (m, s) = data(&[
            (0, 0, 0),
            (0, 1, 1),
            (1, 2, 1000),
            (1, 3, 1001),
            (1, 4, 1002),
            (0, 1, 2000),
            (0, 5, 2001),
            (2, 3, 3000),
            (2, 4, 3001),
        ]);
        let split = next_split(&m, &s, &NextProtocol::Sessions { test_ratio: 0.25 }).unwrap();
        assert_eq!(split.test.len(), 1);
        assert_eq!((split.test[0].user, split.test[0].target), (UserIdx(2), ItemIdx(4)));
        assert_eq!(split.validation.len(), 1);
        assert_eq!(split.validation[0].history, vec![(ItemIdx(1), 2.0)], "the pair's value in the matrix");
        assert_eq!(split.train_seqs.n_sessions(), 2);
        assert!(next_split(&m, &s, &NextProtocol::Sessions { test_ratio: 0.5 }).is_err());
    }

    #[test]
    fn ranks_count_ties_like_top_k_and_skip_repeats() {
        assert_eq!(rank_of(&[0.5, 0.9, 0.5, 0.1], ItemIdx(2)), 3);
        assert_eq!(rank_of(&[0.5, 0.9, 0.5, 0.1], ItemIdx(0)), 2);
        assert_eq!(rank_of(&[f32::NEG_INFINITY, 0.0], ItemIdx(0)), 2);
        let (m, _) = data(&[(0, 0, 1), (0, 1, 2), (0, 2, 3), (0, 3, 4)]);
        let model = crate::models::popularity::PopularityParams::default()
            .fit(&m, &crate::FitContext::seeded(0))
            .unwrap();
        let cases = vec![
            NextCase { user: UserIdx(0), history: vec![(ItemIdx(0), 1.0)], target: ItemIdx(0) },
            NextCase { user: UserIdx(0), history: vec![(ItemIdx(0), 1.0)], target: ItemIdx(1) },
        ];
        let metrics = evaluate_next(&model, &cases).unwrap();
        // Items 0..4 tie at one user each: item 0 masked, item 1 ranks first.
        assert_eq!((metrics.cases, metrics.repeats, metrics.hr_10, metrics.ndcg_10), (1, 1, 1.0, 1.0));
        let unknown = NextCase { user: UserIdx(0), history: vec![(ItemIdx(0), 1.0)], target: ItemIdx(6) };
        assert!(matches!(evaluate_next(&model, &[unknown]), Err(ModelError::UnknownItem { index: 6, .. })));
    }
}
