//! `aisle import`: loads catalog, user and event files into the store through the same
//! importers `aisle eval` uses, reporting bad rows by line and field.

use std::path::PathBuf;

use aisle_core::{IdMap, ItemIdx};
use aisle_ingest::{ImportOptions, Importer, ItemMeta};
use aisle_store::{EventRecord, ItemRecord, UserRecord};
use anyhow::Context;
use clap::Args;

use crate::load::{FormatArg, ItemsFormatArg};
use crate::report;
use crate::serve::{StoreArgs, open};

/// Arguments of `aisle import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Config and store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// An event file.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Format of --events.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: FormatArg,
    /// A catalog file.
    #[arg(long)]
    pub items: Option<PathBuf>,
    /// Format of --items.
    #[arg(long, value_enum, default_value = "catalog")]
    pub items_format: ItemsFormatArg,
    /// A user attributes file (CSV/TSV with a header and a user id column).
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// Make any bad row fatal.
    #[arg(long)]
    pub strict: bool,
}

fn item_record(meta: &ItemMeta) -> ItemRecord {
    ItemRecord {
        id: meta.id.clone(),
        title: meta.title.clone(),
        description: meta.description.clone(),
        categories: meta.categories.clone(),
        tags: meta.tags.clone(),
        brand: meta.brand.clone(),
        price: meta.price,
        in_stock: meta.in_stock,
        attributes: meta.attributes.clone(),
        updated_at_ms: 0,
    }
}

fn id_of(map: &IdMap, idx: u32) -> String {
    map.id(idx).unwrap_or_default().to_owned()
}

/// Reads the files, then writes them into the store.
pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.events.is_some() || args.items.is_some() || args.users.is_some(),
        "nothing to import: give --events, --items and/or --users"
    );
    let config = args.store.config(Vec::new())?;
    let mut importer = Importer::new(ImportOptions { strict: args.strict, ..ImportOptions::default() });
    let mut reports = Vec::new();
    if let Some(p) = &args.items {
        reports.push(
            importer
                .read_items(p, &args.items_format.item_format())
                .with_context(|| format!("{}", p.display()))?,
        );
    }
    if let Some(p) = &args.users {
        reports.push(importer.read_users(p).with_context(|| format!("{}", p.display()))?);
    }
    let mut events = Vec::new();
    if let Some(p) = &args.events {
        let batch = importer
            .read_events(p, &args.format.event_format())
            .with_context(|| format!("{}", p.display()))?;
        reports.push(batch.report);
        events = batch.events;
    }
    report::import_summary(&reports);
    let user_attrs = importer.user_attributes().to_vec();
    let (users, items, catalog) = importer.into_parts();
    let item_records: Vec<ItemRecord> =
        (0..items.len() as u32).filter_map(|i| catalog.get(ItemIdx(i)).map(item_record)).collect();
    let user_records: Vec<UserRecord> = user_attrs
        .iter()
        .enumerate()
        .filter(|(_, a)| !a.is_empty())
        .map(|(u, attrs)| UserRecord {
            id: id_of(&users, u as u32),
            attributes: attrs
                .iter()
                .filter_map(|t| t.split_once('='))
                .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
                .collect(),
            updated_at_ms: 0,
        })
        .collect();
    let event_records: Vec<EventRecord> = events
        .iter()
        .map(|e| EventRecord {
            event_id: None,
            user_id: id_of(&users, e.user.0),
            item_id: id_of(&items, e.item.0),
            kind: e.kind,
            value: Some(e.value),
            ts_ms: e.ts.saturating_mul(1000),
            session_id: None,
            recommendation_id: None,
        })
        .collect();
    tokio::runtime::Runtime::new()?.block_on(async {
        let engine = open(&config).await?;
        let loaded = engine.load(item_records, user_records, event_records).await?;
        engine.flush().await?;
        report::note(&format!(
            "stored {} items, {} users, {} events into {}",
            loaded.items,
            loaded.users,
            loaded.events,
            config.store.url()
        ));
        anyhow::Ok(())
    })
}
