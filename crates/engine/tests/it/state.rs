//! The engine's state kept in the store: a start restores it and reads only the log after it;
//! a state it cannot trust is ignored and the whole log read.

use std::sync::Arc;

use aisle_core::EventKind;
use aisle_engine::{Engine, EngineConfig, Filters, PopularRequest, Window};
use aisle_store::{AnyStore, EventRecord, StateRecord, Store};

/// Events of 40 users on 100 of the shop's items, spread over the last 40 hours (so that the
/// hourly windows hold some), ids `tag-<n>`.
fn recent(tag: &str, n: usize) -> Vec<EventRecord> {
    let now = aisle_engine::now_ms();
    (0..n)
        .map(|k| EventRecord {
            event_id: Some(format!("{tag}-{k}")),
            user_id: format!("u{}", k % 40 + 1),
            item_id: format!("i{}", k * k % 100 + 1),
            kind: if k % 7 == 0 { EventKind::Purchase } else { EventKind::View },
            value: (k % 7 == 0).then_some(20.0),
            ts_ms: now - (k as i64 * 7_919 % 40) * 3_600_000,
            session_id: None,
            recommendation_id: None,
        })
        .collect()
}

/// Every popular list and a trending list, scores rounded to what survives an f32.
fn lists(e: &Engine) -> Vec<Vec<(String, i64)>> {
    let mut out: Vec<Vec<(String, i64)>> = Window::ALL
        .into_iter()
        .map(|window| {
            let req = PopularRequest { window, n: 1_000, filters: Filters::default() };
            e.popular(&req).items.into_iter().map(|i| (i.id, (i.score * 1e3).round() as i64)).collect()
        })
        .collect();
    let trending = e.trending(24.0, 1_000, &Filters::default()).items;
    out.push(trending.into_iter().map(|i| (i.id, (i.score * 1e3).round() as i64)).collect());
    out
}

fn config() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.model.name = "ials".into();
    config
}

async fn store(dir: &std::path::Path) -> AnyStore {
    AnyStore::open(&format!("sqlite:{}", dir.join("aisle.db").display())).await.unwrap()
}

async fn kept(dir: &std::path::Path) -> Option<StateRecord> {
    store(dir).await.state("engine".into()).await.unwrap()
}

/// Empties the log below `seq` behind the engine's back (deleting every user in the store
/// itself), so that a start that read it would count nothing there.
async fn empty_log(dir: &std::path::Path) {
    let s = store(dir).await;
    for u in 1..=300 {
        s.delete_user(format!("u{u}")).await.unwrap();
    }
    assert_eq!(s.events_after(0, 10).await.unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_restores_the_kept_state_and_reads_only_the_log_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = crate::open_engine(dir.path(), config()).await;
    crate::load_shop(&e, 300, 150, 6_000, 3).await;
    e.ingest(recent("a", 3_000)).await.unwrap();
    let before = lists(&e);
    assert!(before.iter().all(|l| !l.is_empty()), "every window holds items: {before:?}");
    e.flush().await.unwrap();
    let state = kept(dir.path()).await.expect("flushing keeps the state");
    assert_eq!(state.seq, e.tail_cursor());
    assert_eq!(e.save_state().await.unwrap(), None, "nothing new since: not written again");
    drop(e);

    empty_log(dir.path()).await;
    let e = crate::open_engine(dir.path(), config()).await;
    assert_eq!(lists(&e), before, "the counters come from the state, not from the (emptied) log");
    assert_eq!(e.save_state().await.unwrap(), None, "a restored state is not written again");
    // Events stored after the state are read from the log and counted on top of it.
    drop(e);
    store(dir.path()).await.append_events(recent("b", 500)).await.unwrap();
    let e = crate::open_engine(dir.path(), config()).await;
    let after = lists(&e);
    assert_ne!(after, before);
    let all_before: i64 = before[4].iter().map(|(_, s)| s).sum();
    let all_after: i64 = after[4].iter().map(|(_, s)| s).sum();
    let added: i64 =
        recent("b", 500).iter().map(|r| if r.kind == EventKind::Purchase { 5_000 } else { 1_000 }).sum();
    assert!((all_after - all_before - added).abs() <= 100, "{all_after} − {all_before} ≠ {added}");
    drop(e);

    // Other event weights: the state would count by the old ones, so the whole log is read.
    let mut other = config();
    other.weights.view = 2.0;
    let e = crate::open_engine(dir.path(), other).await;
    let only_b: i64 =
        recent("b", 500).iter().map(|r| if r.kind == EventKind::Purchase { 5_000 } else { 2_000 }).sum();
    assert_eq!(lists(&e)[4].iter().map(|(_, s)| s).sum::<i64>(), only_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_that_cannot_be_trusted_is_ignored_and_the_log_read() {
    let dir = tempfile::tempdir().unwrap();
    let e = crate::open_engine(dir.path(), config()).await;
    e.ingest(recent("a", 2_000)).await.unwrap();
    let full = lists(&e);
    e.flush().await.unwrap();
    drop(e);
    let good = kept(dir.path()).await.unwrap();
    let s = store(dir.path()).await;
    for body in [b"garbage".to_vec(), good.body[..good.body.len() / 2].to_vec(), vec![]] {
        s.put_state(StateRecord { body, ..good.clone() }).await.unwrap();
        let e = crate::open_engine(dir.path(), config()).await;
        assert_eq!(lists(&e), full, "an unreadable state: the log is read");
    }
    // A state of another format.
    let mut other = good.body.clone();
    other[0] = 2;
    s.put_state(StateRecord { body: other, ..good }).await.unwrap();
    empty_log(dir.path()).await;
    let e = crate::open_engine(dir.path(), config()).await;
    assert!(lists(&e).iter().all(Vec::is_empty), "the log (now empty) is read, not the state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_state_is_kept_once_another_process_wrote_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let e: Arc<Engine> = crate::open_engine(dir.path(), config()).await;
    e.ingest(recent("a", 100)).await.unwrap();
    // A second writer on the same file (an `aisle import` beside the server): its events are
    // below what this engine will write next, and this engine never applied them.
    store(dir.path()).await.append_events(recent("other", 100)).await.unwrap();
    e.ingest(recent("b", 100)).await.unwrap();
    assert_eq!(e.save_state().await.unwrap(), None);
    e.flush().await.unwrap();
    assert_eq!(kept(dir.path()).await, None, "a state would claim events it never counted");
    drop(e);
    let e = crate::open_engine(dir.path(), config()).await;
    let weight = |r: &EventRecord| if r.kind == EventKind::Purchase { 5_000 } else { 1_000 };
    let every: i64 = ["a", "other", "b"].iter().flat_map(|t| recent(t, 100)).map(|r| weight(&r)).sum();
    assert_eq!(lists(&e)[4].iter().map(|(_, s)| s).sum::<i64>(), every, "all three writers' events counted");
    assert!(e.save_state().await.unwrap().is_some(), "a new start read everything and may keep it");
}
