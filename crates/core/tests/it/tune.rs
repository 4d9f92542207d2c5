//! Hyperparameter search with real fits: a known-best setting by construction, and early
//! stopping of an iterative fit on a validation metric.

use aisle_core::eval::{RankingOptions, evaluate_ranking};
use aisle_core::models::registry::ModelSpec;
use aisle_core::tune::{Dimension, EarlyStopping, Metric, Outcome, Search, TuneError, tune};
use aisle_core::{Feedback, FitContext, Interaction, Interactions, ItemIdx, UserIdx};

use crate::conformance::{checkerboard, held_out};

/// Users 0..30 touched the old hits 0..5 long ago, users 0..10 the new hits 5..10 just now;
/// users 30..40 touched only item 10. In validation, users 30..40 pick the new hits. Counting
/// users ranks the old hits first (30 users against 10); a short trending half-life ranks the
/// new ones first: the best half-life is the short one, by construction.
fn trend_data() -> (Interactions, Interactions) {
    let e = |u: u32, i: u32, ts: i64| Interaction { user: UserIdx(u), item: ItemIdx(i), value: 1.0, ts };
    let mut train = Vec::new();
    for u in 0..30 {
        train.extend((0..5).map(|i| e(u, i, 100)));
    }
    for u in 0..10 {
        train.extend((5..10).map(|i| e(u, i, 1_000_000)));
    }
    train.extend((30..40).map(|u| e(u, 10, 999_000)));
    let validation: Vec<Interaction> =
        (30..40).flat_map(|u| (5..10).map(move |i| e(u, i, 1_000_100))).collect();
    let m = |v| Interactions::new(40, 11, Feedback::Implicit, v).expect("valid");
    (m(train), m(validation))
}

#[test]
fn grid_search_finds_the_known_best_trending_half_life() {
    let (train, validation) = trend_data();
    let base: ModelSpec = "trending".parse().unwrap();
    let dims = [Dimension::parse("half_life_s=1000000000,3600,100000000").unwrap()];
    let opts = RankingOptions { k: 5, ..RankingOptions::default() };
    let trials = tune::<TuneError>(&base, &dims, Search::Grid, 0, |_, spec| {
        let model = spec.fit(&train, &FitContext::seeded(0)).expect("fits");
        let m = evaluate_ranking(&model, &train, &validation, &opts).expect("evaluates");
        Ok(Outcome { score: m.ndcg, best_step: None, steps_run: None, seconds: 0.0 })
    })
    .unwrap();
    assert_eq!(trials.len(), 3);
    assert_eq!(trials[0].params["half_life_s"], 3600.0, "{trials:?}");
    assert_eq!(trials[0].outcome.score, 1.0, "the new hits fill the top 5");
    assert!(trials[1].outcome.score < 0.5, "long half-lives rank the old hits first");
    assert_eq!(trials[0].number, 2);
}

#[test]
fn early_stopping_stops_a_saturated_fit_and_keeps_its_best_step() {
    let train = checkerboard();
    // Validation: each user's held-out item.
    let held: Vec<Interaction> =
        (0..40).map(|u| Interaction { user: UserIdx(u), item: held_out(u), value: 5.0, ts: 0 }).collect();
    let validation = Interactions::new(40, 20, Feedback::Explicit, held).unwrap();
    let mut spec: ModelSpec = "ials".parse().unwrap();
    spec.merge(&serde_json::json!({"factors": 8, "reg": 0.1, "iterations": 50})).unwrap();
    let opts = RankingOptions { k: 1, ..RankingOptions::default() };
    let stop = EarlyStopping::new(&train, &validation, opts.clone(), Metric::Ndcg, 5);
    spec.fit(&train, &FitContext::seeded(1).with_observer(&stop)).unwrap();
    let best = stop.best();
    // The metric plateaus within a few iterations (HitRate@1 ≥ 0.9: ALS converges fast on this
    // data), so five checkpoints without improvement end the fit long before 50 iterations.
    assert!(best.score.is_some_and(|s| s >= 0.9), "{best:?}");
    let step = best.step.expect("a best step");
    assert!(best.steps < 50 && best.steps == step + 5, "{best:?}");
    // Without patience the fit runs to the end and still knows its best step.
    let all = EarlyStopping::new(&train, &validation, opts, Metric::Ndcg, 0);
    spec.fit(&train, &FitContext::seeded(1).with_observer(&all)).unwrap();
    assert_eq!((all.best().steps, all.best().step), (50, Some(step)));
}
