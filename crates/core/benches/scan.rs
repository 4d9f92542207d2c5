//! Ranking a large catalog for one user: the exact `f32` scan against the bounded one
//! (`Recommender::bounded`: 8-bit item rows give upper bounds, `top_bounded` scores exactly only
//! the items that can still make the list). Both give the same list; the bench checks that for
//! every query, and reports times and how many items the bounded search scored exactly.
//!
//! The model is iALS (2 iterations) on clustered random data: users and items fall in 200 groups
//! and 80% of a user's picks are from their group, so the factors have the structure of a shop's
//! rather than of noise. "category" ranks a random 2% of the catalog (a category filter), its
//! bounds gathered from the catalog's rows or read from a block of its own (`Recommender::block`).
//!
//! `cargo bench -p aisle-core --bench scan -- [ITEMS] [FACTORS]` (default 1,000,000 and 64).
//! Prints medians over 500 users, three passes each; figures go to docs/benchmarks.md.
#![expect(clippy::print_stdout, reason = "a benchmark reports its figures")]

use std::time::Instant;

use aisle_core::models::registry::ModelSpec;
use aisle_core::{
    Block, Feedback, FitContext, Interaction, Interactions, ItemIdx, Query, Recommender, UserIdx,
    top_bounded, top_k,
};
use rand::Rng;

const N: usize = 10;
const GROUPS: u32 = 200;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The exact list of `items` (None: the catalog) for `user`, and its time in ms.
fn exact(model: &dyn Recommender, user: UserIdx, items: Option<&[ItemIdx]>) -> (Vec<u32>, f64) {
    let t = Instant::now();
    let mut out = vec![0f32; items.map_or(model.n_items(), <[ItemIdx]>::len)];
    match items {
        None => model.score_user(user, &mut out).expect("scores"),
        Some(at) => model.score_user_items(user, at, &mut out).expect("scores"),
    }
    let top = top_k(&out, N).iter().map(|s| s.item.0).collect();
    (top, t.elapsed().as_secs_f64() * 1e3)
}

/// The bounded search's list, its time in ms and the items it scored exactly.
fn bounded(
    model: &dyn Recommender,
    user: UserIdx,
    items: Option<&[ItemIdx]>,
    block: Option<&Block>,
) -> (Vec<u32>, f64, usize) {
    let t = Instant::now();
    let scorer = model.bounded(Query::User(user)).expect("query").expect("a factor model bounds");
    let mut upper = vec![0f32; items.map_or(model.n_items(), <[ItemIdx]>::len)];
    match block {
        Some(b) => scorer.upper_block(b, &mut upper).expect("bounds"),
        None => scorer.upper(items, &mut upper).expect("bounds"),
    }
    let (top, scored) = top_bounded(
        &upper,
        N,
        |at: &[ItemIdx], out: &mut [f32]| match items {
            None => scorer.exact(at, out),
            Some(c) => scorer.exact(&at.iter().map(|p| c[p.index()]).collect::<Vec<_>>(), out),
        },
        |pos, _| Some(pos.0),
    )
    .expect("exact");
    (top, t.elapsed().as_secs_f64() * 1e3, scored)
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let items = args.first().copied().unwrap_or(1_000_000);
    let factors = args.get(1).copied().unwrap_or(64);
    let users = items / 2;
    let mut rng = aisle_core::rng::seeded(1);
    let group = |i: u32| i % GROUPS;
    let entries: Vec<Interaction> = (0..users * 10)
        .map(|k| {
            let user = (k / 10) as u32;
            let item = if rng.random_bool(0.8) {
                rng.random_range(0..items as u32 / GROUPS) * GROUPS + group(user)
            } else {
                rng.random_range(0..items as u32)
            };
            Interaction { user: UserIdx(user), item: ItemIdx(item), value: 1.0, ts: 0 }
        })
        .collect();
    let data = Interactions::new(users, items, Feedback::Implicit, entries).expect("valid");
    let mut spec: ModelSpec = "ials".parse().expect("known");
    spec.merge(&serde_json::json!({ "factors": factors, "iterations": 2 })).expect("valid");
    let t = Instant::now();
    let model = spec.fit(&data, &FitContext::seeded(1)).expect("fits");
    println!("fit: {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    model.prepare();
    println!("8-bit rows: {:.2} s", t.elapsed().as_secs_f64());

    let mut category: Vec<ItemIdx> =
        (0..items as u32).filter(|_| rng.random_bool(0.02)).map(ItemIdx).collect();
    category.sort_unstable();
    let queries: Vec<UserIdx> = (0..500).map(|_| UserIdx(rng.random_range(0..users as u32))).collect();
    let t = Instant::now();
    let block = model.block(&category).expect("items").expect("a block");
    println!("category block: {:.1} ms, {} bytes", t.elapsed().as_secs_f64() * 1e3, block.bytes());
    for (name, subset, block) in [
        ("catalog", None, None),
        ("category, gathered", Some(category.as_slice()), None),
        ("category, block", Some(category.as_slice()), Some(&block)),
    ] {
        let (mut te, mut tb, mut scored) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            for &u in &queries {
                let (le, e) = exact(&model, u, subset);
                let (lb, b, s) = bounded(&model, u, subset, block);
                assert_eq!(le, lb, "user {}: the bounded list is the exact one", u.0);
                te.push(e);
                tb.push(b);
                scored.push(s as f64);
            }
        }
        let len = subset.map_or(items, <[ItemIdx]>::len);
        let (e, b) = (median(te), median(tb));
        println!(
            "{name} ({len} items × {factors}): exact {e:.3} ms, bounded {b:.3} ms ({:.2}×), scored exactly: median {:.0}, max {:.0}; lists identical for {} queries",
            e / b,
            median(scored.clone()),
            scored.iter().copied().fold(0.0, f64::max),
            scored.len()
        );
    }
}
