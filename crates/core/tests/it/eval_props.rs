//! Properties of the evaluation module: ranking metrics stay in [0, 1] and agree with a
//! brute-force reference (full sort, O(n²) AUC), perfect rankings score 1, the evaluation driver
//! averages the per-user metrics of masked score vectors, and splits partition the data.

use aisle_core::eval::{
    Candidates, RankingOptions, SplitStrategy, UserMetrics, evaluate_ranking, split, user_metrics,
};
use aisle_core::recommender::check_user;
use aisle_core::{Feedback, Interaction, Interactions, ItemIdx, ModelError, Recommender, Scored, UserIdx};
use proptest::prelude::*;

/// Scores with ties (a few levels), excluded items (−∞) and NaN.
fn scores() -> impl Strategy<Value = Vec<f32>> {
    let one = prop_oneof![
        6 => (0u8..6).prop_map(|v| f32::from(v) * 0.5),
        4 => -10.0f32..10.0,
        1 => Just(f32::NEG_INFINITY),
        1 => Just(f32::NAN),
    ];
    prop::collection::vec(one, 1..40)
}

/// Relevant items, possibly repeated and possibly past the score vector.
fn relevant() -> impl Strategy<Value = Vec<ItemIdx>> {
    prop::collection::vec((0u32..45).prop_map(ItemIdx), 1..10)
}

/// Every metric of one user by a full sort of the candidates and an O(n²) AUC.
fn reference(scores: &[f32], relevant: &[ItemIdx], k: usize) -> UserMetrics {
    let mut rel: Vec<usize> = relevant.iter().map(|i| i.index()).collect();
    rel.sort_unstable();
    rel.dedup();
    let is_rel = |i: usize| rel.contains(&i);
    let mut order: Vec<usize> = (0..scores.len()).filter(|&i| scores[i].is_finite()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let top = &order[..k.min(order.len())];
    let hit_ranks: Vec<usize> = (1..=top.len()).filter(|&r| is_rel(top[r - 1])).collect();
    let hits = hit_ranks.len() as f64;
    let (p, r) = (hits / k as f64, hits / rel.len() as f64);
    let dcg: f64 = hit_ranks.iter().map(|&r| 1.0 / ((r + 1) as f64).log2()).sum();
    let idcg: f64 = (1..=rel.len().min(k)).map(|r| 1.0 / ((r + 1) as f64).log2()).sum();
    let ap: f64 = hit_ranks.iter().enumerate().map(|(h, &r)| (h + 1) as f64 / r as f64).sum::<f64>()
        / rel.len().min(k) as f64;
    let rr = order.iter().position(|&i| is_rel(i)).map_or(0.0, |pos| 1.0 / (pos + 1) as f64);
    let negatives: Vec<usize> = order.iter().copied().filter(|&i| !is_rel(i)).collect();
    let mut correct = 0.0;
    for &a in &rel {
        let Some(&sa) = scores.get(a).filter(|s| s.is_finite()) else { continue };
        for &b in &negatives {
            correct += match sa.total_cmp(&scores[b]) {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            };
        }
    }
    let auc = (!negatives.is_empty()).then(|| correct / (rel.len() * negatives.len()) as f64);
    UserMetrics {
        precision: p,
        recall: r,
        f1: if hits == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) },
        ndcg: dcg / idcg,
        ap,
        rr,
        hit_rate: if hits > 0.0 { 1.0 } else { 0.0 },
        auc,
    }
}

fn all(m: &UserMetrics) -> Vec<f64> {
    let mut v = vec![m.precision, m.recall, m.f1, m.ndcg, m.ap, m.rr, m.hit_rate];
    v.extend(m.auc);
    v
}

proptest! {
    #[test]
    fn metrics_are_in_unit_range_and_match_the_reference(s in scores(), rel in relevant(), k in 1usize..50) {
        let m = user_metrics(&s, &rel, k).unwrap();
        for v in all(&m) {
            prop_assert!((0.0..=1.0).contains(&v), "{m:?}");
        }
        let want = reference(&s, &rel, k);
        prop_assert_eq!(m.auc.is_some(), want.auc.is_some());
        for (g, w) in all(&m).into_iter().zip(all(&want)) {
            prop_assert!((g - w).abs() < 1e-9, "got {m:?}, want {want:?}");
        }
    }

    #[test]
    fn a_perfect_ranking_scores_one(s in scores(), rel in relevant(), k in 1usize..50) {
        let mut s = s;
        // Relevant items in range score above every other candidate.
        let rel: Vec<ItemIdx> = rel.into_iter().filter(|i| i.index() < s.len()).collect();
        prop_assume!(!rel.is_empty());
        for i in &rel {
            s[i.index()] = 100.0 + i.0 as f32;
        }
        let m = user_metrics(&s, &rel, k).unwrap();
        prop_assert!((m.ndcg - 1.0).abs() < 1e-12);
        prop_assert!((m.ap - 1.0).abs() < 1e-12);
        prop_assert_eq!(m.rr, 1.0);
        prop_assert!(m.auc.is_none_or(|a| a == 1.0));
    }

    #[test]
    fn recall_at_the_catalog_size_is_one(s in prop::collection::vec(-5.0f32..5.0, 1..40), rel in relevant()) {
        let rel: Vec<ItemIdx> = rel.into_iter().filter(|i| i.index() < s.len()).collect();
        prop_assume!(!rel.is_empty());
        let m = user_metrics(&s, &rel, s.len()).unwrap();
        prop_assert_eq!(m.recall, 1.0);
        prop_assert_eq!(m.hit_rate, 1.0);
    }
}

/// A model with a fixed score table, `scores[u * n_items + i]`.
struct Table {
    n_users: usize,
    n_items: usize,
    scores: Vec<f32>,
}

impl Recommender for Table {
    fn name(&self) -> &'static str {
        "table"
    }
    fn n_users(&self) -> usize {
        self.n_users
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError> {
        check_user(self, user, out)?;
        out.copy_from_slice(&self.scores[user.index() * self.n_items..][..self.n_items]);
        Ok(())
    }
    fn score_history(&self, _: &[(ItemIdx, f32)], _: &mut [f32]) -> Result<(), ModelError> {
        Err(ModelError::Unsupported { model: "table", operation: "fold-in" })
    }
    fn similar_items(&self, _: ItemIdx, _: usize, _: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        Err(ModelError::Unsupported { model: "table", operation: "similar items" })
    }
    fn predict(&self, _: UserIdx, _: ItemIdx) -> Result<f32, ModelError> {
        Err(ModelError::Unsupported { model: "table", operation: "rating prediction" })
    }
}

/// Up to 12 users × 10 items, random pairs, values 1..=5 and timestamps with ties.
fn interactions() -> impl Strategy<Value = Interactions> {
    (1usize..12, 1usize..10).prop_flat_map(|(nu, ni)| {
        let entry = (0..nu as u32, 0..ni as u32, 1u8..=5, 0i64..6).prop_map(|(u, i, v, ts)| Interaction {
            user: UserIdx(u),
            item: ItemIdx(i),
            value: f32::from(v),
            ts,
        });
        prop::collection::vec(entry, 0..60)
            .prop_map(move |e| Interactions::new(nu, ni, Feedback::Explicit, e).unwrap())
    })
}

fn strategy() -> impl Strategy<Value = SplitStrategy> {
    prop_oneof![
        (0.05f64..0.95).prop_map(|test_ratio| SplitStrategy::Random { test_ratio }),
        (1usize..4).prop_map(|k| SplitStrategy::LeaveKOut { k }),
        (0.05f64..0.95).prop_map(|test_ratio| SplitStrategy::TimeGlobal { test_ratio }),
        (1usize..4).prop_map(|k| SplitStrategy::LastK { k }),
        (2usize..6).prop_map(|folds| SplitStrategy::KFold { folds }),
    ]
}

proptest! {
    #[test]
    fn evaluation_averages_the_masked_per_user_metrics(
        data in interactions(),
        seed in 0u64..1000,
        k in 1usize..12,
        table in prop::collection::vec(prop_oneof![(0u8..4).prop_map(f32::from), -1.0f32..1.0], 120),
    ) {
        let (nu, ni) = (data.n_users(), data.n_items());
        let parts = split(&data, &SplitStrategy::Random { test_ratio: 0.3 }, seed).unwrap();
        let (train, test) = (&parts[0].train, &parts[0].test);
        let model = Table { n_users: nu, n_items: ni, scores: table[..nu * ni].to_vec() };
        let opts = RankingOptions { k, ..RankingOptions::default() };
        let users: Vec<usize> = (0..nu).filter(|&u| !test.user(UserIdx(u as u32)).is_empty()).collect();
        let Ok(m) = evaluate_ranking(&model, train, test, &opts) else {
            prop_assert!(users.is_empty());
            return Ok(());
        };
        prop_assert_eq!((m.users, m.skipped_users), (users.len(), 0));
        prop_assert_eq!(m.candidates, Candidates::FullCatalog);
        let (mut ndcg, mut auc, mut auc_users) = (0.0, 0.0, 0);
        for &u in &users {
            let mut s = model.scores[u * ni..][..ni].to_vec();
            for &i in train.user(UserIdx(u as u32)).indices {
                s[i as usize] = f32::NEG_INFINITY;
            }
            let rel: Vec<ItemIdx> = test.user(UserIdx(u as u32)).indices.iter().map(|&i| ItemIdx(i)).collect();
            let um = user_metrics(&s, &rel, k).unwrap();
            ndcg += um.ndcg;
            if let Some(a) = um.auc {
                auc += a;
                auc_users += 1;
            }
        }
        prop_assert!((m.ndcg - ndcg / users.len() as f64).abs() < 1e-9);
        if auc_users > 0 {
            prop_assert!((m.auc - auc / auc_users as f64).abs() < 1e-9);
        }
        for v in [m.precision, m.recall, m.f1, m.ndcg, m.map, m.mrr, m.hit_rate, m.coverage] {
            prop_assert!((0.0..=1.0).contains(&v), "{m:?}");
        }
        prop_assert!(m.novelty >= 0.0);
    }

    #[test]
    fn splits_partition_the_data_deterministically(data in interactions(), strat in strategy(), seed in 0u64..1000) {
        let Ok(parts) = split(&data, &strat, seed) else {
            let too_many_folds = matches!(strat, SplitStrategy::KFold { folds } if folds > data.nnz());
            prop_assert!(too_many_folds, "only KFold with more folds than interactions fails");
            return Ok(());
        };
        let mut test_count = vec![0usize; data.nnz()];
        let all: Vec<Interaction> = data.iter().collect();
        for s in &parts {
            prop_assert_eq!((s.train.n_users(), s.train.n_items()), (data.n_users(), data.n_items()));
            prop_assert_eq!((s.test.n_users(), s.test.n_items()), (data.n_users(), data.n_items()));
            prop_assert_eq!(s.train.nnz() + s.test.nnz(), data.nnz());
            let mut union: Vec<Interaction> = s.train.iter().chain(s.test.iter()).collect();
            union.sort_by_key(|e| (e.user, e.item));
            prop_assert_eq!(&union, &all);
            for (n, e) in all.iter().enumerate() {
                test_count[n] += usize::from(s.test.get(e.user, e.item).is_some());
            }
        }
        if let SplitStrategy::KFold { folds } = strat {
            prop_assert_eq!(parts.len(), folds);
            prop_assert!(test_count.iter().all(|&c| c == 1), "each interaction in exactly one test fold");
        }
        prop_assert_eq!(split(&data, &strat, seed).unwrap(), parts);
    }
}
