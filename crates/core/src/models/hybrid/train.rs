//! The hybrid's sharded WARP/BPR training with AdaGrad (see the parent module doc).

use pulp::Simd;
use rand::Rng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use super::{Embeddings, FeatureMatrix, HybridLoss, HybridModel, HybridParams, MODEL};
use crate::data::Interactions;
use crate::ids::UserIdx;
use crate::models::shards::{Seen, user_of, user_shards};
use crate::models::simd::dot;
use crate::recommender::{FitContext, Progress};
use crate::rng;

/// User shards; a constant so the model is the same on every machine.
const SHARDS: usize = 8;

/// Positives each shard handles per round, at most.
const BATCH: usize = 1024;

/// Rounds per epoch, at least: on small data the batch shrinks so that an epoch is never one
/// stale round.
const MIN_ROUNDS: usize = 16;

/// Draws of a negative that land on the user's own positives before the pair is skipped.
const MAX_REJECTIONS: usize = 64;

/// WARP's cap on the rank weight, as LightFM's `MAX_LOSS`.
const MAX_LOSS: f32 = 10.0;

/// Embeddings are stored with `k` rounded up to a multiple of this (16 f32 lanes: one AVX-512
/// register), so dot products have no scalar tail. The padding starts at 0 and stays 0: its
/// gradient is a product with the other side's padding, which is 0 too.
const PAD: usize = 16;

/// Feature embeddings with their AdaGrad accumulators.
struct Table {
    k: usize,
    emb: Vec<f32>,
    acc: Vec<f32>,
    bias: Vec<f32>,
    bias_acc: Vec<f32>,
}

impl Table {
    /// `n` embeddings of `k` components drawn from `[−0.5/k, 0.5/k)`, stored `k.next_multiple_of(PAD)`
    /// wide.
    fn new(n: usize, k: usize, rng: &mut rng::SeededRng) -> Self {
        let kp = k.next_multiple_of(PAD);
        let mut emb = vec![0f32; n * kp];
        for row in emb.chunks_exact_mut(kp) {
            for x in &mut row[..k] {
                *x = (rng.random::<f32>() - 0.5) / k as f32;
            }
        }
        Self { k: kp, emb, acc: vec![1.0; n * kp], bias: vec![0.0; n], bias_acc: vec![1.0; n] }
    }

    /// `Σ_f w_f (u·e_f + b_f)`: a row's score against the user representation `u`, without
    /// building the row's representation.
    #[inline(always)]
    fn score<S: Simd>(&self, simd: S, features: (&[u32], &[f32]), u: &[f32]) -> f32 {
        let k = self.k;
        let mut total = 0.0;
        for (&f, &w) in features.0.iter().zip(features.1) {
            let f = f as usize;
            total += w * (dot(simd, &u[..k], &self.emb[f * k..(f + 1) * k]) + self.bias[f]);
        }
        total
    }

    /// The first `k` components of every embedding, unpadded.
    fn unpadded(&self, k: usize) -> Vec<f32> {
        self.emb.chunks_exact(self.k).flat_map(|r| r[..k].iter().copied()).collect()
    }

    /// `Σ_f w_f e_f` into `out[..k]` and `Σ_f w_f b_f` into `out[k]`.
    #[inline(always)]
    fn represent(&self, features: (&[u32], &[f32]), out: &mut [f32]) {
        let k = self.k;
        out.fill(0.0);
        for (&f, &w) in features.0.iter().zip(features.1) {
            let f = f as usize;
            for (o, e) in out[..k].iter_mut().zip(&self.emb[f * k..(f + 1) * k]) {
                *o += w * e;
            }
            out[k] += w * self.bias[f];
        }
    }
}

/// What a round recorded for one user or item: the gradient of its representation (and bias),
/// to be spread over its features at the end of the round.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Side {
    User,
    Item,
}

/// A shard: its users, its positives in this epoch's order, its stream and its records.
struct Shard {
    users: std::ops::Range<usize>,
    order: Vec<u32>,
    next: usize,
    rng: rng::SeededRng,
    /// `(side, row)` per record, and `k + 1` gradient values (representation, bias) each.
    heads: Vec<(Side, u32)>,
    grads: Vec<f32>,
    loss: f64,
}

/// Trains the embeddings (parent module doc).
pub(super) fn fit(
    p: &HybridParams,
    data: &Interactions,
    users: &FeatureMatrix,
    items: &FeatureMatrix,
    ctx: &FitContext<'_>,
) -> Embeddings {
    let k = p.components;
    let mut init = rng::seeded(ctx.seed);
    let mut ut = Table::new(users.n_features, k, &mut init);
    let mut it = Table::new(items.n_features, k, &mut init);
    let mut shards: Vec<Shard> = user_shards(data, SHARDS)
        .into_iter()
        .enumerate()
        .map(|(s, (users, _))| Shard {
            order: positives(data, users.clone(), p.positive_threshold),
            users,
            next: 0,
            rng: rng::stream(ctx.seed, s as u64 + 1),
            heads: Vec::new(),
            grads: Vec::new(),
            loss: 0.0,
        })
        .collect();
    let n_positives: usize = shards.iter().map(|s| s.order.len()).sum();
    let seen = Seen::new(data);
    let batch = (n_positives / (SHARDS * MIN_ROUNDS)).clamp(1, BATCH);
    for epoch in 1..=p.epochs {
        for s in shards.iter_mut() {
            let Shard { order, rng, .. } = s;
            order.shuffle(rng);
            s.next = 0;
            s.loss = 0.0;
        }
        while shards.iter().any(|s| s.next < s.order.len()) {
            let (ut_ref, it_ref) = (&ut, &it);
            shards.par_iter_mut().for_each(|shard| {
                shard.heads.clear();
                shard.grads.clear();
                let round =
                    Round { p, data, users, items, ut: ut_ref, it: it_ref, shard, batch, seen: &seen };
                pulp::Arch::new().dispatch(round);
            });
            // Both tables' updates in one parallel pass: one synchronisation per round fewer.
            let mut work = parts(
                &mut ut,
                &shards,
                Side::User,
                users,
                Adagrad { lr: p.learning_rate, alpha: p.user_alpha },
            );
            work.extend(parts(
                &mut it,
                &shards,
                Side::Item,
                items,
                Adagrad { lr: p.learning_rate, alpha: p.item_alpha },
            ));
            work.into_par_iter().for_each(|part| pulp::Arch::new().dispatch(part));
        }
        let loss = shards.iter().map(|s| s.loss).sum::<f64>() / data.nnz() as f64;
        let progress = Progress { model: MODEL, done: epoch, total: p.epochs, loss: Some(loss) };
        // The representations are built from the embeddings only when the observer looks.
        let stop = if ctx.observer.wants_checkpoints() {
            let view =
                HybridModel::new(p, data, users.clone(), items.clone(), embeddings(p, &ut, &it), ctx.seed);
            ctx.checkpoint(progress, &view)
        } else {
            ctx.report(progress.model, progress.done, progress.total, progress.loss)
        };
        if stop {
            break;
        }
    }
    embeddings(p, &ut, &it)
}

/// Observed-pair positions of `users` whose value exceeds `threshold`.
fn positives(data: &Interactions, users: std::ops::Range<usize>, threshold: f32) -> Vec<u32> {
    let mut out = Vec::new();
    for u in users {
        let u = UserIdx(u as u32);
        let start = data.user_offset(u) as u32;
        let row = data.user(u);
        out.extend((0..row.len() as u32).filter(|&k| row.values[k as usize] > threshold).map(|k| start + k));
    }
    out
}

fn embeddings(p: &HybridParams, ut: &Table, it: &Table) -> Embeddings {
    let k = p.components;
    Embeddings { k, user: ut.unpadded(k), item: it.unpadded(k), item_bias: it.bias.clone() }
}

/// One shard's batch of positives, inside one SIMD dispatch.
struct Round<'a> {
    p: &'a HybridParams,
    data: &'a Interactions,
    users: &'a FeatureMatrix,
    items: &'a FeatureMatrix,
    ut: &'a Table,
    it: &'a Table,
    shard: &'a mut Shard,
    batch: usize,
    seen: &'a Seen,
}

impl pulp::WithSimd for Round<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Round { p, data, users, items, ut, it, shard, batch, seen } = self;
        let k = ut.k;
        let n_items = data.n_items() as u32;
        let mut user = vec![0f32; k + 1];
        let mut pos = vec![0f32; k + 1];
        let mut neg = vec![0f32; k + 1];
        let end = (shard.next + batch).min(shard.order.len());
        for slot in shard.next..end {
            let at = shard.order[slot] as usize;
            let u = user_of(data, shard.users.clone(), at);
            let row = data.user(UserIdx(u as u32));
            let i = row.indices[at - data.user_offset(UserIdx(u as u32))];
            ut.represent(users.rows.row(u), &mut user);
            it.represent(items.rows.row(i as usize), &mut pos);
            let pos_score = dot(simd, &user[..k], &pos[..k]) + pos[k];
            let mut sampled = 0usize;
            let mut rejected = 0usize;
            let weight = loop {
                if sampled >= p.max_sampled || rejected >= MAX_REJECTIONS {
                    break None;
                }
                let j = shard.rng.random_range(0..n_items);
                if seen.contains(u, row.indices, j) {
                    rejected += 1;
                    continue;
                }
                sampled += 1;
                let neg_score = it.score(simd, items.rows.row(j as usize), &user);
                match p.loss {
                    HybridLoss::Warp if neg_score > pos_score - 1.0 => {
                        let rank = ((n_items - 1) as f32 / sampled as f32).floor().max(1.0);
                        break Some((rank.ln().min(MAX_LOSS), j));
                    }
                    HybridLoss::Warp => {}
                    HybridLoss::Bpr => {
                        let g = 1.0 / (1.0 + (pos_score - neg_score).exp());
                        break Some((g, j));
                    }
                }
            };
            let Some((loss, j)) = weight else { continue };
            it.represent(items.rows.row(j as usize), &mut neg);
            shard.loss += f64::from(loss);
            record(shard, Side::Item, i, -loss, &user, k);
            record(shard, Side::Item, j, loss, &user, k);
            shard.heads.push((Side::User, u as u32));
            shard.grads.extend((0..k).map(|c| loss * (neg[c] - pos[c])));
            shard.grads.push(0.0);
        }
        shard.next = end;
    }
}

/// Records `scale · user` as the gradient of item `row`'s representation and `scale` as its
/// bias's.
#[inline(always)]
fn record(shard: &mut Shard, side: Side, row: u32, scale: f32, user: &[f32], k: usize) {
    shard.heads.push((side, row));
    shard.grads.extend(user[..k].iter().map(|&x| scale * x));
    shard.grads.push(scale);
}

/// The work of applying every shard's records for `side`, in shard order, spreading each over
/// the row's features with AdaGrad: one [`Part`] per contiguous feature range, to run in
/// parallel. Each feature's updates are applied in record order whatever the partition, so the
/// result does not depend on it.
fn parts<'a>(
    table: &'a mut Table,
    shards: &'a [Shard],
    side: Side,
    m: &'a FeatureMatrix,
    step: Adagrad,
) -> Vec<Part<'a>> {
    let k = table.k;
    let n = table.bias.len();
    let per = n.div_ceil((rayon::current_num_threads() * 2).max(1)).max(1);
    let Table { emb, acc, bias, bias_acc, .. } = table;
    emb.chunks_mut(per * k)
        .zip(acc.chunks_mut(per * k))
        .zip(bias.chunks_mut(per).zip(bias_acc.chunks_mut(per)))
        .enumerate()
        .map(|(part, ((emb, acc), (bias, bias_acc)))| Part {
            step,
            k,
            side,
            m,
            shards,
            lo: part * per,
            emb,
            acc,
            bias,
            bias_acc,
        })
        .collect()
}

/// One contiguous range of features `lo..lo + bias.len()` and the records to apply to it.
struct Part<'a> {
    step: Adagrad,
    k: usize,
    side: Side,
    m: &'a FeatureMatrix,
    shards: &'a [Shard],
    lo: usize,
    emb: &'a mut [f32],
    acc: &'a mut [f32],
    bias: &'a mut [f32],
    bias_acc: &'a mut [f32],
}

impl pulp::WithSimd for Part<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Part { step, k, side, m, shards, lo, emb, acc, bias, bias_acc } = self;
        let hi = lo + bias.len();
        for shard in shards {
            for (r, &(s, row)) in shard.heads.iter().enumerate() {
                if s != side {
                    continue;
                }
                let g = &shard.grads[r * (k + 1)..(r + 1) * (k + 1)];
                let (cols, weights) = m.rows.row(row as usize);
                for (&f, &w) in cols.iter().zip(weights) {
                    let f = f as usize;
                    if f < lo || f >= hi {
                        continue;
                    }
                    let o = f - lo;
                    adagrad(
                        simd,
                        step,
                        &mut emb[o * k..(o + 1) * k],
                        &mut acc[o * k..(o + 1) * k],
                        &g[..k],
                        w,
                    );
                    if side == Side::Item {
                        let grad = w * g[k] + step.alpha * bias[o];
                        bias[o] -= step.lr / bias_acc[o].sqrt() * grad;
                        bias_acc[o] += grad * grad;
                    }
                }
            }
        }
    }
}

/// The AdaGrad constants.
#[derive(Copy, Clone)]
struct Adagrad {
    lr: f32,
    alpha: f32,
}

/// LightFM's AdaGrad step for one feature: `e −= lr/√G · grad`, then `G += grad²`, with
/// `grad = w·g + alpha·e`.
#[inline(always)]
fn adagrad<S: Simd>(simd: S, step: Adagrad, e: &mut [f32], a: &mut [f32], g: &[f32], w: f32) {
    let (ev, et) = S::as_mut_simd_f32s(e);
    let (av, at) = S::as_mut_simd_f32s(a);
    let (gv, gt) = S::as_simd_f32s(g);
    let (wv, alpha, lr) = (simd.splat_f32s(w), simd.splat_f32s(step.alpha), simd.splat_f32s(step.lr));
    for ((e, a), g) in ev.iter_mut().zip(av.iter_mut()).zip(gv) {
        let grad = simd.mul_add_f32s(wv, *g, simd.mul_f32s(alpha, *e));
        let rate = simd.div_f32s(lr, simd.sqrt_f32s(*a));
        *e = simd.mul_add_f32s(simd.neg_f32s(rate), grad, *e);
        *a = simd.mul_add_f32s(grad, grad, *a);
    }
    for ((e, a), &g) in et.iter_mut().zip(at.iter_mut()).zip(gt) {
        let grad = w * g + step.alpha * *e;
        *e -= step.lr / a.sqrt() * grad;
        *a += grad * grad;
    }
}
