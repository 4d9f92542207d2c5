//! A test double for the metric tests: a [`Recommender`] that returns fixed scores, so that every
//! metric can be checked against values computed by hand.

use crate::data::{Feedback, Interaction, Interactions};
use crate::ids::{ItemIdx, UserIdx};
use crate::recommender::{ModelError, Recommender, Scored, check_item, check_user};

/// Asserts two metric values agree to 1e-12.
pub(crate) fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

/// An explicit matrix from `(user, item, value)` triples, all at time 0.
pub(crate) fn matrix(n_users: usize, n_items: usize, triples: &[(u32, u32, f32)]) -> Interactions {
    let entries =
        triples.iter().map(|&(u, i, v)| Interaction { user: UserIdx(u), item: ItemIdx(i), value: v, ts: 0 });
    Interactions::new(n_users, n_items, Feedback::Explicit, entries.collect()).expect("valid triples")
}

/// Fixed scores per user; `predict` answers the score as the rating.
pub(crate) struct Fixed {
    /// `scores[u][i]`: the score of item `i` for user `u`; all rows have the same length.
    pub scores: Vec<Vec<f32>>,
    /// A user on whom `score_user` fails with `Unsupported`, to test error propagation.
    pub fail_user: Option<usize>,
}

impl Fixed {
    pub(crate) fn new(scores: Vec<Vec<f32>>) -> Self {
        Self { scores, fail_user: None }
    }
}

impl Recommender for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }

    fn n_users(&self) -> usize {
        self.scores.len()
    }

    fn n_items(&self) -> usize {
        self.scores.first().map_or(0, Vec::len)
    }

    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError> {
        check_user(self, user, out)?;
        if self.fail_user == Some(user.index()) {
            return Err(ModelError::Unsupported { model: "fixed", operation: "scoring this user" });
        }
        out.copy_from_slice(&self.scores[user.index()]);
        Ok(())
    }

    fn score_history(&self, _: &[(ItemIdx, f32)], _: &mut [f32]) -> Result<(), ModelError> {
        Err(ModelError::Unsupported { model: "fixed", operation: "fold-in" })
    }

    fn similar_items(&self, _: ItemIdx, _: usize, _: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        Err(ModelError::Unsupported { model: "fixed", operation: "similar items" })
    }

    fn predict(&self, user: UserIdx, item: ItemIdx) -> Result<f32, ModelError> {
        let row = self
            .scores
            .get(user.index())
            .ok_or(ModelError::UnknownUser { index: user.0, n: self.n_users() })?;
        check_item(self, item)?;
        Ok(row[item.index()])
    }
}
