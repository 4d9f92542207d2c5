//! Several replicas on one shared store: following what the others write, and electing the one
//! that trains.
//!
//! Every replica serves reads and accepts writes; writes go to the store, which is the only
//! shared state. Each replica then follows the store's change feed (PostgreSQL `NOTIFY`, sent in
//! the writing transaction) and, as a fallback for a lost notification, polls every
//! `replication.poll_ms`:
//! - events: the log is read after the last sequence number this replica has seen (sequence
//!   numbers follow commit order, so nothing committed late is skipped) and applied to popularity
//!   and the history cache, except the ones this replica wrote itself and applied already;
//! - items: the named items are re-read (all of them after a bulk write or a lost connection);
//! - deleted users: dropped from the history cache and their model vector stops being used;
//! - models: when the store's active version differs from the serving one, it is loaded and
//!   swapped in (a version the leader trained, or a rollback on any replica).
//!
//! Leadership: the replica holding the store's leader lock (a PostgreSQL session advisory lock)
//! runs scheduled training; the others try to take the lock every `replication.leader_check_ms`,
//! so a dead leader is replaced within about that long after PostgreSQL drops its session. On the
//! embedded store the one process always leads.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aisle_store::{Change, Leadership, PageRequest, Store};
use tokio::sync::mpsc;

use crate::{Engine, EngineError};

/// Events read from the log per round of catching up.
const TAIL_PAGE: usize = 10_000;

/// Replication: the part of the [`Engine`] that says whether this replica leads (trains and
/// publishes) and the fence its activations carry. The role is an atomic; the fence a std mutex
/// (a leaf: never held across an await nor with another lock).
#[derive(Debug)]
pub(crate) struct Replication {
    leader: AtomicBool,
    fence: Mutex<Option<u64>>,
}

impl Replication {
    /// A replica that leads from the start (`leader`: the embedded store, which one process
    /// always leads) or waits for the lease.
    pub(crate) fn new(leader: bool) -> Self {
        Replication { leader: AtomicBool::new(leader), fence: Mutex::new(None) }
    }

    /// Whether this replica leads.
    pub(crate) fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    /// The epoch of the lease this replica leads by, the fence of its activations (none on the
    /// embedded store, and none once the lease is lost).
    pub(crate) fn fence(&self) -> Option<u64> {
        *self.fence_lock()
    }

    fn fence_lock(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.fence.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leads by the lease of epoch `fence`.
    pub(crate) fn lead(&self, fence: Option<u64>) -> bool {
        *self.fence_lock() = fence;
        self.set_leader(true)
    }

    /// Leads or follows; answers whether the role changed. Whatever a replica that stops leading
    /// still publishes is fenced out by the lease it no longer holds.
    pub(crate) fn set_leader(&self, leader: bool) -> bool {
        if !leader {
            *self.fence_lock() = None;
        }
        let changed = self.leader.swap(leader, Ordering::AcqRel) != leader;
        if changed {
            tracing::info!(leader, "replica role changed");
        }
        metrics::gauge!("aisle_replica_leader").set(if leader { 1.0 } else { 0.0 });
        changed
    }
}

impl Engine {
    /// Whether this replica trains (the leader; always on the embedded store).
    pub fn is_leader(&self) -> bool {
        self.replication.is_leader()
    }

    /// The highest event sequence number this replica has applied from the shared log.
    pub fn tail_cursor(&self) -> u64 {
        self.log.cursor()
    }

    /// Reads the events other replicas appended since the cursor and applies them.
    pub async fn catch_up(&self) -> Result<u64, EngineError> {
        let mut applied = 0;
        loop {
            let cursor = self.log.cursor();
            let page = self.store.events_after(cursor, TAIL_PAGE).await?;
            let Some(last) = page.last().map(|e| e.seq) else { break };
            let full = page.len() == TAIL_PAGE;
            // Under the apply lock: an event this replica wrote and applied is in `own`, and one
            // it wrote but has not applied yet is applied here, once: its write, when it gets the
            // lock, applies only what lies past the cursor (see `EventLog::applied_by_write`).
            let lock = self.log.applying().await;
            let Some(theirs) = self.log.unapplied(&lock, cursor, &page) else {
                // Another catch-up ran meanwhile; start over from where it got to.
                continue;
            };
            applied += theirs.len() as u64;
            self.apply_events(&lock, theirs);
            self.log.passed(&lock, last);
            drop(lock);
            if !full {
                break;
            }
        }
        metrics::gauge!("aisle_replica_tail_seq").set(self.tail_cursor() as f64);
        Ok(applied)
    }

    /// Serves the store's active version if it is not the serving one already. A version that
    /// does not decode is tried once (the log and readiness say so), not at every poll.
    pub async fn sync_model(&self) -> Result<(), EngineError> {
        let swap = self.serving.swapping().await;
        let Some(active) = self.store.active_model().await? else { return Ok(()) };
        let known_bad = self.serving_health().unreadable.contains(&active.version);
        if self.serving().map(|p| p.version()) != Some(active.version) && !known_bad {
            tracing::info!(version = active.version, "serving the version activated on the store");
            self.load_or_fall_back(&swap, active).await?;
        }
        Ok(())
    }

    /// Re-reads items another replica wrote or deleted (`None`: the whole catalog).
    pub async fn reload_items(&self, ids: Option<Vec<String>>) -> Result<(), EngineError> {
        let Some(ids) = ids else { return self.reload_catalog().await };
        for id in ids {
            match self.store.item(id.clone()).await? {
                Some(r) => self.catalog_put(r),
                None => self.catalog_remove(&id),
            }
        }
        Ok(())
    }

    async fn reload_catalog(&self) -> Result<(), EngineError> {
        let mut stored = BTreeSet::new();
        let mut after = None;
        loop {
            let page = self.store.items(PageRequest { limit: 10_000, after }).await?;
            for r in page.rows {
                stored.insert(r.id.clone());
                if self.catalog.get(&r.id).as_deref() != Some(&r) {
                    self.catalog_put(r);
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let gone: Vec<String> = self
            .catalog
            .read()
            .keys()
            .filter(|id| !stored.contains(&***id))
            .map(|id| id.to_string())
            .collect();
        for id in gone {
            self.catalog_remove(&id);
        }
        Ok(())
    }

    async fn follow(&self, change: Change) -> Result<(), EngineError> {
        match change {
            Change::Events { last_seq } => {
                // Usually this replica's own append: then there is nothing to read.
                if self.log.tail().skip_own() < last_seq {
                    self.catch_up().await?;
                }
            }
            Change::Items { ids } => self.reload_items(ids).await?,
            Change::UserDeleted { id, at_seq } => {
                self.log.history.remove(&id);
                self.log.forgotten.insert(&id, at_seq);
            }
            Change::Model { .. } => self.sync_model().await?,
            Change::Lost => {
                self.catch_up().await?;
                self.reload_catalog().await?;
                self.log.forgotten.load(self.store.deleted_users().await?);
                self.sync_model().await?;
                self.log.set_counts(&self.store.counts().await?);
            }
        }
        Ok(())
    }

    /// Runs until `shutdown`: on a shared store, follows the other replicas and takes part in
    /// the leader election; on the embedded store there is nothing to follow and this replica
    /// leads from the start.
    /// `lease` is leadership taken before (by [`Engine::try_lead`]), kept if still held.
    pub async fn run_replication(
        self: Arc<Self>,
        lease: Option<Leadership>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        if !self.store.is_shared() {
            self.replication.set_leader(true);
            shutdown.await;
            return;
        }
        self.log.set_following(true);
        let (tx, mut changes) = mpsc::channel::<Change>(1024);
        let feed = tokio::spawn(feed_changes(self.store.clone(), tx));
        let r = self.config.replication.clone();
        let mut poll = tokio::time::interval(Duration::from_millis(r.poll_ms));
        let mut lead = tokio::time::interval(Duration::from_millis(r.leader_check_ms));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        lead.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut lease = lease;
        if let Some(l) = &lease {
            self.became_leader(l.fence());
        }
        // Every round is time-bound: a half-open connection cannot stall following, nor keep a
        // lost lease looking held.
        let timeout = Duration::from_millis(r.timeout_ms);
        loop {
            let step = tokio::select! {
                () = &mut shutdown => break,
                Some(change) = changes.recv() => bounded(timeout, self.follow(change)).await,
                _ = poll.tick() => bounded(timeout, async {
                    self.catch_up().await?;
                    self.sync_model().await
                }).await,
                _ = lead.tick() => {
                    self.lead_step(&mut lease, timeout).await;
                    Ok(())
                }
            };
            if let Err(e) = step {
                tracing::warn!(error = %e, "following the other replicas failed; retrying at the next poll");
            }
        }
        feed.abort();
        self.log.set_following(false);
        if let Some(Leadership::Lease(l)) = lease {
            // A database that stopped answering would hold this for ever; it frees the lock when
            // it drops the session anyway.
            let _released = tokio::time::timeout(timeout, l.release()).await;
        }
        self.replication.set_leader(false);
    }

    /// Keeps or takes leadership; a new leader trains at once when nothing serves (and
    /// `training.on_start`). A check or request that does not answer within `timeout` counts as
    /// the lease lost (or not taken).
    async fn lead_step(self: &Arc<Self>, lease: &mut Option<Leadership>, timeout: Duration) {
        if let Some(l) = lease {
            if tokio::time::timeout(timeout, l.check()).await.unwrap_or(false) {
                return;
            }
            tracing::warn!("lost the leader lock (the database session ended or did not answer)");
            *lease = None;
            self.replication.set_leader(false);
        }
        match tokio::time::timeout(timeout, self.store.try_lead()).await {
            Ok(Ok(Some(l))) => {
                let fence = l.fence();
                *lease = Some(l);
                self.became_leader(fence);
            }
            Ok(Ok(None)) => {
                self.replication.set_leader(false);
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "could not ask for the leader lock"),
            Err(_) => tracing::warn!("the leader lock request did not answer in time"),
        }
    }

    /// Starts leading: trains at once when nothing serves yet (and `training.on_start`).
    fn became_leader(self: &Arc<Self>, fence: Option<u64>) {
        self.replication.lead(fence);
        if self.config.training.on_start && self.serving().is_none() {
            let engine = Arc::clone(self);
            tokio::spawn(async move { engine.scheduled_job().await });
        }
    }

    /// Refuses work only the leader does.
    pub(crate) fn check_leader(&self) -> Result<(), EngineError> {
        if self.is_leader() { Ok(()) } else { Err(EngineError::NotLeader) }
    }

    /// Takes leadership now if no other replica holds it (for a one-off job such as `aisle
    /// train` on a shared store); keep the lease for as long as the job runs.
    pub async fn try_lead(&self) -> Result<Option<Leadership>, EngineError> {
        let lease = self.store.try_lead().await?;
        if let Some(l) = &lease {
            self.replication.lead(l.fence());
        }
        Ok(lease)
    }
}

/// `step`, failing when it does not finish within `timeout`.
async fn bounded(
    timeout: Duration,
    step: impl std::future::Future<Output = Result<(), EngineError>>,
) -> Result<(), EngineError> {
    tokio::time::timeout(timeout, step).await.unwrap_or_else(|_| {
        Err(EngineError::Task(format!("no answer within replication.timeout_ms = {}", timeout.as_millis())))
    })
}

/// Forwards the store's change feed into `tx`, reconnecting after errors (each reconnection is
/// reported as [`Change::Lost`] so that the follower re-reads everything).
async fn feed_changes(store: aisle_store::AnyStore, tx: mpsc::Sender<Change>) {
    loop {
        match store.changes().await {
            Ok(Some(mut feed)) => loop {
                match feed.next().await {
                    Ok(change) => {
                        if tx.send(change).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the change feed failed; reconnecting");
                        break;
                    }
                }
            },
            Ok(None) => return,
            Err(e) => tracing::warn!(error = %e, "cannot listen for changes; retrying"),
        }
        if tx.send(Change::Lost).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_that_stops_leading_loses_its_fence() {
        let r = Replication::new(false);
        assert!(!r.is_leader() && r.fence().is_none());
        assert!(r.lead(Some(3)), "taking the lease changes the role");
        assert!(r.is_leader());
        assert_eq!(r.fence(), Some(3));
        assert!(!r.lead(Some(4)), "a new epoch of the same role is no change");
        assert_eq!(r.fence(), Some(4));
        assert!(r.set_leader(false));
        assert!(!r.is_leader() && r.fence().is_none(), "nothing it still publishes may pass the fence");
        // The embedded store: one process leads from the start, unfenced.
        let embedded = Replication::new(true);
        assert!(embedded.is_leader() && embedded.fence().is_none());
        assert!(!embedded.set_leader(true));
    }
}
