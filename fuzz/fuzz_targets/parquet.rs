//! Parquet files: the input is written to a file and read as events (leniently and strictly),
//! as a catalog and as user attributes. Asserted as for the text formats (`aisle_fuzz::
//! import_events`; the catalog's report adds up and every item kept passes `validate_item`).
//!
//! The reader contains the `parquet` crate's own panics on corrupt metadata (`catch_unwind`,
//! `crates/ingest/src/columnar/mod.rs`) and turns them into `ImportError::Unreadable`. libFuzzer's
//! panic hook aborts on any panic, caught or not, so the default hook is put back: a panic that
//! escapes the reader still aborts, at libfuzzer-sys's own `catch_unwind` around each input.
#![no_main]

use std::sync::Once;

use aisle_fuzz::Input;
use aisle_ingest::{ColumnMap, EventFormat, ImportError, ImportOptions, Importer, ItemFormat};
use libfuzzer_sys::fuzz_target;

static HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| drop(std::panic::take_hook()));
    let path = std::env::temp_dir().join(format!("aisle-fuzz-{}.parquet", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    aisle_fuzz::import_events_both_ways(Input::File(&path), &EventFormat::Parquet(ColumnMap::default()));
    for strict in [false, true] {
        let opts = ImportOptions { strict, ..ImportOptions::default() };
        let mut importer = Importer::new(opts);
        match importer.read_items(&path, &ItemFormat::CatalogParquet) {
            Ok(report) => {
                aisle_fuzz::check_report(&report, &opts);
                assert_eq!(importer.catalog().len() as u64, report.accepted, "catalog size != accepted");
            }
            Err(ImportError::BadRow { .. }) => assert!(strict, "a non-strict import failed on a row"),
            Err(_) => {}
        }
        aisle_fuzz::check_catalog(&importer);
        let mut importer = Importer::new(opts);
        match importer.read_users(&path) {
            Ok(report) => aisle_fuzz::check_report(&report, &opts),
            Err(ImportError::BadRow { .. }) => assert!(strict, "a non-strict import failed on a row"),
            Err(_) => {}
        }
    }
});
