//! Session and sequence models that need no training beyond counting: session-based kNN
//! ([`sknn`]) and sequential rules with their one-step special case, item-to-item transitions
//! ([`rules`]). Ludewig & Jannach (2018, "Evaluation of session-based recommendation
//! algorithms"; 2021, "Empirical analysis of session-based recommendation algorithms") found
//! these match or beat neural session models on most e-commerce logs.
//!
//! Both read [`crate::Sequences`] (the context's, or the order the matrix's timestamps imply),
//! answer a known user from the tail of their training sequence and an unseen one from the
//! history they are given, **oldest first** (its values are ignored: order is the signal). Items
//! the sequence evidence does not reach keep a tiny popularity score (at most
//! [`POP_TIEBREAK`]), so a list is always full and ties break towards what most shoppers touch.

pub mod rules;
pub mod sknn;

use serde::{Deserialize, Serialize};

use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::models::invariant::{Check, ensure, len};
use crate::models::sparse::offsets_fit;
use crate::seq::Sequences;

/// The most a popularity tie-break adds to a score: far below any evidence a sequence model
/// counts (weights are at least 1/steps or 1/context length), far above zero.
pub const POP_TIEBREAK: f32 = 1e-6;

/// The longest context a session model may keep per user or read from a history.
pub(crate) const MAX_CONTEXT: usize = 1_000;

/// How a step's weight falls with its distance `d ≥ 1` from the newest step (or, between rules,
/// from the rule's source), as in session-rec's weighting functions.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    /// `1 / d`.
    Div,
    /// `max(1 − 0.1·(d − 1), 0.1)`.
    Linear,
    /// `1`.
    Same,
}

impl Decay {
    /// The weight at distance `d ≥ 1`.
    pub fn weight(self, d: usize) -> f32 {
        let d = d.max(1) as f32;
        match self {
            Decay::Div => 1.0 / d,
            Decay::Linear => (1.0 - 0.1 * (d - 1.0)).max(0.1),
            Decay::Same => 1.0,
        }
    }
}

/// Each user's last steps, oldest first: the context a known user is scored from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tails {
    ptr: Vec<usize>,
    items: Vec<u32>,
}

impl Tails {
    /// The last `len` steps of each user's sequence, or of their last session only when
    /// `last_session`.
    pub(crate) fn of(seqs: &Sequences, len: usize, last_session: bool) -> Self {
        let mut ptr = Vec::with_capacity(seqs.n_users() + 1);
        ptr.push(0);
        let mut items = Vec::new();
        for u in 0..seqs.n_users() {
            let user = UserIdx(u as u32);
            let steps = if last_session {
                seqs.user_sessions(user).last().map_or(&[][..], |s| seqs.session(s))
            } else {
                seqs.user(user)
            };
            items.extend_from_slice(&steps[steps.len().saturating_sub(len)..]);
            ptr.push(items.len());
        }
        Self { ptr, items }
    }

    /// User `u`'s tail (checked against the user count by the caller).
    pub(crate) fn user(&self, u: UserIdx) -> &[u32] {
        &self.items[self.ptr[u.index()]..self.ptr[u.index() + 1]]
    }

    /// User `u`'s tail, `None` for a user out of range.
    pub(crate) fn get(&self, u: UserIdx) -> Option<&[u32]> {
        let (a, b) = (*self.ptr.get(u.index())?, *self.ptr.get(u.index() + 1)?);
        self.items.get(a..b)
    }

    /// `n_users` rows of items below `n_items`, none longer than [`MAX_CONTEXT`].
    pub(crate) fn check(&self, n_users: usize, n_items: usize) -> Check {
        len("tails", self.ptr.len(), n_users + 1)?;
        ensure(offsets_fit(&self.ptr, self.items.len()), || "tails: offsets do not fit".to_owned())?;
        ensure(self.ptr.windows(2).all(|w| w[1] - w[0] <= MAX_CONTEXT), || {
            "tails: a tail is too long".to_owned()
        })?;
        ensure(self.items.iter().all(|&i| (i as usize) < n_items), || {
            "tails: an item is out of range".to_owned()
        })
    }
}

/// The history's items, oldest first, its last `max` only.
pub(crate) fn history_tail(history: &[(ItemIdx, f32)], max: usize) -> Vec<u32> {
    history[history.len().saturating_sub(max)..].iter().map(|&(i, _)| i.0).collect()
}

/// Each item's share of the most-touched item's users, times [`POP_TIEBREAK`].
pub(crate) fn popularity_tiebreak(data: &Interactions) -> Vec<f32> {
    let counts = data.item_counts();
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f32;
    counts.into_iter().map(|c| c as f32 / max * POP_TIEBREAK).collect()
}

/// A tie-break vector has one finite entry in `[0, POP_TIEBREAK]` per item.
pub(crate) fn check_tiebreak(pop: &[f32], n_items: usize) -> Check {
    len("popularity", pop.len(), n_items)?;
    ensure(pop.iter().all(|p| (0.0..=POP_TIEBREAK).contains(p)), || "popularity: out of range".to_owned())
}
