//! Cold start on a hand-made shop: items nobody has interacted with and users known only by
//! their attributes. The hybrid and the content model score them from features; collaborative
//! models cannot and tie them.

use aisle_core::models::hybrid::{HybridModel, HybridParams};
use aisle_core::models::registry::ModelSpec;
use aisle_core::{
    Feedback, FitContext, Interaction, Interactions, ItemAttributes, ItemIdx, ModelParams, Recommender,
    SideInfo, UserIdx,
};

/// 40 users in two groups (attribute `group=a` / `group=b`) and 30 items in two categories:
/// items 0..12 ("knitwear") and 15..27 ("swimwear") have interactions, items 12..15 and 27..30
/// (three per category) have none. Users 0..20 touch knitwear, users 20..40 swimwear; users 18,
/// 19, 38 and 39 have attributes but no interaction at all.
fn shop() -> (Interactions, SideInfo) {
    let mut entries = Vec::new();
    for u in 0..40u32 {
        if matches!(u, 18 | 19 | 38 | 39) {
            continue;
        }
        let base = if u < 20 { 0 } else { 15 };
        for k in 0..6 {
            let item = base + (u * 5 + k * 2) % 12;
            entries.push(Interaction { user: UserIdx(u), item: ItemIdx(item), value: 1.0, ts: 0 });
        }
    }
    let data = Interactions::new(40, 30, Feedback::Implicit, entries).expect("valid");
    let items = (0..30)
        .map(|i| {
            let (cat, word) = if i < 15 { ("knitwear", "wool") } else { ("swimwear", "nylon") };
            Some(ItemAttributes {
                title: format!("{word} piece {i}"),
                categories: vec![cat.to_owned()],
                ..ItemAttributes::default()
            })
        })
        .collect();
    let users = (0..40).map(|u| vec![if u < 20 { "group=a" } else { "group=b" }.to_owned()]).collect();
    (data, SideInfo { items, users })
}

const COLD_A: [u32; 3] = [12, 13, 14];
const COLD_B: [u32; 3] = [27, 28, 29];

/// Whether every cold item of the user's own category outscores every cold item of the other.
fn prefers_own_cold_items(scores: &[f32], group_a: bool) -> bool {
    let (own, other) = if group_a { (COLD_A, COLD_B) } else { (COLD_B, COLD_A) };
    own.iter().all(|&i| other.iter().all(|&j| scores[i as usize] > scores[j as usize]))
}

#[test]
fn the_hybrid_learns_feature_only_items_and_feature_only_users() {
    let (data, side) = shop();
    let params = HybridParams { components: 8, epochs: 40, ..HybridParams::default() };
    let model: HybridModel = params.fit(&data, &FitContext::seeded(3).with_side(&side)).unwrap();
    let mut scores = vec![0f32; 30];
    for u in 0..40u32 {
        model.score_user(UserIdx(u), &mut scores).unwrap();
        assert!(prefers_own_cold_items(&scores, u < 20), "user {u}: {scores:?}");
    }
    // Users 18, 19, 38, 39 never interacted: their attributes alone place them.
    for u in [18u32, 19, 38, 39] {
        model.score_user(UserIdx(u), &mut scores).unwrap();
        let own = if u < 20 { 0..12 } else { 15..27 };
        let other = if u < 20 { 15..27 } else { 0..12 };
        let mean = |r: std::ops::Range<usize>| r.clone().map(|i| scores[i]).sum::<f32>() / r.len() as f32;
        assert!(mean(own) > mean(other), "user {u}: {scores:?}");
    }
    // A shopper the model never saw, described by attributes only.
    model.score_user_features(&["group=b"], &mut scores).unwrap();
    assert!(prefers_own_cold_items(&scores, false), "{scores:?}");
    assert!(
        model.item_feature_names().iter().any(|n| n == "category:knitwear"),
        "{:?}",
        model.item_feature_names()
    );
    assert_eq!(model.user_feature_names(), ["group=a", "group=b"]);
}

#[test]
fn content_scores_cold_items_and_collaborative_models_tie_them() {
    let (data, side) = shop();
    let mut scores = vec![0f32; 30];
    let content =
        "content".parse::<ModelSpec>().unwrap().fit(&data, &FitContext::seeded(0).with_side(&side)).unwrap();
    for u in (0..40u32).filter(|u| !matches!(u, 18 | 19 | 38 | 39)) {
        content.score_user(UserIdx(u), &mut scores).unwrap();
        assert!(prefers_own_cold_items(&scores, u < 20), "content, user {u}: {scores:?}");
    }
    // Similar items of a cold item come from its own category.
    let similar = content.similar_items(ItemIdx(12), 3, &[]).unwrap();
    assert!(similar.iter().all(|s| s.item.0 < 15), "{similar:?}");
    for name in ["ials", "bpr", "ease", "item-knn"] {
        let model =
            name.parse::<ModelSpec>().unwrap().fit(&data, &FitContext::seeded(0).with_side(&side)).unwrap();
        model.score_user(UserIdx(0), &mut scores).unwrap();
        let cold: Vec<f32> = COLD_A.iter().chain(&COLD_B).map(|&i| scores[i as usize]).collect();
        assert!(cold.iter().all(|&s| s == cold[0]), "{name}: cold items should tie, got {cold:?}");
    }
}
