//! `aisle export`: what the store holds and what the serving model learned, as Parquet files a
//! warehouse or a Spark job reads: the event log, the catalog, user attributes, the model's user
//! and item vectors, and its precomputed similar-item lists.
//!
//! Reads the store directly (no engine, no training): the log page by page, so memory stays
//! bounded by a row group whatever the log's size. Each file is written under a temporary name
//! and renamed when complete, so a reader never sees half a file.

use std::path::{Path, PathBuf};

use aisle_engine::Artifact;
use aisle_ingest::{ColumnKind, ParquetWriter, Put};
use aisle_store::Store;
use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::report;
use crate::serve::StoreArgs;

/// Events read from the store per page.
const EVENT_PAGE: usize = 50_000;

/// Arguments of `aisle export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Config and store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The folder to write into (created if missing; files of the same names are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// What to write (comma-separated). Default: all there is (the model's files only when a
    /// model serves, its factors only when it has them); a part asked for by name that cannot be
    /// written is an error.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub what: Option<Vec<Part>>,
}

/// The files `aisle export` can write.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// `events.parquet`: the event log in order (seq, event_id, user_id, item_id, type, value,
    /// timestamp, session_id, recommendation_id).
    Events,
    /// `items.parquet`: the catalog.
    Items,
    /// `users.parquet`: user attributes.
    Users,
    /// `user_factors.parquet` and `item_factors.parquet`: the serving model's vectors (factor
    /// models only: SVD, SVD++, iALS, BPR, the hybrid).
    Factors,
    /// `similar_items.parquet`: the serving model's precomputed similar items (item_id, rank,
    /// similar_item_id, score).
    Similar,
}

/// Writes the parts asked for.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let config = args.store.config(Vec::new())?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let store = aisle_store::AnyStore::open(&config.store.url())
            .await
            .with_context(|| format!("opening the store {}", config.store.shown_url()))?;
        let named = args.what.as_deref();
        let wants = |p: Part| named.is_none_or(|w| w.contains(&p));
        if wants(Part::Events) {
            let n = export_events(&store, &args.out).await?;
            report::note(&format!("wrote {n} events to {}", args.out.join("events.parquet").display()));
        }
        if wants(Part::Items) {
            let n = export_items(&store, &args.out).await?;
            report::note(&format!("wrote {n} items to {}", args.out.join("items.parquet").display()));
        }
        if wants(Part::Users) {
            let n = export_users(&store, &args.out).await?;
            report::note(&format!("wrote {n} users to {}", args.out.join("users.parquet").display()));
        }
        if wants(Part::Factors) || wants(Part::Similar) {
            let Some(active) = store.active_model().await? else {
                if named.is_none() {
                    report::note("no model is serving yet, so no factors or similar items were written");
                    return Ok(());
                }
                anyhow::bail!(
                    "no model is serving yet: run `aisle train` first, or export only events,items,users"
                );
            };
            let version = active.version;
            let bytes = store
                .model_artifact(version)
                .await?
                .with_context(|| format!("model version {version} has no artifact"))?;
            let artifact = tokio::task::spawn_blocking(move || Artifact::decode(version, &bytes)).await??;
            let meta = vec![
                ("aisle.model", active.model.name.clone()),
                ("aisle.model_version", version.to_string()),
                ("aisle.trained_on_seq", active.model.trained_on_seq.to_string()),
            ];
            let out = args.out.clone();
            let name = active.model.name.clone();
            // By default, a model without vectors (a neighbourhood model, EASE, ...) writes its
            // similar items only; asked for by name, its factors are an error.
            let factors = match named {
                None => artifact.model.factors().is_some(),
                Some(_) => wants(Part::Factors),
            };
            if !factors && named.is_none() {
                report::note(&format!(
                    "the serving model ({name}) has no factors; wrote its similar items only"
                ));
            }
            let similar = wants(Part::Similar);
            tokio::task::spawn_blocking(move || write_model(&artifact, &out, &meta, factors, similar, &name))
                .await??;
        }
        anyhow::Ok(())
    })
}

/// A file being written under a temporary name, renamed into place by [`Output::commit`].
struct Output {
    path: PathBuf,
    part: PathBuf,
    w: ParquetWriter,
}

impl Output {
    fn create(
        path: PathBuf,
        columns: &[(&str, ColumnKind, bool)],
        metadata: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let part = path.with_extension("parquet.part");
        let w = ParquetWriter::create(&part, columns, metadata)
            .with_context(|| format!("creating {}", part.display()))?;
        Ok(Output { path, part, w })
    }

    /// Finishes the file and renames it into place; the rows written.
    fn commit(self) -> anyhow::Result<u64> {
        let n = self.w.finish().with_context(|| format!("writing {}", self.part.display()))?;
        std::fs::rename(&self.part, &self.path)
            .with_context(|| format!("renaming {} into place", self.part.display()))?;
        Ok(n)
    }
}

async fn export_events(store: &aisle_store::AnyStore, dir: &Path) -> anyhow::Result<u64> {
    use ColumnKind::{Float, Int64, Text, TimestampMillis};
    let columns = [
        ("seq", Int64, false),
        ("event_id", Text, true),
        ("user_id", Text, false),
        ("item_id", Text, false),
        ("type", Text, false),
        ("value", Float, true),
        ("timestamp", TimestampMillis, false),
        ("session_id", Text, true),
        ("recommendation_id", Text, true),
    ];
    let mut out = Output::create(dir.join("events.parquet"), &columns, &[])?;
    let mut seq = 0;
    loop {
        let page = store.events_after(seq, EVENT_PAGE).await?;
        let Some(last) = page.last() else { break };
        seq = last.seq;
        for s in &page {
            let e = &s.event;
            out.w.push(&[
                Put::Int(s.seq as i64),
                opt_text(&e.event_id),
                Put::Text(&e.user_id),
                Put::Text(&e.item_id),
                Put::Text(e.kind.as_str()),
                e.value.map_or(Put::Null, |v| Put::Float(f64::from(v))),
                Put::Int(e.ts_ms),
                opt_text(&e.session_id),
                opt_text(&e.recommendation_id),
            ])?;
        }
    }
    out.commit()
}

/// A nullable text cell.
fn opt_text(t: &Option<String>) -> Put<'_> {
    t.as_deref().map_or(Put::Null, Put::Text)
}

async fn export_items(store: &aisle_store::AnyStore, dir: &Path) -> anyhow::Result<u64> {
    use ColumnKind::{Bool, Double, Text, TextList, TimestampMillis};
    let items = store.all_items().await?;
    let columns = [
        ("id", Text, false),
        ("title", Text, false),
        ("description", Text, false),
        ("categories", TextList, false),
        ("tags", TextList, false),
        ("brand", Text, true),
        ("price", Double, true),
        ("in_stock", Bool, false),
        ("attributes", Text, false),
        ("updated_at", TimestampMillis, false),
    ];
    let mut out = Output::create(dir.join("items.parquet"), &columns, &[])?;
    for it in &items {
        let attributes = serde_json::Value::Object(it.attributes.clone()).to_string();
        out.w.push(&[
            Put::Text(&it.id),
            Put::Text(&it.title),
            Put::Text(&it.description),
            Put::Texts(&it.categories),
            Put::Texts(&it.tags),
            it.brand.as_deref().map_or(Put::Null, Put::Text),
            it.price.map_or(Put::Null, Put::Float),
            Put::Bool(it.in_stock),
            Put::Text(&attributes),
            Put::Int(it.updated_at_ms),
        ])?;
    }
    out.commit()
}

async fn export_users(store: &aisle_store::AnyStore, dir: &Path) -> anyhow::Result<u64> {
    use ColumnKind::{Text, TimestampMillis};
    let users = store.all_users().await?;
    let columns =
        [("user_id", Text, false), ("attributes", Text, false), ("updated_at", TimestampMillis, false)];
    let mut out = Output::create(dir.join("users.parquet"), &columns, &[])?;
    for u in &users {
        let attributes = serde_json::Value::Object(u.attributes.clone()).to_string();
        out.w.push(&[Put::Text(&u.id), Put::Text(&attributes), Put::Int(u.updated_at_ms)])?;
    }
    out.commit()
}

/// The model's files: vectors and similar lists.
fn write_model(
    artifact: &Artifact,
    dir: &Path,
    meta: &[(&str, String)],
    factors: bool,
    similar: bool,
    name: &str,
) -> anyhow::Result<()> {
    if factors {
        let Some(f) = artifact.model.factors() else {
            anyhow::bail!(
                "the serving model ({name}) has no factors to export: only svd, svdpp, ials, bpr and hybrid do"
            );
        };
        let mut meta = meta.to_vec();
        meta.push(("aisle.dim", f.dim.to_string()));
        if let Some(mu) = f.global_mean {
            meta.push(("aisle.global_mean", mu.to_string()));
        }
        for (file, ids, vectors, bias, id_col) in [
            ("user_factors.parquet", &artifact.users, f.users, f.user_bias, "user_id"),
            ("item_factors.parquet", &artifact.items, f.items, f.item_bias, "item_id"),
        ] {
            let columns = [
                (id_col, ColumnKind::Text, false),
                ("bias", ColumnKind::Float, true),
                ("factors", ColumnKind::FloatList, false),
            ];
            let rows = vectors.chunks_exact(f.dim.max(1));
            anyhow::ensure!(rows.len() == ids.len(), "{file}: {} vectors for {} ids", rows.len(), ids.len());
            let mut out = Output::create(dir.join(file), &columns, &meta)?;
            for (k, (id, v)) in ids.iter().zip(rows).enumerate() {
                let b = bias.get(k).map_or(Put::Null, |&b| Put::Float(f64::from(b)));
                out.w.push(&[Put::Text(id), b, Put::Floats(v)])?;
            }
            let n = out.commit()?;
            report::note(&format!("wrote {n} vectors of {} to {}", f.dim, dir.join(file).display()));
        }
    }
    if similar {
        let columns = [
            ("item_id", ColumnKind::Text, false),
            ("rank", ColumnKind::Int32, false),
            ("similar_item_id", ColumnKind::Text, false),
            ("score", ColumnKind::Float, false),
        ];
        let lists = artifact.similar.len();
        if lists == 0 {
            report::note("the serving model has no precomputed similar items (training.similar_depth = 0?)");
        }
        let mut out = Output::create(dir.join("similar_items.parquet"), &columns, meta)?;
        for (i, id) in artifact.items.iter().enumerate().take(lists) {
            for (rank, s) in artifact.similar.scored(i).iter().enumerate() {
                let Some(other) = artifact.items.get(s.item.index()) else { continue };
                out.w.push(&[
                    Put::Text(id),
                    Put::Int(rank as i64 + 1),
                    Put::Text(other),
                    Put::Float(f64::from(s.score)),
                ])?;
            }
        }
        let n = out.commit()?;
        report::note(&format!(
            "wrote {n} similar-item rows to {}",
            dir.join("similar_items.parquet").display()
        ));
    }
    Ok(())
}
