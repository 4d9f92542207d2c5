//! The conformance suite on the SQLite backend, and what only the SQLite backend promises:
//! durability across reopening, the schema version, URL parsing and corrupt-row reporting.

use std::path::Path;

use aisle_store::{AnyStore, SqliteStore, Store, StoreError};
use rusqlite::Connection;
use tempfile::TempDir;

use crate::conformance::{event, item, new_model, user};

/// A new store in its own temp dir; the dir goes when the guard drops.
fn fresh() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("aisle.db")).expect("open");
    (dir, store)
}

mod conformance {
    async fn fresh() -> Option<(tempfile::TempDir, aisle_store::SqliteStore)> {
        Some(super::fresh())
    }
    crate::conformance::store_conformance!(fresh);

    mod impact {
        use super::fresh;
        crate::impact::impact_conformance!(fresh);
    }
}

/// Writes a bit of everything; returns what `events_after(0, ..)` should give afterwards.
async fn fill(store: &SqliteStore) -> Vec<aisle_store::StoredEvent> {
    store.put_items(vec![item("i1"), item("i2")]).await.expect("put_items");
    store.put_users(vec![user("u1")]).await.expect("put_users");
    let events: Vec<_> =
        (0..1_000).map(|n| event(&format!("u{}", n % 10), "i1", Some(&*format!("e{n}")), n)).collect();
    store.append_events(events).await.expect("append_events");
    store.put_model(new_model(1), vec![7; 100_000]).await.expect("put_model");
    store.activate_model(1, None).await.expect("activate_model");
    store.events_after(0, usize::MAX).await.expect("events_after")
}

async fn assert_filled(store: &SqliteStore, log: &[aisle_store::StoredEvent]) {
    assert_eq!(store.events_after(0, usize::MAX).await.expect("events_after"), log);
    assert_eq!(store.item("i2".to_owned()).await.expect("item"), Some(item("i2")));
    assert_eq!(store.user("u1".to_owned()).await.expect("user"), Some(user("u1")));
    let active = store.active_model().await.expect("active_model").expect("an active model");
    assert_eq!((active.version, active.model), (1, new_model(1)));
    assert_eq!(store.model_artifact(1).await.expect("model_artifact"), Some(vec![7; 100_000]));
    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.items, counts.users, counts.events), (2, 1, 1_000));
}

/// Whether the database at `path` holds the per-user index on its event log.
fn has_user_index(path: &Path) -> bool {
    let conn = Connection::open(path).expect("open");
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'events_user_seq'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .expect("sqlite_master")
        == 1
}

/// A bulk load drops the per-user index and builds it again; a store reopened after a load that
/// stopped with the index dropped builds it on opening.
#[tokio::test]
async fn a_deferred_event_index_is_dropped_and_built_again_on_opening() {
    let (dir, store) = fresh();
    let path = dir.path().join("aisle.db");
    assert!(has_user_index(&path));
    store.defer_event_index(true).await.expect("defer");
    assert!(!has_user_index(&path), "deferred: no index to update per event");
    let events: Vec<_> = (0..50).map(|n| event(&format!("u{}", n % 5), "i1", None, n)).collect();
    store.append_events(events).await.expect("append_events");
    store.defer_event_index(false).await.expect("build");
    assert!(has_user_index(&path));
    store.defer_event_index(true).await.expect("defer");
    drop(store);
    let store = SqliteStore::open(&path).expect("reopen");
    assert!(has_user_index(&path), "opening builds a dropped index again");
    assert_eq!(store.user_events_after("u3".to_owned(), 0, 100).await.expect("user_events_after").len(), 10);
}

/// A store from before the kept event count (schema 6) counts its log once when it migrates.
#[tokio::test]
async fn migrating_counts_the_stored_events_once() {
    let (dir, store) = fresh();
    let path = dir.path().join("aisle.db");
    store.append_events((0..30).map(|n| event("u1", "i1", None, n)).collect()).await.expect("append");
    drop(store);
    let conn = Connection::open(&path).expect("side connection");
    conn.execute_batch("DROP TABLE event_count").expect("drop");
    set_user_version(&path, 6);
    let store = SqliteStore::open(&path).expect("migrate");
    assert_eq!(store.counts().await.expect("counts").events, 30);
    store.append_events(vec![event("u2", "i1", None, 31)]).await.expect("append");
    assert_eq!(store.counts().await.expect("counts").events, 31);
}

/// A store's own writes, and another connection merely opening the file, are not another
/// writer; another connection's commit is, and stays noted.
#[tokio::test]
async fn a_commit_by_another_connection_is_noticed() {
    let (dir, store) = fresh();
    store.append_events(vec![event("u1", "i1", None, 1)]).await.expect("append_events");
    store.put_items(vec![item("i1")]).await.expect("put_items");
    let other = SqliteStore::open(dir.path().join("aisle.db")).expect("a second connection");
    assert!(!store.written_by_others().await.expect("check"), "opening the file writes nothing");
    other.append_events(vec![event("u2", "i1", None, 2)]).await.expect("another process's event");
    assert!(!other.written_by_others().await.expect("check"), "the other saw only its own writes");
    assert!(store.written_by_others().await.expect("check"));
    store.append_events(vec![event("u1", "i1", None, 3)]).await.expect("append_events");
    assert!(store.written_by_others().await.expect("check"), "it stays noted");
    assert!(other.written_by_others().await.expect("check"), "and the first is the other's other");
}

#[tokio::test]
async fn everything_survives_reopening() {
    let (dir, store) = fresh();
    let path = store.path().to_path_buf();
    assert_eq!(path, dir.path().join("aisle.db"));
    let log = fill(&store).await;
    assert_eq!(log.len(), 1_000);
    drop(store);

    let reopened = SqliteStore::open(&path).expect("reopen");
    assert_filled(&reopened, &log).await;
    // Sequence numbers keep increasing after a reopen, and old event ids are still known.
    let fates = reopened
        .append_events(vec![event("u1", "i1", Some("e5"), 5), event("u1", "i1", None, 1)])
        .await
        .expect("append_events");
    assert_eq!(fates[0], aisle_store::Appended::Duplicate(log[5].seq));
    assert!(fates[1].seq() > log[999].seq);
}

#[tokio::test]
async fn committed_writes_survive_an_unclean_close() {
    let (dir, store) = fresh();
    let log = fill(&store).await;
    // No drop: the connections are never closed, nothing is checkpointed, as when the process dies.
    std::mem::forget(store);
    let wal = dir.path().join("aisle.db-wal");
    assert!(std::fs::metadata(&wal).map(|m| m.len() > 0).unwrap_or(false), "the writes sit in the WAL");

    let reopened = SqliteStore::open(dir.path().join("aisle.db")).expect("reopen");
    assert_filled(&reopened, &log).await;
}

#[tokio::test]
async fn flush_truncates_the_wal() {
    let (dir, store) = fresh();
    let log = fill(&store).await;
    store.flush().await.expect("flush");
    let wal = std::fs::metadata(dir.path().join("aisle.db-wal")).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal, 0);
    assert_filled(&store, &log).await;
}

#[test]
fn open_configures_and_versions_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/deeper/aisle.db");
    let store = SqliteStore::open(&path).expect("open creates parent directories");
    let conn = Connection::open(&path).expect("side connection");
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("journal_mode");
    assert_eq!(mode, "wal");
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("user_version");
    assert_eq!(version, 7);
    drop(store);
    // Reopening an up-to-date database runs no migration and keeps the version.
    drop(SqliteStore::open(&path).expect("reopen"));
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("user_version");
    assert_eq!(version, 7);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("aisle.db");
    drop(SqliteStore::open(&path).expect("open"));
    set_user_version(&path, 9);
    match SqliteStore::open(&path) {
        Err(StoreError::Corrupt { reason, .. }) => {
            assert!(reason.contains("version 9"), "{reason}");
            assert!(reason.contains("up to 7"), "{reason}");
        }
        other => panic!("opening a newer schema gave {other:?}"),
    }
}

fn set_user_version(path: &Path, version: i64) {
    let conn = Connection::open(path).expect("side connection");
    conn.pragma_update(None, "user_version", version).expect("set user_version");
}

/// Artifacts are stored in parts (one blob holds at most a gigabyte); a version written before
/// keeps its artifact in its row and still reads; pruning takes the parts with the versions, and a
/// missing part is reported as corrupt, not read as a shorter artifact.
#[tokio::test]
async fn artifacts_are_stored_in_parts_and_old_rows_still_read() {
    let (_dir, store) = fresh();
    let artifact: Vec<u8> = (0..2 * aisle_store::ARTIFACT_PART_BYTES + 7).map(|i| (i % 251) as u8).collect();
    let version = store.put_model(new_model(1), artifact.clone()).await.expect("put_model").version;
    let conn = Connection::open(store.path()).expect("side connection");
    let parts: Vec<(i64, i64)> = conn
        .prepare("SELECT part, length(bytes) FROM model_parts WHERE version = ?1 ORDER BY part")
        .unwrap()
        .query_map([version as i64], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let full = aisle_store::ARTIFACT_PART_BYTES as i64;
    assert_eq!(parts, vec![(0, full), (1, full), (2, 7)]);
    assert_eq!(store.model_artifact(version).await.expect("model_artifact"), Some(artifact));

    // A row as versions before parts wrote them.
    let old = store.put_model(new_model(2), Vec::new()).await.expect("put_model").version;
    conn.execute(
        "UPDATE models SET artifact = x'0102ff', artifact_bytes = 3 WHERE version = ?1",
        [old as i64],
    )
    .unwrap();
    assert_eq!(store.model_artifact(old).await.expect("model_artifact"), Some(vec![1, 2, 0xff]));

    conn.execute("DELETE FROM model_parts WHERE version = ?1 AND part = 1", [version as i64]).unwrap();
    assert!(matches!(store.model_artifact(version).await, Err(StoreError::Corrupt { what: "model", .. })));

    store.activate_model(old, None).await.expect("activate_model");
    assert_eq!(store.prune_models(0).await.expect("prune_models"), 1);
    let left: i64 = conn.query_row("SELECT count(*) FROM model_parts", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0, "the pruned version's parts went with it");
}

#[tokio::test]
async fn corrupt_rows_are_reported_as_corrupt() {
    let (_dir, store) = fresh();
    store.put_items(vec![item("bad")]).await.expect("put_items");
    store.append_events(vec![event("u", "bad", None, 1)]).await.expect("append_events");
    let conn = Connection::open(store.path()).expect("side connection");
    conn.execute("UPDATE items SET body = '{not json' WHERE id = 'bad'", []).expect("break the item");
    conn.execute("UPDATE events SET kind = 'teleport'", []).expect("break the event");

    assert!(matches!(store.item("bad".to_owned()).await, Err(StoreError::Corrupt { what: "item", .. })));
    // An event this build cannot decode is skipped, never an error that stops every training: a
    // page made only of such rows is read past to the events after it.
    store.append_events(vec![event("u", "bad", None, 2), event("u", "bad", None, 3)]).await.expect("append");
    conn.execute("UPDATE events SET kind = 'teleport' WHERE seq = 2", []).expect("break another");
    let read = store.events_after(0, 2).await.expect("unreadable rows are skipped");
    assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3]);
    let mine = store.user_events_after("u".to_owned(), 0, 10).await.expect("per user too");
    assert_eq!(mine.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3]);
}

#[tokio::test]
async fn many_concurrent_readers_share_the_pool() {
    let (_dir, store) = fresh();
    store.put_items((0..50).map(|n| item(&format!("i{n:02}"))).collect()).await.expect("put_items");
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..32 {
        let store = store.clone();
        tasks.spawn(async move { store.item(format!("i{:02}", n % 50)).await });
    }
    let mut found = 0;
    while let Some(result) = tasks.join_next().await {
        assert!(result.expect("task").expect("item").is_some());
        found += 1;
    }
    assert_eq!(found, 32);
}

#[tokio::test]
async fn any_store_opens_sqlite_urls_and_paths() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("any.db");
    let display = path.to_str().expect("utf-8 temp path");

    let AnyStore::Sqlite(plain) = AnyStore::open(display).await.expect("plain path") else {
        panic!("a plain path opens the SQLite backend");
    };
    assert_eq!(plain.path(), path);
    plain.put_items(vec![item("shared")]).await.expect("put_items");
    for url in [format!("sqlite://{display}"), format!("sqlite:{display}")] {
        let store = AnyStore::open(&url).await.expect("sqlite URL");
        assert_eq!(store.item("shared".to_owned()).await.expect("item"), Some(item("shared")), "{url}");
    }
}

#[tokio::test]
async fn any_store_refuses_other_urls() {
    for (url, expected) in [
        ("postgres://127.0.0.1:1/aisle", "cannot connect to PostgreSQL at postgres://127.0.0.1:1/aisle"),
        ("postgresql://u:secret@127.0.0.1:1/aisle", "postgresql://u:***@127.0.0.1:1/aisle"),
        ("postgres://127.0.0.1:1/aisle?schema=Shop", "schema name \"Shop\""),
        ("mysql://localhost/aisle", "unknown store URL scheme \"mysql\""),
        ("sqlite://", "empty store path"),
        ("", "empty store path"),
    ] {
        match AnyStore::open(url).await {
            Err(StoreError::Backend(e)) => assert!(e.to_string().contains(expected), "{url}: {e}"),
            other => panic!("{url} gave {other:?}"),
        }
    }
}
