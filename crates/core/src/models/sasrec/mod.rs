//! SASRec, self-attentive sequential recommendation (Kang & McAuley 2018, "Self-attentive
//! sequential recommendation"), trained with cross-entropy as in Klenitskiy & Vasilev 2023
//! ("Turning dross into gold loss: is BERT4Rec really better than SASRec?").
//!
//! A user's newest `max_len` steps `s_1..s_T` (oldest first) become `x_t = √d·E[s_t] + P[p_t]`,
//! positions aligned to the newest step (`p_T = max_len − 1`). Each block normalises the
//! queries, attends causally (step `t` sees steps `≤ t` only), adds the attention output to
//! the normalised queries, and applies a point-wise two-layer ReLU network with a residual on
//! its normalised input; a last layer norm gives `h_t`. The score of item `i` after step `t` is
//! `h_tᵀE[i]`: the item embedding is shared by input and output.
//!
//! Objective: next-item prediction at every step of every training sequence, `−Σ_t log
//! softmax(h_tᵀE)[s_{t+1}]`, over the whole catalog (`loss = full`) or over the target and `N`
//! uniform negatives shared by the batch (`sampled`), minimised by AdamW. The full softmax is
//! Klenitskiy & Vasilev's SASRec+, which beats BERT4Rec at a fraction of its training time.
//!
//! Training sequences are each user's steps, sessions concatenated, with the newest `max_len`
//! (and optionally older windows) as inputs. With `validation = last_item` the fit validates
//! on the caller's next-item cases when the context has them ([`crate::FitContext::validation`]:
//! `aisle eval` and `aisle tune` pass their split's validation cases, as RecBole does), else on
//! each user's last step, held out of training: the epoch with the best NDCG@10 on those cases
//! is kept, and the fit stops after `patience` epochs or `patience_steps` optimiser steps
//! without improvement, whichever is longer; an outside
//! [`crate::Observer`] sees every epoch as a checkpoint either way.
//!
//! Serving does not rebuild the training graph: the weights are plain vectors and the forward
//! pass over one sequence is written out (`net.rs`). A known user is scored from the newest
//! `max_len` steps the model stored for them, an unseen one from the history given (oldest
//! first, values ignored, consecutive repeats collapsed as in training). Similar items are by
//! the cosine of item embeddings.

mod fastexp;
mod loss;
mod net;
mod params;
#[cfg(test)]
mod tests;
mod train;

use serde::{Deserialize, Serialize};

use self::net::Net;
pub use self::params::{
    AUTO_FULL_MAX_ITEMS, MAX_PATIENCE_STEPS, MAX_VALIDATION_USERS, SasrecLoss, SasrecParams, SasrecValidation,
};
use crate::ids::{ItemIdx, UserIdx};
use crate::models::invariant::{Check, ensure, len};
use crate::models::linalg::norm;
use crate::models::simd::{row_dot, score_rows, score_rows_at};
use crate::recommender::{
    ModelError, Recommender, Scored, check_history, check_history_items, check_item, check_user,
    check_user_items, top_excluding,
};

const MODEL: &str = "sasrec";

/// A trained [`SasrecParams`] model: the network's weights, item norms for cosine neighbours,
/// and each training user's newest steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SasrecModel {
    net: Net,
    /// `|E[i]|`.
    #[serde(with = "crate::models::floats")]
    item_norms: Vec<f32>,
    /// User `u`'s newest steps are `user_items[user_ptr[u]..user_ptr[u + 1]]`, oldest first.
    user_ptr: Vec<usize>,
    user_items: Vec<u32>,
}

impl SasrecModel {
    /// A model with `net` and the newest `max_len` steps of each user's sequence.
    fn new(net: Net, users: &[&[u32]], max_len: usize) -> Self {
        let mut user_ptr = Vec::with_capacity(users.len() + 1);
        let mut user_items = Vec::new();
        user_ptr.push(0);
        for s in users {
            user_items.extend_from_slice(&s[s.len().saturating_sub(max_len)..]);
            user_ptr.push(user_items.len());
        }
        let mut m = Self { net, item_norms: Vec::new(), user_ptr, user_items };
        m.set_net(m.net.clone());
        m
    }

    fn set_net(&mut self, net: Net) {
        self.item_norms = net.items.chunks_exact(net.hidden.max(1)).map(norm).collect();
        self.net = net;
    }

    /// User `u`'s stored steps (checked index).
    fn steps(&self, u: UserIdx) -> &[u32] {
        &self.user_items[self.user_ptr[u.index()]..self.user_ptr[u.index() + 1]]
    }

    /// The representation of an outside history: the items in order, consecutive repeats
    /// collapsed, the newest `max_len` kept.
    fn encode_history(&self, history: &[(ItemIdx, f32)]) -> Vec<f32> {
        let mut steps: Vec<u32> = Vec::with_capacity(history.len());
        for &(item, _) in history {
            if steps.last() != Some(&item.0) {
                steps.push(item.0);
            }
        }
        let from = steps.len().saturating_sub(self.net.max_len);
        self.net.encode(&steps[from..])
    }

    /// The shapes serving indexes by, and the bounds on a forward pass (see
    /// [`crate::models::invariant`]).
    pub(crate) fn check(&self) -> Check {
        self.net.check()?;
        let n_items = self.net.n_items();
        len("item_norms", self.item_norms.len(), n_items)?;
        ensure(self.user_ptr.first() == Some(&0), || "user_ptr does not start at 0".into())?;
        ensure(self.user_ptr.last() == Some(&self.user_items.len()), || {
            format!("user_ptr ends at {:?}, not at {} steps", self.user_ptr.last(), self.user_items.len())
        })?;
        for w in self.user_ptr.windows(2) {
            ensure(w[0] <= w[1] && w[1] - w[0] <= self.net.max_len, || {
                format!("a user's steps {}..{} are not a range of at most max_len", w[0], w[1])
            })?;
        }
        ensure(self.user_items.iter().all(|&i| (i as usize) < n_items), || {
            format!("a stored step is not an item below {n_items}")
        })
    }
}

impl Recommender for SasrecModel {
    fn name(&self) -> &'static str {
        MODEL
    }

    fn n_users(&self) -> usize {
        self.user_ptr.len().saturating_sub(1)
    }

    fn n_items(&self) -> usize {
        self.net.n_items()
    }

    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError> {
        check_user(self, user, out)?;
        score_rows(&self.net.items, &self.net.encode(self.steps(user)), None, out);
        Ok(())
    }

    fn score_history(&self, history: &[(ItemIdx, f32)], out: &mut [f32]) -> Result<(), ModelError> {
        check_history(self, history, out)?;
        score_rows(&self.net.items, &self.encode_history(history), None, out);
        Ok(())
    }

    fn score_user_items(&self, user: UserIdx, items: &[ItemIdx], out: &mut [f32]) -> Result<(), ModelError> {
        check_user_items(self, user, items, out)?;
        score_rows_at(&self.net.items, &self.net.encode(self.steps(user)), None, items, out);
        Ok(())
    }

    fn score_history_items(
        &self,
        history: &[(ItemIdx, f32)],
        items: &[ItemIdx],
        out: &mut [f32],
    ) -> Result<(), ModelError> {
        check_history_items(self, history, items, out)?;
        score_rows_at(&self.net.items, &self.encode_history(history), None, items, out);
        Ok(())
    }

    fn user_steps(&self, user: UserIdx) -> Option<&[u32]> {
        let (a, b) = (*self.user_ptr.get(user.index())?, *self.user_ptr.get(user.index() + 1)?);
        self.user_items.get(a..b)
    }

    fn similar_items(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        check_item(self, item)?;
        let (q, nq) = (self.net.item(item.index()), self.item_norms[item.index()]);
        let mut scores = vec![0f32; self.n_items()];
        score_rows(&self.net.items, q, None, &mut scores);
        for (s, &nr) in scores.iter_mut().zip(&self.item_norms) {
            *s = if nq > 0.0 && nr > 0.0 { *s / (nq * nr) } else { f32::NEG_INFINITY };
        }
        scores[item.index()] = f32::NEG_INFINITY;
        Ok(top_excluding(&mut scores, n, exclude))
    }

    fn similar_lists(&self, depth: usize) -> Result<Vec<Vec<Scored>>, ModelError> {
        Ok(crate::models::neighbours::cosine_lists_of_rows(
            &self.net.items,
            self.net.hidden,
            &self.item_norms,
            depth,
        ))
    }

    fn similar_lists_indexed(
        &self,
        depth: usize,
        index: &crate::ListIndex,
    ) -> Result<Option<crate::IndexedLists>, ModelError> {
        Ok(Some(crate::models::clustered::cosine_lists_indexed_of_rows(
            &self.net.items,
            self.net.hidden,
            &self.item_norms,
            depth,
            index,
        )))
    }

    fn item_affinity(&self, a: ItemIdx, b: ItemIdx) -> Option<f32> {
        let (na, nb) = (*self.item_norms.get(a.index())?, *self.item_norms.get(b.index())?);
        if !(na > 0.0 && nb > 0.0) {
            return None;
        }
        Some(row_dot(self.net.item(b.index()), self.net.item(a.index())) / (na * nb))
    }

    fn predict(&self, _: UserIdx, _: ItemIdx) -> Result<f32, ModelError> {
        Err(ModelError::Unsupported { model: MODEL, operation: "rating prediction" })
    }
}
