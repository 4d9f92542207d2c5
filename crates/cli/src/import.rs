//! `aisle import`: loads catalog, user and event files into the store through the same
//! importers `aisle eval` uses, with the server's own validation (ids, values per kind, times no
//! further in the future than the clock skew), reporting bad rows by line and field.
//!
//! Importing is idempotent: an event keeps its file's `event_id`, and one without gets
//! `import:{file name}:{line}:{row hash}`, so running the same import again (or the same file
//! with lines appended) stores nothing twice.

use std::path::{Path, PathBuf};

use aisle_core::{IdMap, ItemIdx};
use aisle_engine::{InOrder, LOAD_BATCH};
use aisle_ingest::{Chunk, ImportError, ImportOptions, Importer, Origin};
use aisle_store::{EventRecord, ItemRecord, UserRecord};
use anyhow::Context;
use clap::Args;

use crate::load::{FormatArg, ItemsFormatArg};
use crate::report;
use crate::serve::{StoreArgs, load_reporting, open};

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

fn id_of(map: &IdMap, idx: u32) -> String {
    map.id(idx).unwrap_or_default().to_owned()
}

/// What names a file in the ids of its events: its file name when that is short and plain, else
/// a hash of it (ids are at most 256 bytes).
fn file_tag(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let plain = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        return name;
    }
    let hash = name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("#{hash:016x}")
}

/// The event id of an imported row: the file's own, else one from the file, line and row.
fn event_id(tag: &str, origin: &Origin) -> String {
    match &origin.event_id {
        Some(id) => id.to_string(),
        None => format!("import:{tag}:{}:{:016x}", origin.line, origin.digest),
    }
}

/// Reads the catalog and user files, then streams the event file into the store: the file is
/// parsed on a thread of its own while the store writes the batches parsed before, and memory
/// holds a few batches, not the file.
pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.events.is_some() || args.items.is_some() || args.users.is_some(),
        "nothing to import: give --events, --items and/or --users"
    );
    let config = args.store.config(Vec::new())?;
    let mut importer = Importer::new(ImportOptions {
        strict: args.strict,
        limits: config.events,
        now_ms: Some(aisle_engine::now_ms()),
        origins: true,
        ..ImportOptions::default()
    });
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
    report::import_summary(&reports);
    let (items, users) = (item_records(&importer), user_records(&importer));
    let runtime = tokio::runtime::Runtime::new()?;
    let engine = runtime.block_on(open(&config))?;
    let loaded = match &args.events {
        None => runtime.block_on(load_reporting(&engine, items, users, InOrder(std::iter::empty()), 0))?,
        Some(path) => {
            let format = args.format.event_format();
            let expected =
                aisle_ingest::rows_in(path, &format).with_context(|| format!("{}", path.display()))?;
            let (batches, received) = tokio::sync::mpsc::channel(2);
            let tag = file_tag(path);
            let (loaded, read) = std::thread::scope(|scope| {
                let reader = scope.spawn(|| {
                    // Moved in, so that the channel closes (and the load ends) when the read does.
                    let batches = batches;
                    importer.stream_events(path, &format, LOAD_BATCH, |chunk| {
                        batches
                            .blocking_send(records(&tag, &chunk))
                            .map_err(|_| ImportError::Stopped { input: path.display().to_string() })
                    })
                });
                let loaded =
                    runtime.block_on(load_reporting(&engine, items, users, received, expected as usize));
                (loaded, reader.join())
            });
            let read = read.map_err(|_| anyhow::anyhow!("the reader of {} panicked", path.display()))?;
            // A failed store write is the cause when both failed (the reader only saw it stop).
            let loaded = loaded?;
            match read {
                Ok(report) => report::import_summary(&[report]),
                Err(e) => {
                    report::note(&format!(
                        "stored {} new events ({} stored before) from {} before this error; \
                         running the import again stores none of them twice",
                        loaded.events,
                        loaded.duplicates,
                        path.display()
                    ));
                    return Err(e.into());
                }
            }
            loaded
        }
    };
    runtime.block_on(engine.flush())?;
    report::note(&format!(
        "stored {} items, {} users, {} new events ({} stored before) into {}",
        loaded.items,
        loaded.users,
        loaded.events,
        loaded.duplicates,
        config.store.shown_url()
    ));
    Ok(())
}

/// The catalog read so far, as store records.
fn item_records(importer: &Importer) -> Vec<ItemRecord> {
    let catalog = importer.catalog();
    (0..importer.items().len() as u32).filter_map(|i| catalog.get(ItemIdx(i)).cloned()).collect()
}

/// The users described so far (with attributes), as store records.
fn user_records(importer: &Importer) -> Vec<UserRecord> {
    importer
        .user_attributes()
        .iter()
        .enumerate()
        .filter(|(_, a)| !a.is_empty())
        .map(|(u, attrs)| UserRecord {
            id: id_of(importer.users(), u as u32),
            attributes: attrs
                .iter()
                .filter_map(|t| t.split_once('='))
                .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
                .collect(),
            updated_at_ms: 0,
        })
        .collect()
}

/// The store records of a batch of events read from the file tagged `tag`.
fn records(tag: &str, chunk: &Chunk<'_>) -> Vec<EventRecord> {
    chunk
        .events
        .iter()
        .zip(&chunk.origins)
        .map(|(e, origin)| EventRecord {
            event_id: Some(event_id(tag, origin)),
            user_id: id_of(chunk.users, e.user.0),
            item_id: id_of(chunk.items, e.item.0),
            kind: e.kind,
            value: Some(e.value),
            ts_ms: e.ts.saturating_mul(1000),
            session_id: e.session.map(|s| id_of(chunk.sessions, s)),
            recommendation_id: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_events_get_ids_from_their_file_line_and_row() {
        assert_eq!(file_tag(Path::new("/data/events-2026.csv")), "events-2026.csv");
        let odd = file_tag(Path::new("/data/my events (copy).csv"));
        assert!(odd.starts_with('#') && odd.len() == 17, "{odd}");
        let origin = Origin { line: 12, event_id: None, digest: 0xab };
        assert_eq!(event_id("f.csv", &origin), "import:f.csv:12:00000000000000ab");
        let own = Origin { event_id: Some("order-7".into()), ..origin };
        assert_eq!(event_id("f.csv", &own), "order-7", "a file's own event id wins");
    }
}
