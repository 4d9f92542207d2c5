//! Exact duplicate rows and repeated event ids are dropped and counted.

use aisle_core::EventKind;
use aisle_ingest::{EventFormat, ImportOptions, Importer};

use crate::import;

#[test]
fn exact_duplicate_rows_are_dropped_and_counted() {
    let data = b"1\t10\t5\t100\n1\t10\t5\t100\n1\t10\t4\t100\n1 \t 10\t5.0\t100\n1\t10\t5\t101\n";
    let (_, b) = import(data, &EventFormat::Ml100k);
    // Line 4 differs only in spacing and number formatting: the same event.
    assert_eq!((b.report.rows, b.report.accepted, b.report.duplicates), (5, 3, 2), "{}", b.report);
    assert_eq!(
        b.events.iter().map(|e| (e.value, e.ts)).collect::<Vec<_>>(),
        [(5.0, 100), (4.0, 100), (5.0, 101)]
    );
    assert!(b.report.to_string().contains("2 duplicates"));
}

#[test]
fn repeated_event_ids_are_duplicates_even_across_files() {
    let data = b"user_id,item_id,type,event_id\nu1,i1,view,e1\nu1,i1,view,e2\nu2,i2,click,e1\nu1,i1,view,\n";
    let mut imp = Importer::new(ImportOptions::default());
    let b = imp.read_events_from_reader(&data[..], "a", &EventFormat::csv()).unwrap();
    // e2 repeats e1's content but is a different event; e1 again is a retry.
    assert_eq!((b.report.accepted, b.report.duplicates), (3, 1), "{}", b.report);
    assert!(b.events.iter().all(|e| e.kind == EventKind::View));
    let again = imp
        .read_events_from_reader(
            &b"{\"user_id\":\"u9\",\"item_id\":\"i9\",\"event_id\":\"e2\"}\n"[..],
            "b",
            &EventFormat::Jsonl,
        )
        .unwrap();
    assert_eq!((again.report.accepted, again.report.duplicates), (0, 1));
}

#[test]
fn duplicates_are_judged_per_file() {
    let mut imp = Importer::new(ImportOptions::default());
    let row = &b"1\t10\t5\t100\n"[..];
    let a = imp.read_events_from_reader(row, "train", &EventFormat::Ml100k).unwrap();
    let b = imp.read_events_from_reader(row, "test", &EventFormat::Ml100k).unwrap();
    assert_eq!((a.report.accepted, b.report.accepted, b.report.duplicates), (1, 1, 0));
}
