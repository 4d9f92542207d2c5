//! `aisle tune`: search a model's parameters on a validation split of the training data, with
//! early stopping of iterative fits, print a leaderboard, and write the best parameters as a
//! config file (`[models.NAME]`, read back by `aisle eval --config`).
//!
//! The test file, when given, is never seen by the search: the best setting is refitted on the
//! whole training file and evaluated on it once, next to the model's defaults.

use std::path::{Path, PathBuf};
use std::time::Instant;

use aisle_core::eval::{
    NextCase, NextMetrics, NextProtocol, RankingOptions, Split, SplitStrategy, evaluate_next,
    evaluate_ranking, split,
};
use aisle_core::models::registry::ModelSpec;
use aisle_core::tune::{Dimension, EarlyStopping, Metric, Outcome, Search, Trial, default_space, show, tune};
use aisle_core::{FitContext, Interactions, SideInfo};
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::eval::{parse_specs, parse_split};
use crate::load::{DataArgs, load};
use crate::report::{self, OutputArg, Table};

/// `--search`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SearchArg {
    /// `--trials` settings drawn at random (seeded).
    Random,
    /// Every combination of the listed values.
    Grid,
}

/// `--metric`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    /// NDCG@K.
    Ndcg,
    /// Precision@K.
    Precision,
    /// Recall@K.
    Recall,
    /// MAP@K.
    Map,
    /// MRR.
    Mrr,
    /// HitRate@K.
    HitRate,
    /// AUC.
    Auc,
}

impl MetricArg {
    fn metric(self) -> Metric {
        match self {
            MetricArg::Ndcg => Metric::Ndcg,
            MetricArg::Precision => Metric::Precision,
            MetricArg::Recall => Metric::Recall,
            MetricArg::Map => Metric::Map,
            MetricArg::Mrr => Metric::Mrr,
            MetricArg::HitRate => Metric::HitRate,
            MetricArg::Auc => Metric::Auc,
        }
    }
}

/// Arguments of `aisle tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Input files (--train alone is searched on; --test, if given, is used once at the end).
    #[command(flatten)]
    pub input: DataArgs,
    /// The model to tune.
    #[arg(long)]
    pub model: String,
    /// Fix a parameter of the model: MODEL.PATH=VALUE (repeatable).
    #[arg(long = "param", value_name = "MODEL.PATH=VALUE")]
    pub params: Vec<String>,
    /// A searched parameter: PATH=a,b,c | PATH=LO..HI | PATH=log:LO..HI | PATH=int:LO..HI
    /// (repeatable; default: the model's own search space).
    #[arg(long = "space", value_name = "PATH=DOMAIN")]
    pub space: Vec<String>,
    /// Random or grid search.
    #[arg(long, value_enum, default_value = "random")]
    pub search: SearchArg,
    /// Settings tried by random search.
    #[arg(long, default_value_t = 20)]
    pub trials: usize,
    /// How the validation split is cut from the training data (as `aisle eval --split`), or a
    /// next-item protocol: `leave-last-one` (each user's second-to-last step validates, the last
    /// one tests) or `sessions:RATIO` (the newest RATIO of sessions test, the RATIO before them
    /// validation).
    #[arg(long, default_value = "random:0.2")]
    pub validation: String,
    /// The metric to maximise.
    #[arg(long, value_enum, default_value = "ndcg")]
    pub metric: MetricArg,
    /// Cut-off of the ranking metric.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Stop an iterative fit after this many epochs without improvement (0: never).
    #[arg(long, default_value_t = 3)]
    pub patience: usize,
    /// Seed of the split, the search and the models.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write the best parameters here as a config file (`[models.NAME]`).
    #[arg(long)]
    pub write: Option<PathBuf>,
    /// Output: an aligned table, JSON or Markdown.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputArg,
}

/// Everything `aisle tune` found.
#[derive(Debug, Serialize)]
struct TuneReport {
    model: String,
    metric: Metric,
    k: usize,
    validation: String,
    search: Search,
    space: Vec<String>,
    trials: Vec<Trial>,
    /// Test metric of the best setting and of the defaults, when a test file was given.
    test: Option<TestFigures>,
}

#[derive(Debug, Serialize)]
struct TestFigures {
    best: f64,
    defaults: f64,
}

/// Runs the search and prints the leaderboard.
pub fn run(args: &TuneArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.k >= 1, "--k must be at least 1");
    let (name, base) = base_spec(args)?;
    let dims = dimensions(args, &base)?;
    let search = match args.search {
        SearchArg::Grid => Search::Grid,
        SearchArg::Random if args.trials == 0 => bail!("--trials must be at least 1"),
        SearchArg::Random => Search::Random { trials: args.trials },
    };
    if let Some(protocol) = crate::eval_next::protocol(&args.validation)? {
        return run_next(args, &protocol, name, &base, &dims, search);
    }
    let (train, test, side) = read(args)?;
    let strategy = parse_split(&args.validation).context("--validation")?;
    let Split { train: fit_on, test: validation } = one_split(&train, &strategy, args.seed)?;
    let options = RankingOptions { k: args.k, ..RankingOptions::default() };
    let metric = args.metric.metric();
    report::note(&format!(
        "tuning {name} on {} interactions, validating on {} ({}), {}@{}",
        fit_on.nnz(),
        validation.nnz(),
        args.validation,
        metric.name(),
        args.k
    ));
    let trials = tune::<anyhow::Error>(&base, &dims, search, args.seed, |n, spec| {
        let outcome = trial(spec, &fit_on, &validation, &side, &options, metric, args)?;
        report::note(&format!("trial {n}: {}@{} {:.4}", metric.name(), args.k, outcome.score));
        Ok(outcome)
    })?;
    let test = match &test {
        Some(test) => {
            Some(final_test(&name, &base, &trials[0], &train, test, &side, &options, metric, args)?)
        }
        None => None,
    };
    if let Some(path) = &args.write {
        write_config(path, &name, &trials[0], args)?;
        report::note(&format!("best parameters written to {}", path.display()));
    }
    let report = TuneReport {
        model: name,
        metric,
        k: args.k,
        validation: args.validation.clone(),
        search,
        space: dims.iter().map(ToString::to_string).collect(),
        trials,
        test,
    };
    print(&report, args.output)
}

/// The search on a next-item protocol (`--validation leave-last-one | sessions:RATIO`): every
/// setting is fitted on the training steps (in order, with their sessions) and scored on the
/// validation cases; the best setting and the defaults are then scored once on the test cases,
/// which the search never saw. `--data` only: the protocol itself holds out the test cases.
fn run_next(
    args: &TuneArgs,
    protocol: &NextProtocol,
    name: String,
    base: &ModelSpec,
    dims: &[Dimension],
    search: Search,
) -> anyhow::Result<()> {
    let (metric, k, of) = next_metric(args.metric, args.k)?;
    let (split, _, side) = crate::eval_next::prepare(&args.input, protocol)?;
    report::note(&format!(
        "tuning {name} on {} training steps, validating on {} next-item cases ({}), {}@{k}",
        split.train_seqs.n_steps(),
        split.validation.len(),
        args.validation,
        metric.name(),
    ));
    let score = |spec: &ModelSpec, cases: &[NextCase]| -> anyhow::Result<f64> {
        let ctx = FitContext::seeded(args.seed)
            .with_side(&side)
            .with_sequences(&split.train_seqs)
            .with_validation(&split.validation);
        let model = spec.fit(&split.train, &ctx)?;
        Ok(of(&evaluate_next(&model, cases)?))
    };
    let trials = tune::<anyhow::Error>(base, dims, search, args.seed, |n, spec| {
        let t = Instant::now();
        let value = score(spec, &split.validation)?;
        report::note(&format!("trial {n}: {}@{k} {value:.4}", metric.name()));
        Ok(Outcome { score: value, best_step: None, steps_run: None, seconds: t.elapsed().as_secs_f64() })
    })?;
    let mut best = base.clone();
    best.merge(&trials[0].params)?;
    let defaults: ModelSpec = name.parse()?;
    let test =
        Some(TestFigures { best: score(&best, &split.test)?, defaults: score(&defaults, &split.test)? });
    if let Some(path) = &args.write {
        write_config(path, &name, &trials[0], args)?;
        report::note(&format!("best parameters written to {}", path.display()));
    }
    let space = dims.iter().map(ToString::to_string).collect();
    let report = TuneReport {
        model: name,
        metric,
        k,
        validation: args.validation.clone(),
        search,
        space,
        trials,
        test,
    };
    print(&report, args.output)
}

/// Reads one figure of a next-item evaluation.
type NextFigure = fn(&NextMetrics) -> f64;

/// The next-item figure `--metric`/`--k` name: NDCG@10 or @20, hit rate @10 or @20, MRR@20.
fn next_metric(metric: MetricArg, k: usize) -> anyhow::Result<(Metric, usize, NextFigure)> {
    Ok(match (metric, k) {
        (MetricArg::Ndcg, 10) => (Metric::Ndcg, 10, |m| m.ndcg_10),
        (MetricArg::Ndcg, 20) => (Metric::Ndcg, 20, |m| m.ndcg_20),
        (MetricArg::HitRate, 10) => (Metric::HitRate, 10, |m| m.hr_10),
        (MetricArg::HitRate, 20) => (Metric::HitRate, 20, |m| m.hr_20),
        (MetricArg::Mrr, 20) => (Metric::Mrr, 20, |m| m.mrr_20),
        _ => bail!(
            "the next-item protocols measure --metric ndcg or hit-rate with --k 10 or 20, or --metric mrr \
             with --k 20"
        ),
    })
}

/// The model to tune with the fixed `--param`s applied.
fn base_spec(args: &TuneArgs) -> anyhow::Result<(String, ModelSpec)> {
    let mut specs = parse_specs(std::slice::from_ref(&args.model), &[], &args.params, false)?;
    let (name, _, spec) = specs.pop().context("a model")?;
    Ok((name, spec))
}

fn dimensions(args: &TuneArgs, base: &ModelSpec) -> anyhow::Result<Vec<Dimension>> {
    if args.space.is_empty() {
        return default_space(base).with_context(|| {
            format!("{} has no default search space; give --space PATH=DOMAIN", args.model)
        });
    }
    args.space.iter().map(|s| Dimension::parse(s).map_err(Into::into)).collect()
}

/// The training data (and the test data, if any) with the side information.
fn read(args: &TuneArgs) -> anyhow::Result<(Interactions, Option<Interactions>, SideInfo)> {
    let input = &args.input;
    let paths: Vec<&Path> = match (&input.data, &input.train, &input.test) {
        (Some(d), _, _) => vec![d],
        (None, Some(t), Some(test)) => vec![t, test],
        (None, Some(t), None) => vec![t],
        (None, None, _) => bail!("--data or --train is required"),
    };
    let mut loaded = load(&input.sources(&paths))?;
    report::import_summary(&loaded.reports);
    let test = if paths.len() == 2 { loaded.matrices.pop() } else { None };
    let train = loaded.matrices.pop().context("training data")?;
    Ok((train, test, loaded.side))
}

fn one_split(data: &Interactions, strategy: &SplitStrategy, seed: u64) -> anyhow::Result<Split> {
    anyhow::ensure!(
        !matches!(strategy, SplitStrategy::KFold { .. }),
        "--validation must be one split, not k-fold"
    );
    split(data, strategy, seed)?.pop().context("a validation split")
}

/// Fits one setting with early stopping and scores it on the validation split.
fn trial(
    spec: &ModelSpec,
    train: &Interactions,
    validation: &Interactions,
    side: &SideInfo,
    options: &RankingOptions,
    metric: Metric,
    args: &TuneArgs,
) -> anyhow::Result<Outcome> {
    let t = Instant::now();
    let stop = EarlyStopping::new(train, validation, options.clone(), metric, args.patience);
    let model = spec.fit(train, &FitContext::seeded(args.seed).with_observer(&stop).with_side(side))?;
    let best = stop.best();
    let outcome = match best.score {
        Some(score) => Outcome { score, best_step: best.step, steps_run: Some(best.steps), seconds: 0.0 },
        None => {
            let m = evaluate_ranking(&model, train, validation, options)?;
            Outcome { score: metric.of(&m), best_step: None, steps_run: None, seconds: 0.0 }
        }
    };
    Ok(Outcome { seconds: t.elapsed().as_secs_f64(), ..outcome })
}

/// Refits the best setting and the defaults on all the training data; scores both on the test.
#[expect(clippy::too_many_arguments, reason = "the final evaluation needs the whole context of the run")]
fn final_test(
    name: &str,
    base: &ModelSpec,
    best: &Trial,
    train: &Interactions,
    test: &Interactions,
    side: &SideInfo,
    options: &RankingOptions,
    metric: Metric,
    args: &TuneArgs,
) -> anyhow::Result<TestFigures> {
    let mut tuned = base.clone();
    tuned.merge(&best.params)?;
    let defaults: ModelSpec = name.parse()?;
    let score = |spec: &ModelSpec| -> anyhow::Result<f64> {
        let model = spec.fit(train, &FitContext::seeded(args.seed).with_side(side))?;
        Ok(metric.of(&evaluate_ranking(&model, train, test, options)?))
    };
    Ok(TestFigures { best: score(&tuned)?, defaults: score(&defaults)? })
}

/// `[models.NAME]` with every parameter of the best trial (nulls, i.e. unset options, left out).
fn write_config(path: &Path, name: &str, best: &Trial, args: &TuneArgs) -> anyhow::Result<()> {
    let mut params = best.params.clone();
    strip_nulls(&mut params);
    let doc = serde_json::json!({ "models": { name: params } });
    let body = toml::to_string_pretty(&doc).context("the parameters as TOML")?;
    let header = format!(
        "# Written by `aisle tune --model {}`: trial {} of {}, best {}@{} = {:.4} on validation {}.\n\
         # Read back with `aisle eval --config {}`.\n\n",
        args.model,
        best.number,
        match args.search {
            SearchArg::Random => format!("{} random", args.trials),
            SearchArg::Grid => "the grid".to_owned(),
        },
        args.metric.metric().name(),
        args.k,
        best.outcome.score,
        args.validation,
        path.display()
    );
    std::fs::write(path, header + &body).with_context(|| format!("writing {}", path.display()))
}

fn strip_nulls(v: &mut serde_json::Value) {
    if let serde_json::Value::Object(map) = v {
        map.retain(|_, x| !x.is_null());
        map.values_mut().for_each(strip_nulls);
    }
}

fn print(report: &TuneReport, output: OutputArg) -> anyhow::Result<()> {
    let metric = format!("{}@{}", report.metric.name(), report.k);
    let mut headers = vec!["rank".to_owned(), "trial".to_owned()];
    headers.extend(report.space.iter().map(|d| d.split('=').next().unwrap_or(d).to_owned()));
    headers.extend([metric.clone(), "best step".into(), "steps".into(), "s".into()]);
    let rows = report
        .trials
        .iter()
        .enumerate()
        .map(|(r, t)| {
            let mut row = vec![(r + 1).to_string(), t.number.to_string()];
            row.extend(t.setting.iter().map(|(_, v)| short(v)));
            let opt = |x: Option<usize>| x.map_or("-".to_owned(), |s| s.to_string());
            row.extend([
                format!("{:.4}", t.outcome.score),
                opt(t.outcome.best_step),
                opt(t.outcome.steps_run),
                format!("{:.2}", t.outcome.seconds),
            ]);
            row
        })
        .collect();
    let mut title = format!(
        "{}: {:?} over {}, {metric} on validation {}",
        report.model,
        report.search,
        report.space.join(" "),
        report.validation
    );
    if let Some(t) = &report.test {
        title += &format!("\ntest {metric}: best setting {:.4}, defaults {:.4}", t.best, t.defaults);
    }
    report::print_table(&title, &Table { headers, rows }, report, output)
}

/// A value for the leaderboard: numbers with 4 significant digits.
fn short(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(x) if v.is_f64() => format!("{x:.4}"),
        _ => show(v),
    }
}
