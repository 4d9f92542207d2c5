//! Train/test splits of an interaction matrix.
//!
//! Every split keeps the input's shape (`n_users`, `n_items`) and feedback in both halves, so a
//! model fitted on `train` scores exactly the items `test` names. Train and test are disjoint and
//! their union is the input. Random choices come from [`crate::rng::seeded`]: same data, strategy
//! and seed ⇒ identical split. Sizes of ratio splits follow scikit-learn's `train_test_split` (and
//! Surprise's): `n_test = ⌈test_ratio · nnz⌉`. `KFold` follows scikit-learn's
//! `KFold(shuffle=True)`: one shuffle, then contiguous folds whose sizes differ by at most one.

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::{Interaction, Interactions};
use crate::ids::UserIdx;
use crate::rng;

/// One train/test pair, both with the input's shape and feedback.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// What models are fitted on.
    pub train: Interactions,
    /// What they are evaluated on; disjoint from `train`.
    pub test: Interactions,
}

/// How to split. Strategies that need no randomness (`TimeGlobal`, `LastK`) ignore the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SplitStrategy {
    /// A uniformly random `⌈test_ratio · nnz⌉` interactions go to test (seeded shuffle).
    Random {
        /// Share of interactions in test, in (0, 1).
        test_ratio: f64,
    },
    /// Per user with more than `k` interactions, `k` random ones go to test; users with at most
    /// `k` interactions stay entirely in train.
    LeaveKOut {
        /// Test interactions per user, ≥ 1.
        k: usize,
    },
    /// The latest `⌈test_ratio · nnz⌉` interactions by timestamp go to test. Equal timestamps are
    /// ordered by (user, item), so the later user/item index counts as later.
    TimeGlobal {
        /// Share of interactions in test, in (0, 1).
        test_ratio: f64,
    },
    /// Per user with more than `k` interactions, the `k` latest by timestamp go to test (equal
    /// timestamps: the higher item index counts as later); users with at most `k` interactions
    /// stay entirely in train.
    LastK {
        /// Test interactions per user, ≥ 1.
        k: usize,
    },
    /// Cold start: a seeded random `⌈test_ratio · n⌉` of the `n` items with interactions are held
    /// out of training entirely; every interaction on them goes to test. Rank these with
    /// [`crate::eval::Candidates::ColdItems`] to measure how models score items nobody has
    /// touched yet.
    ColdItems {
        /// Share of the interacted items held out, in (0, 1).
        test_ratio: f64,
    },
    /// `folds` splits whose test sets partition the interactions (each is in exactly one test
    /// fold); the first `nnz mod folds` folds get one extra interaction.
    KFold {
        /// Number of folds, in `2..=nnz`.
        folds: usize,
    },
}

/// A split strategy that cannot apply to the data.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SplitError {
    /// `test_ratio` is not strictly between 0 and 1 (or is NaN).
    #[error("test_ratio must be in (0, 1), got {ratio}")]
    InvalidRatio {
        /// The ratio given.
        ratio: f64,
    },
    /// `k` is zero.
    #[error("k must be at least 1")]
    ZeroK,
    /// `folds` is below 2 or above the number of interactions.
    #[error("folds must be in 2..={nnz} (the number of interactions), got {folds}")]
    InvalidFolds {
        /// The folds asked for.
        folds: usize,
        /// The number of interactions.
        nnz: usize,
    },
}

/// Splits `data` by `strategy`: one [`Split`], or `folds` of them for [`SplitStrategy::KFold`].
pub fn split(data: &Interactions, strategy: &SplitStrategy, seed: u64) -> Result<Vec<Split>, SplitError> {
    validate(strategy, data.nnz())?;
    let entries: Vec<Interaction> = data.iter().collect();
    let in_test = match *strategy {
        SplitStrategy::Random { test_ratio } => random_test(entries.len(), test_ratio, seed),
        SplitStrategy::LeaveKOut { k } => leave_k_out_test(data, k, seed),
        SplitStrategy::TimeGlobal { test_ratio } => time_global_test(&entries, test_ratio),
        SplitStrategy::LastK { k } => last_k_test(data, k),
        SplitStrategy::ColdItems { test_ratio } => cold_items_test(data, &entries, test_ratio, seed),
        SplitStrategy::KFold { folds } => return Ok(kfold(data, &entries, folds, seed)),
    };
    Ok(vec![partition(data, &entries, |pos| in_test[pos])])
}

fn validate(strategy: &SplitStrategy, nnz: usize) -> Result<(), SplitError> {
    match *strategy {
        SplitStrategy::Random { test_ratio }
        | SplitStrategy::TimeGlobal { test_ratio }
        | SplitStrategy::ColdItems { test_ratio } => {
            // Written so that NaN fails too.
            if !(test_ratio > 0.0 && test_ratio < 1.0) {
                return Err(SplitError::InvalidRatio { ratio: test_ratio });
            }
        }
        SplitStrategy::LeaveKOut { k } | SplitStrategy::LastK { k } => {
            if k == 0 {
                return Err(SplitError::ZeroK);
            }
        }
        SplitStrategy::KFold { folds } => {
            if folds < 2 || folds > nnz {
                return Err(SplitError::InvalidFolds { folds, nnz });
            }
        }
    }
    Ok(())
}

/// `⌈ratio · n⌉`, as scikit-learn sizes a float test share.
fn test_size(n: usize, ratio: f64) -> usize {
    ((ratio * n as f64).ceil() as usize).min(n)
}

/// Positions (in `data.iter()` order) of a seeded random `⌈ratio · n⌉` of `n` entries.
fn random_test(n: usize, ratio: f64, seed: u64) -> Vec<bool> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng::seeded(seed));
    let mut in_test = vec![false; n];
    for &pos in &order[..test_size(n, ratio)] {
        in_test[pos] = true;
    }
    in_test
}

/// Per user with more than `k` entries, `k` of them chosen by a partial seeded shuffle.
fn leave_k_out_test(data: &Interactions, k: usize, seed: u64) -> Vec<bool> {
    let mut rng = rng::seeded(seed);
    let mut in_test = vec![false; data.nnz()];
    let mut start = 0;
    let mut local: Vec<usize> = Vec::new();
    for u in 0..data.n_users() {
        let len = data.user(UserIdx(u as u32)).len();
        if len > k {
            local.clear();
            local.extend(0..len);
            let (chosen, _) = local.partial_shuffle(&mut rng, k);
            for &off in chosen.iter() {
                in_test[start + off] = true;
            }
        }
        start += len;
    }
    in_test
}

/// The latest `⌈ratio · n⌉` entries by (ts, user, item).
fn time_global_test(entries: &[Interaction], ratio: f64) -> Vec<bool> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&pos| {
        let e = &entries[pos];
        (e.ts, e.user, e.item)
    });
    let n_test = test_size(entries.len(), ratio);
    let mut in_test = vec![false; entries.len()];
    for &pos in &order[entries.len() - n_test..] {
        in_test[pos] = true;
    }
    in_test
}

/// Every entry on a seeded random `⌈ratio · n⌉` of the `n` items that have entries.
fn cold_items_test(data: &Interactions, entries: &[Interaction], ratio: f64, seed: u64) -> Vec<bool> {
    let mut items: Vec<u32> =
        data.item_counts().iter().enumerate().filter(|&(_, &c)| c > 0).map(|(i, _)| i as u32).collect();
    items.shuffle(&mut rng::seeded(seed));
    let mut cold = vec![false; data.n_items()];
    for &i in &items[..test_size(items.len(), ratio)] {
        cold[i as usize] = true;
    }
    entries.iter().map(|e| cold[e.item.index()]).collect()
}

/// Per user with more than `k` entries, the `k` latest by (ts, item).
fn last_k_test(data: &Interactions, k: usize) -> Vec<bool> {
    let mut in_test = vec![false; data.nnz()];
    let mut start = 0;
    let mut local: Vec<usize> = Vec::new();
    for u in 0..data.n_users() {
        let row = data.user(UserIdx(u as u32));
        let len = row.len();
        if len > k {
            local.clear();
            local.extend(0..len);
            local.sort_by_key(|&off| (row.ts_at(off), row.indices[off]));
            for &off in &local[len - k..] {
                in_test[start + off] = true;
            }
        }
        start += len;
    }
    in_test
}

/// scikit-learn `KFold(shuffle=True)`: shuffle once, cut into contiguous folds.
fn kfold(data: &Interactions, entries: &[Interaction], folds: usize, seed: u64) -> Vec<Split> {
    let n = entries.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng::seeded(seed));
    let mut fold_of = vec![0usize; n];
    let (base, extra) = (n / folds, n % folds);
    let mut start = 0;
    for f in 0..folds {
        let size = base + usize::from(f < extra);
        for &pos in &order[start..start + size] {
            fold_of[pos] = f;
        }
        start += size;
    }
    (0..folds).map(|f| partition(data, entries, |pos| fold_of[pos] == f)).collect()
}

/// Train = entries where `in_test` is false, test = the rest, both shaped like `data`.
fn partition(data: &Interactions, entries: &[Interaction], in_test: impl Fn(usize) -> bool) -> Split {
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (pos, e) in entries.iter().enumerate() {
        if in_test(pos) { test.push(*e) } else { train.push(*e) }
    }
    let build = |entries| {
        Interactions::new(data.n_users(), data.n_items(), data.feedback(), entries)
            .expect("a subset of a valid matrix is valid")
    };
    Split { train: build(train), test: build(test) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Feedback;
    use crate::ids::ItemIdx;

    /// 4 users × 6 items, 13 interactions: user u has items u..u+len (len 5, 4, 3, 1) with
    /// ts = 10·item + u.
    fn data() -> Interactions {
        let mut entries = Vec::new();
        for (u, len) in [(0u32, 5u32), (1, 4), (2, 3), (3, 1)] {
            for item in u..u + len {
                entries.push(Interaction {
                    user: UserIdx(u),
                    item: ItemIdx(item),
                    value: (item + 1) as f32,
                    ts: 10 * i64::from(item) + i64::from(u),
                });
            }
        }
        Interactions::new(4, 6, Feedback::Explicit, entries).unwrap()
    }

    fn pairs(m: &Interactions) -> Vec<(u32, u32)> {
        m.iter().map(|e| (e.user.0, e.item.0)).collect()
    }

    /// Disjoint, union = data (values and ts kept), same shape and feedback.
    fn assert_partition(data: &Interactions, s: &Split) {
        assert_eq!((s.train.n_users(), s.train.n_items()), (data.n_users(), data.n_items()));
        assert_eq!((s.test.n_users(), s.test.n_items()), (data.n_users(), data.n_items()));
        assert_eq!((s.train.feedback(), s.test.feedback()), (data.feedback(), data.feedback()));
        assert_eq!(s.train.nnz() + s.test.nnz(), data.nnz());
        for e in data.iter() {
            let row = |m: &Interactions| m.user(e.user).indices.binary_search(&e.item.0).is_ok();
            assert!(row(&s.train) != row(&s.test), "{e:?} must be in exactly one half");
        }
        let mut all: Vec<Interaction> = s.train.iter().chain(s.test.iter()).collect();
        all.sort_by_key(|e| (e.user, e.item));
        assert_eq!(all, data.iter().collect::<Vec<_>>());
    }

    #[test]
    fn random_takes_the_ceiling_share_and_is_seeded() {
        let d = data(); // nnz = 13
        let strat = SplitStrategy::Random { test_ratio: 0.2 };
        let s = split(&d, &strat, 7).unwrap();
        assert_eq!(s.len(), 1);
        assert_partition(&d, &s[0]);
        assert_eq!(s[0].test.nnz(), 3); // ⌈0.2 · 13⌉ = ⌈2.6⌉
        assert_eq!(split(&d, &strat, 7).unwrap(), s);
        let differs =
            (8..20).any(|seed| pairs(&split(&d, &strat, seed).unwrap()[0].test) != pairs(&s[0].test));
        assert!(differs, "other seeds must give other test sets");
    }

    #[test]
    fn leave_k_out_takes_k_per_user_with_more_than_k() {
        let d = data();
        let strat = SplitStrategy::LeaveKOut { k: 2 };
        let s = &split(&d, &strat, 3).unwrap()[0];
        assert_partition(&d, s);
        assert_eq!(s.test.user_counts(), [2, 2, 2, 0]); // user 3 has 1 ≤ 2 interactions
        assert_eq!(s.train.user_counts(), [3, 2, 1, 1]);
        assert_eq!(&split(&d, &strat, 3).unwrap()[0], s);
        let differs = (4..20).any(|seed| pairs(&split(&d, &strat, seed).unwrap()[0].test) != pairs(&s.test));
        assert!(differs);
        // k equal to a user's count keeps that user in train.
        let s3 = &split(&d, &SplitStrategy::LeaveKOut { k: 3 }, 0).unwrap()[0];
        assert_eq!(s3.test.user_counts(), [3, 3, 0, 0]);
    }

    #[test]
    fn last_k_takes_each_users_latest() {
        let d = data();
        let s = &split(&d, &SplitStrategy::LastK { k: 2 }, 0).unwrap()[0];
        assert_partition(&d, s);
        // ts = 10·item + u, so the latest are the highest items: user 0 {0..4} → {3, 4};
        // user 1 {1..4} → {3, 4}; user 2 {2, 3, 4} → {3, 4}; user 3 has one item and stays.
        assert_eq!(pairs(&s.test), [(0, 3), (0, 4), (1, 3), (1, 4), (2, 3), (2, 4)]);
    }

    #[test]
    fn last_k_uses_time_not_item_order() {
        let e = |i: u32, ts| Interaction { user: UserIdx(0), item: ItemIdx(i), value: 1.0, ts };
        let d = Interactions::new(1, 4, Feedback::Implicit, vec![e(0, 50), e(1, 10), e(2, 40), e(3, 20)])
            .unwrap();
        let s = &split(&d, &SplitStrategy::LastK { k: 2 }, 0).unwrap()[0];
        assert_eq!(pairs(&s.test), [(0, 0), (0, 2)]);
        assert_eq!(s.test.feedback(), Feedback::Implicit);
    }

    #[test]
    fn time_global_cuts_at_the_latest_timestamps() {
        let d = data();
        let s = &split(&d, &SplitStrategy::TimeGlobal { test_ratio: 0.3 }, 0).unwrap()[0];
        assert_partition(&d, s);
        // ⌈0.3 · 13⌉ = 4 latest: ts 42 (u2, i4), 41 (u1, i4), 40 (u0, i4), 33 (u3, i3); next is 32.
        assert_eq!(pairs(&s.test), [(0, 4), (1, 4), (2, 4), (3, 3)]);
        let max_train = s.train.iter().map(|e| e.ts).max().unwrap();
        let min_test = s.test.iter().map(|e| e.ts).min().unwrap();
        assert!(max_train <= min_test);
    }

    #[test]
    fn time_global_breaks_ties_by_user_then_item() {
        let e = |u: u32, i: u32| Interaction { user: UserIdx(u), item: ItemIdx(i), value: 1.0, ts: 5 };
        let d = Interactions::new(2, 2, Feedback::Implicit, vec![e(1, 0), e(0, 1), e(0, 0)]).unwrap();
        let s = &split(&d, &SplitStrategy::TimeGlobal { test_ratio: 0.5 }, 9).unwrap()[0];
        // Order (ts, user, item): (0,0), (0,1), (1,0); ⌈1.5⌉ = 2 latest go to test.
        assert_eq!(pairs(&s.test), [(0, 1), (1, 0)]);
    }

    #[test]
    fn cold_items_hold_out_whole_items() {
        let d = data(); // items 0..=4 have interactions (counts 1, 2, 3, 3, 3); item 5 has none
        let strat = SplitStrategy::ColdItems { test_ratio: 0.3 };
        let s = &split(&d, &strat, 5).unwrap()[0];
        assert_partition(&d, s);
        let (train, test) = (s.train.item_counts(), s.test.item_counts());
        let cold: Vec<usize> = (0..6).filter(|&i| test[i] > 0).collect();
        assert_eq!(cold.len(), 2, "⌈0.3 · 5⌉ items held out: {cold:?}");
        for i in 0..6 {
            assert!(train[i] == 0 || test[i] == 0, "item {i} is in both halves");
            assert_eq!(train[i] + test[i], d.item_counts()[i], "item {i} keeps all its interactions");
        }
        assert_eq!(&split(&d, &strat, 5).unwrap()[0], s);
        let differs = (6..30).any(|seed| pairs(&split(&d, &strat, seed).unwrap()[0].test) != pairs(&s.test));
        assert!(differs, "other seeds hold out other items");
        assert!(split(&d, &SplitStrategy::ColdItems { test_ratio: 1.0 }, 0).is_err());
    }

    #[test]
    fn kfold_partitions_into_balanced_folds() {
        let d = data();
        let strat = SplitStrategy::KFold { folds: 3 };
        let folds = split(&d, &strat, 42).unwrap();
        assert_eq!(folds.len(), 3);
        let sizes: Vec<usize> = folds.iter().map(|s| s.test.nnz()).collect();
        assert_eq!(sizes, [5, 4, 4]); // 13 = 5 + 4 + 4, first 13 mod 3 = 1 fold gets one more
        let mut seen: Vec<(u32, u32)> = folds.iter().flat_map(|s| pairs(&s.test)).collect();
        seen.sort();
        assert_eq!(seen, pairs(&d));
        for s in &folds {
            assert_partition(&d, s);
        }
        assert_eq!(split(&d, &strat, 42).unwrap(), folds);
        assert_ne!(split(&d, &strat, 43).unwrap(), folds);
    }

    #[test]
    fn bad_strategies_are_typed_errors() {
        let d = data();
        for ratio in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
            let err = split(&d, &SplitStrategy::Random { test_ratio: ratio }, 0).unwrap_err();
            assert!(matches!(err, SplitError::InvalidRatio { .. }));
            let err = split(&d, &SplitStrategy::TimeGlobal { test_ratio: ratio }, 0).unwrap_err();
            assert!(matches!(err, SplitError::InvalidRatio { .. }));
        }
        assert_eq!(split(&d, &SplitStrategy::LeaveKOut { k: 0 }, 0), Err(SplitError::ZeroK));
        assert_eq!(split(&d, &SplitStrategy::LastK { k: 0 }, 0), Err(SplitError::ZeroK));
        for folds in [0, 1, 14] {
            assert_eq!(
                split(&d, &SplitStrategy::KFold { folds }, 0),
                Err(SplitError::InvalidFolds { folds, nnz: 13 })
            );
        }
        assert_eq!(split(&d, &SplitStrategy::KFold { folds: 13 }, 0).unwrap().len(), 13);
    }
}
