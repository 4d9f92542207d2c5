//! Property tests of top-k selection and of every model's recommendations: sorted best first,
//! unique, never an excluded item, and exactly the best items.

use aisle_core::recommender::{FitError, top_excluding};
use aisle_core::{
    Feedback, FitContext, Interaction, Interactions, ItemAttributes, ItemIdx, Recommender, SideInfo, UserIdx,
    top_k,
};
use proptest::prelude::*;

use crate::conformance::cases;

/// Scores with ties, NaN and infinities mixed in; up to 300 of them, so several of `top_k`'s
/// 64-score blocks are skipped or scanned.
fn scores() -> impl Strategy<Value = Vec<f32>> {
    let score = prop_oneof![
        8 => (-4i32..4).prop_map(|x| x as f32 * 0.5),
        1 => Just(f32::NAN),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(f32::INFINITY),
    ];
    prop::collection::vec(score, 0..300)
}

proptest! {
    #[test]
    fn top_k_is_the_sorted_unique_best_of_the_finite_scores(s in scores(), k in 0usize..70, ex in prop::collection::vec(0u32..300, 0..10)) {
        let exclude: Vec<ItemIdx> = ex.iter().map(|&i| ItemIdx(i)).collect();
        let mut masked = s.clone();
        let top = top_excluding(&mut masked, k, &exclude);
        // The reference: every finite, non-excluded score, fully sorted (score desc, index asc).
        let mut all: Vec<(u32, f32)> = s
            .iter()
            .enumerate()
            .filter(|(i, v)| v.is_finite() && !exclude.contains(&ItemIdx(*i as u32)))
            .map(|(i, &v)| (i as u32, v))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        let got: Vec<(u32, f32)> = top.iter().map(|s| (s.item.0, s.score)).collect();
        prop_assert_eq!(got, all);
        prop_assert_eq!(top_k(&s, 0).len(), 0);
    }
}

/// A small random implicit dataset: every user has at least one interaction.
fn dataset() -> impl Strategy<Value = Interactions> {
    (2usize..12, 3usize..16).prop_flat_map(|(n_users, n_items)| {
        let row = prop::collection::btree_set(0..n_items as u32, 1..n_items.min(6) + 1);
        prop::collection::vec((row, 1u8..6), n_users).prop_map(move |rows| {
            let entries = rows
                .iter()
                .enumerate()
                .flat_map(|(u, (items, v))| {
                    items.iter().map(move |&i| Interaction {
                        user: UserIdx(u as u32),
                        item: ItemIdx(i),
                        value: f32::from(*v),
                        ts: i64::from(i),
                    })
                })
                .collect();
            Interactions::new(n_users, n_items, Feedback::Explicit, entries).expect("valid")
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_model_recommends_sorted_unique_non_excluded_items(data in dataset(), n in 1usize..8, seed in 0u64..4) {
        // Items in three categories, so the content and hybrid models have features.
        let items = (0..data.n_items())
            .map(|i| Some(ItemAttributes { categories: vec![format!("c{}", i % 3)], ..ItemAttributes::default() }))
            .collect();
        let side = SideInfo { items, users: Vec::new() };
        // SASRec learns from a user's step to their next: with no user of two items there is
        // nothing to learn, and it says so rather than serve untrained weights.
        let learnable = (0..data.n_users() as u32).any(|u| data.user(UserIdx(u)).len() >= 2);
        for case in cases() {
            let fitted = case.spec.fit(&data, &FitContext::seeded(seed).with_side(&side));
            if case.name == "sasrec" && !learnable {
                prop_assert!(matches!(fitted, Err(FitError::Unfit { .. })), "sasrec: {:?}", fitted.err());
                continue;
            }
            let model = fitted.expect("fits");
            for u in 0..data.n_users() as u32 {
                let exclude: Vec<ItemIdx> = data.user(UserIdx(u)).indices.iter().map(|&i| ItemIdx(i)).collect();
                let top = model.recommend(UserIdx(u), n, &exclude).expect("known user");
                prop_assert!(top.len() <= n, "{}", case.name);
                prop_assert!(top.windows(2).all(|w| w[0].score >= w[1].score), "{}: unsorted {:?}", case.name, top);
                prop_assert!(top.iter().all(|s| !exclude.contains(&s.item) && s.score.is_finite()), "{}", case.name);
                let mut items: Vec<u32> = top.iter().map(|s| s.item.0).collect();
                items.sort_unstable();
                items.dedup();
                prop_assert_eq!(items.len(), top.len(), "{}: duplicates", case.name);
            }
        }
    }
}
