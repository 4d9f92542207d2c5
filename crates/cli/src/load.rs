//! Reading datasets for evaluation: one file to split, or a train/test pair sharing one id space.

use std::path::Path;

use aisle_core::{EventKind, EventWeights, Feedback, Interactions};
use aisle_ingest::{Event, EventFormat, ImportOptions, ImportReport, Importer, to_interactions};
use anyhow::Context;
use clap::ValueEnum;

/// File formats `--format` accepts.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// MovieLens 100k `u.data`: user, item, rating, timestamp, tab-separated.
    #[value(name = "ml-100k")]
    Ml100k,
    /// MovieLens 1M `ratings.dat`: `user::item::rating::timestamp`.
    #[value(name = "ml-1m")]
    Ml1m,
    /// MovieLens latest `ratings.csv` (header with userId, movieId, rating, timestamp).
    #[value(name = "ml-latest")]
    MlLatest,
    /// Comma-separated events; columns by header name, else user, item, value, timestamp.
    Csv,
    /// Tab-separated events; columns as for csv.
    Tsv,
    /// One JSON event per line, as `POST /v1/events` takes them.
    Jsonl,
}

impl FormatArg {
    fn event_format(self) -> EventFormat {
        match self {
            FormatArg::Ml100k => EventFormat::Ml100k,
            FormatArg::Ml1m => EventFormat::Ml1m,
            FormatArg::MlLatest => EventFormat::MlLatest,
            FormatArg::Csv => EventFormat::csv(),
            FormatArg::Tsv => EventFormat::tsv(),
            FormatArg::Jsonl => EventFormat::Jsonl,
        }
    }
}

/// `--feedback`: how event values are read.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FeedbackArg {
    /// Explicit when every event is a rating, else implicit.
    Auto,
    /// Ratings: models predict them, RMSE/MAE are reported.
    Explicit,
    /// Confidence: event weights summed per (user, item).
    Implicit,
}

/// A dataset ready to evaluate: interaction matrices over one id space.
pub struct Loaded {
    /// All files' interactions (one matrix per file, in the order read).
    pub matrices: Vec<Interactions>,
    /// Import reports, one per file.
    pub reports: Vec<ImportReport>,
}

/// Reads each of `paths` with `format` into one id space.
pub fn load(
    paths: &[&Path],
    format: FormatArg,
    feedback: FeedbackArg,
    strict: bool,
) -> anyhow::Result<Loaded> {
    let mut importer = Importer::new(ImportOptions { strict, ..ImportOptions::default() });
    let mut batches = Vec::with_capacity(paths.len());
    let mut reports = Vec::with_capacity(paths.len());
    for path in paths {
        let batch = importer
            .read_events(path, &format.event_format())
            .with_context(|| format!("importing {}", path.display()))?;
        anyhow::ensure!(
            !batch.events.is_empty(),
            "{}: no valid event in the file\n{}",
            path.display(),
            batch.report
        );
        reports.push(batch.report);
        batches.push(batch.events);
    }
    let feedback = resolve_feedback(feedback, &batches);
    let (n_users, n_items) = (importer.users().len(), importer.items().len());
    let weights = EventWeights::default();
    let matrices = batches
        .iter()
        .map(|events| to_interactions(events, n_users, n_items, feedback, &weights))
        .collect::<Result<_, _>>()?;
    Ok(Loaded { matrices, reports })
}

fn resolve_feedback(arg: FeedbackArg, batches: &[Vec<Event>]) -> Feedback {
    match arg {
        FeedbackArg::Explicit => Feedback::Explicit,
        FeedbackArg::Implicit => Feedback::Implicit,
        FeedbackArg::Auto => {
            let all_ratings = batches.iter().flatten().all(|e| e.kind == EventKind::Rating);
            if all_ratings { Feedback::Explicit } else { Feedback::Implicit }
        }
    }
}
