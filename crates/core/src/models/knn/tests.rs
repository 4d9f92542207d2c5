//! Known answers for the kNN models, computed by hand on a 3-user example.

use rand::Rng;

use super::*;
use crate::data::{Feedback, Interaction};
use crate::rng;

/// u0: i0 5, i1 3, i2 4, i3 1 · u1: i0 4, i1 2, i2 5 · u2: i1 1, i2 3, i3 2 (μ = 3).
fn data() -> Interactions {
    let rows: [&[(u32, f32)]; 3] = [
        &[(0, 5.0), (1, 3.0), (2, 4.0), (3, 1.0)],
        &[(0, 4.0), (1, 2.0), (2, 5.0)],
        &[(1, 1.0), (2, 3.0), (3, 2.0)],
    ];
    let mut e = Vec::new();
    for (u, row) in rows.iter().enumerate() {
        for &(i, value) in row.iter() {
            e.push(Interaction { user: UserIdx(u as u32), item: ItemIdx(i), value, ts: 0 });
        }
    }
    Interactions::new(3, 4, Feedback::Explicit, e).unwrap()
}

fn params(based: Based, similarity: Similarity, prediction: KnnPrediction) -> KnnParams {
    KnnParams { based, similarity, shrinkage: 0.0, prediction, ..KnnParams::user() }
}

fn fit(p: &KnnParams) -> KnnModel {
    p.fit(&data(), &FitContext::seeded(0)).unwrap()
}

/// The similarity the model stored between rows `a` and `b` (0 when not stored).
fn sim(m: &KnnModel, a: usize, b: u32) -> f64 {
    let (nb, sims) = m.neighbors(a).unwrap();
    nb.iter().position(|&x| x == b).map_or(0.0, |k| f64::from(sims[k]))
}

fn assert_close(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-5, "got {got}, want {want}");
}

#[test]
fn cosine_uses_full_norms_and_shrinks() {
    let m = fit(&params(Based::User, Similarity::Cosine, KnnPrediction::Basic));
    // ‖u0‖² = 51, ‖u1‖² = 45, ‖u2‖² = 14.
    assert_close(sim(&m, 0, 1), 46.0 / (51.0f64 * 45.0).sqrt());
    assert_close(sim(&m, 0, 2), 17.0 / (51.0f64 * 14.0).sqrt());
    assert_close(sim(&m, 1, 2), 17.0 / (45.0f64 * 14.0).sqrt());
    assert_eq!(m.neighbors(0).unwrap().0, &[1, 2], "sorted by similarity, self excluded");
    let shrunk =
        fit(&KnnParams { shrinkage: 2.0, ..params(Based::User, Similarity::Cosine, KnnPrediction::Basic) });
    // u1 and u2 share 2 items: × 2/(2+2).
    assert_close(sim(&shrunk, 1, 2), 17.0 / (45.0f64 * 14.0).sqrt() * 0.5);
}

#[test]
fn msd_and_pearson_over_co_rated_entries() {
    let msd = fit(&params(Based::User, Similarity::Msd, KnnPrediction::Basic));
    // Squared differences: u0·u1 (1+1+1)/3 = 1, u0·u2 (4+1+1)/3 = 2, u1·u2 (1+4)/2 = 2.5.
    assert_close(sim(&msd, 0, 1), 0.5);
    assert_close(sim(&msd, 0, 2), 1.0 / 3.0);
    assert_close(sim(&msd, 2, 1), 1.0 / 3.5);
    let pearson = fit(&params(Based::User, Similarity::Pearson, KnnPrediction::Basic));
    // u0·u1 on (5,3,4)/(4,2,5): centred (1,−1,0)/(1/3,−5/3,4/3): 2 / √(2 · 14/3).
    assert_close(sim(&pearson, 0, 1), 2.0 / (28.0f64 / 3.0).sqrt());
    // u0·u2 on (3,4,1)/(1,3,2): centred (1/3,4/3,−5/3)/(−1,1,0): 1 / √(14/3 · 2).
    assert_close(sim(&pearson, 2, 0), 1.0 / (28.0f64 / 3.0).sqrt());
    // u1·u2 on (2,5)/(1,3): two points, perfectly correlated.
    assert_close(sim(&pearson, 1, 2), 1.0);
}

#[test]
fn pearson_baseline_centres_on_baselines_and_shrinks() {
    let p = KnnParams {
        shrinkage: 1.0,
        ..params(Based::User, Similarity::PearsonBaseline, KnnPrediction::Basic)
    };
    let m = fit(&p);
    let b = Baselines::estimate(&data(), &BaselineParams::default(), &FitContext::seeded(0));
    let d = |u: usize, i: usize, r: f64| r - f64::from(b.mu) - f64::from(b.bu[u]) - f64::from(b.bi[i]);
    // u0·u1 share i0, i1, i2: ρ · (3−1)/(3−1+1).
    let a = [d(0, 0, 5.0), d(0, 1, 3.0), d(0, 2, 4.0)];
    let c = [d(1, 0, 4.0), d(1, 1, 2.0), d(1, 2, 5.0)];
    let dot: f64 = a.iter().zip(&c).map(|(x, y)| x * y).sum();
    let rho = dot / (a.iter().map(|x| x * x).sum::<f64>() * c.iter().map(|x| x * x).sum::<f64>()).sqrt();
    let want = rho * 2.0 / 3.0;
    assert!(want > 0.0, "the example needs a positive, stored similarity");
    assert_close(sim(&m, 0, 1), want);
    assert_close(sim(&m, 1, 0), want);
}

#[test]
fn predictions_follow_each_rule() {
    let s0 = 46.0 / (51.0f64 * 45.0).sqrt(); // sim(u1, u0), rated i3 = 1
    let s2 = 17.0 / (45.0f64 * 14.0).sqrt(); // sim(u1, u2), rated i3 = 2
    let predict = |p: &KnnParams| f64::from(fit(p).predict(UserIdx(1), ItemIdx(3)).unwrap());
    let basic = params(Based::User, Similarity::Cosine, KnnPrediction::Basic);
    assert_close(predict(&basic), (s0 * 1.0 + s2 * 2.0) / (s0 + s2));
    // Means: u0 13/4, u1 11/3, u2 2.
    let means = params(Based::User, Similarity::Cosine, KnnPrediction::WithMeans);
    assert_close(predict(&means), 11.0 / 3.0 + (s0 * (1.0 - 3.25) + s2 * 0.0) / (s0 + s2));
    let bsl = params(Based::User, Similarity::Cosine, KnnPrediction::WithBaseline(BaselineParams::default()));
    let b = Baselines::estimate(&data(), &BaselineParams::default(), &FitContext::seeded(0));
    let bui = |u: usize| f64::from(b.mu + b.bu[u] + b.bi[3]);
    let want = bui(1) + (s0 * (1.0 - bui(0)) + s2 * (2.0 - bui(2))) / (s0 + s2);
    assert_close(predict(&bsl), want);
    // k = 1 keeps only the closest rater, u0.
    assert_close(predict(&KnnParams { k: 1, ..basic.clone() }), 1.0);
    // Too few neighbours: global mean (Basic), the user's mean (WithMeans).
    assert_close(predict(&KnnParams { k: 3, min_k: 3, ..basic }), 3.0);
    assert_close(predict(&KnnParams { k: 3, min_k: 3, ..means }), 11.0 / 3.0);
}

#[test]
fn item_based_is_the_transpose() {
    let m = fit(&params(Based::Item, Similarity::Msd, KnnPrediction::Basic));
    assert_eq!(m.name(), "item-knn");
    // i0 vs i1 (users 0, 1): (4+4)/2 → 1/5; vs i2: (1+1)/2 → 1/2; vs i3 (user 0): 16 → 1/17.
    assert_close(sim(&m, 0, 1), 0.2);
    assert_close(sim(&m, 0, 2), 0.5);
    assert_close(sim(&m, 0, 3), 1.0 / 17.0);
    // u2 rated i1 = 1, i2 = 3, i3 = 2.
    let want = (0.2 * 1.0 + 0.5 * 3.0 + 2.0 / 17.0) / (0.2 + 0.5 + 1.0 / 17.0);
    assert_close(f64::from(m.predict(UserIdx(2), ItemIdx(0)).unwrap()), want);
    // Ranking for u2: Σ_j sim(j, i) · x_2j; item i0 gets 0.2·1 + 0.5·3 + 2/17.
    let mut out = [0f32; 4];
    m.score_user(UserIdx(2), &mut out).unwrap();
    assert_close(f64::from(out[0]), 0.2 + 1.5 + 2.0 / 17.0);
    let mut folded = [0f32; 4];
    m.score_history(&[(ItemIdx(3), 2.0), (ItemIdx(1), 1.0), (ItemIdx(2), 3.0)], &mut folded).unwrap();
    assert_eq!(out, folded);
    let similar = m.similar_items(ItemIdx(0), 2, &[ItemIdx(2)]).unwrap();
    let items: Vec<u32> = similar.iter().map(|s| s.item.0).collect();
    assert_eq!(items, [1, 3]);
}

#[test]
fn user_based_similar_items_are_column_cosines() {
    let m = fit(&params(Based::User, Similarity::Cosine, KnnPrediction::WithMeans));
    assert_eq!(m.name(), "user-knn");
    let similar = m.similar_items(ItemIdx(0), 3, &[]).unwrap();
    assert!(similar.iter().all(|s| s.item != ItemIdx(0)));
    // i0 = (5, 4, ·), i2 = (4, 5, 3): 40 / √(41 · 50).
    let i2 = similar.iter().find(|s| s.item == ItemIdx(2)).unwrap();
    assert_close(f64::from(i2.score), 40.0 / (41.0f64 * 50.0).sqrt());
    assert!(similar.windows(2).all(|w| w[0].score >= w[1].score));
}

/// A random explicit matrix big enough to exercise several rayon jobs.
fn random(n_users: usize, n_items: usize, seed: u64) -> Interactions {
    let mut r = rng::seeded(seed);
    let mut e = Vec::new();
    for u in 0..n_users {
        for i in 0..n_items {
            if r.random::<f32>() < 0.15 {
                let value = r.random_range(1..=5) as f32;
                e.push(Interaction { user: UserIdx(u as u32), item: ItemIdx(i as u32), value, ts: 0 });
            }
        }
    }
    Interactions::new(n_users, n_items, Feedback::Explicit, e).unwrap()
}

#[test]
fn fits_are_deterministic_and_symmetric() {
    let d = random(300, 120, 7);
    for p in [KnnParams::baseline(), KnnParams { similarity: Similarity::Pearson, ..KnnParams::user() }] {
        let a = p.fit(&d, &FitContext::seeded(1)).unwrap();
        let b = p.fit(&d, &FitContext::seeded(2)).unwrap();
        assert_eq!(a, b);
        let n = if p.based == Based::User { d.n_users() } else { d.n_items() };
        let mut stored = 0;
        for x in 0..n {
            let (nb, sims) = a.neighbors(x).unwrap();
            assert!(sims.windows(2).all(|w| w[0] >= w[1]) && sims.iter().all(|&s| s > 0.0));
            for (&x2, &s) in nb.iter().zip(sims) {
                assert_eq!(sim(&a, x2 as usize, x as u32), f64::from(s));
                stored += 1;
            }
        }
        assert!(stored > n, "the example must produce neighbours");
    }
}

#[test]
fn fold_in_of_own_history_matches_score_user() {
    let d = random(200, 80, 3);
    // k covers every user, so the fold-in's only extra neighbour is the user itself, whose
    // contribution lands on the excluded items.
    let p = KnnParams { k: 200, max_neighbors: 200, ..KnnParams::user() };
    let m = p.fit(&d, &FitContext::seeded(0)).unwrap();
    for u in [0u32, 17, 99] {
        let row = d.user(UserIdx(u));
        let history: Vec<(ItemIdx, f32)> = row.iter().map(|(i, v)| (ItemIdx(i), v)).collect();
        let seen: Vec<ItemIdx> = history.iter().map(|h| h.0).collect();
        let known = m.recommend(UserIdx(u), 10, &seen).unwrap();
        let folded = m.recommend_history(&history, 10, &seen).unwrap();
        assert_eq!(known.len(), 10);
        assert_eq!(known, folded);
    }
}

#[test]
fn validation_names_the_field() {
    let field = |p: KnnParams| p.validate().unwrap_err().field;
    assert_eq!(field(KnnParams { k: 0, ..KnnParams::user() }), "k");
    assert_eq!(field(KnnParams { min_k: 41, ..KnnParams::user() }), "min_k");
    assert_eq!(field(KnnParams { max_neighbors: 39, ..KnnParams::item() }), "max_neighbors");
    assert_eq!(field(KnnParams { shrinkage: -1.0, ..KnnParams::user() }), "shrinkage");
    assert_eq!(field(KnnParams { shrinkage: f32::INFINITY, ..KnnParams::user() }), "shrinkage");
    let bad = BaselineParams {
        method: crate::models::baseline::BaselineMethod::Als { epochs: 1, reg_u: -1.0, reg_i: 1.0 },
    };
    let err = KnnParams { prediction: KnnPrediction::WithBaseline(bad), ..KnnParams::baseline() }
        .validate()
        .unwrap_err();
    assert_eq!((err.model, err.field.as_ref()), ("knn-baseline", "reg_u"));
    for p in [KnnParams::user(), KnnParams::item(), KnnParams::baseline()] {
        assert_eq!(p.validate(), Ok(()));
    }
    let empty = Interactions::new(2, 2, Feedback::Explicit, vec![]).unwrap();
    assert!(matches!(KnnParams::user().fit(&empty, &FitContext::seeded(0)), Err(FitError::EmptyData { .. })));
    let m = fit(&KnnParams::user());
    assert!(matches!(m.predict(UserIdx(3), ItemIdx(0)), Err(ModelError::UnknownUser { .. })));
    assert!(matches!(m.similar_items(ItemIdx(4), 1, &[]), Err(ModelError::UnknownItem { .. })));
}

#[test]
fn both_neighbour_routes_choose_the_same_raters() {
    let d = random(150, 60, 11);
    // Small k favours walking the list, large k probing it per rater: both are exercised.
    let (user, item) = (KnnParams::user(), KnnParams::item());
    for p in [1, 2, 5, 40]
        .map(|k| KnnParams { k, ..user.clone() })
        .into_iter()
        .chain([1, 3].map(|k| KnnParams { k, ..item.clone() }))
    {
        let m = p.fit(&d, &FitContext::seeded(0)).unwrap();
        for x in 0..m.rows.n_rows() {
            let (nb, sims) = m.neighbors.of(x);
            for y in 0..m.cols.n_rows() as u32 {
                // The reference route: walk x's list, keep the first k neighbours that rated y.
                let walked: Vec<(u32, f32, f32)> = nb
                    .iter()
                    .zip(sims)
                    .filter_map(|(&x2, &s)| m.rows.get(x2 as usize, y).map(|r| (x2, s, r)))
                    .take(m.k)
                    .collect();
                assert_eq!(m.first_k_raters(x, y), walked);
            }
        }
    }
}
