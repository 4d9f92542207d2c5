//! Bulk loading: a generated demo shop or already-decoded records, written through the engine in
//! store-sized batches so the in-memory state follows.

use aisle_core::EventKind;
use aisle_ingest::synth::Shop;
use aisle_store::{EventRecord, ItemRecord, Store, UserRecord};

use crate::data::Ingested;
use crate::{Engine, EngineError};

/// What a bulk load wrote.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Items written.
    pub items: usize,
    /// Users written.
    pub users: usize,
    /// Events stored.
    pub events: usize,
    /// Events already stored (same event id).
    pub duplicates: usize,
}

/// Records of a generated shop, with the log shifted by `shift_ms` (to end it now). Events get
/// ids `demo-<n>` so loading the same shop twice stores nothing twice. The event records are made
/// one at a time, as they are taken: a load of 20M events then holds one batch of records, not
/// all of them (about 4 GB).
pub fn shop_records(
    shop: &Shop,
    shift_ms: i64,
) -> (Vec<ItemRecord>, Vec<UserRecord>, impl ExactSizeIterator<Item = EventRecord> + Send + '_) {
    let items = (0..shop.items.len()).map(|i| shop.item_record(i)).collect();
    let users = (0..shop.users.len()).map(|u| shop.user_record(u)).collect();
    let events = shop.events.iter().enumerate().map(move |(k, e)| EventRecord {
        event_id: Some(format!("demo-{k}")),
        user_id: Shop::user_id(e.user as usize),
        item_id: Shop::item_id(e.item as usize),
        kind: e.kind,
        value: matches!(e.kind, EventKind::Purchase | EventKind::Rating).then_some(e.value),
        ts_ms: e.ts * 1000 + shift_ms,
        session_id: Some(format!("s{}", e.session + 1)),
        recommendation_id: None,
    });
    (items, users, events)
}

/// Records per batch of a load: what [`Engine::load_batches`] callers cut their events into too.
pub const LOAD_BATCH: usize = 100_000;

/// A load of at least this many events, and of at least as many as the log holds, defers the
/// store's per-user event index ([`aisle_store::Store::defer_event_index`]).
const DEFER_INDEX_EVENTS: usize = 1_000_000;

/// Whether a load of `load` events into a log of `stored` defers the per-user index. Building it
/// again sorts the whole log once: that costs less than the random inserts it saves only when the
/// load is about as large as what is there (then a series of such loads costs linear time).
/// Below a million the saving is seconds, not worth slowing other readers' user lookups.
fn defers_index(load: usize, stored: u64) -> bool {
    load >= DEFER_INDEX_EVENTS && load as u64 >= stored
}

/// `records` in batches of at most [`LOAD_BATCH`], in order, each moved out once (no copy of the rest).
fn batches<T>(records: impl IntoIterator<Item = T>) -> impl Iterator<Item = Vec<T>> {
    let mut rest = records.into_iter();
    std::iter::from_fn(move || next_batch_of(&mut rest))
}

/// The next at most [`LOAD_BATCH`] records of `rest`, or `None` at its end.
fn next_batch_of<T>(rest: &mut impl Iterator<Item = T>) -> Option<Vec<T>> {
    let batch: Vec<T> = rest.take(LOAD_BATCH).collect();
    (!batch.is_empty()).then_some(batch)
}

/// Where a load's event batches come from, in order: an iterator ([`InOrder`]) or a channel
/// that a reader on another thread fills (a file parsed while the store writes).
pub trait EventBatches: Send {
    /// The next batch, or `None` at the end.
    fn next_batch(&mut self) -> impl Future<Output = Option<Vec<EventRecord>>> + Send;
}

/// The records of an iterator, in batches of [`LOAD_BATCH`], each made as the load takes it.
pub struct InOrder<I>(pub I);

impl<I: Iterator<Item = EventRecord> + Send> EventBatches for InOrder<I> {
    async fn next_batch(&mut self) -> Option<Vec<EventRecord>> {
        next_batch_of(&mut self.0)
    }
}

impl EventBatches for tokio::sync::mpsc::Receiver<Vec<EventRecord>> {
    async fn next_batch(&mut self) -> Option<Vec<EventRecord>> {
        self.recv().await
    }
}

impl Engine {
    /// Writes items, users and events in batches (events in order).
    pub async fn load(
        self: &std::sync::Arc<Self>,
        items: Vec<ItemRecord>,
        users: Vec<UserRecord>,
        events: impl IntoIterator<Item = EventRecord, IntoIter: ExactSizeIterator + Send> + Send,
    ) -> Result<Loaded, EngineError> {
        self.load_with_progress(items, users, events, |_| {}).await
    }

    /// [`Engine::load`], calling `progress` with what is written so far after every batch of
    /// items, users or events (its `events + duplicates` count the events done).
    ///
    /// Event records are taken from `events` one batch at a time (see [`Engine::load_batches`]).
    pub async fn load_with_progress(
        self: &std::sync::Arc<Self>,
        items: Vec<ItemRecord>,
        users: Vec<UserRecord>,
        events: impl IntoIterator<Item = EventRecord, IntoIter: ExactSizeIterator + Send> + Send,
        progress: impl FnMut(&Loaded) + Send,
    ) -> Result<Loaded, EngineError> {
        let events = events.into_iter();
        let expected = events.len();
        self.load_batches(items, users, InOrder(events), expected, progress).await
    }

    /// Writes items, users, then the events of `events` (about `expected` of them), calling
    /// `progress` after every batch.
    ///
    /// Each batch's store write runs beside the previous batch's apply and the taking of the next
    /// batch (the store takes one write at a time, so its writes are the critical path of a bulk
    /// load); the log keeps the order of the batches. A load of at least a million events into a
    /// log holding no more defers the store's per-user event index until the last batch is
    /// written, and builds it again even if a batch fails.
    pub async fn load_batches(
        self: &std::sync::Arc<Self>,
        items: Vec<ItemRecord>,
        users: Vec<UserRecord>,
        events: impl EventBatches,
        expected: usize,
        mut progress: impl FnMut(&Loaded) + Send,
    ) -> Result<Loaded, EngineError> {
        let mut out = Loaded::default();
        for batch in batches(items) {
            out.items += batch.len();
            self.put_items(batch).await?;
            progress(&out);
        }
        for batch in batches(users) {
            out.users += batch.len();
            self.put_users(batch).await?;
            progress(&out);
        }
        // The size alone first: a small load never asks the store for its count.
        let defer =
            expected >= DEFER_INDEX_EVENTS && defers_index(expected, self.store.counts().await?.events);
        if defer {
            self.store.defer_event_index(true).await?;
        }
        let written = self.ingest_batches(events, &mut out, &mut progress).await;
        // Built again after a failed batch too: the batches before it are stored.
        let rebuilt = if defer { self.store.defer_event_index(false).await } else { Ok(()) };
        written?;
        rebuilt?;
        self.save_state().await?;
        Ok(out)
    }

    /// Ingests `batches` in order, each one's store write beside the previous one's apply and the
    /// taking of the next one. Stops at the first failed write; every batch started is finished
    /// (stored and applied) before this returns.
    async fn ingest_batches(
        self: &std::sync::Arc<Self>,
        mut batches: impl EventBatches,
        out: &mut Loaded,
        progress: &mut (impl FnMut(&Loaded) + Send),
    ) -> Result<(), EngineError> {
        let mut done = |task: Result<Result<Ingested, EngineError>, tokio::task::JoinError>| {
            let ingested = task.map_err(EngineError::from).and_then(|r| r)?;
            out.events += ingested.inserted;
            out.duplicates += ingested.duplicates;
            progress(out);
            Ok::<(), EngineError>(())
        };
        let mut written = Ok(());
        let mut applying = None;
        let mut next = batches.next_batch().await;
        while let Some(batch) = next.take() {
            let (stored, task) = self.ingest_in_turn(batch);
            let previous = applying.replace(task);
            next = batches.next_batch().await;
            let stored = stored.await.is_ok();
            if let Some(previous) = previous {
                written = written.and(done(previous.await));
            }
            if !stored || written.is_err() {
                break;
            }
        }
        match applying {
            Some(last) => written.and(done(last.await)),
            None => written,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_load_of_a_million_and_as_large_as_the_log_defers_the_index() {
        assert!(defers_index(DEFER_INDEX_EVENTS, 0));
        assert!(defers_index(DEFER_INDEX_EVENTS, DEFER_INDEX_EVENTS as u64));
        assert!(!defers_index(DEFER_INDEX_EVENTS, DEFER_INDEX_EVENTS as u64 + 1), "the log is larger");
        assert!(!defers_index(DEFER_INDEX_EVENTS - 1, 0), "a small load");
        assert!(defers_index(20_000_000, 19_999_999));
    }

    #[test]
    fn batches_keep_every_record_in_order() {
        let cut: Vec<Vec<usize>> = batches(0..2 * LOAD_BATCH + 3).collect();
        assert_eq!(cut.iter().map(Vec::len).collect::<Vec<_>>(), [LOAD_BATCH, LOAD_BATCH, 3]);
        assert!(cut.concat().into_iter().eq(0..2 * LOAD_BATCH + 3));
        assert_eq!(batches(Vec::<u8>::new()).count(), 0);
    }

    /// Batches written one beside the other still land in the log in the order given, each
    /// counted once, with progress after every batch; a re-sent id in a later batch is a duplicate.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_in_flight_keep_the_load_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = aisle_store::AnyStore::open(&format!("sqlite:{}", dir.path().join("a.db").display()))
            .await
            .expect("store");
        let engine = Engine::open(store, crate::EngineConfig::default()).await.expect("engine");
        let event = |n: usize| EventRecord {
            // Every fifth event re-sends the id of the one 37 before it, from an earlier batch.
            event_id: Some(if n % 5 == 4 && n >= 37 { format!("e{}", n - 37) } else { format!("e{n}") }),
            user_id: format!("u{}", n % 13),
            item_id: format!("i{}", n % 17),
            kind: EventKind::View,
            value: None,
            ts_ms: 1_700_000_000_000 + n as i64,
            session_id: None,
            recommendation_id: None,
        };
        let all: Vec<EventRecord> = (0..300).map(event).collect();
        let cut: Vec<Vec<EventRecord>> = all.chunks(7).map(<[EventRecord]>::to_vec).collect();
        // Through a channel, as a file read on another thread hands them over.
        let (send, received) = tokio::sync::mpsc::channel(2);
        let sender = tokio::spawn(async move {
            for batch in cut {
                send.send(batch).await.expect("the load takes every batch");
            }
        });
        let (mut out, mut seen) = (Loaded::default(), Vec::new());
        engine
            .ingest_batches(received, &mut out, &mut |l: &Loaded| seen.push(l.events + l.duplicates))
            .await
            .expect("load");
        sender.await.expect("sender");
        let resent = (37..300).filter(|n| n % 5 == 4).count();
        assert_eq!((out.events, out.duplicates), (300 - resent, resent));
        let expected: Vec<usize> = (1..=300usize.div_ceil(7)).map(|k| (k * 7).min(300)).collect();
        assert_eq!(seen, expected, "progress after every batch, in order");
        let log = engine.store.events_after(0, 1_000).await.expect("log");
        let stored: Vec<&EventRecord> = log.iter().map(|e| &e.event).collect();
        let fresh: Vec<&EventRecord> = all
            .iter()
            .filter(|e| {
                all.iter().position(|f| f.event_id == e.event_id).is_some_and(|p| std::ptr::eq(&all[p], *e))
            })
            .collect();
        assert_eq!(stored, fresh, "the log holds each first event once, in the load's order");
        assert_eq!(engine.log.events(), fresh.len() as u64, "every batch was applied");
    }
}
