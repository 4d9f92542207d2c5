//! `aisle eval`: fit each model on each training split, time it, and score it on the test split.

use std::path::{Path, PathBuf};
use std::time::Instant;

use aisle_core::eval::{
    Candidates, MeanStd, RankingMetrics, RankingOptions, RankingSummary, RatingMetrics, RatingSummary, Split,
    SplitStrategy, evaluate_ranking, evaluate_ratings, mean_std, split, summarize_ranking, summarize_ratings,
};
use aisle_core::models::registry::{Model, ModelSpec};
use aisle_core::{Control, Feedback, FitContext, Observer, Progress, SideInfo};
use anyhow::{Context, bail};
use clap::Args;
use indicatif::ProgressBar;
use serde::Serialize;

use crate::load::{DataArgs, load};
use crate::report::{self, OutputArg};

/// The models `aisle eval` runs when `--models` is not given.
pub const DEFAULT_MODELS: &str = "pop,baseline,user-knn,item-knn,knn-baseline,svd,svdpp";

/// Arguments of `aisle eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Input files.
    #[command(flatten)]
    pub input: DataArgs,
    /// Comma-separated models (pop, trending, baseline, user-knn, item-knn, knn-baseline, svd,
    /// svdpp, ials, bpr, ease, content, hybrid, blend).
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_MODELS)]
    pub models: Vec<String>,
    /// Override a model parameter: MODEL.PATH=VALUE, e.g. `svd.reg=0.05`, `item-knn.k=20`,
    /// `baseline.method.als.epochs=5` (repeatable; the JSON report lists every parameter).
    #[arg(long = "param", value_name = "MODEL.PATH=VALUE")]
    pub params: Vec<String>,
    /// Model parameters from a config file (`[models.NAME]` tables, as `aisle tune --write`
    /// writes them); its models join --models, and --param still overrides.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// k-fold cross-validation with this many folds (the default for --data: 5).
    #[arg(long, conflicts_with_all = ["split", "train"])]
    pub cv: Option<usize>,
    /// One split instead of CV: random:RATIO, leave-k:K, time:RATIO (latest share), last-k:K,
    /// cold-items:RATIO (that share of the items held out entirely; only they are ranked); or a
    /// next-item protocol: leave-last-one (each user's last step is test, the one before it
    /// validation), sessions:RATIO (the latest sessions, each step predicted from its prefix).
    #[arg(long, conflicts_with = "train")]
    pub split: Option<String>,
    /// Cut-off of the ranking metrics.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Seed of splits and models.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Only test interactions with a value at least this count as relevant (default: all).
    #[arg(long)]
    pub relevance_threshold: Option<f32>,
    /// Rank each relevant item against N sampled negatives instead of the full catalog (labelled).
    #[arg(long)]
    pub sampled_negatives: Option<usize>,
    /// Output: an aligned table, JSON or Markdown.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputArg,
    /// Hide progress bars.
    #[arg(long)]
    pub no_progress: bool,
}

/// One model's result on one split.
#[derive(Clone, Debug, Serialize)]
pub struct FoldResult {
    /// Seconds to fit.
    pub fit_s: f64,
    /// Seconds to predict every test rating (0 when the model does not predict ratings).
    pub predict_s: f64,
    /// Seconds to rank the catalog for every test user.
    pub rank_s: f64,
    /// RMSE/MAE, for explicit feedback and rating models.
    pub rating: Option<RatingMetrics>,
    /// Ranking metrics.
    pub ranking: RankingMetrics,
}

/// One model's figures over every split: mean ± std.
#[derive(Clone, Debug, Serialize)]
pub struct ModelSummary {
    /// RMSE/MAE, when every split has them.
    pub rating: Option<RatingSummary>,
    /// Ranking metrics.
    pub ranking: RankingSummary,
    /// Seconds to fit.
    pub fit_s: MeanStd,
    /// Seconds to predict the test ratings.
    pub predict_s: MeanStd,
    /// Seconds to rank for every test user.
    pub rank_s: MeanStd,
}

impl ModelSummary {
    fn of(folds: &[FoldResult]) -> anyhow::Result<Self> {
        let ratings: Option<Vec<RatingMetrics>> = folds.iter().map(|f| f.rating.clone()).collect();
        let rankings: Vec<RankingMetrics> = folds.iter().map(|f| f.ranking.clone()).collect();
        let seconds = |f: fn(&FoldResult) -> f64| mean_std(&folds.iter().map(f).collect::<Vec<_>>());
        Ok(Self {
            rating: ratings.map(|r| summarize_ratings(&r)).transpose()?,
            ranking: summarize_ranking(&rankings)?,
            fit_s: seconds(|f| f.fit_s),
            predict_s: seconds(|f| f.predict_s),
            rank_s: seconds(|f| f.rank_s),
        })
    }
}

/// One model over every split.
#[derive(Clone, Debug, Serialize)]
pub struct ModelResult {
    /// The name given on the command line.
    pub model: String,
    /// True for the popularity row added because every report carries one.
    pub added_baseline: bool,
    /// Every parameter the model was fitted with.
    pub params: serde_json::Value,
    /// Mean ± std over the splits.
    pub summary: ModelSummary,
    /// One entry per split.
    pub folds: Vec<FoldResult>,
}

/// Everything `aisle eval` measured.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// How the data was split.
    pub protocol: String,
    /// Explicit or implicit.
    pub feedback: Feedback,
    /// Users, items and interactions of the whole dataset.
    pub n_users: usize,
    /// Items in the id space.
    pub n_items: usize,
    /// Interactions over all files.
    pub n_interactions: usize,
    /// Ranking cut-off.
    pub k: usize,
    /// Per-model results.
    pub results: Vec<ModelResult>,
}

/// Runs the evaluation and prints the report.
pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.k >= 1, "--k must be at least 1 (the length of each ranked list)");
    let config = args.config.as_deref().map(read_config).transpose()?.unwrap_or_default();
    let specs = parse_specs(&args.models, &config, &args.params, true)?;
    if let Some(next) = args.split.as_deref().map(crate::eval_next::protocol).transpose()?.flatten() {
        return crate::eval_next::run(args, next, &specs);
    }
    let (splits, protocol, side) = prepare(args)?;
    if side.described_items() == 0
        && let Some((name, _, _)) = specs.iter().find(|(_, _, s)| matches!(s, ModelSpec::Content(_)))
    {
        bail!(
            "model {name} learns from item attributes: pass a catalog with --items FILE (and --items-format)"
        );
    }
    let first = &splits[0];
    let feedback = first.train.feedback();
    let n_interactions = first.train.nnz() + first.test.nnz();
    let cold = matches!(strategy(args)?, SplitStrategy::ColdItems { .. }) && args.input.data.is_some();
    let options = RankingOptions {
        k: args.k,
        relevance_threshold: args.relevance_threshold,
        candidates: match (args.sampled_negatives, cold) {
            (Some(_), true) => bail!("--sampled-negatives and a cold-items split do not combine"),
            (None, true) => Candidates::ColdItems,
            (None, false) => Candidates::FullCatalog,
            (Some(n), false) => Candidates::SampledNegatives { n, seed: args.seed },
        },
    };
    let progress = report::progress_bar(args.no_progress, (splits.len() * specs.len()) as u64);
    let mut results = Vec::with_capacity(specs.len());
    for (name, added, spec) in &specs {
        let mut folds = Vec::with_capacity(splits.len());
        for (f, s) in splits.iter().enumerate() {
            let step =
                FitProgress { bar: &progress, label: format!("{name} fold {}/{}", f + 1, splits.len()) };
            progress.set_message(step.label.clone());
            let fit = FitContext::seeded(args.seed).with_observer(&step).with_side(&side);
            folds.push(evaluate_one(spec, s, &options, &fit).with_context(|| format!("model {name}"))?);
            progress.inc(1);
        }
        let summary = ModelSummary::of(&folds)?;
        results.push(ModelResult {
            model: name.clone(),
            added_baseline: *added,
            params: spec.params(),
            summary,
            folds,
        });
    }
    progress.finish_and_clear();
    let report = EvalReport {
        protocol,
        feedback,
        n_users: first.train.n_users(),
        n_items: first.train.n_items(),
        n_interactions,
        k: args.k,
        results,
    };
    report::print_eval(&report, args.output)
}

/// Reads `[models.NAME]` tables from a config file (as `aisle tune --write` writes them).
fn read_config(path: &Path) -> anyhow::Result<Vec<(String, serde_json::Value)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    match doc.get("models") {
        Some(toml::Value::Table(t)) => {
            t.iter().map(|(name, table)| Ok((name.clone(), serde_json::to_value(table)?))).collect()
        }
        _ => bail!("{}: no [models.NAME] table", path.display()),
    }
}

/// Parses `--models`, merges the config's `[models.NAME]` tables (adding those models), then
/// applies `--param`s; with `add_pop`, puts the popularity baseline first when it is missing.
pub fn parse_specs(
    names: &[String],
    config: &[(String, serde_json::Value)],
    params: &[String],
    add_pop: bool,
) -> anyhow::Result<Vec<(String, bool, ModelSpec)>> {
    let mut specs = Vec::with_capacity(names.len() + 1);
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let spec: ModelSpec = name.parse()?;
        spec.validate()?;
        specs.push((name.to_owned(), false, spec));
    }
    for (name, table) in config {
        if !specs.iter().any(|(n, _, _)| n == name) {
            specs.push((
                name.clone(),
                false,
                name.parse().with_context(|| format!("config [models.{name}]"))?,
            ));
        }
        let (_, _, spec) = specs.iter_mut().find(|(n, _, _)| n == name).expect("just ensured");
        spec.merge(table).with_context(|| format!("config [models.{name}]"))?;
    }
    if specs.is_empty() {
        bail!("--models is empty; known: {}", ModelSpec::NAMES.join(", "));
    }
    if add_pop && !specs.iter().any(|(n, _, _)| n == "pop" || n == "popularity") {
        specs.insert(0, ("pop".to_owned(), true, "pop".parse()?));
    }
    for param in params {
        let (target, value) = param
            .split_once('=')
            .with_context(|| format!("--param {param}: expected MODEL.PATH=VALUE, e.g. svd.reg=0.05"))?;
        let (model, path) = target
            .split_once('.')
            .with_context(|| format!("--param {param}: expected MODEL.PATH=VALUE, e.g. svd.reg=0.05"))?;
        let (_, _, spec) = specs
            .iter_mut()
            .find(|(n, _, _)| n == model)
            .with_context(|| format!("--param {param}: model {model:?} is not in --models"))?;
        spec.set(path, value).with_context(|| format!("--param {param}"))?;
    }
    Ok(specs)
}

/// Loads the data and produces the splits, a one-line description of the protocol and the
/// side information.
pub fn prepare(args: &EvalArgs) -> anyhow::Result<(Vec<Split>, String, SideInfo)> {
    let input = &args.input;
    if let (Some(train), Some(test)) = (&input.train, &input.test) {
        let mut loaded = load(&input.sources(&[train.as_path(), test.as_path()]))?;
        report::import_summary(&loaded.reports);
        let test_m = loaded.matrices.pop().context("test matrix")?;
        let train_m = loaded.matrices.pop().context("train matrix")?;
        let protocol = format!("train {} / test {}", train.display(), test.display());
        return Ok((vec![Split { train: train_m, test: test_m }], protocol, loaded.side));
    }
    if input.train.is_some() {
        bail!("--train needs --test (aisle tune searches on --train alone)");
    }
    let data: &Path = input.data.as_deref().context("--data or --train/--test is required")?;
    let mut loaded = load(&input.sources(&[data]))?;
    report::import_summary(&loaded.reports);
    let matrix = loaded.matrices.pop().context("data matrix")?;
    let strategy = strategy(args)?;
    let splits =
        split(&matrix, &strategy, args.seed).with_context(|| format!("splitting {}", data.display()))?;
    Ok((splits, format!("{strategy:?}, seed {}", args.seed), loaded.side))
}

fn strategy(args: &EvalArgs) -> anyhow::Result<SplitStrategy> {
    match &args.split {
        None => Ok(SplitStrategy::KFold { folds: args.cv.unwrap_or(5) }),
        Some(spec) => parse_split(spec).context("--split"),
    }
}

/// A split as `--split` and `--validation` take it: random:RATIO, time:RATIO, leave-k:K,
/// last-k:K or cold-items:RATIO.
pub fn parse_split(spec: &str) -> anyhow::Result<SplitStrategy> {
    let (kind, value) = spec.split_once(':').unwrap_or((spec, ""));
    let ratio = || -> anyhow::Result<f64> {
        value.parse().with_context(|| format!("{spec}: expected a ratio such as {kind}:0.2"))
    };
    let count = || -> anyhow::Result<usize> {
        value.parse().with_context(|| format!("{spec}: expected a count such as {kind}:1"))
    };
    Ok(match kind {
        "random" => SplitStrategy::Random { test_ratio: ratio()? },
        "time" => SplitStrategy::TimeGlobal { test_ratio: ratio()? },
        "leave-k" => SplitStrategy::LeaveKOut { k: count()? },
        "last-k" => SplitStrategy::LastK { k: count()? },
        "cold-items" => SplitStrategy::ColdItems { test_ratio: ratio()? },
        _ => {
            bail!("{spec}: unknown kind {kind:?}; use random:R, time:R, leave-k:K, last-k:K or cold-items:R")
        }
    })
}

/// Shows a fit's progress (epochs, iterations) on the evaluation's progress bar.
struct FitProgress<'a> {
    bar: &'a ProgressBar,
    label: String,
}

impl Observer for FitProgress<'_> {
    fn progress(&self, p: &Progress) -> Control {
        if !self.bar.is_hidden() {
            self.bar.set_message(format!("{}: fitting {} {}/{}", self.label, p.model, p.done, p.total));
        }
        Control::Continue
    }
}

/// Fits `spec` on the split's training half and evaluates it on the test half.
pub fn evaluate_one(
    spec: &ModelSpec,
    s: &Split,
    options: &RankingOptions,
    fit: &FitContext<'_>,
) -> anyhow::Result<FoldResult> {
    let t = Instant::now();
    let model: Model = spec.fit(&s.train, fit)?;
    let fit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let rating = match s.train.feedback() {
        Feedback::Explicit => Some(evaluate_ratings(&model, &s.test)).filter(|r| r.n > 0),
        Feedback::Implicit => None,
    };
    let predict_s = if rating.is_some() { t.elapsed().as_secs_f64() } else { 0.0 };
    let t = Instant::now();
    let ranking = evaluate_ranking(&model, &s.train, &s.test, options)?;
    let rank_s = t.elapsed().as_secs_f64();
    Ok(FoldResult { fit_s, predict_s, rank_s, rating, ranking })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_models(names: &[String], params: &[String]) -> anyhow::Result<Vec<(String, bool, ModelSpec)>> {
        parse_specs(names, &[], params, true)
    }

    #[test]
    fn popularity_is_added_once() {
        let specs = parse_models(&["svd".into(), " item-knn".into()], &[]).unwrap();
        let config = [
            ("svd".to_owned(), serde_json::json!({"factors": 7})),
            ("ials".to_owned(), serde_json::json!({"reg": 2.0})),
        ];
        let with = parse_specs(&["svd".into()], &config, &["svd.reg=0.5".into()], false).unwrap();
        let names: Vec<&str> = with.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names, ["svd", "ials"], "config models join --models");
        assert_eq!(
            (with[0].2.params()["factors"].clone(), with[0].2.params()["reg"].clone()),
            (7.into(), 0.5.into())
        );
        assert_eq!(with[1].2.params()["reg"], 2.0);
        let names: Vec<_> = specs.iter().map(|(n, a, _)| (n.as_str(), *a)).collect();
        assert_eq!(names, [("pop", true), ("svd", false), ("item-knn", false)]);
        let specs = parse_models(&["pop".into()], &[]).unwrap();
        assert_eq!(specs.len(), 1);
        let err = parse_models(&["nope".into()], &[]).unwrap_err();
        assert!(err.to_string().contains("unknown model"), "{err}");
    }

    #[test]
    fn params_apply_to_the_named_model_or_fail_clearly() {
        let specs = parse_models(&["svd".into()], &["svd.reg=0.05".into()]).unwrap();
        let reg = specs[1].2.params()["reg"].as_f64().unwrap();
        assert!((reg - 0.05).abs() < 1e-6, "{reg}");
        for (bad, needle) in [
            ("svd.reg", "MODEL.PATH=VALUE"),
            ("reg=1", "MODEL.PATH=VALUE"),
            ("svdpp.reg=1", "not in --models"),
            ("svd.factors=0", "factors"),
        ] {
            let err = parse_models(&["svd".into()], &[bad.into()]).unwrap_err();
            assert!(format!("{err:#}").contains(needle), "{bad}: {err:#}");
        }
    }
}
