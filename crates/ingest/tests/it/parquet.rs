//! Parquet in: files pyarrow wrote the way pandas, Spark and BigQuery exports do
//! (`scripts/parquet_fixtures.py`), corrupt files, and what aisle's own writer writes.

use std::path::{Path, PathBuf};

use aisle_core::EventKind;
use aisle_ingest::{
    Column, ColumnKind, ColumnMap, EventBatch, EventFormat, ImportError, ImportOptions, Importer, ItemFormat,
    ParquetWriter, Put,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn options() -> ImportOptions {
    // 2026-12-01: the fixture's year-2200 event is in the future.
    ImportOptions { now_ms: Some(1_795_000_000_000), ..ImportOptions::default() }
}

fn read(path: &Path, map: ColumnMap) -> (Importer, Result<EventBatch, ImportError>) {
    let mut imp = Importer::new(options());
    let batch = imp.read_events(path, &EventFormat::Parquet(map));
    (imp, batch)
}

/// (user, item, kind, value, ts, session) of each accepted event.
fn rows(imp: &Importer, b: &EventBatch) -> Vec<(String, String, EventKind, f32, i64, Option<String>)> {
    b.events
        .iter()
        .map(|e| {
            let session = e.session.map(|s| imp.sessions().id(s).unwrap().to_owned());
            let user = imp.users().id(e.user.0).unwrap().to_owned();
            (user, imp.items().id(e.item.0).unwrap().to_owned(), e.kind, e.value, e.ts, session)
        })
        .collect()
}

fn expected() -> Vec<(String, String, EventKind, f32, i64, Option<String>)> {
    let s = |x: &str| x.to_owned();
    vec![
        (s("1"), s("a"), EventKind::View, 1.0, 1_700_000_000, Some(s("s1"))),
        (s("2"), s("b"), EventKind::Purchase, 19.99, 1_700_000_001, Some(s("s2"))),
        (s("2"), s("c"), EventKind::AddToCart, 1.0, 1_700_000_002, Some(s("s2"))),
        (s("3"), s("a"), EventKind::Rating, 4.5, 1_700_000_003, None),
        (s("7"), s("c"), EventKind::View, 1.0, 1_700_000_009, None),
    ]
}

#[test]
fn pandas_events_decode_by_type_and_bad_rows_are_named_by_row() {
    let (imp, batch) = read(&data("events_pandas.parquet"), ColumnMap::default());
    let b = batch.expect("the file reads");
    let r = &b.report;
    // Rows 5–8 are in the second row group of four: numbering runs across groups.
    assert_eq!((r.rows, r.accepted, r.rejected, r.duplicates), (10, 5, 4, 1), "{r}");
    let bad: Vec<(u64, &str)> = r.examples.iter().map(|e| (e.line, e.field)).collect();
    assert_eq!(bad, [(5, "user"), (6, "type"), (7, "value"), (8, "timestamp")], "{r}");
    assert_eq!(rows(&imp, &b), expected(), "int64 user ids, ns timestamps, dictionary-encoded types");
}

#[test]
fn spark_int96_times_and_zstd_read_the_same_events() {
    let (imp, batch) = read(&data("events_spark.parquet"), ColumnMap::default());
    let b = batch.expect("the file reads");
    assert_eq!((b.report.rows, b.report.accepted), (10, 5), "{}", b.report);
    assert_eq!(rows(&imp, &b), expected());
}

#[test]
fn dates_integer_milliseconds_and_named_columns() {
    let path = data("events_dates.parquet");
    let by = |ts: &str| ColumnMap { timestamp: Column::Name(ts.into()), ..ColumnMap::default() };
    let (imp, batch) = read(&path, by("day"));
    let b = batch.unwrap();
    let got = rows(&imp, &b);
    assert_eq!(got[0].0, "c1", "customer_id is a user alias");
    assert_eq!(got[1].1, "11", "an integer sku becomes a decimal id");
    assert_eq!((got[0].4, got[1].4), (1_704_153_600, 1_704_240_000), "dates are midnight UTC");
    let (_, batch) = read(&path, by("MS"));
    let ts: Vec<i64> = batch.unwrap().events.iter().map(|e| e.ts).collect();
    assert_eq!(ts, [1_704_164_645, 1_704_164_646], "integer milliseconds, the column named in any case");
    match read(&path, by("where")).1 {
        Err(ImportError::Unreadable { reason, .. }) => assert!(reason.contains("struct"), "{reason}"),
        other => panic!("a struct column cannot be a timestamp: {other:?}"),
    }
    let (_, listed) = read(&data("events_pandas.parquet"), by("extra"));
    assert!(matches!(listed, Err(ImportError::Unreadable { reason, .. }) if reason.contains("is a list")));
    match read(&path, by("when")).1 {
        Err(ImportError::MissingColumn { column: "timestamp", header, .. }) => {
            assert_eq!(header, "customer_id,sku,day,ms,where")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_parquet_catalog_fills_every_item_field() {
    let mut imp = Importer::new(ImportOptions::default());
    let r = imp.read_items(&data("items.parquet"), &ItemFormat::CatalogParquet).unwrap();
    assert_eq!((r.rows, r.accepted, r.rejected), (3, 2, 1), "{r}");
    assert_eq!((r.examples[0].line, r.examples[0].field), (3, "title"), "a control character in a title");
    let item = |id: &str| imp.catalog().get(aisle_core::ItemIdx(imp.items().get(id).unwrap())).unwrap();
    let p1 = item("p1");
    assert_eq!(
        (p1.title.as_str(), p1.brand.as_deref(), p1.price, p1.in_stock),
        ("Red shoe", Some("Acme"), Some(19.99), true)
    );
    assert_eq!(p1.categories, ["shoes", "shoes/red"]);
    let attrs = serde_json::Value::Object(p1.attributes.clone());
    assert_eq!(attrs, serde_json::json!({"colour": "red", "rating": 4.5, "sizes": [40, 41]}));
    let p2 = item("p2");
    assert_eq!(p2.categories, ["hats"], "a null element of a list is skipped");
    assert_eq!((p2.brand.as_deref(), p2.price, p2.in_stock), (None, Some(5.0), false));
    assert!(p2.attributes.is_empty(), "nulls and empty lists are no attributes: {:?}", p2.attributes);
}

#[test]
fn parquet_users_become_tokens() {
    let mut imp = Importer::new(ImportOptions::default());
    let r = imp.read_users(&data("users.parquet")).unwrap();
    assert_eq!((r.rows, r.accepted), (2, 2), "{r}");
    assert_eq!(imp.users().id(0), Some("1"));
    assert_eq!(imp.user_attributes()[0], ["segment=loyal", "age=34"]);
    assert_eq!(imp.user_attributes()[1], ["age=51"]);
}

#[test]
fn a_parquet_file_given_as_text_is_refused_and_text_given_as_parquet_is_unreadable() {
    let mut imp = Importer::new(ImportOptions::default());
    match imp.read_events(&data("events_pandas.parquet"), &EventFormat::csv()) {
        Err(ImportError::InvalidOptions { reason }) => {
            assert!(reason.contains("--format parquet"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let (_dir, path) = crate::file("e.csv", b"user,item\nu1,i1\n");
    assert!(matches!(read(&path, ColumnMap::default()).1, Err(ImportError::Unreadable { .. })));
}

/// Every truncation and many single-byte corruptions of a real file end in an error or in rows
/// the validators judged, never in a panic.
#[test]
fn corrupt_files_are_errors_not_panics() {
    let bytes = std::fs::read(data("events_pandas.parquet")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.parquet");
    let mut outcomes = [0usize; 2];
    for cut in (0..bytes.len()).step_by(97) {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        assert!(read(&path, ColumnMap::default()).1.is_err(), "cut at {cut}");
    }
    for (k, pos) in (0..bytes.len()).step_by(13).enumerate() {
        let mut bad = bytes.clone();
        bad[pos] ^= [0xff, 0x01, 0x80][k % 3];
        std::fs::write(&path, &bad).unwrap();
        outcomes[usize::from(read(&path, ColumnMap::default()).1.is_ok())] += 1;
    }
    assert!(
        outcomes[0] > 0 && outcomes[1] > 0,
        "some corruptions fail the file, some only data: {outcomes:?}"
    );
}

#[test]
fn what_aisles_writer_writes_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    let columns = [
        ("event_id", ColumnKind::Text, true),
        ("user_id", ColumnKind::Text, false),
        ("item_id", ColumnKind::Text, false),
        ("type", ColumnKind::Text, false),
        ("value", ColumnKind::Float, true),
        ("timestamp", ColumnKind::TimestampMillis, false),
        ("tags", ColumnKind::TextList, false),
    ];
    let mut w = ParquetWriter::create(&path, &columns, &[("k", "v".into())]).unwrap().with_group_rows(3);
    let tags = ["x".to_owned()];
    for k in 0..10i64 {
        let id = format!("e{k}");
        let kind = if k % 2 == 0 { "view" } else { "rating" };
        w.push(&[
            if k == 4 { Put::Null } else { Put::Text(&id) },
            Put::Text(&format!("u{}", k % 3)),
            Put::Text(&format!("i{k}")),
            Put::Text(kind),
            if k % 2 == 0 { Put::Null } else { Put::Float(k as f64 / 2.0) },
            Put::Int(1_700_000_000_000 + k * 1_500),
            Put::Texts(if k % 2 == 0 { &tags[..] } else { &[] }),
        ])
        .unwrap();
    }
    assert!(w.push(&[Put::Null; 7]).is_err(), "a null in a required column is refused");
    assert_eq!(w.finish().unwrap(), 10);
    let (imp, batch) = read(&path, ColumnMap::default());
    let b = batch.unwrap();
    assert_eq!((b.report.rows, b.report.accepted), (10, 10), "{}", b.report);
    let got = rows(&imp, &b);
    assert_eq!(got[3], ("u0".into(), "i3".into(), EventKind::Rating, 1.5, 1_700_000_004, None));
    assert_eq!(got[4].2, EventKind::View, "row 5 of the second group");
    assert_eq!(got[9].4, 1_700_000_013, "milliseconds floor to seconds");
}

/// Writes `users` (one event per user, on item `i1`) as a Parquet part file.
fn part(path: &Path, users: &[&str]) {
    let columns = [("user_id", ColumnKind::Text, false), ("item_id", ColumnKind::Text, false)];
    let mut w = ParquetWriter::create(path, &columns, &[]).unwrap();
    for u in users {
        w.push(&[Put::Text(u), Put::Text(if u.is_empty() { "" } else { "i1" })]).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn a_folder_of_part_files_reads_as_one_file_in_path_order() {
    // What Spark writes: part files, a `_SUCCESS` marker, checksums, partition subfolders.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("events");
    std::fs::create_dir_all(root.join("dt=2024-01-02")).unwrap();
    part(&root.join("part-00001.snappy.parquet"), &["u3", "", "u4"]);
    part(&root.join("part-00000.snappy.parquet"), &["u1", "u2"]);
    part(&root.join("dt=2024-01-02").join("part-00000.parquet"), &["u5"]);
    std::fs::write(root.join("_SUCCESS"), b"").unwrap();
    std::fs::write(root.join(".part-00000.snappy.parquet.crc"), b"crc").unwrap();
    let (imp, batch) = read(&root, ColumnMap::default());
    let b = batch.unwrap();
    assert_eq!((b.report.rows, b.report.accepted, b.report.rejected), (6, 5, 1), "{}", b.report);
    let users: Vec<&str> = b.events.iter().map(|e| imp.users().id(e.user.0).unwrap()).collect();
    assert_eq!(users, ["u5", "u1", "u2", "u3", "u4"], "files in path order");
    assert_eq!(b.report.examples[0].line, 5, "rows are numbered across the files");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(matches!(read(&empty, ColumnMap::default()).1, Err(ImportError::Unreadable { .. })));
}

/// A Parquet file read in batches gives what the whole read gives, and `rows_in` reads its
/// row count from the metadata.
#[test]
fn a_streamed_parquet_read_equals_the_whole_read() {
    let path = data("events_pandas.parquet");
    let format = EventFormat::Parquet(ColumnMap::default());
    assert_eq!(aisle_ingest::rows_in(&path, &format).expect("rows"), 10);
    let (whole_imp, whole) = read(&path, ColumnMap::default());
    let whole = whole.expect("the file reads");
    let mut imp = Importer::new(options());
    let mut streamed = Vec::new();
    let report = imp
        .stream_events(&path, &format, 2, |chunk| {
            assert!(chunk.events.len() <= 2);
            for e in &chunk.events {
                let session = e.session.map(|s| chunk.sessions.id(s).unwrap().to_owned());
                let user = chunk.users.id(e.user.0).unwrap().to_owned();
                streamed.push((
                    user,
                    chunk.items.id(e.item.0).unwrap().to_owned(),
                    e.kind,
                    e.value,
                    e.ts,
                    session,
                ));
            }
            Ok(())
        })
        .expect("the file streams");
    assert_eq!(streamed, rows(&whole_imp, &whole));
    assert_eq!((report.rows, report.accepted, report.rejected, report.duplicates), (10, 5, 4, 1), "{report}");
}
