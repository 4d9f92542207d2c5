//! The event log as this engine knows it: the part of the [`crate::Engine`] that applies stored
//! events to the in-memory state that follows the log, and remembers how far it got.
//!
//! It owns:
//! - the **apply lock** (an async mutex): what the store wrote is applied under it, one write's
//!   events or one page of the log at a time, so that the in-memory state follows the log. The
//!   methods that need it take an [`Applying`] guard, so the compiler checks that it is held;
//! - the **tail** (a std mutex, taken under the apply lock or alone, never across an await):
//!   the sequence number up to which everything is applied, this replica's own applied writes
//!   beyond it, and how many of its writes are in flight;
//! - the **fold-in profiles** ([`HistoryCache`]), the **popular lists** ([`Popularity`]) and the
//!   **tombstones** of deleted users ([`Forgotten`]), each with its own lock, taken one at a time;
//! - the counts of events and users the dashboard shows, and the sequence number of the last
//!   state kept in the store.
//!
//! Exactly once: an event is applied either by the write that stored it (under the apply lock,
//! when the tail has not passed it) or by the tail reading it back from the log (when it has),
//! never both ([`EventLog::applied_by_write`], [`EventLog::unapplied`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use aisle_store::{Counts, EventRecord};

use crate::forget::Forgotten;
use crate::history::{HistoryCache, RecentEvent};
use crate::popular::Popularity;

/// Where this replica is in the event log.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// Every event up to this sequence number has been applied.
    pub(crate) cursor: u64,
    /// Sequence numbers above the cursor this replica wrote and applied itself.
    pub(crate) own: BTreeSet<u64>,
    /// Whether a replication task follows the log (and so trims `own`); until one does, each
    /// write moves the cursor over this replica's own sequence numbers right after it.
    pub(crate) following: bool,
    /// This replica's event writes between their start and the application of what they
    /// stored: while any is, the engine's state is not kept (it could claim events not applied).
    pub(crate) writing: usize,
}

impl Tail {
    /// Moves the cursor over the sequence numbers right after it that this replica wrote itself
    /// (nobody else can have written them); returns the new cursor.
    pub(crate) fn skip_own(&mut self) -> u64 {
        while self.own.first() == Some(&(self.cursor + 1)) {
            self.own.pop_first();
            self.cursor += 1;
        }
        self.cursor
    }
}

/// Proof that the apply lock is held (see [`EventLog::applying`]).
pub(crate) struct Applying<'a> {
    _held: tokio::sync::MutexGuard<'a, ()>,
}

/// One event write of this replica, counted in [`Tail::writing`] from its start until
/// [`EventLog::applied_by_write`] takes it (under the apply lock) or, if the write fails, until it
/// is dropped.
pub(crate) struct Writing<'a> {
    log: Option<&'a EventLog>,
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if let Some(log) = self.log {
            let mut tail = log.tail();
            tail.writing = tail.writing.saturating_sub(1);
        }
    }
}

/// Events ready to apply: each user's, and the ones popular lists count, weighted.
#[derive(Debug, Default)]
pub(crate) struct Batch<'a> {
    /// Each user's events, in the order given.
    pub(crate) by_user: BTreeMap<&'a str, Vec<RecentEvent>>,
    /// (item, time, weight) of the events popular lists count.
    pub(crate) counted: Vec<(Arc<str>, i64, f32)>,
    /// Events in the batch.
    pub(crate) events: u64,
    /// The bound on distinct items popular lists count (`None`: the catalog bounds them).
    pub(crate) popular_cap: Option<usize>,
}

impl<'a> Batch<'a> {
    /// Adds the event at `seq`, of `weight`, counted by popular lists when `counted`.
    pub(crate) fn push(&mut self, seq: u64, e: &'a EventRecord, weight: f32, counted: bool) {
        let item: Arc<str> = Arc::from(e.item_id.as_str());
        if counted {
            self.counted.push((item.clone(), e.ts_ms, weight));
        }
        self.by_user.entry(&e.user_id).or_default().push(RecentEvent { seq, item, kind: e.kind, weight });
        self.events += 1;
    }
}

/// The engine's part that follows the event log (see the module documentation).
#[derive(Debug)]
pub(crate) struct EventLog {
    apply: tokio::sync::Mutex<()>,
    tail: Mutex<Tail>,
    events: AtomicU64,
    users: AtomicU64,
    /// The sequence number of the last state kept in the store, + 1 (0: none kept yet).
    kept: AtomicU64,
    /// Each shopper's events since the serving model was trained.
    pub(crate) history: HistoryCache,
    /// Popular and trending lists.
    pub(crate) popular: Popularity,
    /// Deleted users, for the versions that may still hold them.
    pub(crate) forgotten: Forgotten,
}

impl EventLog {
    /// The log applied up to `cursor`, with the store's counts of events and users; `kept` when
    /// the store's kept state is as of `cursor` (nothing to write again until the log moves).
    pub(crate) fn new(
        history: HistoryCache,
        popular: Popularity,
        forgotten: Forgotten,
        counts: &Counts,
        cursor: u64,
        kept: bool,
    ) -> Self {
        EventLog {
            apply: tokio::sync::Mutex::new(()),
            tail: Mutex::new(Tail { cursor, ..Default::default() }),
            events: AtomicU64::new(counts.events),
            users: AtomicU64::new(counts.users),
            kept: AtomicU64::new(if kept { cursor + 1 } else { 0 }),
            history,
            popular,
            forgotten,
        }
    }

    /// Takes the apply lock (waiting for the write or page being applied).
    pub(crate) async fn applying(&self) -> Applying<'_> {
        Applying { _held: self.apply.lock().await }
    }

    /// The tail (a std lock: never held across an await).
    pub(crate) fn tail(&self) -> MutexGuard<'_, Tail> {
        self.tail.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The highest sequence number applied.
    pub(crate) fn cursor(&self) -> u64 {
        self.tail().cursor
    }

    /// Counts an event write of this replica as in flight until it is applied or dropped.
    pub(crate) fn writing(&self) -> Writing<'_> {
        self.tail().writing += 1;
        Writing { log: Some(self) }
    }

    /// A replication task starts (`true`) or stops following the log; stopping forgets the
    /// replica's own sequence numbers, which only a follower trims.
    pub(crate) fn set_following(&self, following: bool) {
        let mut tail = self.tail();
        tail.following = following;
        if !following {
            tail.own.clear();
        }
    }

    /// Ends `writing`, whose store write inserted `inserted` (sequence numbers in order), and
    /// answers the ones it is to apply: the ones the tail has not passed. While a follower runs,
    /// an event at or below its cursor was read back from the log before this write got the
    /// apply lock and applied as anybody's (the log is read only up to where no append in flight
    /// can still commit, so the tail passed it only by reading it); the rest are noted in `own`,
    /// for the tail to skip. Before a replication task follows (the demo seed, a one-off
    /// command), nothing trims `own`: the cursor moves over this replica's writes right after it
    /// now, so a task that starts following later neither applies them twice nor finds `own`
    /// grown. On a store only this process writes (`shared` false), every sequence number up to
    /// its newest write is its own or a gap (a re-sent duplicate draws a number too), so the
    /// cursor jumps there: it is the mark of what is stored (attribution reads it) and `own`
    /// never grows.
    pub(crate) fn applied_by_write<T: Copy>(
        &self,
        _lock: &Applying<'_>,
        mut writing: Writing<'_>,
        inserted: &[(u64, T)],
        shared: bool,
    ) -> Vec<(u64, T)> {
        let mut tail = self.tail();
        tail.writing = tail.writing.saturating_sub(1);
        writing.log = None;
        let fresh: Vec<(u64, T)> =
            inserted.iter().copied().filter(|(seq, _)| !tail.following || *seq > tail.cursor).collect();
        tail.own.extend(fresh.iter().map(|(seq, _)| *seq));
        if !tail.following {
            if shared {
                tail.skip_own();
            } else if let Some(&last) = tail.own.last() {
                tail.cursor = tail.cursor.max(last);
                tail.own.clear();
            }
        }
        fresh
    }

    /// The events of a page of the log read after `read_after` (sequence numbers in order) that
    /// this replica did not apply itself; `None` when the cursor is no longer `read_after`
    /// (another catch-up ran meanwhile: read again from where it got to). Once they are applied,
    /// [`EventLog::passed`] moves the cursor over the page: a catch-up never moves the cursor
    /// past events it has not applied yet (a write moves it over its own events just before
    /// applying them, under the same hold of the apply lock).
    pub(crate) fn unapplied<'e>(
        &self,
        _lock: &Applying<'_>,
        read_after: u64,
        page: &'e [aisle_store::StoredEvent],
    ) -> Option<Vec<(u64, &'e EventRecord)>> {
        let tail = self.tail();
        (tail.cursor == read_after)
            .then(|| page.iter().filter(|e| !tail.own.contains(&e.seq)).map(|e| (e.seq, &e.event)).collect())
    }

    /// Everything up to `last` is applied: the cursor moves there (or stays, when this replica's
    /// own writes moved it further meanwhile), and the own sequence numbers it passed go.
    pub(crate) fn passed(&self, _lock: &Applying<'_>, last: u64) {
        let mut tail = self.tail();
        tail.cursor = tail.cursor.max(last);
        tail.own = tail.own.split_off(&(last + 1));
    }

    /// Applies `batch` to popularity and fold-in. One write's events or one page of the log,
    /// each in sequence order; writes that overlapped may come in either order (popularity adds
    /// up, and the history cache keeps each user's events sorted by sequence number).
    pub(crate) fn apply(&self, _lock: &Applying<'_>, batch: Batch<'_>) {
        self.popular
            .record_many(batch.counted.iter().map(|(item, ts, w)| (item, *ts, *w)), batch.popular_cap);
        for (user, list) in &batch.by_user {
            self.history.append(user, list);
        }
        self.events.fetch_add(batch.events, Ordering::Relaxed);
    }

    /// The sequence number the engine's state is as of, when it is to be kept now: `None` while
    /// this replica has writes in flight or applied beyond its cursor (the state could claim
    /// events the cursor does not cover), or when the state as of the cursor is kept already.
    pub(crate) fn state_to_keep(&self, _lock: &Applying<'_>) -> Option<u64> {
        let tail = self.tail();
        if !tail.own.is_empty() || tail.writing > 0 {
            return None;
        }
        (self.kept.load(Ordering::Acquire) != tail.cursor + 1).then_some(tail.cursor)
    }

    /// The state as of `seq` is kept in the store.
    pub(crate) fn kept(&self, seq: u64) {
        self.kept.store(seq + 1, Ordering::Release);
    }

    /// Events stored.
    pub(crate) fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// Users stored.
    pub(crate) fn users(&self) -> u64 {
        self.users.load(Ordering::Relaxed)
    }

    /// Replaces the counts of events and users with the store's.
    pub(crate) fn set_counts(&self, counts: &Counts) {
        self.events.store(counts.events, Ordering::Relaxed);
        self.users.store(counts.users, Ordering::Relaxed);
    }

    /// Replaces the user count with the store's.
    pub(crate) fn set_users(&self, users: u64) {
        self.users.store(users, Ordering::Relaxed);
    }

    /// A new user was stored.
    pub(crate) fn user_added(&self) {
        self.users.fetch_add(1, Ordering::Relaxed);
    }

    /// User `id` and `events` of theirs were deleted at `at_seq` (`existed`: their record too).
    /// Every version trained up to `at_seq` serves them as unknown from now on.
    pub(crate) fn user_deleted(&self, id: &str, at_seq: u64, existed: bool, events: u64) {
        self.history.remove(id);
        self.forgotten.insert(id, at_seq);
        let sub = |n: &AtomicU64, by: u64| {
            let _ = n.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(by)));
        };
        sub(&self.users, u64::from(existed));
        sub(&self.events, events);
    }
}

#[cfg(test)]
mod tests {
    use aisle_core::EventKind;
    use aisle_store::StoredEvent;

    use super::*;

    fn log(cursor: u64) -> EventLog {
        let history = HistoryCache::new(100, 100);
        history.start_index(0);
        EventLog::new(
            history,
            Popularity::new(0, 0),
            Forgotten::default(),
            &Counts { events: 3, users: 2, ..Counts::default() },
            cursor,
            false,
        )
    }

    fn event(user: &str, item: &str) -> EventRecord {
        EventRecord {
            event_id: None,
            user_id: user.into(),
            item_id: item.into(),
            kind: EventKind::View,
            value: None,
            ts_ms: 1_000,
            session_id: None,
            recommendation_id: None,
        }
    }

    fn stored(seq: u64) -> StoredEvent {
        StoredEvent { seq, event: event("u", "i") }
    }

    #[tokio::test]
    async fn an_event_is_applied_by_its_write_or_by_the_tail_never_by_both() {
        let log = log(5);
        log.set_following(true);
        // This replica writes 7 and 8; before its write gets the lock, the tail reads 6, 7 and 8
        // back from the log and applies all three (none is in `own` yet).
        let writing = log.writing();
        let lock = log.applying().await;
        let page = [stored(6), stored(7), stored(8)];
        let theirs = log.unapplied(&lock, 5, &page).expect("the cursor is where it was read");
        assert_eq!(theirs.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [6, 7, 8]);
        assert_eq!(log.cursor(), 5, "not applied yet");
        log.passed(&lock, 8);
        assert_eq!(log.cursor(), 8);
        // The write then applies nothing: the tail passed both its events.
        assert!(log.applied_by_write(&lock, writing, &[(7, ()), (8, ())], true).is_empty());
        // Later writes (10, 11) apply their own; the tail then applies 9 and skips 10 and 11.
        let fresh = log.applied_by_write(&lock, log.writing(), &[(10, ()), (11, ())], true);
        assert_eq!(fresh, [(10, ()), (11, ())]);
        let page = [stored(9), stored(10)];
        let theirs = log.unapplied(&lock, 8, &page).expect("unmoved cursor");
        assert_eq!(theirs.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [9]);
        log.passed(&lock, 10);
        assert_eq!(log.cursor(), 10);
        assert_eq!(log.tail().own.iter().copied().collect::<Vec<_>>(), [11], "11 is past the page");
        // A page read before another catch-up moved the cursor is refused.
        assert!(log.unapplied(&lock, 8, &page).is_none());
        // The own write right after the cursor is skipped without reading it back; a page that
        // ends below where that moved the cursor leaves it there.
        assert_eq!(log.tail().skip_own(), 11);
        log.passed(&lock, 10);
        assert_eq!(log.cursor(), 11);
    }

    #[tokio::test]
    async fn without_a_follower_a_write_moves_the_cursor_over_its_own_events() {
        // The embedded store: the cursor jumps to the newest write (gaps are duplicates').
        let log = log(5);
        let lock = log.applying().await;
        assert_eq!(log.applied_by_write(&lock, log.writing(), &[(9, 'a')], false), [(9, 'a')]);
        assert_eq!((log.cursor(), log.tail().own.len()), (9, 0));
        // A shared store: only over the numbers right after the cursor (7 may be another's).
        let log = self::log(5);
        assert_eq!(log.applied_by_write(&lock, log.writing(), &[(6, ()), (8, ())], true).len(), 2);
        assert_eq!(log.cursor(), 6);
        assert_eq!(log.tail().own.iter().copied().collect::<Vec<_>>(), [8]);
        // Following then stopping forgets `own`.
        log.set_following(true);
        log.set_following(false);
        assert!(log.tail().own.is_empty());
    }

    #[tokio::test]
    async fn the_state_is_kept_only_when_no_write_is_in_flight_and_once_per_cursor() {
        let log = log(5);
        let lock = log.applying().await;
        assert_eq!(log.state_to_keep(&lock), Some(5));
        let writing = log.writing();
        assert_eq!(log.state_to_keep(&lock), None, "a write in flight");
        drop(writing);
        assert_eq!(log.tail().writing, 0, "a failed write is no longer in flight");
        log.kept(5);
        assert_eq!(log.state_to_keep(&lock), None, "kept already");
        log.applied_by_write(&lock, log.writing(), &[(6, ())], false);
        assert_eq!(log.state_to_keep(&lock), Some(6));
        // Restored at 6: nothing to keep until the log moves.
        let restored = EventLog::new(
            HistoryCache::new(1, 1),
            Popularity::new(0, 0),
            Forgotten::default(),
            &Counts::default(),
            6,
            true,
        );
        assert_eq!(restored.state_to_keep(&restored.applying().await), None);
    }

    #[tokio::test]
    async fn applying_a_batch_counts_it_and_feeds_popularity_and_fold_in() {
        let log = log(0);
        let events = [event("u", "a"), event("u", "b"), event("v", "a")];
        let mut batch = Batch { popular_cap: Some(10), ..Batch::default() };
        batch.push(1, &events[0], 2.0, true);
        batch.push(2, &events[1], 1.0, false);
        batch.push(3, &events[2], 1.0, true);
        assert_eq!(batch.by_user["u"].iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        log.apply(&log.applying().await, batch);
        assert_eq!((log.events(), log.users()), (6, 2));
        let ranked = log.popular.ranked(crate::Window::All, 2_000);
        assert_eq!(ranked.iter().map(|(i, s)| (&**i, *s)).collect::<Vec<_>>(), [("a", 3.0)]);
        assert!(!log.history.known_empty("u", 0) && log.history.known_empty("w", 0));
    }

    #[test]
    fn a_deletion_forgets_the_user_and_counts_never_go_below_zero() {
        let log = log(0);
        log.user_deleted("u", 4, true, 10);
        assert_eq!((log.events(), log.users()), (0, 1));
        assert!(log.forgotten.hides("u", 4) && !log.forgotten.hides("u", 5));
        log.user_added();
        log.set_users(7);
        assert_eq!(log.users(), 7);
    }
}
