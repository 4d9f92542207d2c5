//! The conformance suite on the PostgreSQL backend, and what only a shared store promises: schema
//! isolation, reopening, the change feed, the leader lease and a log that can be tailed while
//! others append. Runs against the server `AISLE_TEST_POSTGRES_URL` names (`.ci/run` starts one);
//! without it every test says it skipped and passes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aisle_store::{AnyStore, Change, PgStore, Store};

use crate::conformance::{event, item, new_model, user};

/// The test server's URL with a schema of its own, or `None` (and a note) when none is set; under
/// `CI` a missing server fails the test, for a green CI that skipped would be a lie.
#[expect(clippy::print_stderr, reason = "a skipped test says so")]
pub fn test_url() -> Option<String> {
    static N: AtomicU64 = AtomicU64::new(0);
    let Ok(base) = std::env::var("AISLE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "AISLE_TEST_POSTGRES_URL is not set, and CI is: this test must run"
        );
        eprintln!("skipped: AISLE_TEST_POSTGRES_URL is not set (`.ci/run` starts PostgreSQL and sets it)");
        return None;
    };
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let schema = format!("t_{}_{nanos}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}schema={schema}"))
}

async fn fresh_at() -> Option<(String, PgStore)> {
    let url = test_url()?;
    let store = PgStore::open(&url).await.expect("open the test database");
    Some((url, store))
}

mod conformance {
    async fn fresh() -> Option<((), aisle_store::PgStore)> {
        super::fresh_at().await.map(|(_, store)| ((), store))
    }
    crate::conformance::store_conformance!(fresh);

    mod impact {
        use super::fresh;
        crate::impact::impact_conformance!(fresh);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_keeps_everything_and_schemas_are_apart() {
    let Some((url, store)) = fresh_at().await else { return };
    store.put_items(vec![item("i1")]).await.expect("put_items");
    store.put_users(vec![user("u1")]).await.expect("put_users");
    store.append_events(vec![event("u1", "i1", Some("e1"), 1)]).await.expect("append");
    store.put_model(new_model(1), vec![9; 300_000]).await.expect("put_model");
    store.activate_model(1, None).await.expect("activate");
    store.flush().await.expect("flush");
    // Through AnyStore, as config opens it; migrations run again as a no-op.
    let again = AnyStore::open(&url).await.expect("reopen");
    assert!(again.is_shared());
    assert_eq!(again.item("i1".to_owned()).await.expect("item"), Some(item("i1")));
    assert_eq!(again.counts().await.expect("counts").events, 1);
    assert_eq!(again.model_artifact(1).await.expect("artifact"), Some(vec![9; 300_000]));
    assert_eq!(again.active_model().await.expect("active").map(|m| m.version), Some(1));
    let Some((_, other)) = fresh_at().await else { return };
    assert_eq!(other.counts().await.expect("counts"), aisle_store::Counts::default());
    assert_eq!(other.active_model().await.expect("active"), None);
}

/// Waits for the next change, failing after a generous deadline.
async fn next(feed: &mut aisle_store::ChangeFeed) -> Change {
    tokio::time::timeout(Duration::from_secs(20), feed.next())
        .await
        .expect("a change within 20 s")
        .expect("feed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_announces_committed_writes() {
    let Some((url, store)) = fresh_at().await else { return };
    let other = PgStore::open(&url).await.expect("a second replica's store");
    let mut feed = other.changes().await.expect("listen");
    store.put_items(vec![item("a"), item("b")]).await.expect("put_items");
    assert_eq!(next(&mut feed).await, Change::Items { ids: Some(vec!["a".into(), "b".into()]) });
    let fates =
        store.append_events(vec![event("u", "a", None, 1), event("u", "b", None, 2)]).await.expect("append");
    assert_eq!(next(&mut feed).await, Change::Events { last_seq: fates[1].seq() });
    // A batch of only re-sent events writes nothing and announces nothing.
    store.append_events(vec![event("u", "a", Some("x"), 3)]).await.expect("append x");
    assert!(matches!(next(&mut feed).await, Change::Events { .. }));
    store.append_events(vec![event("u", "a", Some("x"), 3)]).await.expect("re-send x");
    store.delete_item("a".to_owned()).await.expect("delete_item");
    assert_eq!(next(&mut feed).await, Change::Items { ids: Some(vec!["a".into()]) });
    let removal = store.delete_user("u".to_owned()).await.expect("delete_user");
    assert_eq!(next(&mut feed).await, Change::UserDeleted { id: "u".into(), at_seq: removal.at_seq });
    let v = store.put_model(new_model(1), vec![1]).await.expect("put_model").version;
    store.activate_model(v, None).await.expect("activate");
    assert_eq!(next(&mut feed).await, Change::Model { version: v });
    let many: Vec<_> = (0..3_000).map(|n| item(&format!("bulk-{n:05}"))).collect();
    store.put_items(many).await.expect("bulk put");
    assert_eq!(next(&mut feed).await, Change::Items { ids: None });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_a_successor_when_it_goes() {
    let Some((url, a)) = fresh_at().await else { return };
    let b = PgStore::open(&url).await.expect("replica b");
    let mut lease = a.try_lead().await.expect("try_lead").expect("the first replica leads");
    assert!(lease.check().await);
    assert!(b.try_lead().await.expect("try_lead").is_none(), "a second leader while the first lives");
    assert!(a.try_lead().await.expect("try_lead").is_none(), "the lock is per session, not per store");
    lease.release().await;
    let mut next = b.try_lead().await.expect("try_lead").expect("b takes over once a let go");
    assert!(next.check().await);
    // Dropping a lease closes its session, which frees the lock as a crash would.
    drop(next);
    let mut taken = None;
    for _ in 0..200 {
        if let Some(l) = a.try_lead().await.expect("try_lead") {
            taken = Some(l);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(taken.expect("a leads again after b's session went").check().await);
}

/// A leader's activation carries its lease's epoch and commits only while that lease is the
/// current leadership: an old leader that lost its session cannot publish over its successor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activations_are_fenced_by_the_current_lease() {
    let Some((url, a)) = fresh_at().await else { return };
    let b = PgStore::open(&url).await.expect("replica b");
    for n in 1..=3 {
        a.put_model(new_model(n), vec![n as u8]).await.expect("put_model");
    }
    let lease_a = a.try_lead().await.expect("try_lead").expect("a leads");
    let epoch_a = lease_a.epoch();
    a.activate_model(1, Some(epoch_a)).await.expect("the leader publishes");
    // A's session ends while it is still training; B takes over with a new epoch.
    drop(lease_a);
    let mut lease_b = None;
    for _ in 0..200 {
        lease_b = b.try_lead().await.expect("try_lead");
        if lease_b.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lease_b = lease_b.expect("b leads once a's session is gone");
    assert!(lease_b.epoch() > epoch_a);
    b.activate_model(2, Some(lease_b.epoch())).await.expect("the new leader publishes");
    match a.activate_model(3, Some(epoch_a)).await {
        Err(aisle_store::StoreError::Fenced(reason)) => assert!(reason.contains("epoch"), "{reason}"),
        other => panic!("the old leader's activation gave {other:?}"),
    }
    assert_eq!(a.active_model().await.expect("active").map(|m| m.version), Some(2));
    // Without a lease nobody is fenced out: an operator's rollback on any replica still works.
    // Released, not dropped: a dropped session's lock outlives it until the server notices the
    // closed socket, and the fence below would race that.
    lease_b.release().await;
    a.activate_model(1, None).await.expect("an unfenced activation");
    let stale = b.activate_model(3, Some(epoch_a + 1)).await;
    assert!(
        matches!(stale, Err(aisle_store::StoreError::Fenced(_))),
        "a lease that ended fences too: {stale:?}"
    );
}

/// An event a newer aisle wrote (a kind this build does not know) is skipped by every reader, and
/// a page made only of such rows is read past.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_events_are_skipped() {
    let Some((url, store)) = fresh_at().await else { return };
    let fates =
        store.append_events((0..4).map(|n| event("u", "i", None, n)).collect()).await.expect("append");
    let seqs: Vec<u64> = fates.iter().map(|f| f.seq()).collect();
    let schema = store.schema().to_owned();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url.split('?').next().unwrap_or(&url))
        .await
        .expect("side connection");
    let sql = format!("UPDATE \"{schema}\".events SET kind = 'teleport' WHERE seq <= $1");
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(seqs[1] as i64).execute(&mut conn).await.expect("break two");
    let read = store.events_after(0, 2).await.expect("skipped, not an error");
    assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs[2..].to_vec());
    let mine = store.user_events_after("u".to_owned(), 0, 10).await.expect("per user");
    assert_eq!(mine.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs[2..].to_vec());
}

/// Six replicas (stores of their own) append batches of different sizes side by side, so that a
/// batch holding lower sequence numbers often commits after one holding higher ones; a reader
/// tailing `seq > cursor` still sees every event exactly once, in order. The test checks that
/// such late commits happened, else it would prove nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_misses_nothing_under_concurrent_appends() {
    let Some((url, store)) = fresh_at().await else { return };
    let size = |w: usize, b: usize| 1 + (w * 7_919 + b * 104_729) % 300;
    let total: usize = (0..6).flat_map(|w| (0..20).map(move |b| size(w, b))).sum();
    // Each batch's lowest and highest sequence number, in the order the batches finished.
    let finished = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let (url, finished) = (url.clone(), std::sync::Arc::clone(&finished));
            tokio::spawn(async move {
                let s = PgStore::open(&url).await.expect("writer store");
                for b in 0..20 {
                    let batch = (0..size(w, b))
                        .map(|n| event(&format!("w{w}"), "i", Some(&*format!("{w}-{b}-{n}")), n))
                        .collect();
                    let fates = s.append_events(batch).await.expect("append");
                    let seqs: Vec<u64> = fates.into_iter().map(aisle_store::Appended::seq).collect();
                    finished.lock().unwrap().push((seqs[0], seqs[seqs.len() - 1]));
                }
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut cursor = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < total && tokio::time::Instant::now() < deadline {
        let page = store.events_after(cursor, 100).await.expect("tail");
        for e in &page {
            assert!(e.seq > cursor, "the tail went backwards");
            assert!(seen.insert(e.event.event_id.clone().expect("id")), "an event seen twice");
            cursor = e.seq;
        }
        if page.is_empty() {
            tokio::task::yield_now().await;
        }
    }
    for w in writers {
        w.await.expect("writer");
    }
    let rest = store.events_after(cursor, usize::MAX).await.expect("rest");
    seen.extend(rest.into_iter().filter_map(|e| e.event.event_id));
    assert_eq!(seen.len(), total, "the tail missed events committed late");
    assert_eq!(store.counts().await.expect("counts").events, total as u64);
    let late = crate::conformance::late_commits(&finished.lock().unwrap());
    assert!(late > 0, "no batch committed after one holding higher numbers: the appends did not overlap");
}

/// On one store too, appends overlap: the conformance check's batches commit out of number order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stores_appends_overlap_and_its_reader_waits_for_them() {
    let Some((_, store)) = fresh_at().await else { return };
    let late = crate::conformance::a_reader_following_the_log_gets_every_event_once(&store).await;
    assert!(late > 0, "no batch committed after one holding higher numbers: the appends did not overlap");
}
