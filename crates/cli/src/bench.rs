//! `aisle bench`: speed measurements that need more than `aisle eval` — fitting on a large
//! dense-id matrix (the scale benchmark run side by side with `implicit`), and raw top-k.
//!
//! Times are wall-clock medians over `--rounds`; peak memory is measured from outside, with
//! `/usr/bin/time -v` (its "Maximum resident set size" line).

use std::path::PathBuf;
use std::time::Instant;

use aisle_core::models::registry::ModelSpec;
use aisle_core::{Feedback, FitContext, ItemIdx, Recommender, UserIdx, top_k};
use aisle_ingest::read_dense_matrix;
use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::eval::parse_specs;
use crate::report::{self, OutputArg, Table};

/// Arguments of `aisle bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchCommand,
}

/// What to measure.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Fit models on a dense-id `user<TAB>item[<TAB>value]` file (0-based ids, e.g. the output of
    /// `../shared/bench/synth_matrix.py`), then recommend the top 10 to the first users.
    Fit(FitArgs),
    /// Exact top-k selection over random score vectors, with and without exclusions.
    Topk(TopkArgs),
    /// The impact and experiment reports over a store filled with a shop's worth of events,
    /// impressions and experiment units.
    Impact(crate::bench_impact::ImpactBenchArgs),
    /// Similar-item lists of the store's serving model from the cluster index, at each recall
    /// asked for: clusters, probe, candidates per item, the recall reached and the time (what
    /// `training.similar_min_recall` would cost on this catalog).
    Lists(ListsArgs),
}

/// Arguments of `aisle bench lists`.
#[derive(Debug, Args)]
pub struct ListsArgs {
    /// Config and store.
    #[command(flatten)]
    pub store: crate::serve::StoreArgs,
    /// The recalls@10 to reach (comma-separated, each in [0, 1]).
    #[arg(long, value_delimiter = ',', default_value = "0.95")]
    pub min_recall: Vec<f64>,
    /// List length.
    #[arg(long, default_value_t = 50)]
    pub depth: usize,
    /// Items whose exact lists measure the recall.
    #[arg(long, default_value_t = 256)]
    pub sample: usize,
    /// Seed of the sample and the index.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output form.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputArg,
}

/// One recall's figures in `aisle bench lists`.
#[derive(Debug, Serialize)]
struct ListFigures {
    min_recall: f64,
    clusters: usize,
    probe: usize,
    candidates: f64,
    recall_at_10: f64,
    recall_at_depth: f64,
    seconds: f64,
}

/// Arguments of `aisle bench fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// The matrix file.
    #[arg(long)]
    pub matrix: PathBuf,
    /// Comma-separated models.
    #[arg(long, value_delimiter = ',', default_value = "ials")]
    pub models: Vec<String>,
    /// Override a model parameter: MODEL.PATH=VALUE (repeatable).
    #[arg(long = "param", value_name = "MODEL.PATH=VALUE")]
    pub params: Vec<String>,
    /// Fits per model; the report gives the median.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Users to recommend the top 10 to after each fit (as implicit_synth.py does).
    #[arg(long, default_value_t = 1000)]
    pub recommend_users: usize,
    /// Seed of the models.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output form.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputArg,
}

/// Arguments of `aisle bench topk`.
#[derive(Debug, Args)]
pub struct TopkArgs {
    /// Items per score vector.
    #[arg(long, default_value_t = 100_000)]
    pub items: usize,
    /// The k of top-k.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Excluded items per call.
    #[arg(long, default_value_t = 100)]
    pub exclude: usize,
    /// Calls timed.
    #[arg(long, default_value_t = 2000)]
    pub calls: usize,
}

/// One model's figures in `aisle bench fit`.
#[derive(Debug, Serialize)]
struct FitFigures {
    model: String,
    params: serde_json::Value,
    fit_s: Vec<f64>,
    median_fit_s: f64,
    recommend_s: f64,
}

/// Runs the benchmark.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    match &args.what {
        BenchCommand::Fit(a) => fit(a),
        BenchCommand::Topk(a) => topk(a),
        BenchCommand::Impact(a) => crate::bench_impact::run(a),
        BenchCommand::Lists(a) => lists(a),
    }
}

fn lists(args: &ListsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.min_recall.iter().all(|r| (0.0..=1.0).contains(r)),
        "--min-recall: each must be a number from 0 to 1"
    );
    anyhow::ensure!((1..=1000).contains(&args.depth), "--depth must be 1..=1000");
    anyhow::ensure!((1..=100_000).contains(&args.sample), "--sample must be 1..=100000");
    let config = args.store.config(Vec::new())?;
    let artifact = tokio::runtime::Runtime::new()?.block_on(async {
        use aisle_store::Store;
        let store = aisle_store::AnyStore::open(&config.store.url()).await?;
        let active =
            store.active_model().await?.context("the store has no serving model: train one first")?;
        let bytes =
            store.model_artifact(active.version).await?.context("the serving model's artifact is missing")?;
        anyhow::Ok(aisle_engine::Artifact::decode(active.version, &bytes)?)
    })?;
    let model = &artifact.model;
    let mut figures = Vec::new();
    for &min_recall in &args.min_recall {
        let index = aisle_core::ListIndex { min_recall, sample: args.sample, seed: args.seed };
        let t = Instant::now();
        let got = model
            .similar_lists_indexed(args.depth, &index)?
            .with_context(|| format!("model {} has no cluster index for similar items", model.name()))?;
        figures.push(ListFigures {
            min_recall,
            clusters: got.clusters,
            probe: got.probe,
            candidates: got.candidates,
            recall_at_10: got.recall_at_10,
            recall_at_depth: got.recall_at_depth,
            seconds: t.elapsed().as_secs_f64(),
        });
        let tried: Vec<String> = got.tried.iter().map(|(p, r)| format!("{p} → {r:.4}")).collect();
        report::note(&format!(
            "min recall {min_recall}: {:.1} s; recall@10 of the sample by probe: {}",
            t.elapsed().as_secs_f64(),
            tried.join(", ")
        ));
    }
    let table = Table {
        headers: ["min recall@10", "clusters", "probe", "candidates/item", "recall@10", "recall@depth", "s"]
            .map(String::from)
            .to_vec(),
        rows: figures
            .iter()
            .map(|f| {
                vec![
                    format!("{}", f.min_recall),
                    f.clusters.to_string(),
                    f.probe.to_string(),
                    format!("{:.0}", f.candidates),
                    format!("{:.4}", f.recall_at_10),
                    format!("{:.4}", f.recall_at_depth),
                    format!("{:.1}", f.seconds),
                ]
            })
            .collect(),
    };
    let title = format!(
        "{} ({} items), lists {} deep, recall on {} items",
        model.name(),
        model.n_items(),
        args.depth,
        args.sample.min(model.n_items())
    );
    report::print_table(&title, &table, &figures, args.output)
}

fn fit(args: &FitArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rounds >= 1, "--rounds must be at least 1");
    let specs = parse_specs(&args.models, &[], &args.params, false)?;
    let t = Instant::now();
    let data = read_dense_matrix(&args.matrix, Feedback::Implicit)
        .with_context(|| format!("reading {}", args.matrix.display()))?;
    let load_s = t.elapsed().as_secs_f64();
    report::note(&format!(
        "{}: {} users × {} items, {} non-zeros, read in {load_s:.1} s",
        args.matrix.display(),
        data.n_users(),
        data.n_items(),
        data.nnz()
    ));
    let mut figures = Vec::new();
    for (name, _, spec) in &specs {
        figures.push(fit_one(name, spec, &data, args)?);
    }
    let table = Table {
        headers: ["model", "fit s (median)", "fit s (each)", "recommend s"].map(String::from).to_vec(),
        rows: figures
            .iter()
            .map(|f| {
                let each: Vec<String> = f.fit_s.iter().map(|s| format!("{s:.2}")).collect();
                vec![
                    f.model.clone(),
                    format!("{:.2}", f.median_fit_s),
                    each.join(" "),
                    format!("{:.3}", f.recommend_s),
                ]
            })
            .collect(),
    };
    let title = format!(
        "{} users × {} items × {} non-zeros; top 10 for {} users",
        data.n_users(),
        data.n_items(),
        data.nnz(),
        args.recommend_users.min(data.n_users())
    );
    report::print_table(&title, &table, &figures, args.output)
}

fn fit_one(
    name: &str,
    spec: &ModelSpec,
    data: &aisle_core::Interactions,
    args: &FitArgs,
) -> anyhow::Result<FitFigures> {
    let mut fit_s = Vec::with_capacity(args.rounds);
    let mut recommend_s = 0.0;
    for round in 0..args.rounds {
        let t = Instant::now();
        let model =
            spec.fit(data, &FitContext::seeded(args.seed)).with_context(|| format!("model {name}"))?;
        fit_s.push(t.elapsed().as_secs_f64());
        report::note(&format!("{name} round {}: fit {:.2} s", round + 1, fit_s[round]));
        let t = Instant::now();
        for u in 0..args.recommend_users.min(data.n_users()) {
            let seen: Vec<ItemIdx> =
                data.user(UserIdx(u as u32)).indices.iter().map(|&i| ItemIdx(i)).collect();
            model.recommend(UserIdx(u as u32), 10, &seen)?;
        }
        recommend_s = t.elapsed().as_secs_f64();
    }
    let mut sorted = fit_s.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(FitFigures {
        model: name.to_owned(),
        params: spec.params(),
        median_fit_s: sorted[sorted.len() / 2],
        fit_s,
        recommend_s,
    })
}

fn topk(args: &TopkArgs) -> anyhow::Result<()> {
    use rand::Rng;
    anyhow::ensure!(args.items > 0 && args.calls > 0, "--items and --calls must be positive");
    let mut rng = aisle_core::rng::seeded(1);
    let scores: Vec<f32> = (0..args.items).map(|_| rng.random::<f32>()).collect();
    let exclude: Vec<ItemIdx> =
        (0..args.exclude).map(|_| ItemIdx(rng.random_range(0..args.items as u32))).collect();
    let mut buf = scores.clone();
    let t = Instant::now();
    let mut checksum = 0f64;
    for _ in 0..args.calls {
        checksum += f64::from(top_k(&scores, args.k)[0].score);
    }
    let plain = t.elapsed().as_secs_f64() / args.calls as f64;
    let t = Instant::now();
    for _ in 0..args.calls {
        buf.copy_from_slice(&scores);
        checksum += f64::from(aisle_core::recommender::top_excluding(&mut buf, args.k, &exclude)[0].score);
    }
    let excluding = t.elapsed().as_secs_f64() / args.calls as f64;
    let t = Instant::now();
    for _ in 0..args.calls.min(200) {
        let mut all: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        checksum += f64::from(all[0].1);
    }
    let full_sort = t.elapsed().as_secs_f64() / args.calls.min(200) as f64;
    report::note(&format!("(checksum {checksum:.1})"));
    let table = Table {
        headers: ["method", "µs per call"].map(String::from).to_vec(),
        rows: vec![
            vec![format!("top_k, k = {}", args.k), format!("{:.1}", plain * 1e6)],
            vec![
                format!("top_excluding, {} excluded (incl. copy)", args.exclude),
                format!("{:.1}", excluding * 1e6),
            ],
            vec!["full sort (reference)".into(), format!("{:.1}", full_sort * 1e6)],
        ],
    };
    report::print_table(
        &format!("top-{} of {} scores", args.k, args.items),
        &table,
        &table.rows,
        OutputArg::Table,
    )
}
