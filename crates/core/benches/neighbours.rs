//! Similar-item lists of a whole catalog (`Recommender::similar_lists`) and full-catalog scoring
//! (`score_user`, one dense mat-vec per user), on an iALS model of random data.
//!
//! `cargo bench -p aisle-core --bench neighbours -- [ITEMS] [FACTORS]` (default 100,000 and 64).
//! Prints the median of three runs of each; figures go to docs/benchmarks.md.
#![expect(clippy::print_stdout, reason = "a benchmark reports its figures")]

use std::time::Instant;

use aisle_core::models::registry::ModelSpec;
use aisle_core::{Feedback, FitContext, Interaction, Interactions, ItemIdx, Recommender, UserIdx};
use rand::Rng;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let items = args.first().copied().unwrap_or(100_000);
    let factors = args.get(1).copied().unwrap_or(64);
    let users = items / 2;
    let mut rng = aisle_core::rng::seeded(1);
    let entries: Vec<Interaction> = (0..users * 10)
        .map(|k| Interaction {
            user: UserIdx((k / 10) as u32),
            item: ItemIdx(rng.random_range(0..items as u32)),
            value: 1.0,
            ts: 0,
        })
        .collect();
    let data = Interactions::new(users, items, Feedback::Implicit, entries).expect("valid");
    let mut spec: ModelSpec = "ials".parse().expect("known");
    spec.merge(&serde_json::json!({ "factors": factors, "iterations": 2 })).expect("valid");
    let model = spec.fit(&data, &FitContext::seeded(1)).expect("fits");

    let lists: Vec<f64> = (0..3)
        .map(|_| {
            let t = Instant::now();
            let l = model.similar_lists(50).expect("lists");
            assert_eq!(l.len(), items);
            t.elapsed().as_secs_f64()
        })
        .collect();
    println!(
        "similar_lists(50), {items} items × {factors} factors: median {:.2} s {lists:.2?}",
        median(lists.clone())
    );

    let mut out = vec![0f32; items];
    let scans: Vec<f64> = (0..3)
        .map(|_| {
            let t = Instant::now();
            for u in 0..1000 {
                model.score_user(UserIdx(u), &mut out).expect("scores");
            }
            t.elapsed().as_secs_f64() * 1e3 / 1000.0
        })
        .collect();
    println!(
        "score_user, {items} items × {factors} factors: median {:.3} ms a user {scans:.3?}",
        median(scans.clone())
    );
}
