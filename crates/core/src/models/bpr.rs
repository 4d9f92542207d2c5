//! Bayesian personalised ranking, BPR (Rendle, Freudenthaler, Gantner & Schmidt-Thieme 2009,
//! "BPR: Bayesian personalized ranking from implicit feedback").
//!
//! Score `x̂_ui = b_i + p_uᵀq_i`. Objective (BPR-Opt), over triples of a user `u`, an item `i` the
//! user interacted with and an item `j` they did not: maximise
//! `Σ ln σ(x̂_ui − x̂_uj) − reg·(|p_u|² + |q_i|² + |q_j|²) − bias_reg·(b_i² + b_j²)` by stochastic
//! gradient ascent (LearnBPR). Sampling is the paper's uniform bootstrap: `(u, i)` uniform over
//! the observed pairs, `j` uniform over the items `u` has not interacted with (rejection against
//! the user's sorted row). An epoch draws as many triples as there are observed pairs. With
//! `z = x̂_ui − x̂_uj` and `g = σ(−z)`: `p_u += lr·(g·(q_i − q_j) − reg·p_u)`,
//! `q_i += lr·(g·p_u − reg·q_i)`, `q_j += lr·(−g·p_u − reg·q_j)`, `b_i += lr·(g − bias_reg·b_i)`,
//! `b_j += lr·(−g − bias_reg·b_j)`. The learning rate decays geometrically, `lr·decay^epoch`.
//!
//! Parallel and lock-free, yet deterministic: users are cut into a fixed number of shards of
//! about equal interaction counts (a constant, not the thread count). In each round every shard
//! draws a small batch of triples for its own users on its own seeded stream: it updates its
//! users' vectors in place (no other shard owns them) and reads item vectors from the shared
//! matrix, recording item updates in a per-shard buffer that is applied, in shard order, once the
//! round ends. Item reads are stale by at most one round, as in Hogwild (Recht et al. 2011)
//! where they are stale by whatever other threads have not yet written, but here the result
//! depends only on the data and the seed, never on scheduling or the number of threads.
//!
//! Fold-in of an unseen user: LearnBPR on that user's vector alone, the item vectors and biases
//! fixed, with the training schedule (the pairwise fold-in of `latent`).

use pulp::Simd;
use rand::Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::latent::{Latent, LatentModel, PairFoldIn, PairLoss};
use super::shards::{Seen, user_of, user_shards};
use super::simd::{axpy, dot};
use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::recommender::{FitContext, FitError, ModelParams, ParamError, Progress};
use crate::rng;

const MODEL: &str = "bpr";

/// User shards; a constant so the model is the same on every machine.
const SHARDS: usize = 8;

/// Triples each shard draws per round, at most: item reads are stale by at most `SHARDS · BATCH`
/// triples.
const BATCH: usize = 64;

/// Rounds per epoch, at least: on small data the batch shrinks so that an epoch is never one
/// stale round.
const MIN_ROUNDS: usize = 64;

/// Draws of `j` before a user who has interacted with (nearly) every item is skipped.
const MAX_REJECTIONS: usize = 64;

/// Hyperparameters of [`BprModel`]. Defaults as measured on MovieLens 100k (see
/// `docs/benchmarks.md`); the paper leaves them to the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BprParams {
    /// Latent dimension `k` (≥ 1).
    pub factors: usize,
    /// Epochs, each drawing as many triples as there are interactions (≥ 1).
    pub epochs: usize,
    /// Initial learning rate (finite, > 0).
    pub learning_rate: f32,
    /// Per-epoch multiplicative decay of the learning rate (in (0, 1]).
    pub lr_decay: f32,
    /// L2 penalty on user and item vectors (finite, ≥ 0).
    pub reg: f32,
    /// L2 penalty on item biases (finite, ≥ 0).
    pub bias_reg: f32,
    /// Standard deviation of the initial vectors (finite, > 0).
    pub init_std: f32,
    /// Passes over an unseen user's history when folding them in (≥ 1).
    pub fold_in_epochs: usize,
}

impl Default for BprParams {
    fn default() -> Self {
        Self {
            factors: 64,
            epochs: 20,
            learning_rate: 0.05,
            lr_decay: 0.95,
            reg: 0.01,
            bias_reg: 0.002,
            init_std: 0.1,
            fold_in_epochs: 30,
        }
    }
}

impl ModelParams for BprParams {
    type Model = BprModel;

    fn validate(&self) -> Result<(), ParamError> {
        let err = |field, reason: &str| Err(ParamError::new(MODEL, field, reason));
        let non_negative = |v: f32| v.is_finite() && v >= 0.0;
        let positive = |v: f32| v.is_finite() && v > 0.0;
        if self.factors == 0 {
            return err("factors", "must be at least 1");
        }
        if self.epochs == 0 {
            return err("epochs", "must be at least 1");
        }
        if self.fold_in_epochs == 0 {
            return err("fold_in_epochs", "must be at least 1");
        }
        if !positive(self.learning_rate) {
            return err("learning_rate", "must be a finite number > 0");
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return err("lr_decay", "must be in (0, 1]");
        }
        for (field, v) in [("reg", self.reg), ("bias_reg", self.bias_reg)] {
            if !non_negative(v) {
                return err(field, "must be a finite number ≥ 0");
            }
        }
        if !positive(self.init_std) {
            return err("init_std", "must be a finite number > 0");
        }
        Ok(())
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<BprModel, FitError> {
        self.validate()?;
        if data.nnz() == 0 {
            return Err(FitError::EmptyData { model: MODEL });
        }
        let k = self.factors;
        let normal =
            Normal::new(0.0, self.init_std).map_err(|e| ParamError::new(MODEL, "init_std", e.to_string()))?;
        let mut init_rng = rng::seeded(ctx.seed);
        let mut init =
            |rows: usize| -> Vec<f32> { (0..rows * k).map(|_| normal.sample(&mut init_rng)).collect() };
        let (users, items) = (init(data.n_users()), init(data.n_items()));
        let latent = Latent::new(k, users, items, vec![0.0; data.n_items()]);
        let fold_in = PairFoldIn {
            loss: PairLoss::Bpr,
            threshold: 0.0,
            epochs: self.fold_in_epochs,
            lr: self.learning_rate,
            lr_decay: self.lr_decay,
            reg: self.reg,
            seed: ctx.seed,
        };
        let mut model = BprModel { latent, fold_in };
        let mut shards = Shard::cut(data, k, ctx.seed);
        let seen = Seen::new(data);
        let mut lr = self.learning_rate;
        for epoch in 1..=self.epochs {
            let step = Step { k, lr, reg: self.reg, bias_reg: self.bias_reg };
            let loss = epoch_run(&mut model.latent, &mut shards, data, &seen, step);
            lr *= self.lr_decay;
            if ctx.observer.wants_checkpoints() {
                model.latent.finish();
            }
            let progress = Progress { model: MODEL, done: epoch, total: self.epochs, loss: Some(loss) };
            if ctx.checkpoint(progress, &model) {
                break;
            }
        }
        zero_untrained(&mut model.latent, data);
        model.latent.finish();
        Ok(model)
    }
}

/// Users nobody saw keep their random start, and items nobody chose carry only the pushes of
/// being drawn as negatives: zero both (vectors and, for items, the bias), so such items tie
/// at 0 rather than ranking by noise.
fn zero_untrained(latent: &mut Latent, data: &Interactions) {
    let k = latent.k;
    for (u, &c) in data.user_counts().iter().enumerate() {
        if c == 0 {
            latent.users[u * k..(u + 1) * k].fill(0.0);
        }
    }
    for (i, &c) in data.item_counts().iter().enumerate() {
        if c == 0 {
            latent.items[i * k..(i + 1) * k].fill(0.0);
            latent.item_bias[i] = 0.0;
        }
    }
}

/// The constants of one epoch.
#[derive(Copy, Clone)]
struct Step {
    k: usize,
    lr: f32,
    reg: f32,
    bias_reg: f32,
}

/// A contiguous range of users, its share of the triples, its random stream and its buffer of
/// item updates.
struct Shard {
    users: std::ops::Range<usize>,
    /// Observed pairs of the shard's users: positions `pairs.start..pairs.end` of the CSR.
    pairs: std::ops::Range<usize>,
    left: usize,
    rng: rng::SeededRng,
    /// `(item, Δb, Δq)` records, `k + 2` floats each (the item index stored as bits).
    updates: Vec<f32>,
    loss: f64,
}

impl Shard {
    /// `SHARDS` user ranges of about equal interaction counts, each on its own random stream.
    fn cut(data: &Interactions, k: usize, seed: u64) -> Vec<Shard> {
        user_shards(data, SHARDS)
            .into_iter()
            .enumerate()
            .map(|(s, (users, pairs))| Shard {
                users,
                pairs,
                left: 0,
                rng: rng::stream(seed, s as u64 + 1),
                updates: Vec::with_capacity(BATCH * 2 * (k + 2)),
                loss: 0.0,
            })
            .collect()
    }
}

/// One epoch: rounds until every shard has drawn its share. Returns the mean `−ln σ(z)`.
fn epoch_run(latent: &mut Latent, shards: &mut [Shard], data: &Interactions, seen: &Seen, step: Step) -> f64 {
    let k = step.k;
    let batch = (data.nnz() / (SHARDS * MIN_ROUNDS)).clamp(1, BATCH);
    for s in shards.iter_mut() {
        s.left = s.pairs.len();
        s.loss = 0.0;
    }
    // Disjoint mutable user blocks, one per shard.
    let mut blocks: Vec<&mut [f32]> = Vec::with_capacity(shards.len());
    let mut rest: &mut [f32] = &mut latent.users;
    for s in shards.iter() {
        let (block, tail) = std::mem::take(&mut rest).split_at_mut(s.users.len() * k);
        blocks.push(block);
        rest = tail;
    }
    while shards.iter().any(|s| s.left > 0) {
        let (items, bias) = (&latent.items, &latent.item_bias);
        shards.par_iter_mut().zip(blocks.par_iter_mut()).for_each(|(shard, users)| {
            let n = shard.left.min(batch);
            shard.left -= n;
            shard.updates.clear();
            pulp::Arch::new().dispatch(Round {
                step,
                shard,
                users: &mut users[..],
                items,
                bias,
                data,
                n,
                seen,
            });
        });
        for shard in shards.iter() {
            for rec in shard.updates.chunks_exact(k + 2) {
                let i = rec[0].to_bits() as usize;
                latent.item_bias[i] += rec[1];
                for (q, d) in latent.items[i * k..(i + 1) * k].iter_mut().zip(&rec[2..]) {
                    *q += d;
                }
            }
        }
    }
    let total: f64 = shards.iter().map(|s| s.loss).sum();
    total / data.nnz() as f64
}

/// One shard's batch of triples, inside one SIMD dispatch.
struct Round<'a> {
    step: Step,
    shard: &'a mut Shard,
    users: &'a mut [f32],
    items: &'a [f32],
    bias: &'a [f32],
    data: &'a Interactions,
    n: usize,
    seen: &'a Seen,
}

impl pulp::WithSimd for Round<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Round { step, shard, users, items, bias, data, n, seen } = self;
        let (k, lr) = (step.k, step.lr);
        let n_items = data.n_items() as u32;
        let first_user = shard.users.start;
        for _ in 0..n {
            let pos = shard.rng.random_range(shard.pairs.clone());
            // The user whose row holds CSR position `pos`.
            let u = user_of(data, shard.users.clone(), pos);
            let row = data.user(UserIdx(u as u32));
            let i = row.indices[pos - data.user_offset(UserIdx(u as u32))];
            let Some(j) = (0..MAX_REJECTIONS).find_map(|_| {
                let j = shard.rng.random_range(0..n_items);
                (!seen.contains(u, row.indices, j)).then_some(j)
            }) else {
                continue;
            };
            let (i, j) = (i as usize, j as usize);
            let p = &mut users[(u - first_user) * k..(u - first_user + 1) * k];
            let (qi, qj) = (&items[i * k..(i + 1) * k], &items[j * k..(j + 1) * k]);
            let z = bias[i] - bias[j] + dot(simd, p, qi) - dot(simd, p, qj);
            let g = 1.0 / (1.0 + z.exp());
            shard.loss += f64::from((-z).exp().ln_1p());
            // Item updates from the old p, recorded for the end of the round.
            for (item, sign, q, b) in [(i, 1.0f32, qi, bias[i]), (j, -1.0, qj, bias[j])] {
                let at = shard.updates.len();
                shard.updates.push(f32::from_bits(item as u32));
                shard.updates.push(lr * (sign * g - step.bias_reg * b));
                shard.updates.extend(q.iter().map(|&x| -lr * step.reg * x));
                axpy(simd, lr * sign * g, p, &mut shard.updates[at + 2..]);
            }
            // p += lr (g (q_i − q_j) − reg p)
            let keep = 1.0 - lr * step.reg;
            for x in p.iter_mut() {
                *x *= keep;
            }
            axpy(simd, lr * g, qi, p);
            axpy(simd, -lr * g, qj, p);
        }
    }
}

/// A trained [`BprParams`] model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BprModel {
    latent: Latent,
    fold_in: PairFoldIn,
}

impl BprModel {
    /// The shapes serving indexes by and the fold-in's bounds (see
    /// [`crate::models::invariant`]).
    pub(crate) fn check(&self) -> crate::models::invariant::Check {
        self.latent.check()?;
        self.fold_in.check()
    }
}

impl LatentModel for BprModel {
    const NAME: &'static str = MODEL;

    fn latent(&self) -> &Latent {
        &self.latent
    }

    fn fold_in(&self, history: &[(ItemIdx, f32)]) -> Vec<f32> {
        self.latent.fold_in_pairwise(history, self.fold_in)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Feedback, Interaction};
    use crate::recommender::Recommender;

    #[test]
    fn validation_names_the_field_and_untouched_items_tie_at_zero() {
        let ok = BprParams::default();
        assert_eq!(ok.validate(), Ok(()));
        for (p, field) in [
            (BprParams { factors: 0, ..ok.clone() }, "factors"),
            (BprParams { epochs: 0, ..ok.clone() }, "epochs"),
            (BprParams { fold_in_epochs: 0, ..ok.clone() }, "fold_in_epochs"),
            (BprParams { learning_rate: 0.0, ..ok.clone() }, "learning_rate"),
            (BprParams { lr_decay: 1.5, ..ok.clone() }, "lr_decay"),
            (BprParams { reg: -1.0, ..ok.clone() }, "reg"),
            (BprParams { bias_reg: f32::NAN, ..ok.clone() }, "bias_reg"),
            (BprParams { init_std: 0.0, ..ok.clone() }, "init_std"),
        ] {
            assert_eq!(p.validate().unwrap_err().field, field);
        }
        // Items 4 and 5 have no interaction: after training they score exactly 0 for everyone,
        // however often they were drawn as negatives.
        let e = |u, i| Interaction { user: UserIdx(u), item: ItemIdx(i), value: 1.0, ts: 0 };
        let entries = (0..20u32).flat_map(|u| [e(u, u % 4), e(u, (u + 1) % 4)]).collect();
        let data = Interactions::new(20, 6, Feedback::Implicit, entries).unwrap();
        let m = BprParams { factors: 4, epochs: 30, ..ok }.fit(&data, &FitContext::seeded(1)).unwrap();
        let mut s = [1f32; 6];
        m.score_user(UserIdx(0), &mut s).unwrap();
        assert_eq!((s[4], s[5]), (0.0, 0.0));
        assert!(s[..4].iter().any(|&x| x != 0.0));
        // An empty history folds in as the zero vector: scores are the item biases.
        m.score_history(&[], &mut s).unwrap();
        assert_eq!(s.to_vec(), m.latent().item_biases().to_vec());
    }
}
