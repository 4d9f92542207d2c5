//! Deleted users, for every model version that may still hold them.
//!
//! Deleting a user removes their events and their record from the store at once, but a model
//! version trained before that still carries their vector and their training history. The store
//! keeps a tombstone per deleted user: the log's newest sequence number when they were deleted
//! (`at_seq`). A version trained on events up to `trained_on_seq` may hold the user when
//! `trained_on_seq <= at_seq`, and then serves them as unknown: no vector, no history, nothing in
//! an explanation. A later version was trained without their old events (and holds only what they
//! did after coming back). This part holds the tombstones in memory, loaded at start-up and kept
//! up to date by this replica's deletions and the other replicas' (the change feed); it owns its
//! lock, which is never held with another.
//!
//! Tombstones are pruned once no stored version is that old (`prune`), so their number is bounded
//! by the deletions within the kept versions' span.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use aisle_store::Tombstone;

/// Deleted users and the sequence number each was deleted at.
#[derive(Debug, Default)]
pub(crate) struct Forgotten {
    users: Mutex<HashMap<String, u64>>,
}

impl Forgotten {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces everything with the store's tombstones.
    pub(crate) fn load(&self, stones: Vec<Tombstone>) {
        *self.lock() = stones.into_iter().map(|t| (t.user_id, t.at_seq)).collect();
    }

    /// Notes a deletion (this replica's, or another's read from the change feed).
    pub(crate) fn insert(&self, user: &str, at_seq: u64) {
        let mut users = self.lock();
        let slot = users.entry(user.to_owned()).or_insert(at_seq);
        *slot = (*slot).max(at_seq);
    }

    /// Whether a version trained on events up to `trained_on_seq` must not serve `user`.
    pub(crate) fn hides(&self, user: &str, trained_on_seq: u64) -> bool {
        self.lock().get(user).is_some_and(|&at| trained_on_seq <= at)
    }

    /// The indexes in `users` of the users a version trained up to `trained_on_seq` must not serve.
    pub(crate) fn hidden_in(
        &self,
        users: &aisle_core::IdMap,
        trained_on_seq: u64,
    ) -> std::collections::HashSet<u32> {
        self.lock()
            .iter()
            .filter(|&(_, &at)| trained_on_seq <= at)
            .filter_map(|(id, _)| users.get(id))
            .collect()
    }

    /// Drops the tombstones below `below_seq` (the oldest kept version's `trained_on_seq`).
    pub(crate) fn prune(&self, below_seq: u64) {
        self.lock().retain(|_, at| *at >= below_seq);
    }

    /// How many tombstones are held.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_trained_up_to_a_deletion_hide_the_user_and_later_ones_do_not() {
        let f = Forgotten::default();
        f.load(vec![Tombstone { user_id: "a".into(), at_seq: 10 }]);
        assert!(f.hides("a", 10) && f.hides("a", 3), "trained on the events before the deletion");
        assert!(!f.hides("a", 11), "trained after it: only what they did since");
        assert!(!f.hides("b", 1));
        f.insert("a", 5);
        assert!(f.hides("a", 10), "an older deletion read late never lowers the tombstone");
        f.insert("b", 20);
        f.prune(11);
        assert!(!f.hides("a", 1) && f.hides("b", 20));
        assert_eq!(f.len(), 1);
    }
}
