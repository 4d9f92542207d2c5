//! The behaviour every `Store` backend must show, as generic async checks over `S: Store`.
//!
//! A backend runs the whole suite with `store_conformance!(fresh)`, where `fresh().await` returns
//! `Some((guard, store))`: a new, empty store and whatever must live as long as it (a temp dir), or
//! `None` when the backend's server is not configured (the test then says it skipped and passes,
//! except under `CI`, where a missing server fails it).

use std::collections::{BTreeMap, BTreeSet};

use aisle_core::EventKind;
use aisle_store::{
    Appended, Counts, DeadLetter, EventRecord, ItemRecord, NewModel, PageRequest, StateRecord, Store,
    StoreError, StoredEvent, Tombstone, UserRecord,
};
use serde_json::json;

/// Generates one `#[tokio::test]` per conformance check, each on a fresh store from `$fresh`.
macro_rules! store_conformance {
    ($fresh:path) => {
        $crate::conformance::store_conformance!(@tests $fresh;
            items_round_trip, users_round_trip, item_pagination, user_pagination, append_sequence,
            idempotent_resend, a_large_mixed_batch_has_every_fate_in_order, events_without_id, events_after_paging, user_events_after_newest,
            a_deferred_event_index_changes_no_answer, state_keeps_the_newest_by_name,
            delete_user_removes_only_theirs, model_versions_and_activation, model_artifact_round_trip,
            prune_models_keeps_newest_and_active, counts_of_everything, concurrent_appends,
            a_reader_following_the_log_gets_every_event_once, flush_keeps_everything, dead_letters_idempotent, deleted_users_leave_tombstones,
        );
    };
    (@tests $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((_guard, store)) = $fresh().await else { return };
                $crate::conformance::$name(&store).await;
            }
        )*
    };
}
pub(crate) use store_conformance;

/// An item with every field set, ids included verbatim.
pub fn item(id: &str) -> ItemRecord {
    ItemRecord {
        id: id.to_owned(),
        title: format!("Title of {id}"),
        description: "Ein schöner Stuhl — «très» confortable 🪑".to_owned(),
        categories: vec!["furniture".to_owned(), "furniture/chairs".to_owned()],
        tags: vec!["oak".to_owned(), "sale".to_owned()],
        brand: Some("Acme".to_owned()),
        // Not a short decimal: a lossy float parser would read it back one ulp off.
        price: Some(12_329.753_400_000_001),
        in_stock: true,
        attributes: json!({
            "color": "red",
            "weight_kg": 0.1 + 0.2,
            "sizes": [36, 38, 40],
            "nested": {"a": null, "b": false},
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
        updated_at_ms: 1_700_000_000_123,
    }
}

/// A user with attributes.
pub fn user(id: &str) -> UserRecord {
    UserRecord {
        id: id.to_owned(),
        attributes: json!({"segment": "vip", "country": "DE", "score": 0.7})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        updated_at_ms: 1_700_000_000_456,
    }
}

/// An event of `user` on `item`, with `event_id` if given; the other fields vary with `n`.
pub fn event(user: &str, item: &str, event_id: Option<&str>, n: usize) -> EventRecord {
    EventRecord {
        event_id: event_id.map(str::to_owned),
        user_id: user.to_owned(),
        item_id: item.to_owned(),
        kind: EventKind::ALL[n % EventKind::ALL.len()],
        value: n.is_multiple_of(3).then_some(0.1 + n as f32),
        ts_ms: 1_700_000_000_000 + n as i64,
        session_id: n.is_multiple_of(2).then(|| format!("s-{n}")),
        recommendation_id: n.is_multiple_of(4).then(|| format!("rec-{n}")),
    }
}

/// A model to store, distinguishable by `n`.
pub fn new_model(n: u64) -> NewModel {
    NewModel {
        name: if n.is_multiple_of(2) { "ials".to_owned() } else { "ease".to_owned() },
        params: json!({"factors": 64 + n, "reg": 0.01, "alpha": 1.0 / 3.0}),
        trained_on_seq: 1_000 * n,
        metrics: BTreeMap::from([
            ("ndcg@10".to_owned(), 0.1 + 0.2 * n as f64),
            ("recall@20".to_owned(), 0.5),
        ]),
        created_at_ms: 1_700_000_000_000 + n as i64,
    }
}

async fn append<S: Store>(store: &S, events: Vec<EventRecord>) -> Vec<Appended> {
    store.append_events(events).await.expect("append_events")
}

async fn all_events<S: Store>(store: &S) -> Vec<StoredEvent> {
    store.events_after(0, usize::MAX).await.expect("events_after")
}

fn inserted_seqs(fates: &[Appended]) -> Vec<u64> {
    fates
        .iter()
        .map(|fate| match fate {
            Appended::Inserted(seq) => *seq,
            Appended::Duplicate(seq) => panic!("expected an insert, got a duplicate of {seq}"),
        })
        .collect()
}

fn assert_strictly_increasing(seqs: &[u64]) {
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "not strictly increasing: {seqs:?}");
}

/// Put, get, replace and delete of items, every field compared.
pub async fn items_round_trip<S: Store>(store: &S) {
    let full = item("ünïcødé-🛒/42");
    let mut bare = item("bare");
    bare.price = None;
    bare.brand = None;
    bare.title.clear();
    bare.description.clear();
    bare.categories.clear();
    bare.tags.clear();
    bare.attributes.clear();
    bare.in_stock = false;
    store.put_items(vec![full.clone(), bare.clone()]).await.expect("put_items");
    assert_eq!(store.item(full.id.clone()).await.expect("item"), Some(full.clone()));
    assert_eq!(store.item(bare.id.clone()).await.expect("item"), Some(bare.clone()));
    assert_eq!(store.item("missing".to_owned()).await.expect("item"), None);

    let mut replaced = full.clone();
    replaced.title = "New title".to_owned();
    replaced.price = None;
    replaced.attributes.insert("color".to_owned(), json!("blue"));
    replaced.updated_at_ms += 1;
    store.put_items(vec![replaced.clone()]).await.expect("put_items");
    assert_eq!(store.item(full.id.clone()).await.expect("item"), Some(replaced));
    assert_eq!(store.counts().await.expect("counts").items, 2);

    // Deleting an item keeps its events: they are history.
    append(store, vec![event("u", &full.id, None, 1)]).await;
    assert!(store.delete_item(full.id.clone()).await.expect("delete_item"));
    assert_eq!(store.item(full.id.clone()).await.expect("item"), None);
    assert!(!store.delete_item(full.id.clone()).await.expect("delete_item"));
    assert_eq!(store.item(bare.id.clone()).await.expect("item"), Some(bare));
    assert_eq!(all_events(store).await.len(), 1);
}

/// Put, get, replace and delete of users.
pub async fn users_round_trip<S: Store>(store: &S) {
    let first = user("Ærøskøbing-用户");
    let mut empty = user("empty");
    empty.attributes.clear();
    store.put_users(vec![first.clone(), empty.clone()]).await.expect("put_users");
    assert_eq!(store.user(first.id.clone()).await.expect("user"), Some(first.clone()));
    assert_eq!(store.user(empty.id.clone()).await.expect("user"), Some(empty.clone()));
    assert_eq!(store.user("missing".to_owned()).await.expect("user"), None);

    let mut replaced = first.clone();
    replaced.attributes.remove("country");
    replaced.attributes.insert("segment".to_owned(), json!(["a", 1]));
    replaced.updated_at_ms = -5;
    store.put_users(vec![replaced.clone()]).await.expect("put_users");
    assert_eq!(store.user(first.id.clone()).await.expect("user"), Some(replaced));
    assert_eq!(store.counts().await.expect("counts").users, 2);

    let removal = store.delete_user(first.id.clone()).await.expect("delete_user");
    assert!(removal.existed);
    assert_eq!(store.user(first.id.clone()).await.expect("user"), None);
    let again = store.delete_user(first.id.clone()).await.expect("delete_user");
    assert!(!again.existed);
    assert_eq!(again.events, 0);
    assert_eq!(store.user(empty.id.clone()).await.expect("user"), Some(empty));
}

/// Ids chosen so that byte order differs from naive expectations (case, prefixes, non-ASCII).
const PAGE_IDS: [&str; 23] = [
    "m", "a", "B", "a0", "ab", "aa", "z", "é", "日本", "Z", "0", "10", "9", "a-", "a_", "zz", "ÿ", "Ω", "🛒",
    "b", "ba", "c", "~",
];

fn sorted_page_ids() -> Vec<String> {
    let mut ids: Vec<String> = PAGE_IDS.iter().map(|id| (*id).to_owned()).collect();
    ids.sort();
    ids
}

/// Walks all item pages of `limit`; checks each page's size and cursor on the way.
async fn walk_items<S: Store>(store: &S, limit: usize, after: Option<String>) -> Vec<String> {
    let mut seen = Vec::new();
    let mut page = PageRequest { limit, after };
    let mut followed = false;
    loop {
        let got = store.items(page.clone()).await.expect("items");
        assert!(got.rows.len() <= limit, "page of {} rows for limit {limit}", got.rows.len());
        // A returned cursor promises a next page with rows in it.
        assert!(!followed || !got.rows.is_empty(), "limit {limit}: a returned cursor led to an empty page");
        seen.extend(got.rows.iter().map(|row| row.id.clone()));
        match got.next {
            Some(next) => {
                assert_eq!(got.rows.len(), limit, "a page before the last is full");
                assert_eq!(got.rows.last().map(|row| &row.id), Some(&next));
                page.after = Some(next);
                followed = true;
            }
            None => return seen,
        }
    }
}

/// Item listing visits every row exactly once, in id order, whatever the page size.
pub async fn item_pagination<S: Store>(store: &S) {
    let ids = sorted_page_ids();
    store.put_items(PAGE_IDS.iter().map(|id| item(id)).collect()).await.expect("put_items");
    for limit in [1, 2, 7, 22, 23, 24, 1_000] {
        assert_eq!(walk_items(store, limit, None).await, ids, "limit {limit}");
    }
    // A cursor from the middle continues after it; a cursor that is no stored id works too.
    assert_eq!(walk_items(store, 2, Some(ids[10].clone())).await, ids[11..].to_vec());
    let between = format!("{}\u{0}", ids[4]);
    assert_eq!(walk_items(store, 7, Some(between)).await, ids[5..].to_vec());
    assert!(walk_items(store, 3, ids.last().cloned()).await.is_empty());

    let whole = store.items(PageRequest { limit: ids.len(), after: None }).await.expect("items");
    assert_eq!((whole.rows.len(), whole.next), (ids.len(), None), "a full last page names no next page");
    let first = store.items(PageRequest { limit: 3, after: None }).await.expect("items");
    assert_eq!(first.rows, ids[..3].iter().map(|id| item(id)).collect::<Vec<_>>());
    let empty = store.items(PageRequest { limit: 0, after: None }).await.expect("items");
    assert!(empty.rows.is_empty());
}

/// User listing pages the same way.
pub async fn user_pagination<S: Store>(store: &S) {
    let ids = sorted_page_ids();
    store.put_users(PAGE_IDS.iter().map(|id| user(id)).collect()).await.expect("put_users");
    for limit in [1, 2, 7, 100] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store.users(PageRequest { limit, after: after.clone() }).await.expect("users");
            assert!(page.rows.len() <= limit);
            seen.extend(page.rows.iter().map(|row| row.id.clone()));
            if page.next.is_none() {
                break;
            }
            after = page.next;
        }
        assert_eq!(seen, ids, "limit {limit}");
    }
    let page = store.users(PageRequest { limit: 2, after: Some(ids[20].clone()) }).await.expect("users");
    assert_eq!(page.rows, vec![user(&ids[21]), user(&ids[22])]);
    assert_eq!(page.next, None);
}

/// Sequence numbers increase within and across batches, in input order, and the log holds exactly
/// what was appended.
pub async fn append_sequence<S: Store>(store: &S) {
    let first: Vec<EventRecord> = (0..50)
        .map(|n: usize| {
            event(
                &format!("u{}", n % 7),
                &format!("i{}", n % 5),
                n.is_multiple_of(2).then_some(&*format!("e{n}")),
                n,
            )
        })
        .collect();
    let second: Vec<EventRecord> = (50..60).map(|n| event("u1", "i1", None, n)).collect();
    let first_seqs = inserted_seqs(&append(store, first.clone()).await);
    let second_seqs = inserted_seqs(&append(store, second.clone()).await);
    assert_eq!(first_seqs.len(), 50);
    assert_eq!(second_seqs.len(), 10);
    let seqs: Vec<u64> = first_seqs.iter().chain(&second_seqs).copied().collect();
    assert_strictly_increasing(&seqs);
    assert!(seqs[0] >= 1);

    let expected: Vec<StoredEvent> = seqs
        .iter()
        .zip(first.into_iter().chain(second))
        .map(|(seq, event)| StoredEvent { seq: *seq, event })
        .collect();
    assert_eq!(all_events(store).await, expected);
    assert!(append(store, Vec::new()).await.is_empty());
}

/// A re-sent `event_id`, in a later batch or the same one, maps to the first event's seq and is
/// not stored again.
pub async fn idempotent_resend<S: Store>(store: &S) {
    let a = event("u1", "i1", Some("a"), 1);
    let b = event("u1", "i2", Some("b"), 2);
    let seqs =
        inserted_seqs(&append(store, vec![a.clone(), b.clone(), event("u2", "i3", Some("c"), 3)]).await);

    // The re-sent copy differs in payload: the first one stays.
    let mut b_again = b.clone();
    b_again.user_id = "someone else".to_owned();
    let fates =
        append(store, vec![event("u3", "i1", Some("x"), 4), b_again, a, event("u3", "i1", Some("y"), 5)])
            .await;
    assert!(matches!(fates[0], Appended::Inserted(s) if s > seqs[2]), "{fates:?}");
    assert_eq!(fates[1], Appended::Duplicate(seqs[1]));
    assert_eq!(fates[2], Appended::Duplicate(seqs[0]));
    assert!(matches!(fates[3], Appended::Inserted(s) if s > fates[0].seq()), "{fates:?}");

    let z = event("u4", "i9", Some("z"), 6);
    let fates = append(store, vec![z.clone(), z.clone(), event("u4", "i9", Some("w"), 7), z]).await;
    let Appended::Inserted(z_seq) = fates[0] else { panic!("first z not inserted: {fates:?}") };
    assert_eq!(fates[1], Appended::Duplicate(z_seq));
    assert!(matches!(fates[2], Appended::Inserted(s) if s > z_seq), "{fates:?}");
    assert_eq!(fates[3], Appended::Duplicate(z_seq));

    assert_eq!(store.counts().await.expect("counts").events, 7);
    let log = all_events(store).await;
    assert_eq!(log.len(), 7);
    let stored_b = log.iter().find(|e| e.seq == seqs[1]).expect("b stored");
    assert_eq!(stored_b.event, b);
}

/// A batch of hundreds of events, mixing events without an id, ids stored before, ids repeated
/// far apart within the batch and new ids, gets each event's fate in input order: what a model of
/// the rules (first event of an id wins, across batches and within one) predicts, with the
/// inserted ones numbered in input order.
pub async fn a_large_mixed_batch_has_every_fate_in_order<S: Store>(store: &S) {
    let before: Vec<EventRecord> = (0..50).map(|n| event("u0", "i0", Some(&format!("old-{n}")), n)).collect();
    let first = inserted_seqs(&append(store, before).await);
    let id_of = |k: usize| -> Option<String> {
        match k % 7 {
            0 => None,
            1 => Some(format!("old-{}", (k * 13) % 50)),
            2 | 3 => Some(format!("rep-{}", k % 11)),
            _ => Some(format!("new-{k}")),
        }
    };
    let batch: Vec<EventRecord> =
        (0..300).map(|k| event(&format!("u{}", k % 5), "i1", id_of(k).as_deref(), 100 + k)).collect();
    let fates = append(store, batch.clone()).await;
    assert_eq!(fates.len(), batch.len());
    let mut seq_of: BTreeMap<String, u64> = (0..50).map(|n| (format!("old-{n}"), first[n])).collect();
    let mut last = *first.last().expect("50 stored");
    for (k, (e, fate)) in batch.iter().zip(&fates).enumerate() {
        match e.event_id.as_ref().and_then(|id| seq_of.get(id)) {
            Some(seq) => assert_eq!(*fate, Appended::Duplicate(*seq), "event {k}: {fates:?}"),
            None => {
                let Appended::Inserted(seq) = *fate else { panic!("event {k} not inserted: {fate:?}") };
                assert!(seq > last, "event {k}: seq {seq} after {last}");
                last = seq;
                if let Some(id) = &e.event_id {
                    seq_of.insert(id.clone(), seq);
                }
            }
        }
    }
    let inserted: Vec<(u64, &EventRecord)> = fates
        .iter()
        .zip(&batch)
        .filter(|(f, _)| matches!(f, Appended::Inserted(_)))
        .map(|(f, e)| (f.seq(), e))
        .collect();
    let stored = all_events(store).await;
    assert_eq!(stored.len(), 50 + inserted.len());
    for ((seq, e), s) in inserted.iter().zip(&stored[50..]) {
        assert_eq!((s.seq, &s.event), (*seq, *e));
    }
    assert_eq!(store.counts().await.expect("counts").events, stored.len() as u64);
}

/// Events without an id are never deduplicated, even when identical.
pub async fn events_without_id<S: Store>(store: &S) {
    let same = event("u1", "i1", None, 3);
    let first = inserted_seqs(&append(store, vec![same.clone(); 10]).await);
    let second = inserted_seqs(&append(store, vec![same.clone(); 10]).await);
    let all: Vec<u64> = first.into_iter().chain(second).collect();
    assert_strictly_increasing(&all);
    assert_eq!(store.counts().await.expect("counts").events, 20);
    assert!(all_events(store).await.iter().all(|stored| stored.event == same));
}

/// Paging through `events_after` reconstructs the log exactly.
pub async fn events_after_paging<S: Store>(store: &S) {
    for batch in 0..7 {
        let events = (0..20 - batch)
            .map(|n| event(&format!("u{n}"), "i", Some(&*format!("{batch}-{n}")), n))
            .collect();
        append(store, events).await;
    }
    let log = all_events(store).await;
    assert_eq!(log.len(), 119);
    assert_strictly_increasing(&log.iter().map(|e| e.seq).collect::<Vec<_>>());
    for limit in [1, 10, 50, 119, 500] {
        let mut rebuilt = Vec::new();
        let mut after = 0;
        loop {
            let page = store.events_after(after, limit).await.expect("events_after");
            assert!(page.len() <= limit);
            let Some(last) = page.last() else { break };
            after = last.seq;
            rebuilt.extend(page);
        }
        assert_eq!(rebuilt, log, "limit {limit}");
    }
    let last = log[log.len() - 1].seq;
    assert_eq!(store.events_after(log[99].seq, 1_000).await.expect("events_after"), log[100..].to_vec());
    assert!(store.events_after(last, 10).await.expect("events_after").is_empty());
    assert!(store.events_after(u64::MAX, 10).await.expect("events_after").is_empty());
    assert!(store.events_after(0, 0).await.expect("events_after").is_empty());
}

/// `user_events_after` returns only that user's events above the seq: the newest `limit`, ascending.
pub async fn user_events_after_newest<S: Store>(store: &S) {
    let events: Vec<EventRecord> =
        (0..90).map(|n| event(&format!("u{}", n % 3), &format!("i{n}"), None, n)).collect();
    append(store, events).await;
    let u1: Vec<StoredEvent> =
        all_events(store).await.into_iter().filter(|e| e.event.user_id == "u1").collect();
    assert_eq!(u1.len(), 30);

    let newest = store.user_events_after("u1".to_owned(), 0, 5).await.expect("user_events_after");
    assert_eq!(newest, u1[25..].to_vec());
    let after_mid =
        store.user_events_after("u1".to_owned(), u1[19].seq, 100).await.expect("user_events_after");
    assert_eq!(after_mid, u1[20..].to_vec());
    let bounded = store.user_events_after("u1".to_owned(), u1[9].seq, 4).await.expect("user_events_after");
    assert_eq!(bounded, u1[26..].to_vec());
    assert_eq!(store.user_events_after("u1".to_owned(), 0, 1_000).await.expect("user_events_after"), u1);
    assert!(
        store.user_events_after("u1".to_owned(), u1[29].seq, 10).await.expect("user_events_after").is_empty()
    );
    assert!(store.user_events_after("nobody".to_owned(), 0, 10).await.expect("user_events_after").is_empty());
    assert!(store.user_events_after("u1".to_owned(), 0, 0).await.expect("user_events_after").is_empty());
}

/// While the per-user event index is deferred for a bulk load, and after it is built again,
/// appends keep their sequence numbers and idempotence and every read answers as before; deferring
/// or building twice is harmless.
pub async fn a_deferred_event_index_changes_no_answer<S: Store>(store: &S) {
    let batch = |from: usize| -> Vec<EventRecord> {
        (from..from + 60).map(|n| event(&format!("u{}", n % 3), "i1", Some(&*format!("e{n}")), n)).collect()
    };
    append(store, batch(0)).await;
    store.defer_event_index(true).await.expect("defer");
    store.defer_event_index(true).await.expect("defer again");
    let during = append(store, batch(30)).await;
    assert!(during[..30].iter().all(|a| matches!(a, Appended::Duplicate(_))), "{during:?}");
    assert!(during[30..].iter().all(|a| matches!(a, Appended::Inserted(_))), "{during:?}");
    let log = all_events(store).await;
    assert_eq!(log.len(), 90);
    let u2: Vec<StoredEvent> = log.iter().filter(|e| e.event.user_id == "u2").cloned().collect();
    let reads = || async {
        (
            store.user_events_after("u2".to_owned(), 0, 1_000).await.expect("user_events_after"),
            store.user_events_after("u2".to_owned(), u2[9].seq, 5).await.expect("user_events_after"),
        )
    };
    assert_eq!(reads().await, (u2.clone(), u2[25..].to_vec()), "while deferred");
    store.defer_event_index(false).await.expect("build");
    store.defer_event_index(false).await.expect("build again");
    assert_eq!(reads().await, (u2.clone(), u2[25..].to_vec()), "once built");
    assert_eq!(all_events(store).await, log);
    assert_eq!(store.counts().await.expect("counts").events, 90);
}

/// A state is kept by name; an older `seq` never replaces a newer one, an equal or newer one does,
/// and a body of several megabytes comes back byte for byte.
pub async fn state_keeps_the_newest_by_name<S: Store>(store: &S) {
    let state = |name: &str, seq: u64, body: Vec<u8>| StateRecord { name: name.into(), seq, at_ms: 7, body };
    assert_eq!(store.state("engine".into()).await.expect("state"), None);
    let big: Vec<u8> = (0..3_000_000u32).map(|n| (n % 251) as u8).collect();
    assert!(store.put_state(state("engine", 10, big.clone())).await.expect("put"));
    assert_eq!(store.state("engine".into()).await.expect("state"), Some(state("engine", 10, big.clone())));
    assert!(!store.put_state(state("engine", 9, vec![1])).await.expect("put older"), "older is refused");
    assert_eq!(store.state("engine".into()).await.expect("state"), Some(state("engine", 10, big)));
    assert!(store.put_state(state("engine", 10, vec![2])).await.expect("put same seq"));
    assert!(store.put_state(state("other", 3, vec![3])).await.expect("put other"));
    assert!(store.put_state(state("engine", 11, vec![4])).await.expect("put newer"));
    assert_eq!(store.state("engine".into()).await.expect("state"), Some(state("engine", 11, vec![4])));
    assert_eq!(store.state("other".into()).await.expect("state"), Some(state("other", 3, vec![3])));
}

/// Deleting a user removes their record and all their events, and nobody else's.
pub async fn delete_user_removes_only_theirs<S: Store>(store: &S) {
    store.put_users(vec![user("u1"), user("u2")]).await.expect("put_users");
    let events: Vec<EventRecord> = (0..18)
        .map(|n| {
            let who = match n % 6 {
                0..=2 => "u1",
                3 | 4 => "u2",
                _ => "u3",
            };
            event(who, "i", Some(&*format!("e{n}")), n)
        })
        .collect();
    append(store, events).await;
    let before = all_events(store).await;

    let removal = store.delete_user("u1".to_owned()).await.expect("delete_user");
    assert!(removal.existed);
    assert_eq!(removal.events, 9);
    let newest = before.iter().map(|e| e.seq).max().unwrap_or(0);
    assert_eq!(removal.at_seq, newest, "the tombstone is at the log's newest seq, read before the delete");
    let after = all_events(store).await;
    let expected: Vec<StoredEvent> = before.iter().filter(|e| e.event.user_id != "u1").cloned().collect();
    assert_eq!(after, expected);
    assert_eq!(store.user("u1".to_owned()).await.expect("user"), None);
    assert_eq!(store.user("u2".to_owned()).await.expect("user"), Some(user("u2")));
    assert_eq!(
        store.counts().await.expect("counts"),
        Counts { items: 0, users: 1, events: 9, last_seq: before.iter().map(|e| e.seq).max().unwrap_or(0) }
    );

    // Events of someone without a record go too, and the removal says there was no record.
    let removal = store.delete_user("u3".to_owned()).await.expect("delete_user");
    assert!(!removal.existed);
    assert_eq!(removal.events, 3);
    assert!(all_events(store).await.iter().all(|e| e.event.user_id == "u2"));
}

/// Versions are 1, 2, 3; listing is newest first; activation switches exactly one.
pub async fn model_versions_and_activation<S: Store>(store: &S) {
    for n in 1..=3 {
        let stored = store.put_model(new_model(n), vec![n as u8; n as usize * 10]).await.expect("put_model");
        assert_eq!(stored.version, n);
        assert!(!stored.active);
        assert_eq!(stored.artifact_bytes, n * 10);
        assert_eq!(stored.model, new_model(n));
    }
    let listed = store.models().await.expect("models");
    assert_eq!(listed.iter().map(|m| m.version).collect::<Vec<_>>(), vec![3, 2, 1]);
    assert!(
        listed
            .iter()
            .all(|m| !m.active && m.model == new_model(m.version) && m.artifact_bytes == m.version * 10)
    );
    assert_eq!(store.active_model().await.expect("active_model"), None);

    for version in [2, 3, 2] {
        let activated = store.activate_model(version, None).await.expect("activate_model");
        assert_eq!((activated.version, activated.active), (version, true));
        assert_eq!(activated.model, new_model(version));
        let active: Vec<u64> =
            store.models().await.expect("models").iter().filter(|m| m.active).map(|m| m.version).collect();
        assert_eq!(active, vec![version]);
        assert_eq!(store.active_model().await.expect("active_model"), Some(activated));
    }

    match store.activate_model(99, None).await {
        Err(StoreError::NotFound { what: "model", id }) => assert_eq!(id, "99"),
        other => panic!("activating a missing model gave {other:?}"),
    }
    assert_eq!(store.active_model().await.expect("active_model").map(|m| m.version), Some(2));

    // A metric that came out NaN (an empty evaluation split) must not make the listing unreadable.
    let mut odd = new_model(4);
    odd.metrics.insert("mrr".to_owned(), f64::NAN);
    store.put_model(odd, Vec::new()).await.expect("put_model");
    let listed = store.models().await.expect("models");
    assert_eq!(listed[0].version, 4);
    assert!(listed[0].model.metrics["mrr"].is_nan());
    assert_eq!(listed[0].model.metrics["recall@20"], 0.5);
}

/// Artifacts read back byte for byte, large (stored in parts) and empty alike.
pub async fn model_artifact_round_trip<S: Store>(store: &S) {
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let big: Vec<u8> = (0..2 * aisle_store::ARTIFACT_PART_BYTES + 13)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let big_version = store.put_model(new_model(1), big.clone()).await.expect("put_model").version;
    let empty_version = store.put_model(new_model(2), Vec::new()).await.expect("put_model").version;
    assert_eq!(store.model_artifact(big_version).await.expect("model_artifact"), Some(big.clone()));
    assert_eq!(store.model_artifact(empty_version).await.expect("model_artifact"), Some(Vec::new()));
    assert_eq!(store.model_artifact(999).await.expect("model_artifact"), None);
    assert_eq!(store.model_artifact(u64::MAX).await.expect("model_artifact"), None);
    let sizes: Vec<u64> = store.models().await.expect("models").iter().map(|m| m.artifact_bytes).collect();
    assert_eq!(sizes, vec![0, big.len() as u64]);
}

fn versions(models: &[aisle_store::ModelRecord]) -> Vec<u64> {
    models.iter().map(|m| m.version).collect()
}

/// Pruning keeps the newest `keep` and the active version; versions are never reused.
pub async fn prune_models_keeps_newest_and_active<S: Store>(store: &S) {
    for n in 1..=6 {
        store.put_model(new_model(n), vec![1, 2, 3]).await.expect("put_model");
    }
    store.activate_model(2, None).await.expect("activate_model");
    assert_eq!(store.prune_models(3).await.expect("prune_models"), 2);
    assert_eq!(versions(&store.models().await.expect("models")), vec![6, 5, 4, 2]);
    assert_eq!(store.model_artifact(1).await.expect("model_artifact"), None);
    assert_eq!(store.model_artifact(2).await.expect("model_artifact"), Some(vec![1, 2, 3]));
    assert_eq!(store.prune_models(3).await.expect("prune_models"), 0);
    assert_eq!(store.prune_models(10).await.expect("prune_models"), 0);

    assert_eq!(store.prune_models(0).await.expect("prune_models"), 3);
    assert_eq!(versions(&store.models().await.expect("models")), vec![2]);
    let next = store.put_model(new_model(7), Vec::new()).await.expect("put_model");
    assert_eq!(next.version, 7, "a pruned version number is not reused");

    // With the active version among the newest, exactly `keep` remain.
    store.activate_model(7, None).await.expect("activate_model");
    assert_eq!(store.prune_models(1).await.expect("prune_models"), 1);
    assert_eq!(versions(&store.models().await.expect("models")), vec![7]);
    assert_eq!(store.active_model().await.expect("active_model").map(|m| m.version), Some(7));
}

/// Counts of items, users and events, and the last seq.
pub async fn counts_of_everything<S: Store>(store: &S) {
    assert_eq!(store.counts().await.expect("counts"), Counts::default());
    store.put_items(vec![item("a"), item("b"), item("c"), item("a")]).await.expect("put_items");
    store.put_users(vec![user("x"), user("y")]).await.expect("put_users");
    let fates = append(store, (0..5).map(|n| event("x", "a", Some(&*format!("e{n}")), n)).collect()).await;
    append(store, vec![event("x", "a", Some("e0"), 0)]).await;
    let last = fates.iter().map(|f| f.seq()).max().unwrap_or(0);
    assert_eq!(
        store.counts().await.expect("counts"),
        Counts { items: 3, users: 2, events: 5, last_seq: last }
    );
    append(store, vec![event("y", "b", Some("e9"), 9), event("y", "b", Some("e9"), 9)]).await;
    assert_eq!(store.counts().await.expect("counts").events, 6, "a repeat within a batch is not counted");
    store.delete_user("x".into()).await.expect("delete_user");
    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.users, counts.events), (1, 1), "a deleted user's events are not counted");
}

/// Appends racing each other all get distinct sequence numbers.
pub async fn concurrent_appends<S: Store>(store: &S) {
    let batch = |tag: &str| -> Vec<EventRecord> {
        (0..100).map(|n| event(tag, "i", Some(&*format!("{tag}-{n}")), n)).collect()
    };
    let (a, b, c, d) = tokio::join!(
        store.append_events(batch("a")),
        store.append_events(batch("b")),
        store.append_events(batch("c")),
        store.append_events(batch("d")),
    );
    let mut seqs = BTreeSet::new();
    for fates in [a, b, c, d] {
        let fates = fates.expect("append_events");
        let batch_seqs = inserted_seqs(&fates);
        assert_strictly_increasing(&batch_seqs);
        seqs.extend(batch_seqs);
    }
    assert_eq!(seqs.len(), 400);
    assert_eq!(store.counts().await.expect("counts").events, 400);
}

/// A reader following the log from the last sequence number it got, while four writers append
/// batches of different sizes side by side, gets every stored event exactly once and in order
/// (a batch that drew lower numbers may commit after one that drew higher ones: the read must
/// not pass it meanwhile). Answers how many batches committed out of number order
/// ([`late_commits`]: the case the read must wait out).
pub async fn a_reader_following_the_log_gets_every_event_once<S: Store>(store: &S) -> usize {
    const WRITERS: usize = 4;
    const BATCHES: usize = 40;
    let done = std::sync::atomic::AtomicUsize::new(0);
    // Each batch's lowest and highest sequence number, in the order the batches finished.
    let finished = std::sync::Mutex::new(Vec::new());
    let writer = |w: usize| {
        let (done, finished) = (&done, &finished);
        async move {
            for b in 0..BATCHES {
                let size = 1 + (w * 7_919 + b * 104_729) % 400;
                let events = (0..size)
                    .map(|n| event(&format!("u{w}"), "i", Some(&*format!("w{w}-{b}-{n}")), n))
                    .collect();
                let seqs = inserted_seqs(&store.append_events(events).await.expect("append_events"));
                assert_eq!(seqs.len(), size);
                finished.lock().unwrap().push((seqs[0], seqs[size - 1]));
            }
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    };
    let tail = async {
        let (mut cursor, mut seen) = (0, Vec::new());
        loop {
            // Read before the page: once every writer is done, an empty page is the end.
            let all_done = done.load(std::sync::atomic::Ordering::SeqCst) == WRITERS;
            let page = store.events_after(cursor, 97).await.expect("events_after");
            match page.last() {
                Some(last) => {
                    cursor = last.seq;
                    seen.extend(page.iter().map(|e| e.seq));
                }
                None if all_done => return seen,
                None => tokio::task::yield_now().await,
            }
        }
    };
    let ((), (), (), (), seen) = tokio::join!(writer(0), writer(1), writer(2), writer(3), tail);
    assert_strictly_increasing(&seen);
    let finished = finished.into_inner().unwrap();
    let stored: BTreeSet<u64> = all_events(store).await.iter().map(|e| e.seq).collect();
    let total: usize =
        (0..WRITERS).flat_map(|w| (0..BATCHES).map(move |b| 1 + (w * 7_919 + b * 104_729) % 400)).sum();
    assert_eq!(stored.len(), total);
    assert_eq!(seen.into_iter().collect::<BTreeSet<u64>>(), stored, "the tail got every event once");
    late_commits(&finished)
}

/// Of batches given as (lowest, highest sequence number) in the order they finished, how many
/// finished after a batch holding a higher number than their lowest: commits out of number order.
pub fn late_commits(finished: &[(u64, u64)]) -> usize {
    finished
        .iter()
        .enumerate()
        .filter(|&(j, &(low, _))| finished[..j].iter().any(|&(_, high)| high > low))
        .count()
}

/// Flushing loses nothing and the store stays usable.
pub async fn flush_keeps_everything<S: Store>(store: &S) {
    store.put_items(vec![item("a")]).await.expect("put_items");
    append(store, (0..10).map(|n| event("u", "a", None, n)).collect()).await;
    store.flush().await.expect("flush");
    assert_eq!(store.counts().await.expect("counts").events, 10);
    append(store, vec![event("u", "a", None, 11)]).await;
    store.flush().await.expect("flush");
    assert_eq!(store.item("a".to_owned()).await.expect("item"), Some(item("a")));
    assert_eq!(all_events(store).await.len(), 11);
}

fn letter(source: &str, partition: i32, offset: i64) -> DeadLetter {
    DeadLetter {
        source: source.to_owned(),
        partition,
        offset,
        // Not UTF-8: a dead letter is whatever bytes arrived.
        payload: vec![0xff, 0x00, b'{', offset as u8],
        reason: format!("invalid JSON at {partition}/{offset}"),
        at_ms: 1_700_000_000_000 + offset,
    }
}

/// Dead letters are kept byte for byte, once per (source, partition, offset), in storing order.
pub async fn dead_letters_idempotent<S: Store>(store: &S) {
    assert_eq!(store.dead_letters_after(0, 10).await.expect("empty"), Vec::new());
    let first = vec![letter("kafka:a", 0, 5), letter("kafka:a", 1, 5), letter("kafka:b", 0, 5)];
    assert_eq!(store.put_dead_letters(first.clone()).await.expect("put"), 3);
    // A redelivery of two of them and one new letter, the new one twice in the batch.
    let again =
        vec![letter("kafka:a", 1, 5), letter("kafka:a", 0, 6), letter("kafka:a", 0, 6), first[0].clone()];
    assert_eq!(store.put_dead_letters(again).await.expect("put again"), 1);
    assert_eq!(store.put_dead_letters(Vec::new()).await.expect("put none"), 0);
    let all = store.dead_letters_after(0, 100).await.expect("all");
    let letters: Vec<DeadLetter> = all.iter().map(|d| d.letter.clone()).collect();
    assert_eq!(letters, vec![first[0].clone(), first[1].clone(), first[2].clone(), letter("kafka:a", 0, 6)]);
    let ids: Vec<u64> = all.iter().map(|d| d.id).collect();
    assert_strictly_increasing(&ids);
    let rest = store.dead_letters_after(ids[1], 1).await.expect("page");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, ids[2]);
}

/// A deletion leaves a tombstone at the log's newest seq; deleting again moves it; pruning drops
/// the ones below a seq.
pub async fn deleted_users_leave_tombstones<S: Store>(store: &S) {
    assert_eq!(store.deleted_users().await.expect("none yet"), Vec::new());
    append(store, (0..4).map(|n| event("u1", "i", None, n)).collect()).await;
    let first = store.delete_user("u1".to_owned()).await.expect("delete_user");
    assert!(first.at_seq > 0);
    append(store, (0..3).map(|n| event("u2", "i", None, n)).collect()).await;
    let other = store.delete_user("ghost".to_owned()).await.expect("a user never seen");
    assert!(other.at_seq > first.at_seq && !other.existed && other.events == 0);
    let stones = store.deleted_users().await.expect("tombstones");
    let want = vec![
        Tombstone { user_id: "ghost".to_owned(), at_seq: other.at_seq },
        Tombstone { user_id: "u1".to_owned(), at_seq: first.at_seq },
    ];
    assert_eq!(stones, want);
    let again = store.delete_user("u1".to_owned()).await.expect("again");
    assert_eq!(again.at_seq, other.at_seq, "a second deletion moves the tombstone up");
    assert_eq!(store.prune_deleted_users(other.at_seq).await.expect("prune none"), 0);
    assert_eq!(store.prune_deleted_users(other.at_seq + 1).await.expect("prune"), 2);
    assert_eq!(store.deleted_users().await.expect("after prune"), Vec::new());
}
