//! `aisle eval --split leave-last-one | sessions:RATIO`: the next-item protocols. Each model is
//! fitted once on the training steps (in order, with their sessions), then asked for the next
//! step of every held-out case from its history, the full catalog ranked (see
//! `aisle_core::eval::next`).

use std::path::Path;
use std::time::Instant;

use aisle_core::eval::{NextMetrics, NextProtocol, NextSplit, evaluate_next, next_split};
use aisle_core::models::registry::ModelSpec;
use aisle_core::{FitContext, SideInfo};
use anyhow::Context;
use serde::Serialize;

use crate::eval::EvalArgs;
use crate::load::{DataArgs, load};
use crate::report::{self, Table};

/// The next-item protocol `--split` names, if it names one.
pub fn protocol(spec: &str) -> anyhow::Result<Option<NextProtocol>> {
    let (kind, value) = spec.split_once(':').unwrap_or((spec, ""));
    Ok(match kind {
        "leave-last-one" => Some(NextProtocol::LeaveLastOne),
        "sessions" => {
            let ratio =
                value.parse().with_context(|| format!("{spec}: expected a ratio such as sessions:0.1"))?;
            Some(NextProtocol::Sessions { test_ratio: ratio })
        }
        _ => None,
    })
}

/// One model's next-item figures.
#[derive(Clone, Debug, Serialize)]
pub struct NextResult {
    /// The name given on the command line.
    pub model: String,
    /// Every parameter it was fitted with.
    pub params: serde_json::Value,
    /// Seconds to fit on the training steps.
    pub fit_s: f64,
    /// Seconds to score every validation and test case.
    pub eval_s: f64,
    /// On the validation cases (what tuning and early stopping see).
    pub validation: NextMetrics,
    /// On the test cases.
    pub test: NextMetrics,
}

/// What a next-item evaluation measured.
#[derive(Clone, Debug, Serialize)]
pub struct NextReport {
    /// The protocol.
    pub protocol: NextProtocol,
    /// Users in the id space.
    pub n_users: usize,
    /// Items in the id space.
    pub n_items: usize,
    /// Steps of the whole dataset (events after collapsing repeats).
    pub n_steps: usize,
    /// Sessions of the whole dataset.
    pub n_sessions: usize,
    /// Training steps.
    pub train_steps: usize,
    /// Per model.
    pub results: Vec<NextResult>,
}

/// Loads `--data`, splits it by `protocol` and evaluates every model.
pub fn run(
    args: &EvalArgs,
    protocol: NextProtocol,
    specs: &[(String, bool, ModelSpec)],
) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.sampled_negatives.is_none() && args.relevance_threshold.is_none(),
        "--sampled-negatives and --relevance-threshold do not apply to the next-item protocols: \
         each case has one relevant item, ranked against the full catalog"
    );
    let (split, report_shape, side) = prepare(&args.input, &protocol)?;
    let mut results = Vec::with_capacity(specs.len());
    for (name, _, spec) in specs {
        report::note(&format!("{name}: fitting on {} training steps", split.train_seqs.n_steps()));
        results
            .push(evaluate(name, spec, &split, &side, args.seed).with_context(|| format!("model {name}"))?);
    }
    let report = NextReport { results, ..report_shape };
    print(&report, args)
}

/// Fits `spec` on the split's training steps and scores its validation and test cases.
pub fn evaluate(
    name: &str,
    spec: &ModelSpec,
    split: &NextSplit,
    side: &SideInfo,
    seed: u64,
) -> anyhow::Result<NextResult> {
    let ctx = FitContext::seeded(seed)
        .with_side(side)
        .with_sequences(&split.train_seqs)
        .with_validation(&split.validation);
    let t = Instant::now();
    let model = spec.fit(&split.train, &ctx)?;
    let fit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let validation = evaluate_next(&model, &split.validation)?;
    let test = evaluate_next(&model, &split.test)?;
    let eval_s = t.elapsed().as_secs_f64();
    Ok(NextResult { model: name.to_owned(), params: spec.params(), fit_s, eval_s, validation, test })
}

/// Reads `--data` and splits it; the report's shape (without results) and the side information.
pub fn prepare(
    input: &DataArgs,
    protocol: &NextProtocol,
) -> anyhow::Result<(NextSplit, NextReport, SideInfo)> {
    let data: &Path = input
        .data
        .as_deref()
        .context("the next-item protocols split one dataset: pass --data, not --train/--test")?;
    let mut loaded = load(&input.sources(&[data]))?;
    report::import_summary(&loaded.reports);
    let matrix = loaded.matrices.pop().context("data matrix")?;
    let seqs = loaded.sequences.pop().context("data sequences")?;
    let split =
        next_split(&matrix, &seqs, protocol).with_context(|| format!("splitting {}", data.display()))?;
    let shape = NextReport {
        protocol: protocol.clone(),
        n_users: matrix.n_users(),
        n_items: matrix.n_items(),
        n_steps: seqs.n_steps(),
        n_sessions: seqs.n_sessions(),
        train_steps: split.train_seqs.n_steps(),
        results: Vec::new(),
    };
    Ok((split, shape, loaded.side))
}

fn print(report: &NextReport, args: &EvalArgs) -> anyhow::Result<()> {
    let f = |x: f64| format!("{x:.4}");
    let rows = report
        .results
        .iter()
        .map(|r| {
            vec![
                r.model.clone(),
                f(r.test.hr_10),
                f(r.test.hr_20),
                f(r.test.mrr_20),
                f(r.test.ndcg_10),
                f(r.test.ndcg_20),
                f(r.validation.ndcg_10),
                format!("{:.2}", r.fit_s),
                format!("{:.2}", r.eval_s),
            ]
        })
        .collect();
    let headers =
        ["model", "HR@10", "HR@20", "MRR@20", "NDCG@10", "NDCG@20", "val NDCG@10", "fit s", "eval s"];
    let table = Table { headers: headers.iter().map(|h| (*h).to_owned()).collect(), rows };
    let cases = report.results.first().map_or(0, |r| r.test.cases);
    let title = format!(
        "{:?}: {} users, {} items, {} steps in {} sessions ({} train); {cases} test cases, full ranking",
        report.protocol,
        report.n_users,
        report.n_items,
        report.n_steps,
        report.n_sessions,
        report.train_steps
    );
    report::print_table(&title, &table, report, args.output)
}
