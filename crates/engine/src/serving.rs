//! Serving: the part of the [`crate::Engine`] that holds the version requests are answered from,
//! and what goes with it.
//!
//! It owns:
//! - the **serving version** behind an `ArcSwap`: requests load it without a lock, never see half
//!   a model, and are never blocked by training;
//! - the **swap lock** (an async mutex): a version is swapped in only under it, so training,
//!   activation and following another replica swap one at a time; [`Serving::publish`] takes its
//!   [`Swapping`] guard, so the compiler checks that it is held;
//! - the **health** of serving (an active version that could not be decoded), a std mutex;
//! - the **similar-items LRU** of lists ranked on demand (older versions, deeper requests), a std
//!   mutex;
//! - the **CPU permits**: CPU-heavy request work runs on the blocking pool, at most one job per
//!   permit (one per core) at a time.
//!
//! The std mutexes are leaves: never held across an await nor with another lock of this part.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use aisle_core::Scored;
use arc_swap::ArcSwapOption;
use lru::LruCache;

use crate::{EngineError, Published};

/// Similar-item lists by (model version, item).
type SimilarCache = LruCache<(u64, u32), Arc<Vec<Scored>>>;

/// What is wrong with serving, for `/health/ready` and the log: the store's active version
/// could not be read, so another one (or popular lists) serves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServingHealth {
    /// Why serving is degraded, if it is.
    pub degraded: Option<String>,
    /// Versions that did not decode (not retried by a follower's polls).
    pub unreadable: BTreeSet<u64>,
}

/// Proof that the swap lock is held (see [`Serving::swapping`]).
pub(crate) struct Swapping<'a> {
    _held: tokio::sync::MutexGuard<'a, ()>,
}

/// The engine's serving part (see the module documentation).
#[derive(Debug)]
pub(crate) struct Serving {
    current: ArcSwapOption<Published>,
    swap: tokio::sync::Mutex<()>,
    health: Mutex<ServingHealth>,
    similar: Mutex<SimilarCache>,
    cpu: tokio::sync::Semaphore,
}

impl Serving {
    /// Nothing serving yet; `similar_lists` lists in the LRU, `permits` CPU jobs at once.
    pub(crate) fn new(similar_lists: usize, permits: usize) -> Self {
        Serving {
            current: ArcSwapOption::empty(),
            swap: tokio::sync::Mutex::new(()),
            health: Mutex::new(ServingHealth::default()),
            similar: Mutex::new(LruCache::new(NonZeroUsize::new(similar_lists).unwrap_or(NonZeroUsize::MIN))),
            cpu: tokio::sync::Semaphore::new(permits.max(1)),
        }
    }

    /// The serving version, if any (no lock).
    pub(crate) fn get(&self) -> Option<Arc<Published>> {
        self.current.load_full()
    }

    /// Takes the swap lock (waiting for a swap under way).
    pub(crate) async fn swapping(&self) -> Swapping<'_> {
        Swapping { _held: self.swap.lock().await }
    }

    /// Makes `p` the serving version: readers see the old or the new one, never a mix. Serving
    /// it means it decodes, so it is neither unreadable nor the cause of degraded serving.
    pub(crate) fn publish(&self, _lock: &Swapping<'_>, p: Published) {
        {
            let mut h = self.health_lock();
            h.degraded = None;
            h.unreadable.remove(&p.version());
        }
        self.current.store(Some(Arc::new(p)));
    }

    fn health_lock(&self) -> MutexGuard<'_, ServingHealth> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether serving is degraded, and the versions that did not decode.
    pub(crate) fn health(&self) -> ServingHealth {
        self.health_lock().clone()
    }

    /// Version `version` did not decode: followers do not try it again at every poll.
    pub(crate) fn mark_unreadable(&self, version: u64) {
        self.health_lock().unreadable.insert(version);
    }

    /// Serving is degraded, for `reason` (until the next version is published).
    pub(crate) fn degrade(&self, reason: String) {
        self.health_lock().degraded = Some(reason);
    }

    /// The list of similar items of `item` in `version` ranked on demand earlier, if it is still
    /// cached.
    pub(crate) fn similar_cached(&self, version: u64, item: u32) -> Option<Arc<Vec<Scored>>> {
        self.similar.lock().unwrap_or_else(PoisonError::into_inner).get(&(version, item)).cloned()
    }

    /// Caches a list ranked on demand.
    pub(crate) fn cache_similar(&self, version: u64, item: u32, list: Arc<Vec<Scored>>) {
        self.similar.lock().unwrap_or_else(PoisonError::into_inner).put((version, item), list);
    }

    /// Runs CPU-heavy request work (scoring, ranking a catalog) on the blocking pool, holding a
    /// permit: a flood of expensive requests queues instead of stalling the async workers or
    /// spawning a thread each.
    pub(crate) async fn cpu<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, EngineError> {
        let _permit = self.cpu.acquire().await.map_err(|e| EngineError::Task(e.to_string()))?;
        Ok(tokio::task::spawn_blocking(work).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use aisle_core::ItemIdx;

    use super::*;

    #[tokio::test]
    async fn publishing_a_version_clears_what_was_wrong_with_it() {
        let serving = Serving::new(4, 1);
        assert!(serving.get().is_none());
        serving.mark_unreadable(1);
        serving.mark_unreadable(2);
        serving.degrade("version 2 does not decode".into());
        assert!(serving.health().degraded.is_some());
        let p = crate::published::tests::published(1);
        serving.publish(&serving.swapping().await, p);
        assert_eq!(serving.get().map(|p| p.version()), Some(1));
        let h = serving.health();
        assert_eq!((h.degraded, h.unreadable.into_iter().collect::<Vec<_>>()), (None, vec![2]));
    }

    #[test]
    fn similar_lists_are_cached_per_version_and_bounded() {
        let serving = Serving::new(2, 1);
        let list = Arc::new(vec![Scored { item: ItemIdx(3), score: 0.5 }]);
        serving.cache_similar(1, 7, list.clone());
        assert_eq!(serving.similar_cached(1, 7), Some(list.clone()));
        assert_eq!(serving.similar_cached(2, 7), None, "another version's list is not this one's");
        serving.cache_similar(1, 8, list.clone());
        serving.cache_similar(1, 9, list);
        assert_eq!(serving.similar_cached(1, 7), None, "the least recently used list went");
        assert!(serving.similar_cached(1, 9).is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cpu_work_runs_off_the_async_workers_within_its_permits() {
        let serving = Arc::new(Serving::new(1, 2));
        // Two jobs run at once (each waits for the other at the barrier) and take both permits.
        let barrier = Arc::new(Barrier::new(3));
        let jobs: Vec<_> = (0..2)
            .map(|_| {
                let (s, b) = (Arc::clone(&serving), Arc::clone(&barrier));
                tokio::spawn(async move { s.cpu(move || b.wait().is_leader()).await })
            })
            .collect();
        while serving.cpu.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        // A third waits for a permit while both run.
        assert!(serving.cpu.try_acquire().is_err());
        let b = Arc::clone(&barrier);
        tokio::task::spawn_blocking(move || b.wait()).await.expect("the barrier");
        let mut done = Vec::new();
        for j in jobs {
            done.push(j.await.expect("joined").expect("ran"));
        }
        assert_eq!(serving.cpu.available_permits(), 2);
        assert!(done.len() == 2);
    }
}
