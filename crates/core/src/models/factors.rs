//! The trained state SVD and SVD++ share: biases and factor matrices, and what is computed from
//! them — scores for every item (one dense mat-vec), clipped rating predictions, cosine similar
//! items and the ridge-regression fold-in of an unseen user (see `svd.rs` for the penalty).

use serde::{Deserialize, Serialize};

use super::linalg::{dot, norm, ridge_solve};
use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::recommender::{Scored, top_excluding};

/// Trained biased factors, `r̂ = μ + b_u + b_i + q_iᵀp_u`: what SVD and SVD++ (whose `p_u` here
/// already includes the implicit term) serve.
///
/// Every float that SGD touched may be non-finite after a diverging fit (too high a learning
/// rate), and is serialised to survive that (see `floats`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FactorCore {
    pub(crate) k: usize,
    pub(crate) mu: f32,
    pub(crate) reg: f32,
    pub(crate) biased: bool,
    /// The training scale `predict` clips to.
    pub(crate) range: (f32, f32),
    #[serde(with = "crate::models::floats")]
    pub(crate) user_bias: Vec<f32>,
    #[serde(with = "crate::models::floats")]
    pub(crate) item_bias: Vec<f32>,
    /// `n_users × k`, row-major.
    #[serde(with = "crate::models::floats")]
    pub(crate) user_factors: Vec<f32>,
    /// `n_items × k`, row-major: scoring a user is one dense mat-vec.
    #[serde(with = "crate::models::floats")]
    pub(crate) item_factors: Vec<f32>,
    /// `|q_i|`, for cosine similarity; filled by [`FactorCore::finish`].
    #[serde(with = "crate::models::floats")]
    pub(crate) item_norms: Vec<f32>,
    /// The fold-in penalty on top of `reg · n`; set by [`FactorCore::finish`] (infinite for a
    /// learning rate near the smallest float).
    #[serde(with = "crate::models::floats")]
    pub(crate) prior: f32,
}

impl FactorCore {
    /// The shapes serving indexes by (see [`crate::models::invariant`]).
    pub(crate) fn check(&self) -> crate::models::invariant::Check {
        use crate::models::invariant::{dim, len, matrix, range};
        dim("k", self.k)?;
        matrix("user_factors", self.user_factors.len(), self.n_users(), self.k)?;
        matrix("item_factors", self.item_factors.len(), self.n_items(), self.k)?;
        len("item_norms", self.item_norms.len(), self.n_items())?;
        range("range", self.range)
    }

    /// The latent dimension `k`.
    pub fn dim(&self) -> usize {
        self.k
    }

    /// `μ`, the training mean (0 when not biased).
    pub fn global_mean(&self) -> f32 {
        self.mu
    }

    /// `b_u` per user.
    pub fn user_biases(&self) -> &[f32] {
        &self.user_bias
    }

    /// `b_i` per item.
    pub fn item_biases(&self) -> &[f32] {
        &self.item_bias
    }

    /// `p_u`, `n_users × k` row-major (for SVD++, `p_u + |N(u)|^−½ Σ_{j∈N(u)} y_j`: the vector
    /// each user scores with).
    pub fn user_factors(&self) -> &[f32] {
        &self.user_factors
    }

    /// `q_i`, `n_items × k` row-major.
    pub fn item_factors(&self) -> &[f32] {
        &self.item_factors
    }

    /// Zero biases and the given initial factors.
    pub(crate) fn new(
        data: &Interactions,
        k: usize,
        mu: f32,
        reg: f32,
        biased: bool,
        user_factors: Vec<f32>,
        item_factors: Vec<f32>,
    ) -> Self {
        Self {
            k,
            mu,
            reg,
            biased,
            range: data.value_range(),
            user_bias: vec![0.0; data.n_users()],
            item_bias: vec![0.0; data.n_items()],
            user_factors,
            item_factors,
            item_norms: Vec::new(),
            prior: 0.0,
        }
    }

    /// After `epochs` of SGD with step `lr`: zero the (random, never updated) factors of users
    /// and items with no rating, so they contribute nothing, cache the item norms, and set the
    /// fold-in's early-stopping penalty `1 / (lr · epochs)` (see the module doc).
    pub(crate) fn finish(&mut self, data: &Interactions, lr: f32, epochs: usize) {
        let k = self.k;
        self.prior = 1.0 / (lr * epochs.max(1) as f32);
        for (u, &c) in data.user_counts().iter().enumerate() {
            if c == 0 {
                self.user_factors[u * k..(u + 1) * k].fill(0.0);
            }
        }
        for (i, &c) in data.item_counts().iter().enumerate() {
            if c == 0 {
                self.item_factors[i * k..(i + 1) * k].fill(0.0);
            }
        }
        self.item_norms = self.item_factors.chunks_exact(k).map(norm).collect();
    }

    pub(crate) fn n_users(&self) -> usize {
        self.user_bias.len()
    }

    pub(crate) fn n_items(&self) -> usize {
        self.item_bias.len()
    }

    pub(crate) fn user(&self, u: usize) -> &[f32] {
        &self.user_factors[u * self.k..(u + 1) * self.k]
    }

    pub(crate) fn item(&self, i: usize) -> &[f32] {
        &self.item_factors[i * self.k..(i + 1) * self.k]
    }

    /// `out[i] = μ + b_u + b_i + q_iᵀp` for every item (unclipped: ranking keeps the order that
    /// clipping would tie).
    pub(crate) fn score(&self, b_u: f32, p: &[f32], out: &mut [f32]) {
        let base = self.mu + b_u;
        for ((o, q), &b_i) in out.iter_mut().zip(self.item_factors.chunks_exact(self.k)).zip(&self.item_bias)
        {
            *o = base + b_i + dot(q, p);
        }
    }

    pub(crate) fn score_user(&self, u: UserIdx, out: &mut [f32]) {
        self.score(self.user_bias[u.index()], self.user(u.index()), out);
    }

    /// `out[j]` = what [`FactorCore::score`] gives `items[j]` (checked), by the same additions
    /// in the same order, so bit for bit.
    pub(crate) fn score_items(&self, b_u: f32, p: &[f32], items: &[ItemIdx], out: &mut [f32]) {
        let base = self.mu + b_u;
        for (o, i) in out.iter_mut().zip(items) {
            *o = base + self.item_bias[i.index()] + dot(self.item(i.index()), p);
        }
    }

    pub(crate) fn score_user_items(&self, u: UserIdx, items: &[ItemIdx], out: &mut [f32]) {
        self.score_items(self.user_bias[u.index()], self.user(u.index()), items, out);
    }

    /// The rating of a training user for an item, clipped to the training scale.
    pub(crate) fn predict(&self, u: UserIdx, i: ItemIdx) -> f32 {
        let (u, i) = (u.index(), i.index());
        let raw = self.mu + self.user_bias[u] + self.item_bias[i] + dot(self.user(u), self.item(i));
        raw.clamp(self.range.0, self.range.1)
    }

    /// Fold-in: `(b_u, p)` for an unseen user with `history`, whose factor vector also carries
    /// the fixed `implicit` term (zeros for SVD, `|N|^−½ Σ y_j` for SVD++): the ridge solve fits
    /// `r − μ − b_i − q_iᵀimplicit`, and the returned `p` includes `implicit`. Non-finite
    /// ratings are skipped; an unsolvable system (only with `reg = 0`) falls back to `b_u = 0`
    /// and `p = implicit`, i.e. the unpersonalised prediction.
    pub(crate) fn fold_in(&self, history: &[(ItemIdx, f32)], implicit: &[f32]) -> (f32, Vec<f32>) {
        let rows: Vec<(&[f32], f32)> = history
            .iter()
            .filter(|(_, r)| r.is_finite())
            .map(|&(i, r)| {
                let q = self.item(i.index());
                (q, r - self.mu - self.item_bias[i.index()] - dot(q, implicit))
            })
            .collect();
        let lambda = f64::from(self.reg) * rows.len() as f64 + f64::from(self.prior);
        let mut p = implicit.to_vec();
        let Ok(x) = ridge_solve(rows, self.k, self.biased, lambda) else {
            return (0.0, p);
        };
        let (b_u, w) = if self.biased { (x[0], &x[1..]) } else { (0.0, &x[..]) };
        for (pf, wf) in p.iter_mut().zip(w) {
            *pf += wf;
        }
        (b_u, p)
    }

    /// Items by cosine of their factor vectors; items with a zero vector (never rated) are
    /// never similar to anything.
    pub(crate) fn similar(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Vec<Scored> {
        let (q, nq) = (self.item(item.index()), self.item_norms[item.index()]);
        let mut scores: Vec<f32> = self
            .item_factors
            .chunks_exact(self.k)
            .zip(&self.item_norms)
            .map(|(r, &nr)| if nq > 0.0 && nr > 0.0 { dot(q, r) / (nq * nr) } else { f32::NEG_INFINITY })
            .collect();
        scores[item.index()] = f32::NEG_INFINITY;
        top_excluding(&mut scores, n, exclude)
    }

    /// [`FactorCore::similar`] of every item at once, `depth` deep (see [`super::neighbours`]).
    pub(crate) fn similar_lists(&self, depth: usize) -> Vec<Vec<Scored>> {
        super::neighbours::cosine_lists(&self.item_norms, depth, |q, tile, out| {
            let q = self.item(q);
            for (o, j) in out.iter_mut().zip(tile) {
                *o = dot(q, self.item(j));
            }
        })
    }

    /// [`FactorCore::similar_lists`] from a cluster index (see [`super::clustered`]).
    pub(crate) fn similar_lists_indexed(
        &self,
        depth: usize,
        index: &crate::ListIndex,
    ) -> crate::IndexedLists {
        super::clustered::cosine_lists_indexed(
            self.k,
            &self.item_norms,
            |i| self.item(i),
            depth,
            index,
            |q, rows, out| {
                let q = self.item(q);
                for (o, row) in out.iter_mut().zip(rows.chunks_exact(self.k.max(1))) {
                    *o = dot(q, row);
                }
            },
        )
    }

    /// The cosine [`FactorCore::similar`] gives `b` as a neighbour of `a`, by the same
    /// arithmetic; `None` for a never-rated (zero) item or an index out of range.
    pub(crate) fn affinity(&self, a: ItemIdx, b: ItemIdx) -> Option<f32> {
        let (na, nb) = (*self.item_norms.get(a.index())?, *self.item_norms.get(b.index())?);
        if !(na > 0.0 && nb > 0.0) {
            return None;
        }
        Some(dot(self.item(a.index()), self.item(b.index())) / (na * nb))
    }
}
