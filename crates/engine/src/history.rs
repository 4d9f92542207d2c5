//! Each shopper's events since the serving model was trained, so that a new event changes their
//! recommendations on the very next request (fold-in) without a retrain.
//!
//! The cache is an LRU over users, bounded by `cache.history_users` users and
//! `cache.history_events_per_user` newest events each. It is a cache over the store, never the
//! only copy: a user who is not cached is loaded from the store's event log (events after the
//! serving model's `trained_on_seq`), so eviction loses freshness for nobody.
//!
//! Known-empty users: the cache also keeps, for every user with an event after a floor sequence
//! number, their newest sequence number (all of them: the engine notes every event it applies,
//! and the log scan at start-up notes the ones before). A user not cached and not noted has no
//! event after the floor, so serving them needs no store read at all — the usual case, for most
//! shoppers have no event since the model was trained. When a new model is published the floor
//! moves up to its `trained_on_seq` and older notes go; beyond `2 × cache.history_users` noted
//! users the index gives up (every miss reads the store, as without it).
//!
//! Consistency: ingest appends to the store, then — under the event log's apply lock (`log.rs`), so in
//! sequence order — appends to cached users (an entry only takes events newer than the newest it
//! holds, so an entry loaded after the store write does not get the event twice). When ingest
//! touches a user who is not cached it bumps `skipped`; a loader that saw `skipped` change while it
//! read the store does not insert its (possibly stale) entry.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use aisle_core::EventKind;
use lru::LruCache;

/// One recent event, as fold-in and exclusions need it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecentEvent {
    /// Store sequence number.
    pub seq: u64,
    /// External item id.
    pub item: Arc<str>,
    /// What happened.
    pub kind: EventKind,
    /// Confidence it adds.
    pub weight: f32,
}

/// A user's cached events: every event with `seq > after` (the newest `cap`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recent {
    /// The sequence number the entry was loaded after.
    pub after: u64,
    /// Events, oldest first.
    pub events: Vec<RecentEvent>,
}

impl Recent {
    fn newest_seq(&self) -> u64 {
        self.events.last().map_or(self.after, |e| e.seq)
    }
}

/// The LRU of recent events by user id.
#[derive(Debug)]
pub struct HistoryCache {
    users: Mutex<LruCache<Arc<str>, Arc<Recent>>>,
    cap: usize,
    skipped: AtomicU64,
    active: Mutex<Active>,
}

/// Users with events after `floor`, and their newest sequence number.
#[derive(Debug, Default)]
struct Active {
    floor: u64,
    users: std::collections::HashMap<Arc<str>, u64>,
    /// Most users noted before giving up.
    cap: usize,
    /// Gave up: some user with an event after the floor may be missing.
    overflow: bool,
}

impl Active {
    fn note(&mut self, user: &str, seq: u64) {
        if self.overflow || seq <= self.floor {
            return;
        }
        if let Some(s) = self.users.get_mut(user) {
            *s = (*s).max(seq);
        } else if self.users.len() >= self.cap {
            self.overflow = true;
            self.users = std::collections::HashMap::new();
        } else {
            self.users.insert(Arc::from(user), seq);
        }
    }
}

/// The known-empty index as kept in the store ([`crate::state`]).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ActiveState {
    floor: u64,
    overflow: bool,
    users: Vec<(String, u64)>,
}

/// A token from [`HistoryCache::begin_load`], handed back to [`HistoryCache::finish_load`].
#[derive(Copy, Clone, Debug)]
pub struct LoadTicket(u64);

impl HistoryCache {
    /// A cache of at most `users` users and `cap` events each (both ≥ 1).
    pub fn new(users: usize, cap: usize) -> Self {
        let active = Active { cap: users.saturating_mul(2), ..Active::default() };
        let users = NonZeroUsize::new(users).unwrap_or(NonZeroUsize::MIN);
        Self {
            users: Mutex::new(LruCache::new(users)),
            cap: cap.max(1),
            skipped: AtomicU64::new(0),
            active: Mutex::new(active),
        }
    }

    fn lock_active(&self) -> std::sync::MutexGuard<'_, Active> {
        self.active.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts the known-empty index at `floor` (the serving model's `trained_on_seq`, before the
    /// start-up scan of the log notes its events).
    pub fn start_index(&self, floor: u64) {
        self.lock_active().floor = floor;
    }

    /// Notes one event (a start-up scan of the log, before any request).
    pub fn note(&self, user: &str, seq: u64) {
        self.lock_active().note(user, seq);
    }

    /// The known-empty index, to be kept in the store.
    pub(crate) fn export_active(&self) -> ActiveState {
        let a = self.lock_active();
        let users = a.users.iter().map(|(u, &seq)| (u.to_string(), seq)).collect();
        ActiveState { floor: a.floor, overflow: a.overflow, users }
    }

    /// Starts the known-empty index from `state` instead of a log scan from the floor: the
    /// floor is the higher of the index's own (set by [`HistoryCache::start_index`]) and the
    /// state's. A floor moved up like that only makes lookups below it read the store, as after
    /// a rollback. More users than the index holds make it give up, as noting them would.
    pub(crate) fn restore_active(&self, state: ActiveState) {
        let mut a = self.lock_active();
        a.floor = a.floor.max(state.floor);
        a.overflow = state.overflow;
        a.users = std::collections::HashMap::new();
        for (user, seq) in state.users {
            a.note(&user, seq);
        }
    }

    /// Moves the floor up to `floor` (a newly published model's `trained_on_seq`).
    pub fn advance_floor(&self, floor: u64) {
        let mut a = self.lock_active();
        if floor > a.floor {
            a.floor = floor;
            a.users.retain(|_, seq| *seq > floor);
        }
    }

    /// Whether `user` certainly has no event after `after`, with no store read.
    pub fn known_empty(&self, user: &str, after: u64) -> bool {
        let a = self.lock_active();
        !a.overflow && after >= a.floor && a.users.get(user).is_none_or(|&seq| seq <= after)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Arc<str>, Arc<Recent>>> {
        self.users.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached entry of `user`, if it covers everything after `after` (an entry loaded after a
    /// later sequence number than the serving model's — after a rollback — does not).
    pub fn get(&self, user: &str, after: u64) -> Option<Arc<Recent>> {
        let mut users = self.lock();
        let entry = users.get(user)?;
        (entry.after <= after).then(|| entry.clone())
    }

    /// Starts loading a user from the store.
    pub fn begin_load(&self) -> LoadTicket {
        LoadTicket(self.skipped.load(Ordering::Acquire))
    }

    /// Inserts what was loaded, unless ingest skipped an uncached user since `ticket` (the load
    /// may then miss an acknowledged event; the next request loads again).
    pub fn finish_load(&self, ticket: LoadTicket, user: &str, mut recent: Recent) -> Arc<Recent> {
        if recent.events.len() > self.cap {
            recent.events.drain(..recent.events.len() - self.cap);
        }
        let recent = Arc::new(recent);
        let mut users = self.lock();
        if self.skipped.load(Ordering::Acquire) == ticket.0 {
            users.put(Arc::from(user), recent.clone());
        }
        recent
    }

    /// Adds acknowledged events of `user` (in sequence order). Called under the event log's apply lock.
    ///
    /// Events this entry holds already (same sequence number) or that precede what it was loaded
    /// after are skipped; an event older than the entry's newest one (another replica's, read
    /// from the log after this replica's own later write) goes into its place by sequence number.
    pub fn append(&self, user: &str, events: &[RecentEvent]) {
        if let Some(newest) = events.iter().map(|e| e.seq).max() {
            self.lock_active().note(user, newest);
        }
        let mut users = self.lock();
        let Some(entry) = users.get_mut(user) else {
            self.skipped.fetch_add(1, Ordering::AcqRel);
            return;
        };
        let (after, newest) = (entry.after, entry.newest_seq());
        let fresh: Vec<&RecentEvent> = events
            .iter()
            .filter(|e| {
                e.seq > newest
                    || (e.seq > after && entry.events.binary_search_by_key(&e.seq, |h| h.seq).is_err())
            })
            .collect();
        if fresh.is_empty() {
            return;
        }
        let e = Arc::make_mut(entry);
        for ev in fresh {
            match e.events.last() {
                Some(last) if last.seq > ev.seq => {
                    let at = e.events.partition_point(|h| h.seq < ev.seq);
                    e.events.insert(at, ev.clone());
                }
                _ => e.events.push(ev.clone()),
            }
        }
        if e.events.len() > self.cap {
            e.events.drain(..e.events.len() - self.cap);
        }
    }

    /// Forgets `user` (deleted): their cached events, and their id in the known-empty index (they
    /// have no events any more, and the index is kept in the store with the engine's state).
    pub fn remove(&self, user: &str) {
        self.lock().pop(user);
        self.lock_active().users.remove(user);
    }

    /// Cached users.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no user is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64, item: &str) -> RecentEvent {
        RecentEvent { seq, item: Arc::from(item), kind: EventKind::View, weight: 1.0 }
    }

    #[test]
    fn an_entry_takes_only_newer_events_and_keeps_the_newest_cap() {
        let cache = HistoryCache::new(10, 3);
        let t = cache.begin_load();
        cache.finish_load(t, "u", Recent { after: 0, events: vec![ev(1, "a"), ev(2, "b")] });
        cache.append("u", &[ev(2, "b"), ev(3, "c"), ev(4, "d")]);
        let got = cache.get("u", 0).unwrap();
        let seqs: Vec<u64> = got.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![2, 3, 4]);
    }

    #[test]
    fn a_late_event_of_another_replica_goes_into_its_place_once() {
        let cache = HistoryCache::new(10, 10);
        let t = cache.begin_load();
        cache.finish_load(t, "u", Recent { after: 3, events: vec![ev(5, "a")] });
        cache.append("u", &[ev(9, "own")]);
        cache.append("u", &[ev(2, "before load"), ev(5, "a"), ev(7, "late"), ev(9, "own")]);
        cache.append("u", &[ev(7, "late")]);
        let seqs: Vec<u64> = cache.get("u", 3).unwrap().events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![5, 7, 9]);
    }

    #[test]
    fn only_users_without_events_after_the_floor_are_known_empty() {
        let cache = HistoryCache::new(2, 10);
        cache.start_index(10);
        cache.note("old", 9);
        cache.note("recent", 12);
        assert!(cache.known_empty("old", 10) && cache.known_empty("never", 10));
        assert!(!cache.known_empty("recent", 10), "an event after the model");
        assert!(cache.known_empty("recent", 12), "a model trained on it");
        assert!(!cache.known_empty("never", 5), "below the floor nothing is known");
        cache.append("new", &[ev(15, "a")]);
        assert!(!cache.known_empty("new", 10));
        cache.advance_floor(15);
        assert!(cache.known_empty("new", 15) && cache.known_empty("recent", 15));
        assert!(!cache.known_empty("recent", 10), "a rollback below the new floor reads the store");
        // Past 2 × 2 noted users the index gives up rather than forget one.
        for (k, u) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            cache.note(u, 20 + k as u64);
        }
        assert!(!cache.known_empty("never", 15));
    }

    #[test]
    fn a_restored_index_knows_what_the_exported_one_knew_above_both_floors() {
        let cache = HistoryCache::new(3, 10);
        cache.start_index(10);
        cache.note("a", 12);
        cache.note("b", 20);
        let state = cache.export_active();
        let same = HistoryCache::new(3, 10);
        same.start_index(10);
        same.restore_active(state.clone());
        for (user, after) in [("a", 10), ("a", 12), ("b", 12), ("b", 20), ("never", 10)] {
            assert_eq!(same.known_empty(user, after), cache.known_empty(user, after), "{user} after {after}");
        }
        // A newer model at start-up: its floor drops what it covers.
        let newer = HistoryCache::new(3, 10);
        newer.start_index(15);
        newer.restore_active(state.clone());
        assert!(newer.known_empty("a", 15) && !newer.known_empty("b", 15));
        // An older model at start-up (a rollback): below the state's floor nothing is known.
        let older = HistoryCache::new(3, 10);
        older.start_index(5);
        older.restore_active(state.clone());
        assert!(!older.known_empty("never", 5) && older.known_empty("never", 10));
        // A deleted user leaves the index, and so the kept state.
        same.remove("b");
        assert!(same.known_empty("b", 10));
        assert!(!same.export_active().users.iter().any(|(u, _)| u == "b"));
        // A smaller index than the state's gives up rather than forget a user.
        let small = HistoryCache::new(1, 10);
        small.start_index(10);
        small.restore_active(ActiveState { users: (0..5).map(|k| (format!("u{k}"), 11)).collect(), ..state });
        assert!(!small.known_empty("never", 10));
    }

    #[test]
    fn a_load_racing_an_uncached_write_is_not_cached() {
        let cache = HistoryCache::new(10, 10);
        let t = cache.begin_load();
        cache.append("u", &[ev(5, "a")]);
        let r = cache.finish_load(t, "u", Recent::default());
        assert!(r.events.is_empty());
        assert!(cache.get("u", 0).is_none(), "a possibly stale load must not be cached");
    }

    #[test]
    fn the_lru_is_bounded_and_rollbacks_invalidate_later_entries() {
        let cache = HistoryCache::new(2, 10);
        for u in ["a", "b", "c"] {
            let t = cache.begin_load();
            cache.finish_load(t, u, Recent { after: 7, events: vec![] });
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get("a", 7).is_none());
        assert!(cache.get("c", 7).is_some());
        assert!(cache.get("c", 3).is_none(), "an entry loaded after seq 7 cannot serve a model trained to 3");
    }
}
