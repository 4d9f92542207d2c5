//! Each event format parses a small hand-written file to the right ids, values and timestamps.

use std::path::Path;

use aisle_core::{EventKind, EventWeights, Feedback, ItemIdx, UserIdx};
use aisle_ingest::{
    Column, ColumnMap, DelimitedOptions, EventFormat, Header, ImportError, ImportOptions, Importer,
    to_interactions, to_sequences,
};

use crate::{file, ids, import};

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(u, i)| ((*u).to_owned(), (*i).to_owned())).collect()
}

#[test]
fn ml100k_reads_tab_separated_ratings_from_a_file() {
    let (_dir, path) =
        file("u.data", b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t377\t1\t878887116\n");
    let mut imp = Importer::new(ImportOptions::default());
    let b = imp.read_events(&path, &EventFormat::Ml100k).unwrap();
    assert_eq!(ids(&imp, &b), pairs(&[("196", "242"), ("186", "302"), ("196", "377")]));
    assert_eq!(b.events[0].user, b.events[2].user, "one user, one index");
    assert_eq!(b.events.iter().map(|e| e.value).collect::<Vec<_>>(), [3.0, 3.0, 1.0]);
    assert_eq!(b.events.iter().map(|e| e.ts).collect::<Vec<_>>(), [881_250_949, 891_717_742, 878_887_116]);
    assert!(b.events.iter().all(|e| e.kind == EventKind::Rating));
    assert_eq!((b.report.rows, b.report.accepted, b.report.rejected), (3, 3, 0));
    assert_eq!((imp.users().len(), imp.items().len()), (2, 3));
    assert!(b.report.source.ends_with("u.data"));
}

#[test]
fn ml1m_reads_double_colon_ratings() {
    let (_, b) = import(
        b"1::1193::5::978300760\r\n1::661::3::978302109\r\n2::1193::4::978298413\r\n",
        &EventFormat::Ml1m,
    );
    assert_eq!(b.report.accepted, 3, "{}", b.report);
    assert_eq!(b.events[2].item, b.events[0].item);
    assert_eq!(b.events[1].value, 3.0);
    assert_eq!(b.events[2].ts, 978_298_413);
}

#[test]
fn ml_latest_reads_half_stars_with_columns_in_any_order() {
    let data =
        b"movieId,userId,timestamp,rating\n31,1,1260759144,2.5\n1029,1,1260759179,3.0\n31,7,1260759200,0.5\n";
    let (imp, b) = import(data, &EventFormat::MlLatest);
    assert_eq!(ids(&imp, &b), pairs(&[("1", "31"), ("1", "1029"), ("7", "31")]));
    assert_eq!(b.events.iter().map(|e| e.value).collect::<Vec<_>>(), [2.5, 3.0, 0.5]);
    assert_eq!(b.events[0].ts, 1_260_759_144);
    assert!(imp.catalog().is_empty(), "no title column, no catalog");
}

#[test]
fn ml_latest_joined_file_fills_the_catalog() {
    let data = "movieId,title,year,genres,userId,rating,timestamp\n\
        1263,\"Deer Hunter, The\",1978.0,Drama|War,1,2.0,1260759151\n\
        31,Dangerous Minds,1995.0,Drama,1,2.5,1260759144\n\
        1263,\"Deer Hunter, The\",1978.0,Drama|War,2,4.0,1260759999\n";
    let (imp, b) = import(data.as_bytes(), &EventFormat::MlLatest);
    assert_eq!(b.report.accepted, 3, "{}", b.report);
    assert_eq!(b.report.unknown_items, 0, "items described by their own rows are known");
    assert_eq!(imp.catalog().len(), 2);
    let deer = imp.catalog().get(b.events[0].item).unwrap();
    assert_eq!((deer.id.as_str(), deer.title.as_str()), ("1263", "Deer Hunter, The"));
    assert_eq!(deer.categories, ["Drama", "War"]);
    assert_eq!(deer.attributes["year"], 1978);
}

/// Found by the `events_delimited` fuzz target: the item a joined row describes went into the
/// catalog without the item validator the API and catalog imports apply.
#[test]
fn ml_latest_joined_rows_describing_an_invalid_item_are_rejected_whole() {
    let data = "movieId,title,year,genres,userId,rating,timestamp\n\
        1,Bad\u{1}Title,1995.0,Drama,1,4.0,1260759151\n\
        2,Good Title,1995.0,Drama,1,4.0,1260759152\n";
    let (imp, b) = import(data.as_bytes(), &EventFormat::MlLatest);
    assert_eq!((b.report.accepted, b.report.rejected), (1, 1), "{}", b.report);
    assert_eq!(b.report.examples[0].line, 2, "{}", b.report);
    assert_eq!(imp.catalog().len(), 1);
    assert_eq!(imp.items().id(b.events[0].item.0), Some("2"), "the bad row's item was not kept");
}

#[test]
fn ml_latest_needs_a_rating_column() {
    let mut imp = Importer::new(ImportOptions::default());
    let err = imp
        .read_events_from_reader(&b"userId,movieId\n1,2\n"[..], "r.csv", &EventFormat::MlLatest)
        .unwrap_err();
    match err {
        ImportError::MissingColumn { input, column, header } => {
            assert_eq!((input.as_str(), column, header.as_str()), ("r.csv", "rating", "userid,movieid"));
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn csv_with_types_string_ids_dates_and_quotes() {
    let data = "user_id,item_id,type,value,timestamp,event_id\n\
        u1,sku-9,view,,2024-01-02T03:04:05Z,e1\n\
        u1,\"sku,10\",purchase,19.99,1704164700,e2\n\
        u2,sku-9,Rating,4.5,2024-01-02,e3\n\
        u2,sku-9,addtocart,,,e4\n";
    let (imp, b) = import(data.as_bytes(), &EventFormat::csv());
    assert_eq!(b.report.accepted, 4, "{}", b.report);
    assert_eq!(ids(&imp, &b), pairs(&[("u1", "sku-9"), ("u1", "sku,10"), ("u2", "sku-9"), ("u2", "sku-9")]));
    let kinds: Vec<_> = b.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::View, EventKind::Purchase, EventKind::Rating, EventKind::AddToCart]);
    assert_eq!(b.events.iter().map(|e| e.value).collect::<Vec<_>>(), [1.0, 19.99, 4.5, 1.0]);
    assert_eq!(
        b.events.iter().map(|e| e.ts).collect::<Vec<_>>(),
        [1_704_164_645, 1_704_164_700, 1_704_153_600, 0]
    );
}

#[test]
fn tsv_without_header_uses_default_positions() {
    let (imp, b) = import(b"a\tx\t5\t100\nb\ty\t\t200\nc\tz\n", &EventFormat::tsv());
    // The first row has 4 fields, so the 2-field row is the wrong width.
    assert_eq!((b.report.accepted, b.report.rejected), (2, 1), "{}", b.report);
    assert_eq!((b.events[0].kind, b.events[0].value), (EventKind::Rating, 5.0));
    assert_eq!((b.events[1].kind, b.events[1].ts), (EventKind::View, 200), "no value: a view");
    assert_eq!(imp.users().id(1), Some("b"));
}

#[test]
fn auto_header_is_detected_only_from_known_names() {
    let (_, with) = import(b"UserId,ItemId,Weight\n1,2,3\n", &EventFormat::csv());
    assert_eq!((with.report.rows, with.events[0].value), (1, 3.0));
    let (imp, without) = import(b"1,2,3\n4,5,6\n", &EventFormat::csv());
    assert_eq!(without.report.rows, 2, "numeric first row is data");
    assert_eq!(imp.users().id(0), Some("1"));
    let (_, unknown) = import(b"a,b,c\n1,2,3\n", &EventFormat::csv());
    assert_eq!((unknown.report.rejected, unknown.report.examples[0].line), (1, 1), "unknown names are data");
    let mut imp = Importer::new(ImportOptions::default());
    let forced = imp.read_events_from_reader(
        &b"a,b,c\n1,2,3\n"[..],
        "t",
        &delimited(Header::Yes, ColumnMap::default()),
    );
    assert!(matches!(forced, Err(ImportError::MissingColumn { column: "user", .. })));
    let (_, no) = import(b"user,item\n1,2\n", &delimited(Header::No, ColumnMap::default()));
    assert_eq!((no.report.rows, no.report.accepted), (2, 2), "Header::No reads the names as ids");
}

fn delimited(header: Header, columns: ColumnMap) -> EventFormat {
    EventFormat::Delimited(DelimitedOptions { delimiter: b',', header, columns })
}

#[test]
fn columns_by_name_and_position() {
    let cols = ColumnMap {
        user: Column::Name("Customer".into()),
        item: Column::Index(2),
        value: Column::Absent,
        kind: Column::Name("what".into()),
        ..ColumnMap::default()
    };
    let (imp, b) =
        import(b"what,customer,product,rating\npurchase,c1,p1,5\n", &delimited(Header::Auto, cols));
    assert_eq!(ids(&imp, &b), pairs(&[("c1", "p1")]));
    assert_eq!((b.events[0].kind, b.events[0].value), (EventKind::Purchase, 1.0), "value column ignored");
    let headerless = ColumnMap { user: Column::Index(1), item: Column::Index(0), ..ColumnMap::default() };
    let (imp, b) = import(b"i1,u1\n", &delimited(Header::No, headerless));
    assert_eq!(ids(&imp, &b), pairs(&[("u1", "i1")]));
}

#[test]
fn bad_options_are_errors() {
    let mut imp = Importer::new(ImportOptions::default());
    let named = ColumnMap { user: Column::Name("u".into()), ..ColumnMap::default() };
    let err = imp.read_events_from_reader(&b"1,2\n"[..], "t", &delimited(Header::No, named)).unwrap_err();
    assert!(matches!(err, ImportError::InvalidOptions { .. }), "{err}");
    let quote = EventFormat::Delimited(DelimitedOptions { delimiter: b'"', ..DelimitedOptions::default() });
    assert!(matches!(
        imp.read_events_from_reader(&b""[..], "t", &quote),
        Err(ImportError::InvalidOptions { .. })
    ));
}

#[test]
fn jsonl_reads_the_rest_schema() {
    let data = r#"{"user_id": "u1", "item_id": "i9", "type": "purchase", "value": 4.5, "timestamp": 1700000000, "session_id": "s1"}
{"user_id": 42, "item_id": "i9", "type": "view", "timestamp": "2024-01-02T03:04:05Z", "extra": {"a": [1, 2]}}

{"user_id": "u1", "item_id": "i\u00e9", "value": 3}
{"user_id": "u1", "item_id": "i9", "type": "click", "event_id": "e-1", "recommendation_id": "r1"}
"#;
    let (imp, b) = import(data.as_bytes(), &EventFormat::Jsonl);
    assert_eq!(b.report.rows, 4, "the blank line is not a row");
    assert_eq!(b.report.accepted, 4, "{}", b.report);
    assert_eq!(ids(&imp, &b), pairs(&[("u1", "i9"), ("42", "i9"), ("u1", "ié"), ("u1", "i9")]));
    assert_eq!(
        (b.events[0].kind, b.events[0].value, b.events[0].ts),
        (EventKind::Purchase, 4.5, 1_700_000_000)
    );
    assert_eq!(b.events[1].ts, 1_704_164_645);
    assert_eq!((b.events[2].kind, b.events[2].value, b.events[2].ts), (EventKind::Rating, 3.0, 0));
    assert_eq!(b.events[3].kind, EventKind::Click);
}

#[test]
fn train_and_test_share_one_id_space() {
    let mut imp = Importer::new(ImportOptions::default());
    let train = imp
        .read_events_from_reader(&b"1\t10\t5\t1\n2\t20\t3\t2\n"[..], "train", &EventFormat::Ml100k)
        .unwrap();
    let test = imp
        .read_events_from_reader(&b"2\t10\t4\t3\n3\t30\t1\t4\n"[..], "test", &EventFormat::Ml100k)
        .unwrap();
    assert_eq!(test.events[0].user, train.events[1].user);
    assert_eq!(test.events[0].item, train.events[0].item);
    assert_eq!((test.events[1].user, test.events[1].item), (UserIdx(2), ItemIdx(2)));
    let (users, items, _) = imp.into_parts();
    assert_eq!((users.len(), items.len()), (3, 3));
}

#[test]
fn imported_events_become_interactions() {
    let data = b"user_id,item_id,type,value\nu1,a,view,\nu1,a,purchase,10\nu2,b,rating,4\nu2,a,impression,\n";
    let (imp, b) = import(data, &EventFormat::csv());
    let (nu, ni) = (imp.users().len(), imp.items().len());
    let w = EventWeights::default();
    let implicit = to_interactions(&b.events, nu, ni, Feedback::Implicit, &w).unwrap();
    assert_eq!(implicit.get(UserIdx(0), ItemIdx(0)), Some(6.0), "view 1 + purchase 5");
    assert_eq!(implicit.get(UserIdx(1), ItemIdx(1)), Some(4.0), "a rating weighs its value");
    assert_eq!(implicit.nnz(), 2, "the impression weighs 0");
    let explicit = to_interactions(&b.events, nu, ni, Feedback::Explicit, &w).unwrap();
    assert_eq!((explicit.nnz(), explicit.get(UserIdx(1), ItemIdx(1))), (1, Some(4.0)));
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let mut imp = Importer::new(ImportOptions::default());
    let err = imp.read_events(Path::new("/nonexistent/aisle/u.data"), &EventFormat::Ml100k).unwrap_err();
    match &err {
        ImportError::Io { path, .. } => assert_eq!(path, Path::new("/nonexistent/aisle/u.data")),
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("/nonexistent/aisle/u.data"));
}

#[test]
fn session_ids_are_read_from_csv_and_jsonl_and_order_the_sequences() {
    let data = "user_id,item_id,type,timestamp,session_id\n\
        u1,a,view,100,s1\n\
        u1,b,view,50,s1\n\
        u1,c,view,200,s2\n\
        u2,a,view,10,\n\
        u2,b,view,5000,\n";
    let (imp, b) = import(data.as_bytes(), &EventFormat::csv());
    assert_eq!(b.report.accepted, 5, "{}", b.report);
    let sessions: Vec<Option<&str>> =
        b.events.iter().map(|e| e.session.and_then(|s| imp.sessions().id(s))).collect();
    assert_eq!(sessions, [Some("s1"), Some("s1"), Some("s2"), None, None]);
    let (n_users, n_items) = (imp.users().len(), imp.items().len());
    let seqs = to_sequences(&b.events, n_users, n_items, Feedback::Implicit, &EventWeights::default(), 1_800)
        .unwrap();
    // u1: two named sessions, ordered by time within; u2: no ids, cut by the 30-minute gap.
    assert_eq!(seqs.n_sessions(), 4);
    assert_eq!(seqs.user(UserIdx(0)), &[1, 0, 2], "b (t=50) before a (t=100), then c");
    assert_eq!(seqs.user_sessions(UserIdx(1)).len(), 2);

    let jsonl = b"{\"user_id\":\"u\",\"item_id\":\"i\",\"session_id\":\"x-1\"}\n{\"user_id\":\"u\",\"item_id\":\"j\",\"session_id\":7}\n";
    let (imp, b) = import(jsonl, &EventFormat::Jsonl);
    assert_eq!(b.report.accepted, 2, "{}", b.report);
    assert_eq!(imp.sessions().id(b.events[0].session.unwrap()), Some("x-1"));
    assert_eq!(imp.sessions().id(b.events[1].session.unwrap()), Some("7"));
    let bad = b"{\"user_id\":\"u\",\"item_id\":\"i\",\"session_id\":[1]}\n";
    let (_, b) = import(bad, &EventFormat::Jsonl);
    assert_eq!(b.report.rejected, 1, "a session id must be a string or an integer");
}
