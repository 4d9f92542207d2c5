//! `aisle ope`: off-policy evaluation of a candidate policy on logged data — IPS, SNIPS and doubly
//! robust estimates (aisle-impact's `ope` module, obp's definitions) with round-level bootstrap
//! intervals and the weight diagnostics that say whether an IPS figure can be trusted.
//!
//! Input modes: generic CSV files (`--log`, `--target`, optional `--qhat`), read with the csv
//! crate by column name — item ids may be any strings: they are interned to dense u32 ids shared
//! by the three files (the estimators only compare items for equality); or aisle's own store
//! (`--candidate-version V`, see `store.rs`).

mod store;

use std::collections::HashMap;
use std::fmt::Display;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use aisle_impact::ope::{
    Estimator, Given, Interval, Logged, OpeError, RewardModel, Target, bootstrap, bootstrap_many, ips_clipped,
};
use anyhow::{Context, anyhow, bail, ensure};
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::report::{self, OutputArg, Table};

/// The most data rows `aisle ope` reads from one file (refused beyond: ~1.2 GB of target rows).
pub const MAX_ROWS: usize = 50_000_000;
/// The most bootstrap resamples (each costs one pass over the rounds, per estimator).
pub const MAX_RESAMPLES: usize = 100_000;
/// Columns of `--log`, in any order.
const LOG_COLUMNS: [&str; 5] = ["round", "position", "item", "reward", "propensity"];
/// Columns of `--target`, in any order.
const TARGET_COLUMNS: [&str; 4] = ["round", "position", "item", "prob"];
/// Columns of `--qhat`, in any order.
const QHAT_COLUMNS: [&str; 4] = ["round", "position", "item", "qhat"];
/// Longest field text quoted back in an error message.
const SHOWN_CHARS: usize = 40;

/// Arguments of `aisle ope`.
#[derive(Debug, Args)]
pub struct OpeArgs {
    /// Logged data from CSV files.
    #[command(flatten)]
    pub files: FileArgs,
    /// Or aisle's own impression log and a stored model version.
    #[command(flatten)]
    pub store: store::StoreModeArgs,
    /// Comma-separated estimators: ips, snips, dr.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "ips,snips,dr")]
    pub estimators: Vec<EstimatorArg>,
    /// Bootstrap resamples (of whole rounds) for the intervals.
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    /// Significance level: the intervals cover 1 − alpha.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Seed of the bootstrap (every estimator resamples the same rounds).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also report IPS with the weights clipped at LAMBDA (obp's `lambda_`), beside plain IPS.
    #[arg(long, value_name = "LAMBDA")]
    pub clip: Option<f64>,
    /// Output: an aligned table, JSON or Markdown.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputArg,
}

/// The CSV input mode: `--log` and `--target` are required together, `--qhat` is optional.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// Logged rows, CSV with header `round,position,item,reward,propensity` (any order): one
    /// row per shown (round, position); propensity = the logging policy's probability, in (0, 1].
    #[arg(long, value_name = "LOG.csv")]
    pub log: Option<PathBuf>,
    /// The candidate policy, CSV with header `round,position,item,prob`: its probability of each
    /// item at each (round, position); items not listed have probability 0.
    #[arg(long, value_name = "TARGET.csv")]
    pub target: Option<PathBuf>,
    /// DR's reward model, CSV with header `round,position,item,qhat` (0 where not listed).
    /// Without it, DR uses the mean logged reward per (item, position), fitted on the log itself.
    #[arg(long, value_name = "QHAT.csv")]
    pub qhat: Option<PathBuf>,
}

/// `--estimators`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum EstimatorArg {
    /// Inverse propensity scoring.
    Ips,
    /// Self-normalised IPS.
    Snips,
    /// Doubly robust.
    Dr,
}

impl From<EstimatorArg> for Estimator {
    fn from(arg: EstimatorArg) -> Estimator {
        match arg {
            EstimatorArg::Ips => Estimator::Ips,
            EstimatorArg::Snips => Estimator::Snips,
            EstimatorArg::Dr => Estimator::Dr,
        }
    }
}

/// Where the logged data comes from: one variant per input mode.
#[derive(Debug)]
pub enum OpeInput<'a> {
    /// CSV files.
    Files {
        /// `--log`.
        log: &'a Path,
        /// `--target`.
        target: &'a Path,
        /// `--qhat`.
        qhat: Option<&'a Path>,
    },
    /// The store's impression log and a stored model version.
    Store {
        /// `--candidate-version`.
        version: u64,
    },
}

impl OpeArgs {
    /// The input mode the flags select.
    pub fn input(&self) -> anyhow::Result<OpeInput<'_>> {
        let FileArgs { log, target, qhat } = &self.files;
        if let Some(version) = self.store.candidate_version {
            ensure!(
                log.is_none() && target.is_none() && qhat.is_none(),
                "--candidate-version reads the store's impression log: leave out --log, --target and --qhat"
            );
            return Ok(OpeInput::Store { version });
        }
        match (log, target) {
            (Some(log), Some(target)) => Ok(OpeInput::Files { log, target, qhat: qhat.as_deref() }),
            (None, _) | (_, None) => bail!(
                "aisle ope needs --log LOG.csv and --target TARGET.csv (logged rows and the candidate \
                 policy's probabilities), or --candidate-version V to evaluate a stored model version on \
                 the store's exploration log; see `aisle ope --help`"
            ),
        }
    }

    /// The validated estimation options.
    pub fn options(&self) -> anyhow::Result<OpeOptions> {
        ensure!(
            (1..=MAX_RESAMPLES).contains(&self.resamples),
            "--resamples {}: must be in 1..={MAX_RESAMPLES}",
            self.resamples
        );
        ensure!(self.alpha > 0.0 && self.alpha < 1.0, "--alpha {}: must be in (0, 1)", self.alpha);
        if let Some(lambda) = self.clip {
            ensure!(lambda >= 0.0, "--clip {lambda}: must be ≥ 0");
        }
        let mut estimators: Vec<Estimator> = Vec::with_capacity(self.estimators.len());
        for &arg in &self.estimators {
            let estimator = Estimator::from(arg);
            if !estimators.contains(&estimator) {
                estimators.push(estimator);
            }
        }
        ensure!(!estimators.is_empty(), "--estimators: name at least one of ips, snips, dr");
        Ok(OpeOptions {
            estimators,
            resamples: self.resamples,
            alpha: self.alpha,
            seed: self.seed,
            clip: self.clip,
        })
    }
}

/// What to estimate and how to bootstrap it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpeOptions {
    /// The estimators to report (each at most once).
    pub estimators: Vec<Estimator>,
    /// Bootstrap resamples of whole rounds.
    pub resamples: usize,
    /// Significance level of the intervals.
    pub alpha: f64,
    /// Bootstrap seed, shared by every estimator.
    pub seed: u64,
    /// Also report IPS with weights clipped at this λ.
    pub clip: Option<f64>,
}

/// Which q̂ DR used.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardModelKind {
    /// The mean logged reward per (item, position), fitted on the evaluated log itself.
    ItemPositionMean,
    /// Values given by the caller (`--qhat`).
    Given,
}

/// The estimates asked for; every value is per row, i.e. per (round, position), as in obp.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Estimates {
    /// IPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ips: Option<Interval>,
    /// IPS with weights clipped at `--clip`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ips_clipped: Option<Interval>,
    /// SNIPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snips: Option<Interval>,
    /// DR.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dr: Option<Interval>,
}

/// An off-policy evaluation: estimates with intervals and the diagnostics of the weights
/// `wᵢ = π_e(aᵢ)/π₀ᵢ` (unclipped).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpeReport {
    /// Log rows, i.e. (round, position) pairs.
    pub rows: usize,
    /// Distinct rounds (the bootstrap's resampling unit).
    pub rounds: usize,
    /// Effective sample size of the weights, `(Σw)²/Σw²` (0 when every weight is 0): how many
    /// rows the estimate is effectively worth.
    pub ess: f64,
    /// The largest weight.
    pub max_weight: f64,
    /// The mean weight: near 1 when the log covers the target's support.
    pub mean_weight: f64,
    /// Log rows whose (round, position) has no target probabilities at all (their weight is 0);
    /// many of them suggest the target file belongs to another log.
    pub rows_without_target: usize,
    /// The estimates.
    pub estimates: Estimates,
    /// DR's q̂.
    pub reward_model: RewardModelKind,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Significance level of the intervals.
    pub alpha: f64,
    /// Bootstrap seed.
    pub seed: u64,
    /// Clipping threshold of `ips_clipped`.
    pub clip: Option<f64>,
}

/// Runs the estimators on a log and builds the report.
///
/// DR uses `model`, or — when `None` — the mean logged reward per (item, position) fitted on
/// `log` (aisle-impact's `ItemPositionMean`). The same bootstrap seed serves every estimator,
/// so their intervals come from the same resampled rounds.
pub fn estimate(
    log: &[Logged],
    target: &Target,
    model: Option<&dyn RewardModel>,
    opts: &OpeOptions,
) -> Result<OpeReport, OpeError> {
    if log.is_empty() {
        return Err(OpeError::EmptyLog);
    }
    let run = |estimator, target: &Target| {
        bootstrap(log, target, estimator, opts.resamples, opts.alpha, opts.seed, model)
    };
    let mut estimates = Estimates::default();
    // One draw of rounds per resample serves every estimator.
    let intervals =
        bootstrap_many(log, target, &opts.estimators, opts.resamples, opts.alpha, opts.seed, model)?;
    for (&estimator, interval) in opts.estimators.iter().zip(intervals) {
        let interval = Some(interval);
        match estimator {
            Estimator::Ips => estimates.ips = interval,
            Estimator::Snips => estimates.snips = interval,
            Estimator::Dr => estimates.dr = interval,
        }
    }
    if let Some(lambda) = opts.clip {
        let estimate = ips_clipped(log, target, lambda)?;
        // min(π_e, λ·π₀)/π₀ = min(w, λ): plain IPS on this target is clipped IPS, so the
        // library's round bootstrap gives its interval.
        let clipped = Target::new(log.iter().map(|row| {
            let prob = target.prob(row.round, row.position, row.item).min(lambda * row.propensity);
            (row.round, row.position, row.item, prob)
        }))?;
        estimates.ips_clipped = Some(Interval { estimate, ..run(Estimator::Ips, &clipped)? });
    }
    let weights = WeightStats::of(log, target);
    Ok(OpeReport {
        rows: log.len(),
        rounds: count_rounds(log),
        ess: if weights.sum_sq > 0.0 { weights.sum * weights.sum / weights.sum_sq } else { 0.0 },
        max_weight: weights.max,
        mean_weight: weights.sum / log.len() as f64,
        rows_without_target: weights.uncovered,
        estimates,
        reward_model: if model.is_some() {
            RewardModelKind::Given
        } else {
            RewardModelKind::ItemPositionMean
        },
        resamples: opts.resamples,
        alpha: opts.alpha,
        seed: opts.seed,
        clip: opts.clip,
    })
}

/// Sums of the unclipped weights.
struct WeightStats {
    sum: f64,
    sum_sq: f64,
    max: f64,
    uncovered: usize,
}

impl WeightStats {
    fn of(log: &[Logged], target: &Target) -> WeightStats {
        let mut stats = WeightStats { sum: 0.0, sum_sq: 0.0, max: 0.0, uncovered: 0 };
        for row in log {
            let w = target.prob(row.round, row.position, row.item) / row.propensity;
            stats.sum += w;
            stats.sum_sq += w * w;
            stats.max = stats.max.max(w);
            if w == 0.0 && target.distribution(row.round, row.position).next().is_none() {
                stats.uncovered += 1;
            }
        }
        stats
    }
}

fn count_rounds(log: &[Logged]) -> usize {
    let mut rounds: Vec<u64> = log.iter().map(|row| row.round).collect();
    rounds.sort_unstable();
    rounds.dedup();
    rounds.len()
}

/// Runs `aisle ope`: reads the input, estimates, prints the report.
pub fn run(args: &OpeArgs) -> anyhow::Result<()> {
    let opts = args.options()?;
    let report = match args.input()? {
        OpeInput::Files { log, target, qhat } => {
            let data = read_files(log, target, qhat)?;
            let model = data.qhat.as_ref().map(|q| q as &dyn RewardModel);
            estimate(&data.log, &data.target, model, &opts).context("off-policy evaluation")?
        }
        OpeInput::Store { version } => {
            let data = store::read(&args.store, version)?;
            // The candidate's probability is known at the logged slots only (its prefix matches
            // or not), not as a distribution over items: DR needs the latter.
            let mut opts = opts;
            if opts.estimators.contains(&Estimator::Dr) {
                report::note(
                    "doubly robust needs the candidate's whole distribution per slot: IPS and SNIPS only",
                );
                opts.estimators.retain(|e| *e != Estimator::Dr);
            }
            estimate(&data.logged, &data.target, None, &opts).context("off-policy evaluation")?
        }
    };
    print(&report, args.format)
}

/// The three input files, read and validated, with item ids interned across them.
#[derive(Debug)]
pub struct LoggedData {
    /// The log rows.
    pub log: Vec<Logged>,
    /// The candidate policy.
    pub target: Target,
    /// DR's q̂, when given.
    pub qhat: Option<Given>,
}

/// Opens and reads the CSV files of the file input mode.
pub fn read_files(log: &Path, target: &Path, qhat: Option<&Path>) -> anyhow::Result<LoggedData> {
    let open = |path: &Path| File::open(path).with_context(|| format!("opening {}", path.display()));
    let name = |path: &Path| path.display().to_string();
    let mut items = ItemIds::default();
    let log_rows = read_log(open(log)?, &name(log), &mut items)?;
    let target = read_target(open(target)?, &name(target), &mut items)?;
    let qhat = match qhat {
        Some(path) => Some(read_qhat(open(path)?, &name(path), &mut items)?),
        None => None,
    };
    Ok(LoggedData { log: log_rows, target, qhat })
}

/// Item strings interned to dense u32 ids, shared by the files of one evaluation.
#[derive(Debug, Default)]
pub struct ItemIds {
    ids: HashMap<Box<[u8]>, u32>,
}

impl ItemIds {
    /// The id of `item`, assigning the next one to a new string.
    fn intern(&mut self, item: &[u8]) -> Option<u32> {
        if let Some(&id) = self.ids.get(item) {
            return Some(id);
        }
        let id = u32::try_from(self.ids.len()).ok()?;
        self.ids.insert(item.into(), id);
        Some(id)
    }

    /// The string of an id (for messages; a linear scan).
    fn name(&self, id: u32) -> String {
        self.ids
            .iter()
            .find(|(_, v)| **v == id)
            .map_or_else(|| id.to_string(), |(k, _)| String::from_utf8_lossy(k).into_owned())
    }
}

/// Reads `round,position,item,reward,propensity` rows; refuses a repeated (round, position).
pub fn read_log(reader: impl Read, file: &str, items: &mut ItemIds) -> anyhow::Result<Vec<Logged>> {
    let mut log = Vec::new();
    for_each_row(reader, file, &LOG_COLUMNS, |row| {
        let propensity = row.float(4)?;
        if !(propensity > 0.0 && propensity <= 1.0) {
            return Err(row.bad(4, format!("{} is not in (0, 1]", row.shown(4))));
        }
        log.push(Logged {
            round: row.int(0)?,
            position: row.int(1)?,
            item: row.item(2, items)?,
            reward: row.finite(3)?,
            propensity,
        });
        Ok(())
    })?;
    let mut slots: Vec<(u64, u32)> = log.iter().map(|row| (row.round, row.position)).collect();
    slots.sort_unstable();
    if let Some(pair) = slots.windows(2).find(|pair| pair[0] == pair[1]) {
        let (round, position) = pair[0];
        bail!("{file}: round {round} position {position} is logged more than once (one row per shown slot)");
    }
    Ok(log)
}

/// Reads `round,position,item,prob` rows into a target policy.
pub fn read_target(reader: impl Read, file: &str, items: &mut ItemIds) -> anyhow::Result<Target> {
    let mut rows = Vec::new();
    for_each_row(reader, file, &TARGET_COLUMNS, |row| {
        let prob = row.float(3)?;
        if !(0.0..=1.0).contains(&prob) {
            return Err(row.bad(3, format!("{} is not in [0, 1]", row.shown(3))));
        }
        rows.push((row.int(0)?, row.int(1)?, row.item(2, items)?, prob));
        Ok(())
    })?;
    Target::new(rows).map_err(|err| model_error(file, &err, items))
}

/// Reads `round,position,item,qhat` rows into a given reward model.
pub fn read_qhat(reader: impl Read, file: &str, items: &mut ItemIds) -> anyhow::Result<Given> {
    let mut rows = Vec::new();
    for_each_row(reader, file, &QHAT_COLUMNS, |row| {
        rows.push((row.int(0)?, row.int(1)?, row.item(2, items)?, row.finite(3)?));
        Ok(())
    })?;
    Given::new(rows).map_err(|err| model_error(file, &err, items))
}

/// A whole-file error of `Target::new` or `Given::new`, with the item as the file spells it
/// (every per-row check already happened with its line number).
fn model_error(file: &str, err: &OpeError, items: &ItemIds) -> anyhow::Error {
    if let OpeError::DuplicateRow { round, position, item } = *err {
        anyhow!("{file}: round {round} position {position} item {:?}: given more than once", items.name(item))
    } else {
        anyhow!("{file}: {err}")
    }
}

/// Reads a CSV file with exactly `columns` (any order) and calls `each` on every data row.
fn for_each_row(
    reader: impl Read,
    file: &str,
    columns: &[&'static str],
    mut each: impl FnMut(&Row<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut csv = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(reader);
    let headers = csv.byte_headers().with_context(|| format!("{file}: reading the header"))?.clone();
    let index = column_index(&headers, file, columns)?;
    let mut record = csv::ByteRecord::new();
    let mut rows = 0usize;
    while csv.read_byte_record(&mut record).with_context(|| format!("{file}: reading"))? {
        rows += 1;
        ensure!(
            rows <= MAX_ROWS,
            "{file}: more than {MAX_ROWS} rows; aisle ope reads at most {MAX_ROWS} per file"
        );
        let line = record.position().map_or(0, csv::Position::line);
        each(&Row { file, line, columns, index: &index, record: &record })?;
    }
    ensure!(rows > 0, "{file}: no rows after the header");
    Ok(())
}

/// The record position of each expected column; refuses missing, unknown and repeated columns.
fn column_index(headers: &csv::ByteRecord, file: &str, columns: &[&str]) -> anyhow::Result<Vec<usize>> {
    let expected = columns.join(",");
    let mut index = vec![usize::MAX; columns.len()];
    for (at, header) in headers.iter().enumerate() {
        let name = String::from_utf8_lossy(header);
        let Some(c) = columns.iter().position(|&col| col == name) else {
            bail!("{file}: unknown column `{}`; the columns are exactly {expected}", clip_text(&name));
        };
        ensure!(index[c] == usize::MAX, "{file}: column `{name}` appears twice");
        index[c] = at;
    }
    if let Some(c) = index.iter().position(|&at| at == usize::MAX) {
        bail!(
            "{file}: missing column `{}`; the columns are exactly {expected} (with a header line)",
            columns[c]
        );
    }
    Ok(index)
}

/// One data row, its fields looked up by expected column.
struct Row<'a> {
    file: &'a str,
    line: u64,
    columns: &'a [&'static str],
    index: &'a [usize],
    record: &'a csv::ByteRecord,
}

impl Row<'_> {
    fn raw(&self, column: usize) -> &[u8] {
        &self.record[self.index[column]]
    }

    /// The field as the file spells it, shortened for a message.
    fn shown(&self, column: usize) -> String {
        clip_text(&String::from_utf8_lossy(self.raw(column)))
    }

    /// `FILE line N, FIELD: problem`.
    fn bad(&self, column: usize, problem: impl Display) -> anyhow::Error {
        anyhow!("{} line {}, {}: {problem}", self.file, self.line, self.columns[column])
    }

    fn int<T: std::str::FromStr + TypeBounds>(&self, column: usize) -> anyhow::Result<T> {
        std::str::from_utf8(self.raw(column)).ok().and_then(|s| s.parse().ok()).ok_or_else(|| {
            self.bad(column, format!("`{}` is not an integer in 0..={}", self.shown(column), T::MAX_TEXT))
        })
    }

    fn float(&self, column: usize) -> anyhow::Result<f64> {
        std::str::from_utf8(self.raw(column))
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.bad(column, format!("`{}` is not a number", self.shown(column))))
    }

    fn finite(&self, column: usize) -> anyhow::Result<f64> {
        let value = self.float(column)?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(self.bad(column, format!("{} is not finite", self.shown(column))))
        }
    }

    fn item(&self, column: usize, items: &mut ItemIds) -> anyhow::Result<u32> {
        let raw = self.raw(column);
        if raw.is_empty() {
            return Err(self.bad(column, "empty"));
        }
        items.intern(raw).ok_or_else(|| self.bad(column, "more than 2³² distinct items"))
    }
}

/// The largest value of an id type, for messages.
trait TypeBounds {
    const MAX_TEXT: &'static str;
}

impl TypeBounds for u64 {
    const MAX_TEXT: &'static str = "18446744073709551615";
}

impl TypeBounds for u32 {
    const MAX_TEXT: &'static str = "4294967295";
}

fn clip_text(text: &str) -> String {
    if text.chars().count() <= SHOWN_CHARS {
        text.to_owned()
    } else {
        text.chars().take(SHOWN_CHARS).collect::<String>() + "…"
    }
}

/// Prints the report: two tables (log and weights, estimates) or one JSON document.
pub fn print(report: &OpeReport, format: OutputArg) -> anyhow::Result<()> {
    match format {
        OutputArg::Json => {
            report::print(&(serde_json::to_string_pretty(report)? + "\n"));
            Ok(())
        }
        OutputArg::Table | OutputArg::Markdown => {
            report::print_table(
                "Log and importance weights w = π_e/π₀",
                &weight_table(report),
                report,
                format,
            )?;
            report::print("\n");
            let q_hat = match report.reward_model {
                RewardModelKind::ItemPositionMean => "mean reward per (item, position) fitted on this log",
                RewardModelKind::Given => "given (--qhat)",
            };
            let title = format!(
                "Estimates per row ({:.0}% percentile bootstrap over rounds, {} resamples, seed {}; DR's q̂: {q_hat})",
                100.0 * (1.0 - report.alpha),
                report.resamples,
                report.seed
            );
            report::print_table(&title, &estimate_table(report), report, format)
        }
    }
}

fn weight_table(report: &OpeReport) -> Table {
    let share = if report.rows > 0 { 100.0 * report.ess / report.rows as f64 } else { 0.0 };
    let headers =
        ["rows", "rounds", "ESS (Σw)²/Σw²", "ESS % of rows", "max w", "mean w", "rows without target"];
    Table {
        headers: headers.map(String::from).to_vec(),
        rows: vec![vec![
            report.rows.to_string(),
            report.rounds.to_string(),
            format!("{:.1}", report.ess),
            format!("{share:.2}%"),
            format!("{:.4}", report.max_weight),
            format!("{:.4}", report.mean_weight),
            report.rows_without_target.to_string(),
        ]],
    }
}

fn estimate_table(report: &OpeReport) -> Table {
    let e = &report.estimates;
    let clipped = format!("IPS clipped at {}", report.clip.unwrap_or(f64::NAN));
    let rows = [("IPS", e.ips), (clipped.as_str(), e.ips_clipped), ("SNIPS", e.snips), ("DR", e.dr)];
    Table {
        headers: ["estimator", "estimate", "low", "high"].map(String::from).to_vec(),
        rows: rows
            .into_iter()
            .filter_map(|(name, interval)| {
                interval.map(|i| {
                    vec![
                        name.to_owned(),
                        format!("{:.6}", i.estimate),
                        format!("{:.6}", i.low),
                        format!("{:.6}", i.high),
                    ]
                })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(text: &str) -> anyhow::Result<Vec<Logged>> {
        read_log(text.as_bytes(), "log.csv", &mut ItemIds::default())
    }

    fn message(result: anyhow::Result<impl std::fmt::Debug>) -> String {
        format!("{:#}", result.expect_err("refused"))
    }

    #[test]
    fn columns_are_found_by_name_and_items_interned_across_files() {
        let mut items = ItemIds::default();
        let log = "item,reward,round,propensity,position\nshoe,1,7,0.5,0\n hat ,0,8,0.25,1\n";
        let log = read_log(log.as_bytes(), "log.csv", &mut items).expect("valid");
        assert_eq!(log[0], Logged { round: 7, position: 0, item: 0, reward: 1.0, propensity: 0.5 });
        assert_eq!((log[1].round, log[1].position, log[1].item), (8, 1, 1), "fields are trimmed");
        let target = "round,position,item,prob\n7,0,hat,0.5\n7,0,shoe,0.5\n";
        let target = read_target(target.as_bytes(), "target.csv", &mut items).expect("valid");
        assert_eq!(target.prob(7, 0, 0), 0.5);
        assert_eq!(target.prob(7, 0, 1), 0.5);
    }

    #[test]
    fn every_bad_field_names_file_line_and_field() {
        let head = "round,position,item,reward,propensity\n0,0,a,1,0.5\n";
        let cases = [
            ("1,0,a,1,0", "log.csv line 3, propensity: 0 is not in (0, 1]"),
            ("1,0,a,1,1.5", "log.csv line 3, propensity: 1.5 is not in (0, 1]"),
            ("1,0,a,1,NaN", "log.csv line 3, propensity: NaN is not in (0, 1]"),
            ("1,0,a,inf,0.5", "log.csv line 3, reward: inf is not finite"),
            ("1,0,a,x,0.5", "log.csv line 3, reward: `x` is not a number"),
            ("-1,0,a,1,0.5", "log.csv line 3, round: `-1` is not an integer in 0..=18446744073709551615"),
            (
                "1,4294967296,a,1,0.5",
                "log.csv line 3, position: `4294967296` is not an integer in 0..=4294967295",
            ),
            ("1,0,,1,0.5", "log.csv line 3, item: empty"),
        ];
        for (row, expected) in cases {
            assert_eq!(message(log_of(&format!("{head}{row}\n"))), expected);
        }
        let mut items = ItemIds::default();
        let target = "round,position,item,prob\n0,0,a,-0.1\n";
        let err = read_target(target.as_bytes(), "target.csv", &mut items);
        assert_eq!(message(err), "target.csv line 2, prob: -0.1 is not in [0, 1]");
        let qhat = "round,position,item,qhat\n0,0,a,NaN\n";
        let err = read_qhat(qhat.as_bytes(), "qhat.csv", &mut items);
        assert_eq!(message(err), "qhat.csv line 2, qhat: NaN is not finite");
    }

    #[test]
    fn headers_must_be_exactly_the_columns() {
        let unknown = message(log_of("round,position,item,reward,propensity,user\n0,0,a,1,0.5,u\n"));
        assert!(unknown.starts_with("log.csv: unknown column `user`"), "{unknown}");
        let missing = message(log_of("round,position,item,reward\n0,0,a,1\n"));
        assert!(missing.starts_with("log.csv: missing column `propensity`"), "{missing}");
        let twice = message(log_of("round,round,position,item,reward,propensity\n0,0,0,a,1,0.5\n"));
        assert!(twice.contains("column `round` appears twice"), "{twice}");
        assert!(message(log_of("round,position,item,reward,propensity\n")).contains("no rows"));
        assert!(message(log_of("")).contains("missing column `round`"));
        let ragged = message(log_of("round,position,item,reward,propensity\n0,0,a,1\n"));
        assert!(ragged.starts_with("log.csv: reading"), "{ragged}");
    }

    #[test]
    fn repeated_slots_and_items_are_refused_by_name() {
        let log = message(log_of("round,position,item,reward,propensity\n3,1,a,1,0.5\n3,1,b,0,0.5\n"));
        assert!(log.contains("round 3 position 1 is logged more than once"), "{log}");
        let target = "round,position,item,prob\n0,0,sku-9,0.5\n0,0,sku-9,0.25\n";
        let err = message(read_target(target.as_bytes(), "target.csv", &mut ItemIds::default()));
        assert_eq!(err, "target.csv: round 0 position 0 item \"sku-9\": given more than once");
        let over = "round,position,item,prob\n2,1,a,0.75\n2,1,b,0.5\n";
        let err = message(read_target(over.as_bytes(), "target.csv", &mut ItemIds::default()));
        assert_eq!(err, "target.csv: round 2 position 1: target probabilities sum to 1.25 > 1");
    }

    fn options() -> OpeOptions {
        OpeOptions {
            estimators: vec![Estimator::Ips, Estimator::Snips, Estimator::Dr],
            resamples: 200,
            alpha: 0.1,
            seed: 7,
            clip: Some(1.5),
        }
    }

    #[test]
    fn report_has_hand_computed_estimates_and_weight_diagnostics() {
        let row = |round, item, reward, propensity| Logged { round, position: 0, item, reward, propensity };
        let log = [row(0, 1, 1.0, 0.5), row(1, 2, 0.0, 0.25), row(2, 1, 1.0, 0.8), row(3, 1, 1.0, 0.5)];
        // w = 2, 2, 0.3125 and 0 (round 3 has no target rows at all).
        let target =
            Target::new([(0, 0, 1, 1.0), (1, 0, 1, 0.5), (1, 0, 2, 0.5), (2, 0, 2, 0.75), (2, 0, 1, 0.25)])
                .expect("valid");
        let report = estimate(&log, &target, None, &options()).expect("estimates");
        let (sum, sum_sq) = (4.3125, 8.0 + 0.3125 * 0.3125);
        assert_eq!((report.rows, report.rounds, report.rows_without_target), (4, 4, 1));
        assert!((report.ess - sum * sum / sum_sq).abs() < 1e-12);
        assert_eq!(report.max_weight, 2.0);
        assert!((report.mean_weight - sum / 4.0).abs() < 1e-12);
        let e = &report.estimates;
        assert!((e.ips.expect("asked").estimate - 2.3125 / 4.0).abs() < 1e-12);
        assert!((e.snips.expect("asked").estimate - 2.3125 / sum).abs() < 1e-12);
        // Clipped at 1.5: r·min(w, 1.5) = 1.5 + 0 + 0.3125 + 0.
        let clipped = e.ips_clipped.expect("asked");
        assert!((clipped.estimate - 1.8125 / 4.0).abs() < 1e-12);
        assert!(clipped.low <= clipped.high && clipped.high <= 1.5, "{clipped:?}");
        assert_eq!(report.reward_model, RewardModelKind::ItemPositionMean);
        let json = serde_json::to_value(&report).expect("serialises");
        assert_eq!(json["reward_model"], "item_position_mean");
        assert_eq!(json["estimates"].as_object().expect("map").len(), 4);
    }

    #[test]
    fn no_overlap_is_an_error_not_a_nan() {
        let log = [Logged { round: 0, position: 0, item: 1, reward: 1.0, propensity: 0.5 }];
        let target = Target::new([(0, 0, 2, 1.0)]).expect("valid");
        let err = estimate(&log, &target, None, &options()).expect_err("no overlap");
        assert_eq!(err, OpeError::NoOverlap);
    }
}
