//! Every rejection reason: counted, located, never fatal unless strict, nothing good lost.

use aisle_core::rng;
use aisle_ingest::{EventFormat, ImportError, ImportOptions, Importer, ItemFormat, MAX_LINE_BYTES};
use rand::Rng;

use crate::{ids, import};

/// A CSV log with one good row between each bad one; `(line, field, reason)` of each bad row.
fn bad_csv() -> (Vec<u8>, Vec<(u64, &'static str, &'static str)>) {
    let long_id = "x".repeat(257);
    let rows: Vec<Vec<u8>> = vec![
        b"user_id,item_id,type,value,timestamp".to_vec(),
        b"u1,i1,view,,100".to_vec(),
        b"u1,i2,view,100".to_vec(),
        b",i3,view,,100".to_vec(),
        format!("{long_id},i1,view,,100").into_bytes(),
        b"u2,i1,rating,four,100".to_vec(),
        b"u2,i1,rating,NaN,100".to_vec(),
        b"u2,i1,rating,inf,100".to_vec(),
        b"u2,i1,view,,yesterday".to_vec(),
        b"u2,i1,buy,,100".to_vec(),
        b"u2,i1,rating,,100".to_vec(),
        b"u\xff,i1,view,,100".to_vec(),
        b"u3,i3,purchase,9.5,200".to_vec(),
        b"u3,\"i4,view,,300".to_vec(),
    ];
    let mut data = rows.join(&b"\n"[..]);
    data.push(b'\n');
    let bad = vec![
        (3, "row", "wrong field count"),
        (4, "user", "empty id"),
        (5, "user", "id too long"),
        (6, "value", "bad number"),
        (7, "value", "non-finite value"),
        (8, "value", "non-finite value"),
        (9, "timestamp", "bad timestamp"),
        (10, "type", "unknown event type"),
        (11, "value", "missing field"),
        (12, "user", "invalid UTF-8"),
        (14, "row", "unterminated quote"),
    ];
    (data, bad)
}

#[test]
fn every_bad_csv_row_is_counted_with_its_line_and_field() {
    let (data, bad) = bad_csv();
    let mut imp =
        Importer::new(ImportOptions { strict: false, max_examples: 100, ..ImportOptions::default() });
    let b = imp.read_events_from_reader(&data[..], "bad.csv", &EventFormat::csv()).unwrap();
    let r = &b.report;
    assert_eq!((r.rows, r.accepted, r.rejected, r.duplicates), (13, 2, 11, 0), "{r}");
    let got: Vec<_> =
        r.examples.iter().map(|e| (e.line, e.field, e.reason.split(':').next().unwrap())).collect();
    assert_eq!(got, bad);
    assert_eq!(r.by_reason["non-finite value"], 2);
    assert_eq!(r.by_reason.values().sum::<u64>(), 11);
    assert!(r.examples[7].reason.contains("allowed: view, click, add_to_cart"), "{}", r.examples[7].reason);
    assert_eq!(ids(&imp, &b), [("u1".to_owned(), "i1".to_owned()), ("u3".to_owned(), "i3".to_owned())]);
    assert_eq!(imp.users().len(), 2, "rejected rows intern no ids");
    let text = r.to_string();
    assert!(
        text.contains("11 rejected") && text.contains("line 3 (row)") && text.contains("line 14"),
        "{text}"
    );
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(json["by_reason"]["bad number"], 1);
    assert_eq!(json["examples"][0]["line"], 3);
}

#[test]
fn examples_are_capped_but_counts_are_not() {
    let (data, _) = bad_csv();
    let (_, b) = import(&data, &EventFormat::csv());
    assert_eq!(b.report.examples.len(), 10);
    assert_eq!(b.report.rejected, 11);
    assert!(b.report.to_string().contains("and 1 more"));
}

#[test]
fn strict_mode_fails_on_the_first_bad_row() {
    let (data, _) = bad_csv();
    let mut imp = Importer::new(ImportOptions { strict: true, max_examples: 10, ..ImportOptions::default() });
    let err = imp.read_events_from_reader(&data[..], "bad.csv", &EventFormat::csv()).unwrap_err();
    match &err {
        ImportError::BadRow { input, line, field, reason } => {
            assert_eq!((input.as_str(), *line, *field), ("bad.csv", 3, "row"));
            assert!(reason.contains("expected 5 fields, found 4"), "{reason}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(err.to_string(), "bad.csv, line 3, field row: wrong field count: expected 5 fields, found 4");
}

#[test]
fn bad_jsonl_lines_are_counted_by_reason() {
    let data = b"{\"user_id\": \"u1\", \"item_id\": \"i1\"}\n\
        {\"user_id\": \"u1\", \"item_id\": \n\
        {\"item_id\": \"i1\"}\n\
        {\"user_id\": [1], \"item_id\": \"i1\"}\n\
        {\"user_id\": \"u1\", \"item_id\": \"i1\", \"timestamp\": true}\n\
        {\"user_id\": \"u1\", \"item_id\": \"i1\", \"value\": \"x\"}\n\
        {\"user_id\": \"u1\", \"item_id\": \"i1\", \"type\": \"wish\"}\n\
        {\"user_id\": \"\\u00ff\xff\", \"item_id\": \"i1\"}\n\
        [1, 2]\n";
    let mut imp =
        Importer::new(ImportOptions { strict: false, max_examples: 100, ..ImportOptions::default() });
    let b = imp.read_events_from_reader(&data[..], "e.jsonl", &EventFormat::Jsonl).unwrap();
    let r = &b.report;
    assert_eq!((r.rows, r.accepted, r.rejected), (9, 1, 8), "{r}");
    let got: Vec<_> = r.examples.iter().map(|e| (e.line, e.field)).collect();
    let want = [
        (2, "json"),
        (3, "user_id"),
        (4, "user_id"),
        (5, "timestamp"),
        (6, "value"),
        (7, "type"),
        (8, "json"),
        (9, "json"),
    ];
    assert_eq!(got, want);
    assert_eq!((r.by_reason["invalid JSON"], r.by_reason["invalid UTF-8"]), (3, 1));
}

#[test]
fn overlong_lines_are_rejected_not_buffered() {
    let mut data = b"1\t2\t3\t4\n".to_vec();
    data.extend(std::iter::repeat_n(b'9', MAX_LINE_BYTES + 10));
    data.extend_from_slice(b"\n5\t6\t3\t4\n");
    let (_, b) = import(&data, &EventFormat::Ml100k);
    assert_eq!((b.report.accepted, b.report.rejected), (2, 1));
    assert_eq!((b.report.examples[0].line, b.report.by_reason["line too long"]), (2, 1));
}

#[test]
fn random_bytes_never_panic_and_every_row_is_accounted_for() {
    let mut rng = rng::seeded(11);
    let alphabet = b"0123456789,\t\n\"::|{}[]: abcuvxyz.-\xff\xe9";
    let formats = [
        EventFormat::Ml100k,
        EventFormat::Ml1m,
        EventFormat::MlLatest,
        EventFormat::csv(),
        EventFormat::tsv(),
        EventFormat::Jsonl,
    ];
    for round in 0..200 {
        let len = rng.random_range(0..400);
        let mut data: Vec<u8> = (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
        if round % 2 == 0 {
            data.splice(0..0, b"user,item,rating,timestamp\n".iter().copied());
        }
        for format in &formats {
            let mut imp = Importer::new(ImportOptions::default());
            if let Ok(b) = imp.read_events_from_reader(&data[..], "fuzz", format) {
                let r = &b.report;
                assert_eq!(r.rows, r.accepted + r.rejected + r.duplicates, "{format:?}: {r}");
                assert_eq!(b.events.len() as u64, r.accepted);
            }
        }
        for format in [
            ItemFormat::Ml100kItem,
            ItemFormat::RecBoleItem,
            ItemFormat::Ml1mMovies,
            ItemFormat::MlLatestMovies,
            ItemFormat::CatalogJsonl,
        ] {
            let mut imp = Importer::new(ImportOptions::default());
            if let Ok(r) = imp.read_items_from_reader(&data[..], "fuzz", &format) {
                assert_eq!(r.rows, r.accepted + r.rejected + r.duplicates, "{format:?}: {r}");
                assert_eq!(imp.catalog().len() as u64, r.accepted);
            }
        }
    }
}
