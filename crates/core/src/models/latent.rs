//! The trained state the implicit-feedback factor models share (iALS, BPR, the hybrid): user and
//! item vectors in contiguous row-major matrices, optional item biases, and what is computed from
//! them — scores for every item (one SIMD mat-vec), cosine similar items, and the fold-in of an
//! unseen user by one weighted least-squares solve against the fixed item vectors.
//!
//! Fold-in (Hu, Koren & Volinsky 2008, eq. 4, for one user): a history of `(item, weight)` gives
//! preference `p = 1` and confidence `c = 1 + α·w` for `w > 0`, preference 0 and confidence
//! `1 + α·|w|` for `w < 0` (an explicit negative), and is skipped for `w = 0`. The user's vector
//! is `x = (QᵀQ + λI + Σ (c − 1) q qᵀ)⁻¹ Σ c·p·q`, which for iALS is exactly the user half-step
//! of training; BPR and the hybrid use it as the closed-form projection of a history into their
//! item space.
//!
//! The pairwise models (BPR, the hybrid) can instead fold in by their own objective
//! (`Latent::fold_in_pairwise`): SGD on the new user's vector alone, item vectors and biases
//! fixed, from zero, `epochs` passes of `|H|` pairs `(i ∈ H, j ∉ H)` on a stream seeded by the
//! model's seed, so the same history always gives the same vector. With BPR's loss, `g = σ(−z)`
//! for `z = score_i − score_j`; with WARP's, negatives are drawn until one violates the margin
//! (`score_j > score_i − 1`) and the step is weighted `ln⌊(n − 1)/draws⌋`. Either way
//! `p += lr·(g·(q_i − q_j) − reg·p)`, the rate decaying by `lr_decay` per pass.

use std::borrow::Cow;
use std::sync::OnceLock;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::clustered::{IndexedLists, ListIndex};
use super::linalg::{implicit_solve, norm};
use super::neighbours::cosine;
use super::quantized::Quantized;
use super::simd::{gram, row_dot, score_rows, score_rows_at};
use crate::ids::{ItemIdx, UserIdx};
use crate::recommender::{
    Block, Bounded, ModelError, Query, Recommender, Scored, check_history, check_history_items, check_item,
    check_items_known, check_query, check_slice, check_user, check_user_items, top_excluding,
};
use crate::rng;

/// The pairwise loss a fold-in optimises (module doc).
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum PairLoss {
    /// `−ln σ(score_i − score_j)` with one uniform negative.
    Bpr,
    /// WARP with up to `max_sampled` draws per positive.
    Warp { max_sampled: usize },
}

/// The settings of a pairwise fold-in (module doc).
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PairFoldIn {
    pub(crate) loss: PairLoss,
    /// History items with a weight above this are positives; every history item is kept out of
    /// the negatives.
    pub(crate) threshold: f32,
    pub(crate) epochs: usize,
    pub(crate) lr: f32,
    pub(crate) lr_decay: f32,
    pub(crate) reg: f32,
    pub(crate) seed: u64,
}

/// How a history becomes confidence and what regularises its solve.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct FoldIn {
    /// `c = 1 + alpha·|w|`.
    pub(crate) alpha: f32,
    /// `λ = reg · (n_items + α Σ|w|)^exponent`.
    pub(crate) reg: f32,
    /// Frequency scaling of `λ` (0: none).
    pub(crate) exponent: f32,
}

impl FoldIn {
    /// `λ` for a row with `n_other` columns and total weight `sum_w` (Rendle et al. 2021's
    /// frequency-scaled regularisation when `exponent > 0`).
    pub(crate) fn lambda(&self, n_other: usize, sum_w: f32) -> f32 {
        if self.exponent == 0.0 {
            return self.reg;
        }
        self.reg * (n_other as f32 + self.alpha * sum_w).powf(self.exponent)
    }

    /// `(confidence, preference)` of a weight, `None` when it carries no information.
    #[inline(always)]
    pub(crate) fn confidence(&self, w: f32) -> Option<(f32, f32)> {
        if w > 0.0 {
            Some((1.0 + self.alpha * w, 1.0))
        } else if w < 0.0 {
            Some((1.0 - self.alpha * w, 0.0))
        } else {
            None
        }
    }
}

/// Trained user and item vectors; `score(u, i) = x_uᵀy_i (+ b_i)`.
///
/// The norms and the Gram matrix are stored rather than recomputed on load: a parallel GEMM is
/// not promised to sum in the same order on another machine, and a reloaded model must fold in
/// users exactly as the original did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latent {
    pub(crate) k: usize,
    /// `n_users × k`, row-major.
    #[serde(with = "crate::models::floats")]
    pub(crate) users: Vec<f32>,
    /// `n_items × k`, row-major: scoring a user is one contiguous mat-vec.
    #[serde(with = "crate::models::floats")]
    pub(crate) items: Vec<f32>,
    /// Per-item bias, or empty.
    #[serde(with = "crate::models::floats")]
    pub(crate) item_bias: Vec<f32>,
    /// `|y_i|`, for cosine similarity; set by [`Latent::finish`].
    #[serde(with = "crate::models::floats")]
    pub(crate) item_norms: Vec<f32>,
    /// `YᵀY`, `k × k`, for fold-in; set by [`Latent::finish`].
    #[serde(with = "crate::models::floats")]
    pub(crate) gram: Vec<f32>,
    /// The item rows in 8 bits, for [`Recommender::bounded`]; built on first use from `items`.
    #[serde(skip)]
    quantized: QuantizedRows,
}

/// [`Latent`]'s cache of [`Quantized`] rows: derived from the vectors, so never stored and never
/// compared (two models with the same vectors are equal whether or not either built it).
#[derive(Clone, Debug, Default)]
struct QuantizedRows(OnceLock<Quantized>);

impl PartialEq for QuantizedRows {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl PairFoldIn {
    /// Fold-in runs on a request's thread: its loops are bounded.
    pub(crate) fn check(&self) -> crate::models::invariant::Check {
        use crate::models::invariant::steps;
        steps("fold-in epochs", self.epochs)?;
        match self.loss {
            PairLoss::Warp { max_sampled } => steps("fold-in max_sampled", max_sampled),
            PairLoss::Bpr => Ok(()),
        }
    }
}

impl Latent {
    /// The shapes serving indexes by (see [`crate::models::invariant`]).
    pub(crate) fn check(&self) -> crate::models::invariant::Check {
        use crate::models::invariant::{dim, len, len_or_empty, matrix, rows_of};
        dim("k", self.k)?;
        rows_of("user vectors", self.users.len(), self.k)?;
        let n_items = rows_of("item vectors", self.items.len(), self.k)?;
        len_or_empty("item_bias", self.item_bias.len(), n_items)?;
        len("item_norms", self.item_norms.len(), n_items)?;
        matrix("gram", self.gram.len(), self.k, self.k)
    }

    pub(crate) fn new(k: usize, users: Vec<f32>, items: Vec<f32>, item_bias: Vec<f32>) -> Self {
        Self {
            k,
            users,
            items,
            item_bias,
            item_norms: Vec::new(),
            gram: Vec::new(),
            quantized: QuantizedRows::default(),
        }
    }

    /// Caches what serving needs besides the vectors: item norms and the Gram matrix.
    pub(crate) fn finish(&mut self) {
        self.item_norms = self.items.chunks_exact(self.k).map(norm).collect();
        self.gram = gram(&self.items, self.k);
        self.quantized = QuantizedRows::default();
    }

    /// The 8-bit item rows, built on first use.
    fn quantized(&self) -> &Quantized {
        self.quantized.0.get_or_init(|| Quantized::new(&self.items, self.k))
    }

    /// Bytes of the 8-bit rows, once built.
    pub(crate) fn quantized_bytes(&self) -> usize {
        self.quantized.0.get().map_or(0, Quantized::bytes)
    }

    /// The latent dimension.
    pub fn dim(&self) -> usize {
        self.k
    }

    /// User vectors, `n_users × k` row-major.
    pub fn user_factors(&self) -> &[f32] {
        &self.users
    }

    /// Item vectors, `n_items × k` row-major.
    pub fn item_factors(&self) -> &[f32] {
        &self.items
    }

    /// Item biases (empty for models without them).
    pub fn item_biases(&self) -> &[f32] {
        &self.item_bias
    }

    pub(crate) fn n_users(&self) -> usize {
        self.users.len().checked_div(self.k).unwrap_or(0)
    }

    pub(crate) fn n_items(&self) -> usize {
        self.items.len().checked_div(self.k).unwrap_or(0)
    }

    pub(crate) fn user(&self, u: usize) -> &[f32] {
        &self.users[u * self.k..(u + 1) * self.k]
    }

    pub(crate) fn item(&self, i: usize) -> &[f32] {
        &self.items[i * self.k..(i + 1) * self.k]
    }

    fn bias(&self) -> Option<&[f32]> {
        if self.item_bias.is_empty() { None } else { Some(&self.item_bias) }
    }

    /// `out[i] = y_iᵀp (+ b_i)` for every item.
    pub(crate) fn score(&self, p: &[f32], out: &mut [f32]) {
        score_rows(&self.items, p, self.bias(), out);
    }

    pub(crate) fn score_user(&self, u: usize, out: &mut [f32]) {
        score_rows(&self.items, self.user(u), self.bias(), out);
    }

    /// `out[j] = y_iᵀp (+ b_i)` for `i = items[j]` (checked), bit for bit what
    /// [`Latent::score`] gives those items.
    pub(crate) fn score_items(&self, p: &[f32], items: &[ItemIdx], out: &mut [f32]) {
        score_rows_at(&self.items, p, self.bias(), items, out);
    }

    /// The fold-in vector of a history (module doc); the zero vector (unpersonalised: biases
    /// alone) when the history carries no information or the solve fails.
    pub(crate) fn fold_in(&self, history: &[(ItemIdx, f32)], fold: FoldIn) -> Vec<f32> {
        let sum_w: f32 = history.iter().map(|(_, w)| w.abs()).filter(|w| w.is_finite()).sum();
        let rows = history.iter().filter(|(_, w)| w.is_finite()).filter_map(|&(i, w)| {
            let (c, p) = fold.confidence(w)?;
            Some((self.item(i.index()), c, p))
        });
        let lambda = f64::from(fold.lambda(self.n_items(), sum_w));
        implicit_solve(&self.gram, rows, self.k, lambda).unwrap_or_else(|_| vec![0.0; self.k])
    }

    /// The vector of an unseen user by the pairwise loss of `f` (module doc); zero when the
    /// history has no positive or covers the catalog.
    pub(crate) fn fold_in_pairwise(&self, history: &[(ItemIdx, f32)], f: PairFoldIn) -> Vec<f32> {
        let k = self.k;
        let mut p = vec![0f32; k];
        let finite = || history.iter().filter(|(_, w)| w.is_finite());
        let mut pos: Vec<u32> = finite().filter(|(_, w)| *w > f.threshold).map(|(i, _)| i.0).collect();
        let mut seen: Vec<u32> = finite().map(|(i, _)| i.0).collect();
        for v in [&mut pos, &mut seen] {
            v.sort_unstable();
            v.dedup();
        }
        let n_items = self.n_items() as u32;
        if pos.is_empty() || seen.len() as u32 >= n_items {
            return p;
        }
        let bias = |i: usize| self.item_bias.get(i).copied().unwrap_or(0.0);
        let score =
            |p: &[f32], i: usize| bias(i) + p.iter().zip(self.item(i)).map(|(x, q)| x * q).sum::<f32>();
        let mut rng = rng::seeded(f.seed);
        let negative = |rng: &mut rng::SeededRng| loop {
            let j = rng.random_range(0..n_items);
            if seen.binary_search(&j).is_err() {
                break j as usize;
            }
        };
        let mut lr = f.lr;
        for _ in 0..f.epochs {
            for _ in 0..pos.len() {
                let i = pos[rng.random_range(0..pos.len())] as usize;
                let si = score(&p, i);
                let step = match f.loss {
                    PairLoss::Bpr => {
                        let j = negative(&mut rng);
                        Some((1.0 / (1.0 + (si - score(&p, j)).exp()), j))
                    }
                    PairLoss::Warp { max_sampled } => (1..=max_sampled).find_map(|draws| {
                        let j = negative(&mut rng);
                        (score(&p, j) > si - 1.0)
                            .then(|| (((n_items - 1) as f32 / draws as f32).floor().max(1.0).ln(), j))
                    }),
                };
                let Some((g, j)) = step else { continue };
                for (x, (a, b)) in p.iter_mut().zip(self.item(i).iter().zip(self.item(j))) {
                    *x = (1.0 - lr * f.reg) * *x + lr * g * (a - b);
                }
            }
            lr *= f.lr_decay;
        }
        p
    }

    /// Items by cosine of their vectors; zero vectors are never similar to anything.
    pub(crate) fn similar(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Vec<Scored> {
        let (q, nq) = (self.item(item.index()), self.item_norms[item.index()]);
        let mut scores = vec![0f32; self.n_items()];
        score_rows(&self.items, q, None, &mut scores);
        for (s, &nr) in scores.iter_mut().zip(&self.item_norms) {
            *s = cosine(*s, nq, nr);
        }
        scores[item.index()] = f32::NEG_INFINITY;
        top_excluding(&mut scores, n, exclude)
    }

    /// [`Latent::similar`] of every item at once, `depth` deep (see [`super::neighbours`]).
    pub(crate) fn similar_lists(&self, depth: usize) -> Vec<Vec<Scored>> {
        super::neighbours::cosine_lists_of_rows(&self.items, self.k, &self.item_norms, depth)
    }

    /// [`Latent::similar_lists`] from a cluster index (see [`super::clustered`]).
    pub(crate) fn similar_lists_indexed(&self, depth: usize, index: &ListIndex) -> IndexedLists {
        super::clustered::cosine_lists_indexed_of_rows(&self.items, self.k, &self.item_norms, depth, index)
    }

    /// The cosine [`Latent::similar`] gives `b` as a neighbour of `a` (same kernel, same
    /// rounding); `None` when either vector is zero or an index is out of range.
    pub(crate) fn affinity(&self, a: ItemIdx, b: ItemIdx) -> Option<f32> {
        let (na, nb) = (*self.item_norms.get(a.index())?, *self.item_norms.get(b.index())?);
        if !(na > 0.0 && nb > 0.0) {
            return None;
        }
        Some(row_dot(self.item(b.index()), self.item(a.index())) / (na * nb))
    }
}

/// A [`Latent`]'s [`Bounded`] scorer of one query vector.
struct LatentBounded<'a> {
    /// The model's name, for errors.
    name: &'static str,
    latent: &'a Latent,
    quantized: &'a Quantized,
    p: Cow<'a, [f32]>,
}

impl Bounded for LatentBounded<'_> {
    fn upper(&self, items: Option<&[ItemIdx]>, out: &mut [f32]) -> Result<(), ModelError> {
        check_slice(self.latent.n_items(), items, out)?;
        self.quantized.upper(&self.p, self.latent.bias(), items, out);
        Ok(())
    }

    fn exact(&self, items: &[ItemIdx], out: &mut [f32]) -> Result<(), ModelError> {
        check_slice(self.latent.n_items(), Some(items), out)?;
        self.latent.score_items(&self.p, items, out);
        Ok(())
    }

    fn upper_block(&self, block: &Block, out: &mut [f32]) -> Result<(), ModelError> {
        check_slice(self.latent.n_items(), Some(&block.items), out)?;
        let bias = self.latent.bias().is_some().then_some(block.bias.as_slice());
        if !block.rows.fits(block.items.len(), self.latent.k)
            || bias.is_some_and(|b| b.len() != block.items.len())
        {
            return Err(ModelError::Unsupported { model: self.name, operation: "a block of another shape" });
        }
        block.rows.upper(&self.p, bias, None, out);
        Ok(())
    }
}

/// A model that serves from a [`Latent`]: implementing this gives it the whole [`Recommender`]
/// contract. iALS, BPR and the hybrid differ only in how they fold an unseen user in.
pub trait LatentModel: Send + Sync {
    /// The model's short stable name.
    const NAME: &'static str;

    /// The trained vectors.
    fn latent(&self) -> &Latent;

    /// The vector of an unseen user with `history` (items already checked).
    fn fold_in(&self, history: &[(ItemIdx, f32)]) -> Vec<f32>;
}

impl<T: LatentModel> Recommender for T {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn n_users(&self) -> usize {
        self.latent().n_users()
    }

    fn n_items(&self) -> usize {
        self.latent().n_items()
    }

    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError> {
        check_user(self, user, out)?;
        self.latent().score_user(user.index(), out);
        Ok(())
    }

    fn score_history(&self, history: &[(ItemIdx, f32)], out: &mut [f32]) -> Result<(), ModelError> {
        check_history(self, history, out)?;
        let x = self.fold_in(history);
        self.latent().score(&x, out);
        Ok(())
    }

    fn score_user_items(&self, user: UserIdx, items: &[ItemIdx], out: &mut [f32]) -> Result<(), ModelError> {
        check_user_items(self, user, items, out)?;
        let latent = self.latent();
        latent.score_items(latent.user(user.index()), items, out);
        Ok(())
    }

    fn score_history_items(
        &self,
        history: &[(ItemIdx, f32)],
        items: &[ItemIdx],
        out: &mut [f32],
    ) -> Result<(), ModelError> {
        check_history_items(self, history, items, out)?;
        let x = self.fold_in(history);
        self.latent().score_items(&x, items, out);
        Ok(())
    }

    fn item_affinity(&self, a: ItemIdx, b: ItemIdx) -> Option<f32> {
        self.latent().affinity(a, b)
    }

    fn bounded(&self, query: Query<'_>) -> Result<Option<Box<dyn Bounded + '_>>, ModelError> {
        check_query(self, query)?;
        let latent = self.latent();
        let quantized = latent.quantized();
        let p = match query {
            Query::User(user) => Cow::Borrowed(latent.user(user.index())),
            Query::History(history) => Cow::Owned(self.fold_in(history)),
        };
        Ok(Some(Box::new(LatentBounded { name: T::NAME, latent, quantized, p })))
    }

    fn block(&self, items: &[ItemIdx]) -> Result<Option<Block>, ModelError> {
        let latent = self.latent();
        check_items_known(latent.n_items(), items)?;
        let bias = latent.bias().map_or_else(Vec::new, |b| items.iter().map(|i| b[i.index()]).collect());
        Ok(Some(Block { items: items.to_vec(), rows: latent.quantized().gather(items), bias }))
    }

    fn prepare(&self) {
        self.latent().quantized();
    }

    fn prepared_bytes(&self) -> usize {
        self.latent().quantized_bytes()
    }

    fn similar_items(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        check_item(self, item)?;
        Ok(self.latent().similar(item, n, exclude))
    }

    fn similar_lists(&self, depth: usize) -> Result<Vec<Vec<Scored>>, ModelError> {
        Ok(self.latent().similar_lists(depth))
    }

    fn similar_lists_indexed(
        &self,
        depth: usize,
        index: &ListIndex,
    ) -> Result<Option<IndexedLists>, ModelError> {
        Ok(Some(self.latent().similar_lists_indexed(depth, index)))
    }

    fn predict(&self, _: UserIdx, _: ItemIdx) -> Result<f32, ModelError> {
        Err(ModelError::Unsupported { model: T::NAME, operation: "rating prediction" })
    }
}
