//! Integration tests of aisle-ingest.

mod bad_input;
mod dedup;
mod formats;
mod items;
mod parquet;
mod stream;
mod synth;
mod truth;
mod users;

use std::path::PathBuf;

use aisle_ingest::{EventBatch, EventFormat, ImportOptions, Importer};

/// Writes `content` to `name` in a fresh temporary directory (kept alive by the returned guard).
pub fn file(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("the file is written");
    (dir, path)
}

/// Imports `content` as `format` with a fresh lenient importer.
pub fn import(content: &[u8], format: &EventFormat) -> (Importer, EventBatch) {
    let mut imp = Importer::new(ImportOptions::default());
    let batch = imp.read_events_from_reader(content, "test", format).expect("the import runs");
    (imp, batch)
}

/// The external (user, item) ids of each event.
pub fn ids(imp: &Importer, batch: &EventBatch) -> Vec<(String, String)> {
    batch
        .events
        .iter()
        .map(|e| {
            let u = imp.users().id(e.user.0).expect("a known user");
            let i = imp.items().id(e.item.0).expect("a known item");
            (u.to_owned(), i.to_owned())
        })
        .collect()
}
