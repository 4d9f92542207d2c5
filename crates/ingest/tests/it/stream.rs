//! A file read in batches (`Importer::stream_events`) gives what a whole read gives: the same
//! events in the same order, the same origins and the same report, whatever the batch size.

use aisle_ingest::{Chunk, EventBatch, EventFormat, ImportError, ImportOptions, Importer, Origin};

use crate::file;

/// An event named by its ids, comparable across importers.
type Named = (String, String, &'static str, u32, i64, Option<String>);

fn named(
    users: &aisle_core::IdMap,
    items: &aisle_core::IdMap,
    sessions: &aisle_core::IdMap,
    e: &aisle_ingest::Event,
) -> Named {
    let id = |m: &aisle_core::IdMap, k: u32| m.id(k).expect("a known id").to_owned();
    (
        id(users, e.user.0),
        id(items, e.item.0),
        e.kind.as_str(),
        e.value.to_bits(),
        e.ts,
        e.session.map(|s| id(sessions, s)),
    )
}

fn options(strict: bool) -> ImportOptions {
    ImportOptions { origins: true, strict, now_ms: Some(1_800_000_000_000), ..ImportOptions::default() }
}

/// A catalog of two items, so that events on others are counted as unknown.
fn with_catalog(strict: bool) -> Importer {
    let mut imp = Importer::new(options(strict));
    let (_dir, catalog) =
        file("items.jsonl", b"{\"id\":\"i1\",\"title\":\"One\"}\n{\"id\":\"i2\",\"title\":\"Two\"}\n");
    imp.read_items(&catalog, &aisle_ingest::ItemFormat::CatalogJsonl).expect("catalog");
    imp
}

const CSV: &[u8] = b"user_id,item_id,type,value,timestamp,session_id,event_id
u1,i1,view,,1700000000,s1,
u1,i1,view,,1700000000,s1,
u2,i2,purchase,30,1700000001,s2,
u2,i9,view,,1700000002,,
u3,i1,rating,nope,1700000003,,
u3,i1,click,,1700000004,s3,e1
u4,i2,click,,1700000005,s3,e1
u4,i2,click,,1700000005,s3,e2
u5,i7,add_to_cart,,1700000006,,
u1,i1,view,,1700000000,s9,
u6,i2,view,,1700000007,s4,
";

fn whole(
    data: &[u8],
    name: &str,
    format: &EventFormat,
) -> (Vec<Named>, Vec<Origin>, aisle_ingest::ImportReport) {
    let (_dir, path) = file(name, data);
    let mut imp = with_catalog(false);
    let EventBatch { events, origins, report } = imp.read_events(&path, format).expect("whole read");
    let events = events.iter().map(|e| named(imp.users(), imp.items(), imp.sessions(), e)).collect();
    (events, origins, report)
}

fn streamed(
    data: &[u8],
    name: &str,
    format: &EventFormat,
    batch: usize,
) -> (Vec<Named>, Vec<Origin>, aisle_ingest::ImportReport, Vec<usize>) {
    let (_dir, path) = file(name, data);
    let mut imp = with_catalog(false);
    let (mut events, mut origins, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    let report = imp
        .stream_events(&path, format, batch, |chunk: Chunk<'_>| {
            sizes.push(chunk.events.len());
            assert_eq!(chunk.origins.len(), chunk.events.len(), "an origin per event");
            events.extend(chunk.events.iter().map(|e| named(chunk.users, chunk.items, chunk.sessions, e)));
            origins.extend(chunk.origins);
            Ok(())
        })
        .expect("streamed read");
    (events, origins, report, sizes)
}

#[test]
fn a_streamed_read_equals_a_whole_read_at_any_batch_size() {
    for (data, name, format) in [
        (CSV, "e.csv", EventFormat::csv()),
        (
            &b"{\"user_id\":\"u1\",\"item_id\":\"i1\",\"type\":\"view\",\"timestamp\":5}
{\"user_id\":\"u1\",\"item_id\":\"i1\",\"type\":\"view\",\"timestamp\":5}
not json
{\"user_id\":\"u2\",\"item_id\":\"i8\",\"type\":\"add_to_cart\",\"timestamp\":6,\"event_id\":\"x\"}
{\"user_id\":\"u3\",\"item_id\":\"i2\",\"type\":\"add_to_cart\",\"timestamp\":7,\"event_id\":\"x\"}
{\"user_id\":\"u3\",\"item_id\":\"i2\",\"type\":\"add_to_cart\",\"timestamp\":7}
"[..],
            "e.jsonl",
            EventFormat::Jsonl,
        ),
    ] {
        let (events, origins, report) = whole(data, name, &format);
        assert!(report.duplicates >= 2 && report.rejected == 1 && report.unknown_items >= 1, "{report}");
        for batch in [1, 2, 3, 1000] {
            let (s_events, s_origins, s_report, sizes) = streamed(data, name, &format, batch);
            assert_eq!(s_events, events, "{name}, batches of {batch}");
            assert_eq!(s_origins, origins, "{name}, batches of {batch}");
            assert_eq!(
                (
                    s_report.rows,
                    s_report.accepted,
                    s_report.rejected,
                    s_report.duplicates,
                    s_report.unknown_items
                ),
                (report.rows, report.accepted, report.rejected, report.duplicates, report.unknown_items),
                "{name}, batches of {batch}"
            );
            let (last, full) = sizes.split_last().expect("at least one batch");
            assert!(full.iter().all(|&n| n == batch) && (1..=batch).contains(last), "{sizes:?}");
        }
    }
}

#[test]
fn a_consumer_error_or_a_strict_bad_row_stops_the_read_after_the_batches_before() {
    let (_dir, path) = file("e.csv", CSV);
    let mut imp = with_catalog(false);
    let mut handed = 0;
    let stopped = imp.stream_events(&path, &EventFormat::csv(), 2, |chunk| {
        handed += chunk.events.len();
        if handed >= 4 {
            return Err(ImportError::Stopped { input: "the store".into() });
        }
        Ok(())
    });
    assert!(
        matches!(stopped, Err(ImportError::Stopped { ref input }) if input == "the store"),
        "{stopped:?}"
    );
    assert_eq!(handed, 4, "nothing is handed over after the consumer's error");

    for batch in [1, 2, 1000] {
        let mut strict = with_catalog(true);
        let mut before = Vec::new();
        let bad = strict.stream_events(&path, &EventFormat::csv(), batch, |chunk| {
            before.extend(chunk.origins.iter().map(|o| o.line));
            Ok(())
        });
        assert!(matches!(bad, Err(ImportError::BadRow { line: 6, field: "value", .. })), "{bad:?}");
        assert_eq!(
            before,
            [2, 4, 5],
            "batches of {batch}: the rows before the bad one are handed over, once"
        );
    }
}

#[test]
fn rows_in_counts_the_lines_of_a_text_file_with_or_without_a_last_newline() {
    let (_a, csv) = file("e.csv", CSV);
    assert_eq!(aisle_ingest::rows_in(&csv, &EventFormat::csv()).expect("count"), 12, "a header and 11 rows");
    let (_b, open_end) = file("f.csv", b"u,i\nu1,i1\nu2,i2");
    assert_eq!(aisle_ingest::rows_in(&open_end, &EventFormat::csv()).expect("count"), 3);
    let (_c, empty) = file("g.csv", b"");
    assert_eq!(aisle_ingest::rows_in(&empty, &EventFormat::csv()).expect("count"), 0);
}
