//! A kept read equals a read of the whole log, through segment boundaries, fills, deletions,
//! a damaged segment and changed bounds; deleted users leave the stored segments.

use std::collections::HashMap;
use std::sync::Arc;

use aisle_core::{EventKind, IdMap, ItemIdx, UserIdx};
use aisle_ingest::Event;
use aisle_records::{EventLimits, EventRecord};
use aisle_store::{AnyStore, StateRecord, Store, Tombstone};

use super::{Build, Built, segment_name};
use crate::{Engine, EngineConfig, now_ms};

/// Events per segment in these tests: many segments, full and not.
const SEGMENT: usize = 7;

const CATALOG: [&str; 3] = ["i1", "i4", "i7"];

fn catalog() -> Vec<String> {
    CATALOG.iter().map(|s| (*s).to_owned()).collect()
}

/// The training snapshot as a read of the whole log makes it (what training did before
/// segments were kept): the test's oracle.
struct Whole {
    users: Vec<String>,
    items: Vec<String>,
    events: Vec<Event>,
    seqs: Vec<u64>,
    baskets: Vec<u64>,
    skipped: u64,
}

async fn whole(store: &AnyStore, limits: &EventLimits) -> Whole {
    let (mut users, mut items, mut sessions) = (IdMap::new(), IdMap::new(), IdMap::new());
    for id in CATALOG {
        items.get_or_insert(id);
    }
    let (mut events, mut seqs, mut baskets, mut skipped, mut after) = (vec![], vec![], vec![], 0, 0);
    let now = now_ms();
    loop {
        let page = store.events_after(after, 11).await.expect("log");
        let Some(last) = page.last() else { break };
        after = last.seq;
        for s in page {
            if limits.check(&s.event, Some(now)).is_err() {
                skipped += 1;
                continue;
            }
            let e = s.event;
            let user = users.get_or_insert(&e.user_id);
            let item = items.get_or_insert(&e.item_id);
            let session = e.session_id.as_ref().map(|s| sessions.get_or_insert(s));
            seqs.push(s.seq);
            baskets.push(match session {
                Some(s) => u64::from(s) | 1 << 63,
                None => u64::from(user) << 24 | (e.ts_ms.div_euclid(86_400_000) as u64 & 0xFF_FFFF),
            });
            let (user, item, value) = (UserIdx(user), ItemIdx(item), e.value.unwrap_or(1.0));
            events.push(Event { user, item, kind: e.kind, value, ts: e.ts_ms, session });
        }
    }
    let ids = |m: &IdMap| m.ids().map(str::to_owned).collect();
    Whole { users: ids(&users), items: ids(&items), events, seqs, baskets, skipped }
}

fn assert_same(built: &Built, whole: &Whole, what: &str) {
    let built = &built.snapshot;
    let ids = |m: &IdMap| m.ids().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(ids(&built.users), whole.users, "{what}: users");
    assert_eq!(ids(&built.items), whole.items, "{what}: items");
    assert_eq!(built.seqs, whole.seqs, "{what}: seqs");
    assert_eq!(built.events, whole.events, "{what}: events");
    assert_eq!(built.baskets, whole.baskets, "{what}: baskets");
    assert_eq!(built.skipped, whole.skipped, "{what}: skipped");
}

/// Event `n` of a batch tagged `tag`: users, items (some not in the catalog), sessions and
/// kinds mixed; one rating out of the default scale and one time far in the future per batch.
fn event(tag: &str, n: usize, users: usize) -> EventRecord {
    let base = now_ms() - 30 * 86_400_000;
    let kind = EventKind::ALL[n % 7];
    EventRecord {
        event_id: Some(format!("{tag}{n}")),
        user_id: format!("u{}", (n + tag.len()) % users),
        item_id: format!("i{}", (n * 5) % 13),
        kind,
        value: match (n, kind) {
            (3, _) => Some(2.5),
            (_, EventKind::Rating) if n == 11 => Some(50.0),
            (_, EventKind::Rating) => Some((n % 5) as f32 + 1.0),
            _ => None,
        },
        ts_ms: if n == 5 {
            now_ms() + 10 * 86_400_000
        } else {
            base + (n as i64 * 3_700_000) % 86_400_000 * 9
        },
        session_id: n.is_multiple_of(3).then(|| format!("s{}-{}", tag, n / 6)),
        recommendation_id: None,
    }
}

async fn store(dir: &tempfile::TempDir) -> AnyStore {
    AnyStore::open(&format!("sqlite:{}", dir.path().join("a.db").display())).await.expect("store")
}

/// The stored segments read with no tombstones: what the store holds, not what a read keeps.
async fn stored(store: &AnyStore) -> (Built, Vec<Vec<u8>>) {
    let mut b = Build::new(catalog().iter(), EventLimits::default(), now_ms(), HashMap::new(), SEGMENT);
    let mut bodies = Vec::new();
    while let Some(r) = store.state(segment_name(b.segments())).await.expect("state") {
        if r.body.is_empty() {
            break;
        }
        b.load(r.body.clone()).expect("every stored segment follows the one before");
        bodies.push(r.body);
    }
    (b.finish().0, bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_read_equals_a_read_of_the_whole_log_through_fills_deletions_and_damage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Engine::open(store(&dir).await, EngineConfig::default()).await.expect("engine");
    let limits = EventLimits::default();
    let read = |e: &Arc<Engine>| {
        let e = Arc::clone(e);
        async move { e.read_kept(catalog(), SEGMENT).await.expect("read") }
    };
    let append = |tag: &'static str, n: usize, users: usize| {
        let store = engine.store.clone();
        async move {
            store.append_events((0..n).map(|k| event(tag, k, users)).collect()).await.expect("append");
        }
    };

    append("a", 40, 7).await;
    let first = read(&engine).await;
    assert_eq!(first.kept_segments, 0, "nothing kept yet");
    assert_same(&first, &whole(&engine.store, &limits).await, "the first read");
    let (kept, bodies) = stored(&engine.store).await;
    assert_eq!(bodies.len(), 39usize.div_ceil(SEGMENT), "the 39 events within bounds, 7 a segment");
    assert_same(&kept, &whole(&engine.store, &limits).await, "the segments as stored");

    append("bb", 30, 9).await;
    let second = read(&engine).await;
    assert_eq!((second.kept_segments, second.kept_events), (6, 39), "the first read's segments");
    assert_same(&second, &whole(&engine.store, &limits).await, "filled up, then new segments");

    let again = read(&engine).await;
    assert_same(&again, &whole(&engine.store, &limits).await, "nothing new");

    // u3 leaves for good; u2 leaves and comes back.
    for user in ["u3", "u2"] {
        assert!(engine.delete_user(user).await.expect("delete").events > 0);
    }
    append("ccc", 20, 3).await;
    let after_deletions = read(&engine).await;
    let truth = whole(&engine.store, &limits).await;
    assert!(truth.users.contains(&"u2".to_owned()) && !truth.users.contains(&"u3".to_owned()));
    assert_same(&after_deletions, &truth, "deleted users' kept events dropped");
    let (kept, bodies) = stored(&engine.store).await;
    assert_same(&kept, &truth, "the segments were written again without them");
    assert!(
        bodies.iter().all(|b| !b.windows(2).any(|w| w == b"u3")),
        "the id of a user with nothing left is stored nowhere"
    );

    // A damaged segment: the kept part ends before it, and the read is still the log's.
    let damaged = StateRecord { name: segment_name(3), seq: u64::MAX >> 2, at_ms: 0, body: vec![7; 40] };
    assert!(engine.store.put_state(damaged).await.expect("put"));
    let repaired = read(&engine).await;
    assert_eq!(repaired.kept_segments, 3);
    assert_same(&repaired, &truth, "read past a damaged segment");
    let (kept, _) = stored(&engine.store).await;
    assert_same(&kept, &truth, "written again from the damaged one on");

    // Other bounds: the kept events (without the rating of 50) cannot be used.
    let wider = EventLimits { rating_max: 100.0, ..EventLimits::default() };
    let config = EngineConfig { events: wider, ..EngineConfig::default() };
    drop(engine);
    let engine = Engine::open(store(&dir).await, config).await.expect("engine");
    let rebuilt = read(&engine).await;
    assert_eq!(rebuilt.kept_segments, 0, "written under other bounds");
    let truth = whole(&engine.store, &wider).await;
    assert!(truth.events.iter().any(|e| e.value == 50.0), "the rating of 50 is trained on now");
    assert_same(&rebuilt, &truth, "a new generation");
    let next = read(&engine).await;
    assert!(next.kept_segments > 0);
    assert_same(&next, &truth, "the new generation read back");
}

#[test]
fn tombstones_a_read_has_not_applied_are_never_pruned() {
    let t = crate::jobs::Training::default();
    let stones = |v: &[(&str, u64)]| -> Vec<Tombstone> {
        v.iter().map(|&(u, at)| Tombstone { user_id: u.to_owned(), at_seq: at }).collect()
    };
    let all = stones(&[("a", 10), ("b", 20), ("c", 30)]);
    assert_eq!(t.prune_bound(100, &all), 10, "no read applied any: none is pruned");
    t.applied(Some(HashMap::from([("a".to_owned(), 10), ("b".to_owned(), 20)])));
    assert_eq!(t.prune_bound(100, &all), 30, "c was deleted after the read");
    assert_eq!(t.prune_bound(15, &all), 15, "a kept version still needs b");
    let again = stones(&[("a", 10), ("b", 25), ("c", 30)]);
    assert_eq!(t.prune_bound(100, &again), 25, "b deleted again after the read");
    t.applied(None);
    assert_eq!(t.prune_bound(100, &all), 10, "a read whose writes failed applied none");
}

/// A segment written by a read of `events` (no store: the pure part).
fn written(events: Vec<EventRecord>) -> Vec<u8> {
    let mut b = Build::new(catalog().iter(), EventLimits::default(), now_ms(), HashMap::new(), 1 << 20);
    let page = events
        .into_iter()
        .enumerate()
        .map(|(k, event)| aisle_store::StoredEvent { seq: 1 + k as u64 * 1_000_000_007, event })
        .collect();
    assert!(b.add_page(page).is_empty());
    b.finish().1.open.expect("a segment to write").1
}

#[test]
fn a_segment_reads_back_whole_and_no_damage_to_its_bytes_panics_a_read() {
    let mut events: Vec<EventRecord> = (0..60).map(|n| event("d", n, 9)).collect();
    events[7].ts_ms = 0; // a time step back to 1970, then forward again
    let body = written(events.clone());
    let load = |body: Vec<u8>| {
        let mut b = Build::new(catalog().iter(), EventLimits::default(), now_ms(), HashMap::new(), 1 << 20);
        b.load(body).map(|()| b.finish().0)
    };
    let read = load(body.clone()).expect("reads back");
    assert_eq!(read.kept_events, 59, "all but the rating of 50");
    let read = read.snapshot;
    assert_eq!(read.seqs.first(), Some(&1));
    assert_eq!(read.seqs.last(), Some(&(1 + 59 * 1_000_000_007)), "steps far past u32");
    assert!(read.events.iter().any(|e| e.ts == 0) && read.events.iter().any(|e| e.session.is_some()));
    let (mut refused, mut taken) = (0, 0);
    for cut in 0..body.len() {
        assert!(load(body[..cut].to_vec()).is_err(), "a segment cut at {cut} of {} is refused", body.len());
    }
    for at in 0..body.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut bad = body.clone();
            bad[at] ^= flip;
            match load(bad) {
                Err(_) => refused += 1,
                Ok(b) => {
                    taken += 1;
                    let b = b.snapshot;
                    assert!(b.events.len() <= 59 && b.seqs.windows(2).all(|w| w[0] < w[1]));
                }
            }
        }
    }
    assert!(refused > 0 && taken + refused == 3 * body.len());
}

#[test]
fn events_without_a_value_read_back_under_bounds_below_one() {
    // A value bound under 1: an event without a value is kept as 1 and still reads back.
    let limits = EventLimits { max_value: 0.5, ..EventLimits::default() };
    let mut b = Build::new(catalog().iter(), limits, now_ms(), HashMap::new(), 1 << 20);
    let mut e = event("v", 1, 3);
    (e.kind, e.value) = (EventKind::View, None);
    assert!(b.add_page(vec![aisle_store::StoredEvent { seq: 1, event: e }]).is_empty());
    let body = b.finish().1.open.expect("a segment to write").1;
    let mut b = Build::new(catalog().iter(), limits, now_ms(), HashMap::new(), 1 << 20);
    b.load(body).expect("reads back");
    let read = b.finish().0;
    assert_eq!((read.kept_events, read.snapshot.events[0].value), (1, 1.0));
}
