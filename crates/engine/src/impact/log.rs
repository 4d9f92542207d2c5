//! The impression log: every served list goes into a bounded queue that a background task
//! writes to the store in batches. A request never waits for it: when the queue is full the
//! impression is dropped and counted (`aisle_impressions_dropped_total`, and in the impact
//! report), never silently.

use std::sync::atomic::{AtomicU64, Ordering};

use aisle_store::Impression;
use tokio::sync::mpsc;

/// The sending side, held by the request path.
#[derive(Debug)]
pub struct ImpressionLog {
    tx: mpsc::Sender<Impression>,
    dropped: AtomicU64,
    queued: AtomicU64,
}

/// The receiving side, owned by the worker.
pub(crate) type Queue = mpsc::Receiver<Impression>;

impl ImpressionLog {
    /// A log with room for `capacity` waiting impressions, and the worker's end of it.
    pub(crate) fn new(capacity: usize) -> (ImpressionLog, Queue) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (ImpressionLog { tx, dropped: AtomicU64::new(0), queued: AtomicU64::new(0) }, rx)
    }

    /// Queues an impression without waiting; counts it as dropped if the queue is full (or the
    /// worker is gone).
    pub fn record(&self, impression: Impression) {
        match self.tx.try_send(impression) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("aisle_impressions_queued_total").increment(1);
            }
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("aisle_impressions_dropped_total").increment(1);
            }
        }
    }

    /// Counts impressions dropped after they were queued (the store refused them for longer
    /// than the queue could hold).
    pub(crate) fn note_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("aisle_impressions_dropped_total").increment(n);
    }

    /// Impressions dropped since start (queue full, or the store down for too long).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Impressions queued since start.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imp(id: &str) -> Impression {
        Impression {
            recommendation_id: id.to_owned(),
            at_ms: 0,
            placement: String::new(),
            experiment: String::new(),
            variant: String::new(),
            unit: String::new(),
            user_id: None,
            model_version: None,
            covariate: 0.0,
            items: Vec::new(),
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let (log, mut rx) = ImpressionLog::new(2);
        for i in 0..5 {
            log.record(imp(&i.to_string()));
        }
        assert_eq!((log.queued(), log.dropped()), (2, 3));
        assert_eq!(rx.try_recv().map(|i| i.recommendation_id).ok().as_deref(), Some("0"));
        log.record(imp("5"));
        assert_eq!((log.queued(), log.dropped()), (3, 3), "room again after the worker took one");
    }
}
