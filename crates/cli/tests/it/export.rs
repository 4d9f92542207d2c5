//! `aisle export` and Parquet import end to end: a shop imported from CSV, trained, exported to
//! Parquet, and the export imported into a second store holds the same events, items and users.

use std::path::Path;
use std::process::Command;

use aisle_ingest::{ColumnMap, EventFormat, ImportOptions, Importer, ItemFormat};

use crate::commands::{aisle, generate_shop, text};

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(args)
        .env("AISLE_MODEL__NAME", "ials")
        .env("AISLE_MODEL__PARAMS__FACTORS", "8")
        .output()
        .expect("the aisle binary runs");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "aisle {args:?}: {all}");
    all
}

type EventRow = (Option<String>, String, String, String, u32, i64);

/// Every event of an exported file as the importer reads it, with its event id.
fn events(path: &Path) -> Vec<EventRow> {
    let mut imp = Importer::new(ImportOptions { origins: true, ..ImportOptions::default() });
    let b = imp.read_events(path, &EventFormat::Parquet(ColumnMap::default())).unwrap();
    assert_eq!(b.report.rejected, 0, "{}", b.report);
    b.events
        .iter()
        .zip(&b.origins)
        .map(|(e, o)| {
            let user = imp.users().id(e.user.0).unwrap().to_owned();
            let item = imp.items().id(e.item.0).unwrap().to_owned();
            (
                o.event_id.as_deref().map(str::to_owned),
                user,
                item,
                e.kind.as_str().to_owned(),
                e.value.to_bits(),
                e.ts,
            )
        })
        .collect()
}

fn items(path: &Path) -> Vec<aisle_ingest::ItemRecord> {
    let mut imp = Importer::new(ImportOptions::default());
    let r = imp.read_items(path, &ItemFormat::CatalogParquet).unwrap();
    assert_eq!(r.rejected, 0, "{r}");
    let mut all: Vec<_> = (0..imp.items().len() as u32)
        .filter_map(|i| imp.catalog().get(aisle_core::ItemIdx(i)).cloned())
        .collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all
}

fn metadata(path: &Path) -> (i64, Vec<(String, String)>) {
    use parquet::file::reader::FileReader;
    let reader =
        parquet::file::serialized_reader::SerializedFileReader::new(std::fs::File::open(path).unwrap())
            .unwrap();
    let meta = reader.metadata().file_metadata();
    let kv = meta.key_value_metadata().into_iter().flatten();
    (meta.num_rows(), kv.map(|k| (k.key.clone(), k.value.clone().unwrap_or_default())).collect())
}

#[test]
fn an_export_imports_back_into_the_same_shop_and_carries_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, first, second) = (dir.path().join("shop"), dir.path().join("a"), dir.path().join("b"));
    let (ex, ex2) = (dir.path().join("ex"), dir.path().join("ex2"));
    generate_shop(&shop, false);
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    run(&[
        "import",
        "--data-dir",
        &s(&first),
        "--events",
        &s(&shop.join("events.csv")),
        "--items",
        &s(&shop.join("items.jsonl")),
        "--users",
        &s(&shop.join("users.csv")),
    ]);
    run(&["train", "--data-dir", &s(&first)]);
    let said = run(&["export", "--data-dir", &s(&first), "--out", &s(&ex)]);
    assert!(said.contains("wrote 6000 events"), "{said}");

    // The model's vectors: one row per item, as wide as the model, and what made them.
    let (rows, kv) = metadata(&ex.join("item_factors.parquet"));
    assert_eq!(rows, 120, "{kv:?}");
    for (k, v) in [("aisle.model", "ials"), ("aisle.dim", "8"), ("aisle.model_version", "1")] {
        assert!(kv.contains(&(k.to_owned(), v.to_owned())), "{k} in {kv:?}");
    }
    assert_eq!(metadata(&ex.join("user_factors.parquet")).0, 150);
    assert!(metadata(&ex.join("similar_items.parquet")).0 > 120, "several similar items per item");

    // The export is a shop of its own: imported into a fresh store, it exports the same again.
    let import = |store: &Path| {
        run(&[
            "import",
            "--data-dir",
            &s(store),
            "--events",
            &s(&ex.join("events.parquet")),
            "--format",
            "parquet",
            "--items",
            &s(&ex.join("items.parquet")),
            "--items-format",
            "parquet",
            "--users",
            &s(&ex.join("users.parquet")),
        ])
    };
    let said = import(&second);
    assert!(said.contains("stored 120 items, 150 users, 6000 new events"), "{said}");
    let said = import(&second);
    assert!(said.contains("0 new events (6000 stored before)"), "event ids came through: {said}");
    // No model serves there: asked for by name, factors are an error; by default, a note.
    let out = aisle(&["export", "--data-dir", &s(&second), "--out", &s(&ex2), "--what", "events,factors"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no model is serving yet"), "{}", text(&out.stderr));
    let said = run(&["export", "--data-dir", &s(&second), "--out", &s(&ex2)]);
    assert!(said.contains("no factors or similar items were written"), "{said}");
    assert!(!ex2.join("item_factors.parquet").exists());
    let (a, b) = (events(&ex.join("events.parquet")), events(&ex2.join("events.parquet")));
    assert_eq!(a.len(), 6000);
    assert!(a.iter().all(|e| e.0.is_some()), "every stored event has an id");
    assert_eq!(a, b, "the same events, ids, values and times, in the same order");
    assert_eq!(items(&ex.join("items.parquet")), items(&ex2.join("items.parquet")));
    let users = |p: &Path| {
        let mut imp = Importer::new(ImportOptions::default());
        imp.read_users(p).unwrap();
        let mut u: Vec<(String, Vec<String>)> = (0..imp.users().len() as u32)
            .map(|i| (imp.users().id(i).unwrap().to_owned(), imp.user_attributes()[i as usize].clone()))
            .collect();
        u.sort();
        u
    };
    let (ua, ub) = (users(&ex.join("users.parquet")), users(&ex2.join("users.parquet")));
    assert_eq!(ua.len(), 150);
    assert!(ua.iter().all(|(_, t)| t.iter().any(|t| t.starts_with("segment="))), "{:?}", &ua[..2]);
    assert_eq!(ua, ub);
}

#[test]
fn a_corrupt_parquet_file_is_one_clear_error_without_a_panic_message() {
    // A fuzz input on which the parquet crate panics (a negative column chunk offset).
    let corrupt = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ingest/tests/data/corrupt_offset.parquet");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = aisle(&[
        "import",
        "--data-dir",
        data.to_str().unwrap(),
        "--events",
        corrupt.to_str().unwrap(),
        "--format",
        "parquet",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("corrupt file (column start and length should not be negative)"), "{err}");
    assert!(!err.contains("panicked"), "the contained panic is not printed: {err}");
}
