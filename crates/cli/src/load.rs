//! Reading datasets for evaluation: one file to split, or a train/test pair sharing one id space.

use std::path::{Path, PathBuf};

use aisle_core::{
    DEFAULT_SESSION_GAP_S, EventKind, EventWeights, Feedback, Interactions, Sequences, SideInfo,
};
use aisle_ingest::{
    Event, EventFormat, ImportOptions, ImportReport, Importer, ItemFormat, to_interactions, to_sequences,
};
use anyhow::Context;
use clap::{Args, ValueEnum};

/// Where the data comes from: the input options `aisle eval` and `aisle tune` share.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// One dataset, split by the command (eval: --cv or --split; tune: --validation).
    #[arg(long, required_unless_present = "train", conflicts_with_all = ["train", "test"])]
    pub data: Option<PathBuf>,
    /// A training file (eval: evaluated against --test; tune: searched on, a validation split
    /// held out of it).
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// The test file paired with --train, never seen by a search.
    #[arg(long, requires = "train")]
    pub test: Option<PathBuf>,
    /// Format of the input files.
    #[arg(long, value_enum, default_value = "tsv")]
    pub format: FormatArg,
    /// A catalog to read before the events: every item in it is ranked, touched or not, and the
    /// content and hybrid models learn from its attributes.
    #[arg(long)]
    pub items: Option<PathBuf>,
    /// Format of --items.
    #[arg(long, value_enum, default_value = "catalog", requires = "items")]
    pub items_format: ItemsFormatArg,
    /// User attributes (a CSV/TSV with a header and a user id column), features for the hybrid.
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// How values are read: explicit ratings or implicit confidence.
    #[arg(long, value_enum, default_value = "auto")]
    pub feedback: FeedbackArg,
    /// Make any bad input row fatal.
    #[arg(long)]
    pub strict: bool,
}

impl DataArgs {
    /// The files to read, event files `events` first.
    pub fn sources<'a>(&'a self, events: &'a [&'a Path]) -> Sources<'a> {
        Sources {
            events,
            format: self.format,
            items: self.items.as_deref().map(|p| (p, self.items_format)),
            users: self.users.as_deref(),
            feedback: self.feedback,
            strict: self.strict,
        }
    }
}

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
    /// Apache Parquet (Spark, BigQuery, pandas, DuckDB), a file or a folder of part files;
    /// columns by name as for csv.
    Parquet,
}

impl FormatArg {
    pub fn event_format(self) -> EventFormat {
        match self {
            FormatArg::Ml100k => EventFormat::Ml100k,
            FormatArg::Ml1m => EventFormat::Ml1m,
            FormatArg::MlLatest => EventFormat::MlLatest,
            FormatArg::Csv => EventFormat::csv(),
            FormatArg::Tsv => EventFormat::tsv(),
            FormatArg::Jsonl => EventFormat::Jsonl,
            FormatArg::Parquet => EventFormat::Parquet(aisle_ingest::ColumnMap::default()),
        }
    }
}

/// Catalog formats `--items-format` accepts.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ItemsFormatArg {
    /// The shop catalog, one JSON item per line (what `aisle generate` writes).
    Catalog,
    /// MovieLens 100k `u.item` (`id|title|date|video|url|19 genre flags`).
    #[value(name = "ml-100k")]
    Ml100k,
    /// MovieLens 100k items as RecBole ships them (`ml-100k.item`, tab-separated with a header).
    Recbole,
    /// MovieLens 1M `movies.dat` (`id::title::Genre|Genre`).
    #[value(name = "ml-1m")]
    Ml1m,
    /// MovieLens latest `movies.csv` (`movieId,title,genres`).
    #[value(name = "ml-latest")]
    MlLatest,
    /// The shop catalog as Parquet (id, title, description, categories, tags, brand, price,
    /// in_stock, attributes; other columns become attributes).
    Parquet,
}

impl ItemsFormatArg {
    pub fn item_format(self) -> ItemFormat {
        match self {
            ItemsFormatArg::Catalog => ItemFormat::CatalogJsonl,
            ItemsFormatArg::Ml100k => ItemFormat::Ml100kItem,
            ItemsFormatArg::Recbole => ItemFormat::RecBoleItem,
            ItemsFormatArg::Ml1m => ItemFormat::Ml1mMovies,
            ItemsFormatArg::MlLatest => ItemFormat::MlLatestMovies,
            ItemsFormatArg::Parquet => ItemFormat::CatalogParquet,
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
    /// The same events in order, cut into sessions (one per file, like `matrices`).
    pub sequences: Vec<Sequences>,
    /// Import reports, one per file (the catalog's and the users' first).
    pub reports: Vec<ImportReport>,
    /// Item attributes from the catalog and user attributes from the users file, indexed like
    /// the matrices (empty without them).
    pub side: SideInfo,
}

/// What to read: event files (one matrix each) and optionally a catalog that fixes the item space.
#[derive(Copy, Clone)]
pub struct Sources<'a> {
    /// Event files, in order.
    pub events: &'a [&'a Path],
    /// Their format.
    pub format: FormatArg,
    /// A catalog read first, so items nobody touched are in the id space too.
    pub items: Option<(&'a Path, ItemsFormatArg)>,
    /// A user attributes file (a delimited file with a header and a user id column).
    pub users: Option<&'a Path>,
    /// How values are read.
    pub feedback: FeedbackArg,
    /// Make the first bad row fatal.
    pub strict: bool,
}

/// Reads the catalog (if any) and each event file into one id space.
pub fn load(sources: &Sources<'_>) -> anyhow::Result<Loaded> {
    let Sources { events: paths, format, items, users, feedback, strict } = *sources;
    let mut importer = Importer::new(ImportOptions { strict, ..ImportOptions::default() });
    let mut batches = Vec::with_capacity(paths.len());
    let mut reports = Vec::with_capacity(paths.len() + 1);
    if let Some((path, items_format)) = items {
        let report = importer
            .read_items(path, &items_format.item_format())
            .with_context(|| format!("importing the catalog {}", path.display()))?;
        reports.push(report);
    }
    if let Some(path) = users {
        let report =
            importer.read_users(path).with_context(|| format!("importing the users {}", path.display()))?;
        reports.push(report);
    }
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
    let sequences = batches
        .iter()
        .map(|events| to_sequences(events, n_users, n_items, feedback, &weights, DEFAULT_SESSION_GAP_S))
        .collect::<Result<_, _>>()?;
    let side = SideInfo {
        items: importer.catalog().attributes(n_items),
        users: importer.user_attributes().to_vec(),
    };
    Ok(Loaded { matrices, sequences, reports, side })
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
