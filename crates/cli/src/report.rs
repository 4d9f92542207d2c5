//! Rendering reports: aligned tables for people, Markdown for docs, JSON for programs.
//! Reports go to stdout; notes and import summaries go to stderr so `--output json` stays parseable.

use std::fmt::Write as _;
use std::io::IsTerminal;

use aisle_core::eval::{MeanStd, RankingSummary};
use aisle_ingest::ImportReport;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};

use crate::eval::{EvalReport, ModelResult};

/// `--output`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// Aligned columns.
    Table,
    /// One JSON document.
    Json,
    /// Markdown tables.
    Markdown,
}

/// A note for the person at the terminal (stderr).
pub fn note(text: &str) {
    #[expect(clippy::print_stderr, reason = "the CLI's notes go to stderr, reports to stdout")]
    {
        eprintln!("{text}");
    }
}

/// A progress bar of `len` steps on stderr, hidden when asked or when stderr is not a terminal
/// (so logs and pipes get the notes only).
pub fn progress_bar(hidden: bool, len: u64) -> ProgressBar {
    if hidden || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// What the importer accepted and rejected, per file.
pub fn import_summary(reports: &[ImportReport]) {
    for r in reports {
        note(&r.to_string());
    }
}

/// Prints a command's output (stdout).
pub fn print(text: &str) {
    out(text);
}

/// Writes a report to stdout.
fn out(text: &str) {
    #[expect(clippy::print_stdout, reason = "the report is the command's output")]
    {
        print!("{text}");
    }
}

/// A table of strings: one header row, then data rows.
pub struct Table {
    /// Column names.
    pub headers: Vec<String>,
    /// Cells, one row per entry.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn text(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([self.headers[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (c, cell) in cells.iter().enumerate() {
                let pad = widths[c] - cell.chars().count();
                if c == 0 {
                    let _ = write!(s, "{cell}{}", " ".repeat(pad));
                } else {
                    let _ = write!(s, "  {}{cell}", " ".repeat(pad));
                }
            }
            s.trim_end().to_owned() + "\n"
        };
        let mut s = line(&self.headers);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        s += &line(&rule);
        for r in &self.rows {
            s += &line(r);
        }
        s
    }

    fn markdown(&self) -> String {
        let mut s = format!("| {} |\n", self.headers.join(" | "));
        s += &format!("|{}\n", "---|".repeat(self.headers.len()));
        for r in &self.rows {
            s += &format!("| {} |\n", r.join(" | "));
        }
        s
    }
}

/// A mean over splits and its spread; a single split has no spread to show.
#[derive(Copy, Clone)]
struct Stat {
    m: MeanStd,
    splits: usize,
}

fn cell(s: Stat, digits: usize) -> String {
    if s.splits == 1 {
        format!("{:.digits$}", s.m.mean)
    } else {
        format!("{:.digits$} ± {:.digits$}", s.m.mean, s.m.std)
    }
}

/// Seconds shown as milliseconds.
fn ms(s: Stat) -> String {
    let scaled = MeanStd { mean: s.m.mean * 1e3, std: s.m.std * 1e3 };
    cell(Stat { m: scaled, ..s }, 1)
}

fn label(r: &ModelResult) -> String {
    if r.added_baseline { format!("{} (baseline)", r.model) } else { r.model.clone() }
}

fn rating_table(report: &EvalReport) -> Option<Table> {
    let rows: Vec<Vec<String>> = report
        .results
        .iter()
        .filter_map(|r| {
            let rating = r.summary.rating.as_ref()?;
            let at = |m| Stat { m, splits: rating.folds };
            Some(vec![
                label(r),
                cell(at(rating.rmse), 4),
                cell(at(rating.mae), 4),
                ms(at(r.summary.fit_s)),
                ms(at(r.summary.predict_s)),
            ])
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let headers = ["model", "RMSE", "MAE", "fit ms", "predict ms"].map(String::from).to_vec();
    Some(Table { headers, rows })
}

type Field = fn(&RankingSummary) -> MeanStd;

fn ranking_table(report: &EvalReport) -> Table {
    let k = report.k;
    let fields: [(String, Field); 10] = [
        (format!("P@{k}"), |m| m.precision),
        (format!("R@{k}"), |m| m.recall),
        (format!("F1@{k}"), |m| m.f1),
        (format!("NDCG@{k}"), |m| m.ndcg),
        (format!("MAP@{k}"), |m| m.map),
        ("MRR".into(), |m| m.mrr),
        (format!("HR@{k}"), |m| m.hit_rate),
        ("AUC".into(), |m| m.auc),
        ("cov".into(), |m| m.coverage),
        ("novelty".into(), |m| m.novelty),
    ];
    let mut headers = vec!["model".to_owned()];
    headers.extend(fields.iter().map(|(h, _)| h.clone()));
    headers.extend(["fit ms".to_owned(), "rank ms".to_owned()]);
    let rows = report
        .results
        .iter()
        .map(|r| {
            let ranking = &r.summary.ranking;
            let at = |m| Stat { m, splits: ranking.folds };
            let mut row = vec![label(r)];
            row.extend(fields.iter().map(|(_, f)| cell(at(f(ranking)), 4)));
            row.push(ms(at(r.summary.fit_s)));
            row.push(ms(at(r.summary.rank_s)));
            row
        })
        .collect();
    Table { headers, rows }
}

fn heading(report: &EvalReport) -> (String, String) {
    let candidates =
        report.results.first().map(|r| format!("{:?}", r.summary.ranking.candidates)).unwrap_or_default();
    let data = format!(
        "{} users × {} items, {} interactions ({:?} feedback); {}",
        report.n_users, report.n_items, report.n_interactions, report.feedback, report.protocol
    );
    let ranking = format!(
        "Ranking, top {} over candidates {candidates} (train items excluded), mean ± std over {} split(s)",
        report.k,
        report.results.first().map_or(0, |r| r.summary.ranking.folds)
    );
    (data, ranking)
}

/// Prints `table` under `title` as an aligned table or Markdown, or `json` for `--output json`.
pub fn print_table(
    title: &str,
    table: &Table,
    json: &impl serde::Serialize,
    output: OutputArg,
) -> anyhow::Result<()> {
    match output {
        OutputArg::Json => out(&(serde_json::to_string_pretty(json)? + "\n")),
        OutputArg::Table => out(&format!("{title}\n{}", table.text())),
        OutputArg::Markdown => out(&format!("**{title}**\n\n{}", table.markdown())),
    }
    Ok(())
}

/// Prints the evaluation report in the chosen form.
pub fn print_eval(report: &EvalReport, output: OutputArg) -> anyhow::Result<()> {
    let (data, ranking_title) = heading(report);
    match output {
        OutputArg::Json => out(&(serde_json::to_string_pretty(report)? + "\n")),
        OutputArg::Table | OutputArg::Markdown => {
            let markdown = output == OutputArg::Markdown;
            let render = |title: &str, table: &Table| {
                if markdown {
                    format!("**{title}**\n\n{}", table.markdown())
                } else {
                    format!("{title}\n{}", table.text())
                }
            };
            let mut s = format!("{data}\n\n");
            if let Some(t) = rating_table(report) {
                s += &render("Rating prediction", &t);
                s += "\n";
            }
            s += &render(&ranking_title, &ranking_table(report));
            out(&s);
        }
    }
    Ok(())
}
