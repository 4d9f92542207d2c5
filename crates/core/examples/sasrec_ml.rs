//! A throwaway measurement harness for SASRec (not part of the library):
//!
//! - `sasrec_ml ml100k PATH/u.data [--seeds 1,2,3] [--set key=value ...]`
//! - `sasrec_ml mlsmall PATH/movielens.csv [...]` (or `ratings.csv`): MovieLens with the leave-last-one split (per
//!   user, events ordered by (timestamp, line), stable: last = test, second-to-last =
//!   validation, the rest = train). SASRec fits on train + validation with `validation =
//!   last_item`, so its internal hold-out is exactly the validation item; the test item is
//!   ranked against the full catalog minus the user's train and validation items (history =
//!   train + validation). Prints NDCG@10, HR@10, HR@20, MRR@20, fit seconds and epochs per seed,
//!   their medians, and popularity's figures.
//! - `sasrec_ml synth --users U --items I --events E [--set ...]`: fit time at scale on a
//!   synthetic sequential shop (run under `/usr/bin/time -v` for peak memory).
//! - `sasrec_ml latency --items I --history H [--reps R]`: one-core p50/p99 of scoring an
//!   `H`-item history against `I` items.
#![expect(clippy::print_stdout, reason = "a measurement harness reports on stdout")]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use aisle_core::models::registry::ModelSpec;
use aisle_core::{
    Control, Feedback, FitContext, Interaction, Interactions, ItemIdx, Observer, Progress, Recommender,
    SeqEvent, Sequences, UserIdx,
};
use rand::Rng;

/// As the `aisle` binary (glibc's allocator would hand every large tensor fresh pages).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Counts epochs and keeps the losses; with a split, prints each epoch's test NDCG@10 (a trace
/// for looking, never for choosing).
#[derive(Default)]
struct Epochs<'a> {
    losses: Mutex<Vec<f64>>,
    trace: Option<&'a Split>,
}

impl Observer for Epochs<'_> {
    fn progress(&self, p: &Progress) -> Control {
        if let Ok(mut v) = self.losses.lock() {
            v.push(p.loss.unwrap_or(f64::NAN));
        }
        Control::Continue
    }

    fn wants_checkpoints(&self) -> bool {
        self.trace.is_some()
    }

    fn checkpoint(&self, p: &Progress, model: &dyn Recommender) -> Control {
        if let Some(split) = self.trace {
            let m = evaluate(split, |u, s| model.score_user(UserIdx(u as u32), s).expect("known user"));
            println!(
                "  epoch {} loss {:.4} test NDCG@10 {:.4}",
                p.done,
                p.loss.unwrap_or(f64::NAN),
                m.ndcg10
            );
        }
        self.progress(p)
    }
}

struct Split {
    n_users: usize,
    n_items: usize,
    /// Per user: train + validation items, oldest first, with their times.
    history: Vec<Vec<(u32, i64)>>,
    test: Vec<Option<u32>>,
}

/// `(user, item, ts)` in file order. `ml100k`: `user TAB item TAB rating TAB ts`. `mlsmall`: a
/// CSV with a header naming `userId`, `movieId` and `timestamp` (`ratings.csv`, or the
/// `movielens.csv` that joins titles, whose `title` may hold commas: columns after it are
/// counted from the end of the line).
fn read_events(kind: &str, path: &str) -> Result<Vec<(String, String, i64)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut lines = text.lines().enumerate();
    let (user_col, item_col, ts_col) = if kind == "ml100k" {
        (Col::Start(0), Col::Start(1), Col::Start(3))
    } else {
        let header: Vec<&str> = lines.next().ok_or("empty file")?.1.split(',').collect();
        let title = header.iter().position(|&h| h == "title").unwrap_or(header.len());
        let col = |name: &str| -> Result<Col, String> {
            let i = header.iter().position(|&h| h == name).ok_or(format!("no column {name}"))?;
            Ok(if i < title { Col::Start(i) } else { Col::End(header.len() - i) })
        };
        (col("userId")?, col("movieId")?, col("timestamp")?)
    };
    let mut out = Vec::new();
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> =
            if kind == "ml100k" { line.split('\t').collect() } else { line.split(',').collect() };
        let bad = || format!("line {}: bad", n + 1);
        let get = |c: Col| match c {
            Col::Start(i) => f.get(i).copied(),
            Col::End(k) => f.len().checked_sub(k).and_then(|i| f.get(i).copied()),
        };
        let ts = get(ts_col).and_then(|t| t.trim().parse::<i64>().ok()).ok_or_else(bad)?;
        let (user, item) = (get(user_col).ok_or_else(bad)?, get(item_col).ok_or_else(bad)?);
        out.push((user.to_owned(), item.to_owned(), ts));
    }
    Ok(out)
}

/// A column counted from the start of a line, or from its end (1 = the last).
#[derive(Clone, Copy)]
enum Col {
    Start(usize),
    End(usize),
}

fn leave_last_one(events: Vec<(String, String, i64)>) -> Split {
    let (mut users, mut items) = (HashMap::new(), HashMap::new());
    let mut per_user: Vec<Vec<(u32, i64)>> = Vec::new();
    for (u, i, ts) in events {
        let n_u = users.len();
        let u = *users.entry(u).or_insert(n_u);
        let n_i = items.len() as u32;
        let i = *items.entry(i).or_insert(n_i);
        if u == per_user.len() {
            per_user.push(Vec::new());
        }
        per_user[u].push((i, ts));
    }
    let mut test = Vec::with_capacity(per_user.len());
    for seq in &mut per_user {
        seq.sort_by_key(|&(_, ts)| ts); // stable: file order breaks ties
        test.push(if seq.len() >= 3 { seq.pop().map(|(i, _)| i) } else { None });
    }
    Split { n_users: per_user.len(), n_items: items.len(), history: per_user, test }
}

fn fit_data(split: &Split) -> (Interactions, Sequences) {
    let mut entries = Vec::new();
    let mut events = Vec::new();
    for (u, seq) in split.history.iter().enumerate() {
        let user = UserIdx(u as u32);
        for &(i, ts) in seq {
            entries.push(Interaction { user, item: ItemIdx(i), value: 1.0, ts });
            events.push(SeqEvent { user, item: ItemIdx(i), ts, session: None });
        }
    }
    let data = Interactions::new(split.n_users, split.n_items, Feedback::Implicit, entries).expect("valid");
    let seqs = Sequences::new(split.n_users, split.n_items, events, i64::MAX).expect("valid");
    (data, seqs)
}

#[derive(Clone, Copy, Debug, Default)]
struct Metrics {
    ndcg10: f64,
    hr10: f64,
    hr20: f64,
    mrr20: f64,
}

/// Full-ranking metrics of the test items; `score(u, out)` fills every item's score.
fn evaluate(split: &Split, score: impl Fn(usize, &mut [f32]) + Sync) -> Metrics {
    use rayon::prelude::*;
    let per_user: Vec<Option<usize>> = (0..split.n_users)
        .into_par_iter()
        .map_init(
            || vec![0f32; split.n_items],
            |s, u| {
                let target = split.test[u]?;
                score(u, s);
                for &(i, _) in &split.history[u] {
                    s[i as usize] = f32::NEG_INFINITY;
                }
                let st = s[target as usize];
                Some(1 + s.iter().filter(|&&x| x > st).count())
            },
        )
        .collect();
    let ranks: Vec<usize> = per_user.into_iter().flatten().collect();
    let n = ranks.len() as f64;
    let mean = |f: &dyn Fn(usize) -> f64| ranks.iter().map(|&r| f(r)).sum::<f64>() / n;
    Metrics {
        ndcg10: mean(&|r| if r <= 10 { 1.0 / ((r + 1) as f64).log2() } else { 0.0 }),
        hr10: mean(&|r| f64::from(u8::from(r <= 10))),
        hr20: mean(&|r| f64::from(u8::from(r <= 20))),
        mrr20: mean(&|r| if r <= 20 { 1.0 / r as f64 } else { 0.0 }),
    }
}

fn spec(sets: &[String]) -> Result<ModelSpec, String> {
    let mut spec: ModelSpec = "sasrec".parse().map_err(|e| format!("{e}"))?;
    for s in sets {
        let (k, v) = s.split_once('=').ok_or(format!("--set {s}: not key=value"))?;
        spec.set(k, v).map_err(|e| e.to_string())?;
    }
    Ok(spec)
}

/// The model's bytes (JSON: every float written exactly).
fn postcard_like(model: &aisle_core::models::registry::Model) -> Vec<u8> {
    serde_json::to_vec(model).unwrap_or_default()
}

/// FNV-1a, to compare models across runs.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn movielens(kind: &str, path: &str, seeds: &[u64], sets: &[String], trace: bool) -> Result<(), String> {
    let split = leave_last_one(read_events(kind, path)?);
    let (data, seqs) = fit_data(&split);
    println!(
        "{kind}: {} users, {} items, {} train+validation events",
        split.n_users,
        split.n_items,
        data.nnz()
    );
    let counts = data.item_counts();
    let pop = evaluate(&split, |_, s| {
        for (o, &c) in s.iter_mut().zip(&counts) {
            *o = c as f32;
        }
    });
    println!("popularity: {pop:?}");
    let spec = spec(sets)?;
    println!("params: {}", spec.params());
    let mut rows = Vec::new();
    for &seed in seeds {
        let epochs = Epochs { trace: trace.then_some(&split), ..Epochs::default() };
        let start = Instant::now();
        let ctx = FitContext::seeded(seed).with_sequences(&seqs).with_observer(&epochs);
        let model = spec.fit(&data, &ctx).map_err(|e| e.to_string())?;
        let secs = start.elapsed().as_secs_f64();
        let m = evaluate(&split, |u, s| model.score_user(UserIdx(u as u32), s).expect("known user"));
        let losses = epochs.losses.lock().map(|v| v.clone()).unwrap_or_default();
        println!(
            "seed {seed}: {m:?} fit {secs:.1} s, {} epochs, last loss {:.4}, model hash {:016x}",
            losses.len(),
            losses.last().copied().unwrap_or(f64::NAN),
            fnv(&postcard_like(&model))
        );
        rows.push((m, secs, losses.len() as f64));
    }
    let med = |f: &dyn Fn(&(Metrics, f64, f64)) -> f64| median(rows.iter().map(f).collect());
    println!(
        "median of {} seeds: NDCG@10 {:.4} HR@10 {:.4} HR@20 {:.4} MRR@20 {:.4} fit {:.1} s epochs {}",
        rows.len(),
        med(&|r| r.0.ndcg10),
        med(&|r| r.0.hr10),
        med(&|r| r.0.hr20),
        med(&|r| r.0.mrr20),
        med(&|r| r.1),
        med(&|r| r.2)
    );
    Ok(())
}

/// A synthetic shop: 100-item clusters; a user's next item stays in the cluster of the last one
/// with probability 0.8 (a Zipf-ish pick inside it), else any item, Zipf-ish overall.
fn synth(users: usize, items: usize, events: usize, seed: u64) -> (Interactions, Sequences) {
    let mut rng = aisle_core::rng::seeded(seed);
    let per_user = events / users;
    let zipf = |rng: &mut aisle_core::rng::SeededRng, n: usize| {
        let x: f64 = rng.random::<f64>();
        ((n as f64).powf(x) - 1.0) as usize % n
    };
    let mut entries = Vec::with_capacity(events);
    let mut seq = Vec::with_capacity(events);
    for u in 0..users {
        let user = UserIdx(u as u32);
        let mut item = zipf(&mut rng, items);
        let mut seen = std::collections::HashSet::new();
        let len = rng.random_range(per_user / 2..=per_user * 3 / 2);
        for t in 0..len {
            if seen.insert(item) {
                entries.push(Interaction { user, item: ItemIdx(item as u32), value: 1.0, ts: t as i64 });
            }
            seq.push(SeqEvent { user, item: ItemIdx(item as u32), ts: t as i64, session: None });
            item = if rng.random::<f32>() < 0.8 {
                let base = item / 100 * 100;
                (base + zipf(&mut rng, 100)).min(items - 1)
            } else {
                zipf(&mut rng, items)
            };
        }
    }
    let data = Interactions::new(users, items, Feedback::Implicit, entries).expect("valid");
    let seqs = Sequences::new(users, items, seq, i64::MAX).expect("valid");
    (data, seqs)
}

fn scale(args: &Args) -> Result<(), String> {
    let (data, seqs) = synth(args.users, args.items, args.events, 1);
    println!(
        "synth: {} users, {} items, {} steps, {} pairs",
        data.n_users(),
        data.n_items(),
        seqs.n_steps(),
        data.nnz()
    );
    let spec = spec(&args.sets)?;
    println!("params: {}", spec.params());
    let epochs = Epochs::default();
    let start = Instant::now();
    let ctx = FitContext::seeded(1).with_sequences(&seqs).with_observer(&epochs);
    let model = spec.fit(&data, &ctx).map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let losses = epochs.losses.lock().map(|v| v.clone()).unwrap_or_default();
    println!(
        "fit {secs:.1} s, {} epochs ({:.1} s each), losses {losses:.3?}",
        losses.len(),
        secs / losses.len().max(1) as f64
    );
    let bytes = serde_json::to_vec(&model).map_err(|e| e.to_string())?.len();
    println!("model as JSON: {:.1} MB", bytes as f64 / 1e6);
    Ok(())
}

fn latency(args: &Args) -> Result<(), String> {
    // A model over `items` items, fitted for one epoch on a few short sequences: weights are
    // irrelevant to the cost of scoring.
    let (data, seqs) = synth(2000, args.items, 20_000, 2);
    let mut spec = spec(&args.sets)?;
    spec.merge(&serde_json::json!({"epochs": 1, "validation": "none"})).map_err(|e| e.to_string())?;
    let model = spec.fit(&data, &FitContext::seeded(1).with_sequences(&seqs)).map_err(|e| e.to_string())?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| e.to_string())?;
    let mut rng = aisle_core::rng::seeded(3);
    let mut out = vec![0f32; args.items];
    let mut times = Vec::with_capacity(args.reps);
    pool.install(|| {
        for r in 0..args.reps + 50 {
            let history: Vec<(ItemIdx, f32)> =
                (0..args.history).map(|_| (ItemIdx(rng.random_range(0..args.items as u32)), 1.0)).collect();
            let start = Instant::now();
            model.score_history(&history, &mut out).expect("known items");
            let top = aisle_core::top_k(&out, 10);
            let t = start.elapsed().as_secs_f64() * 1e3;
            assert_eq!(top.len(), 10);
            if r >= 50 {
                times.push(t);
            }
        }
    });
    times.sort_by(f64::total_cmp);
    let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!(
        "score_history + top 10, {}-item history, {} items, one core, {} reps: p50 {:.2} ms p90 {:.2} ms p99 {:.2} ms max {:.2} ms",
        args.history,
        args.items,
        args.reps,
        q(0.5),
        q(0.9),
        q(0.99),
        times[times.len() - 1]
    );
    Ok(())
}

struct Args {
    mode: String,
    path: String,
    seeds: Vec<u64>,
    sets: Vec<String>,
    users: usize,
    items: usize,
    events: usize,
    history: usize,
    reps: usize,
    trace: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        mode: String::new(),
        path: String::new(),
        seeds: vec![1, 2, 3],
        sets: Vec::new(),
        users: 20_000,
        items: 50_000,
        events: 1_000_000,
        history: 50,
        reps: 1000,
        trace: false,
    };
    let mut it = std::env::args().skip(1);
    a.mode = it.next().ok_or("usage: sasrec_ml ml100k|mlsmall PATH | synth | latency [options]")?;
    let num = |v: Option<String>| v.and_then(|s| s.parse::<usize>().ok()).ok_or("a number expected");
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seeds" => {
                a.seeds = it.next().unwrap_or_default().split(',').filter_map(|s| s.parse().ok()).collect();
            }
            "--set" => a.sets.push(it.next().unwrap_or_default()),
            "--users" => a.users = num(it.next())?,
            "--items" => a.items = num(it.next())?,
            "--events" => a.events = num(it.next())?,
            "--history" => a.history = num(it.next())?,
            "--reps" => a.reps = num(it.next())?,
            "--trace" => a.trace = true,
            _ if a.path.is_empty() => a.path = arg,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() -> Result<(), String> {
    let args = parse()?;
    match args.mode.as_str() {
        "ml100k" | "mlsmall" => movielens(&args.mode, &args.path, &args.seeds, &args.sets, args.trace),
        "synth" => scale(&args),
        "latency" => latency(&args),
        other => Err(format!("unknown mode {other}")),
    }
}
