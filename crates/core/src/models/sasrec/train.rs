//! SASRec's training graph in candle: seeded initialisation, padded length-bucketed batches,
//! the forward pass with dropout from the fit's own random streams, the full or sampled
//! softmax cross-entropy (one fused op), and AdamW.
//!
//! Deterministic: every random draw (initial weights, batch order, dropout masks, negatives)
//! comes from streams of the fit's seed, and the parallel parts never change a sum's order:
//! candle's GEMM splits rows and columns of the output, never the sum over the inner dimension;
//! the fused cross-entropy runs one row per task and sums the loss in row order; and a batch's
//! [`PARTS`] run at once but their gradients are added in part order.

use std::sync::Arc;

use candle_core::backprop::GradStore;
use candle_core::{D, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use super::loss::{FullSoftmax, SoftmaxCrossEntropy, collisions};
use super::net::{Block, LN_EPS, Linear, Net, Norm};
use crate::rng::{self, SeededRng};

pub(crate) type CResult<T> = candle_core::Result<T>;

/// Batches sorted by length together: a shuffled run of this many batches is sorted by
/// sequence length before it is cut, so a batch pads to lengths close to its own.
const BUCKET: usize = 16;

/// Added to the logits of masked attention pairs and of negatives equal to the target.
pub(crate) const MASKED: f32 = -1e9;

/// What a fit trains with.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Setup {
    pub(crate) hidden: usize,
    pub(crate) heads: usize,
    pub(crate) blocks: usize,
    pub(crate) max_len: usize,
    pub(crate) dropout: f32,
    pub(crate) learning_rate: f64,
    pub(crate) weight_decay: f64,
    pub(crate) batch_size: usize,
    /// `None`: softmax over the whole catalog; `Some(n)`: over the target and `n` negatives
    /// shared by the batch.
    pub(crate) negatives: Option<usize>,
}

/// The training sequences: every user's steps in one buffer, cut into windows of at most
/// `max_len` inputs, each input's target the step after it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Corpus {
    tokens: Vec<u32>,
    /// `(start, len)`: inputs `tokens[start..start + len]`, targets one step later; each
    /// sequence's windows together, newest first.
    windows: Vec<(usize, usize)>,
    /// Each sequence's windows: `(first, count)` in `windows`.
    sequences: Vec<(usize, usize)>,
    /// Windows an epoch trains per sequence.
    max_windows: usize,
}

impl Corpus {
    /// Every sequence cut into windows from its newest step back; an epoch trains at most
    /// `max_windows` of them per sequence (see [`Corpus::batches`]).
    pub(crate) fn new<'a>(
        sequences: impl Iterator<Item = &'a [u32]>,
        max_len: usize,
        max_windows: usize,
    ) -> Self {
        let mut c = Self { max_windows: max_windows.max(1), ..Self::default() };
        for seq in sequences.filter(|s| s.len() >= 2) {
            let base = c.tokens.len();
            c.tokens.extend_from_slice(seq);
            let first = c.windows.len();
            let mut end = base + seq.len() - 1;
            while end > base {
                let start = end.saturating_sub(max_len).max(base);
                c.windows.push((start, end - start));
                end = start;
            }
            c.sequences.push((first, c.windows.len() - first));
        }
        c
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Windows an epoch trains.
    fn per_epoch(&self) -> usize {
        self.sequences.iter().map(|&(_, n)| n.min(self.max_windows)).sum()
    }

    /// Optimiser steps in an epoch (at least 1).
    pub(crate) fn batches_per_epoch(&self, batch_size: usize) -> usize {
        self.per_epoch().div_ceil(batch_size.max(1)).max(1)
    }

    /// This epoch's windows: each sequence's newest, and up to `max_windows − 1` of its older
    /// ones drawn afresh every epoch, so a long history is covered over the epochs at the cost
    /// of `max_windows` windows an epoch.
    pub(crate) fn epoch_windows(&self, rng: &mut SeededRng) -> Vec<usize> {
        let mut chosen = Vec::with_capacity(self.per_epoch());
        for &(first, n) in &self.sequences {
            if n <= self.max_windows {
                chosen.extend(first..first + n);
            } else {
                chosen.push(first);
                let older = rand::seq::index::sample(rng, n - 1, self.max_windows - 1);
                chosen.extend(older.into_iter().map(|i| first + 1 + i));
            }
        }
        chosen
    }

    /// This epoch's batches: its windows shuffled, runs of `BUCKET` batches sorted by length,
    /// the batches shuffled again.
    fn batches(&self, batch_size: usize, rng: &mut SeededRng) -> Vec<Vec<usize>> {
        let mut order = self.epoch_windows(rng);
        order.shuffle(rng);
        let mut batches = Vec::with_capacity(order.len().div_ceil(batch_size));
        for run in order.chunks_mut(batch_size * BUCKET) {
            run.sort_by_key(|&w| self.windows[w].1);
            batches.extend(run.chunks(batch_size).map(<[usize]>::to_vec));
        }
        batches.shuffle(rng);
        batches
    }
}

/// One padded batch: `rows × len`, each window right-aligned (left padding).
pub(crate) struct Batch {
    rows: usize,
    len: usize,
    ids: Tensor,
    pos: Tensor,
    /// `rows × len × 1`: 1 on real steps, 0 on padding.
    keep: Tensor,
    /// `rows × 1 × len × len`, added to attention logits: causal, and padding keys masked.
    mask: Tensor,
    /// Flat indexes (into `rows · len`) of the real steps, row by row.
    valid: Tensor,
    targets: Arc<Vec<u32>>,
}

impl Batch {
    /// `windows` (inputs) of `corpus`, at positions aligned to the newest (`max_len − 1`).
    pub(crate) fn new(corpus: &Corpus, windows: &[usize], max_len: usize) -> CResult<Self> {
        let rows = windows.len();
        let len = windows.iter().map(|&w| corpus.windows[w].1).max().unwrap_or(0);
        let mut ids = vec![0u32; rows * len];
        let mut pos = vec![0u32; rows * len];
        let mut keep = vec![0f32; rows * len];
        let mut mask = vec![MASKED; rows * len * len];
        let mut valid = Vec::new();
        let mut targets = Vec::new();
        for (r, &w) in windows.iter().enumerate() {
            let (start, n) = corpus.windows[w];
            let pad = len - n;
            for i in 0..n {
                let at = r * len + pad + i;
                ids[at] = corpus.tokens[start + i];
                pos[at] = (max_len - n + i) as u32;
                keep[at] = 1.0;
                valid.push(at as u32);
                targets.push(corpus.tokens[start + i + 1]);
            }
            let m = &mut mask[r * len * len..(r + 1) * len * len];
            for q in 0..len {
                // Real queries see the real keys up to themselves; a padding query sees only
                // itself (its output is never used, but must not be NaN).
                let from = if q < pad { q } else { pad };
                m[q * len + from..=q * len + q].fill(0.0);
            }
        }
        let dev = &Device::Cpu;
        Ok(Self {
            rows,
            len,
            ids: Tensor::from_vec(ids, rows * len, dev)?,
            pos: Tensor::from_vec(pos, rows * len, dev)?,
            keep: Tensor::from_vec(keep, (rows, len, 1), dev)?,
            mask: Tensor::from_vec(mask, (rows, 1, len, len), dev)?,
            valid: Tensor::from_vec(valid, targets.len(), dev)?,
            targets: Arc::new(targets),
        })
    }
}

/// Inverted dropout with masks from the fit's own stream (`None` in evaluation).
pub(crate) struct Dropout {
    p: f32,
    rng: SeededRng,
}

impl Dropout {
    pub(crate) fn new(p: f32, rng: SeededRng) -> Self {
        Self { p, rng }
    }

    fn apply(this: &mut Option<Self>, x: &Tensor) -> CResult<Tensor> {
        let Some(d) = this.as_mut().filter(|d| d.p > 0.0) else { return Ok(x.clone()) };
        let keep = 1.0 / (1.0 - d.p);
        // Drop where a uniform u32 falls below p·2³².
        let threshold = (f64::from(d.p) * 4_294_967_296.0) as u64;
        let mut bits = vec![0u32; x.elem_count()];
        d.rng.fill(&mut bits[..]);
        let mask: Vec<f32> =
            bits.iter().map(|&b| if u64::from(b) < threshold { 0.0 } else { keep }).collect();
        x * Tensor::from_vec(mask, x.shape(), x.device())?
    }
}

struct LinearVars {
    w: Var,
    b: Var,
}

struct NormVars {
    gamma: Var,
    beta: Var,
}

struct BlockVars {
    attn_norm: NormVars,
    q: LinearVars,
    k: LinearVars,
    v: LinearVars,
    out: LinearVars,
    ffn_norm: NormVars,
    ffn1: LinearVars,
    ffn2: LinearVars,
}

/// The trainable weights.
pub(crate) struct Vars {
    setup: Setup,
    items: Var,
    positions: Var,
    blocks: Vec<BlockVars>,
    last_norm: NormVars,
}

/// A matrix drawn from Glorot & Bengio's normal (`σ = √(2 / (rows + cols))`), as the reference
/// PyTorch port initialises every matrix.
fn xavier(rows: usize, cols: usize, rng: &mut SeededRng) -> CResult<Var> {
    let std = (2.0 / (rows + cols) as f32).sqrt();
    let normal = Normal::new(0.0, std).map_err(candle_core::Error::wrap)?;
    let v: Vec<f32> = (0..rows * cols).map(|_| normal.sample(rng)).collect();
    Var::from_vec(v, (rows, cols), &Device::Cpu)
}

fn filled(n: usize, value: f32) -> CResult<Var> {
    Var::from_vec(vec![value; n], n, &Device::Cpu)
}

impl LinearVars {
    fn init(d: usize, rng: &mut SeededRng) -> CResult<Self> {
        Ok(Self { w: xavier(d, d, rng)?, b: filled(d, 0.0)? })
    }

    /// `x Wᵀ + b` over the last dimension.
    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let dims = x.dims().to_vec();
        let d = dims[dims.len() - 1];
        x.reshape(((), d))?.matmul(&self.w.t()?)?.broadcast_add(&self.b)?.reshape(dims)
    }

    fn export(&self) -> CResult<Linear> {
        Ok(Linear { w: flat(&self.w)?, b: flat(&self.b)? })
    }
}

impl NormVars {
    fn init(d: usize) -> CResult<Self> {
        Ok(Self { gamma: filled(d, 1.0)?, beta: filled(d, 0.0)? })
    }

    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        candle_nn::ops::layer_norm_slow(x, &self.gamma, &self.beta, LN_EPS)
    }

    fn export(&self) -> CResult<Norm> {
        Ok(Norm { gamma: flat(&self.gamma)?, beta: flat(&self.beta)? })
    }
}

pub(crate) fn flat(t: &Tensor) -> CResult<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

impl Vars {
    /// Seeded initial weights for `n_items` items.
    pub(crate) fn init(setup: Setup, n_items: usize, rng: &mut SeededRng) -> CResult<Self> {
        let d = setup.hidden;
        let items = xavier(n_items, d, rng)?;
        let positions = xavier(setup.max_len, d, rng)?;
        let blocks = (0..setup.blocks)
            .map(|_| {
                Ok(BlockVars {
                    attn_norm: NormVars::init(d)?,
                    q: LinearVars::init(d, rng)?,
                    k: LinearVars::init(d, rng)?,
                    v: LinearVars::init(d, rng)?,
                    out: LinearVars::init(d, rng)?,
                    ffn_norm: NormVars::init(d)?,
                    ffn1: LinearVars::init(d, rng)?,
                    ffn2: LinearVars::init(d, rng)?,
                })
            })
            .collect::<CResult<Vec<_>>>()?;
        Ok(Self { setup, items, positions, blocks, last_norm: NormVars::init(d)? })
    }

    fn all(&self) -> Vec<Var> {
        let mut v = vec![self.items.clone(), self.positions.clone()];
        for b in &self.blocks {
            for n in [&b.attn_norm, &b.ffn_norm] {
                v.extend([n.gamma.clone(), n.beta.clone()]);
            }
            for l in [&b.q, &b.k, &b.v, &b.out, &b.ffn1, &b.ffn2] {
                v.extend([l.w.clone(), l.b.clone()]);
            }
        }
        v.extend([self.last_norm.gamma.clone(), self.last_norm.beta.clone()]);
        v
    }

    /// The weights as plain data.
    pub(crate) fn export(&self) -> CResult<Net> {
        let s = self.setup;
        let blocks = self
            .blocks
            .iter()
            .map(|b| {
                Ok(Block {
                    attn_norm: b.attn_norm.export()?,
                    q: b.q.export()?,
                    k: b.k.export()?,
                    v: b.v.export()?,
                    out: b.out.export()?,
                    ffn_norm: b.ffn_norm.export()?,
                    ffn1: b.ffn1.export()?,
                    ffn2: b.ffn2.export()?,
                })
            })
            .collect::<CResult<Vec<_>>>()?;
        Ok(Net {
            hidden: s.hidden,
            heads: s.heads,
            max_len: s.max_len,
            items: flat(&self.items)?,
            positions: flat(&self.positions)?,
            blocks,
            last_norm: self.last_norm.export()?,
        })
    }

    /// The last normalised hidden state at every slot of `batch`: `(rows · len) × hidden`.
    pub(crate) fn forward(&self, batch: &Batch, drop: &mut Option<Dropout>) -> CResult<Tensor> {
        let d = self.setup.hidden;
        let emb = (self.items.index_select(&batch.ids, 0)? * (d as f64).sqrt())?;
        let x = (emb + self.positions.index_select(&batch.pos, 0)?)?.reshape((batch.rows, batch.len, d))?;
        let mut x = Dropout::apply(drop, &x)?.broadcast_mul(&batch.keep)?;
        for block in &self.blocks {
            x = self.block(block, &x, batch, drop)?;
        }
        self.last_norm.forward(&x)?.reshape((batch.rows * batch.len, d))
    }

    fn block(
        &self,
        blk: &BlockVars,
        x: &Tensor,
        batch: &Batch,
        drop: &mut Option<Dropout>,
    ) -> CResult<Tensor> {
        let (b, l, d) = x.dims3()?;
        let h = self.setup.heads;
        let dh = d / h;
        let split = |t: Tensor| t.reshape((b, l, h, dh))?.transpose(1, 2)?.contiguous();
        let qn = blk.attn_norm.forward(x)?;
        let q = split(blk.q.forward(&qn)?)?;
        let k = split(blk.k.forward(x)?)?;
        let v = split(blk.v.forward(x)?)?;
        let logits = (q.matmul(&k.t()?)? * (1.0 / (dh as f64).sqrt()))?.broadcast_add(&batch.mask)?;
        let weights = candle_nn::ops::softmax(&logits, D::Minus1)?;
        let attended = weights.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b, l, d))?;
        let attended = Dropout::apply(drop, &blk.out.forward(&attended)?)?;
        let z = blk.ffn_norm.forward(&(qn + attended)?)?;
        let f = Dropout::apply(drop, &blk.ffn1.forward(&z)?.relu()?)?;
        let f = Dropout::apply(drop, &blk.ffn2.forward(&f)?)?;
        (z + f)?.broadcast_mul(&batch.keep)
    }

    /// The mean cross-entropy of `batch`'s targets over the full softmax, or over the targets
    /// and `negatives` (see [`Setup::negatives`]).
    fn loss(&self, batch: &Batch, drop: &mut Option<Dropout>, negatives: &[u32]) -> CResult<Tensor> {
        let hidden = self.forward(batch, drop)?.index_select(&batch.valid, 0)?;
        if self.setup.negatives.is_none() {
            return hidden.apply_op2(&self.items, FullSoftmax { targets: batch.targets.clone() });
        }
        let (dev, n) = (&Device::Cpu, negatives.len());
        let targets = Tensor::from_slice(&batch.targets, batch.targets.len(), dev)?;
        let positive = (&hidden * self.items.index_select(&targets, 0)?)?.sum_keepdim(1)?;
        let neg_emb = self.items.index_select(&Tensor::from_slice(negatives, n, dev)?, 0)?;
        let mut negative = hidden.matmul(&neg_emb.t()?)?;
        if let Some(collide) = collisions(&batch.targets, negatives) {
            negative = (negative + Tensor::from_vec(collide, (batch.targets.len(), n), dev)?)?;
        }
        let logits = Tensor::cat(&[positive, negative], 1)?;
        let zeros = Arc::new(vec![0u32; batch.targets.len()]);
        logits.apply_op1(SoftmaxCrossEntropy { targets: zeros })
    }

    /// `part`'s loss summed over its targets, and the gradients of its share (`targets` of the
    /// whole batch) of the batch's mean loss.
    fn part_gradients(
        &self,
        part: &Batch,
        targets: usize,
        mut drop: Option<Dropout>,
        negatives: &[u32],
    ) -> CResult<(f64, GradStore)> {
        let loss = self.loss(part, &mut drop, negatives)?;
        let n = part.targets.len() as f64;
        let sum = f64::from(loss.to_scalar::<f32>()?) * n;
        Ok((sum, (loss * (n / targets as f64))?.backward()?))
    }
}

/// A batch is cut into this many parts, whose forward and backward passes run at once: candle
/// runs most operations on one thread, so one graph keeps one core busy and the other mostly
/// idle. The parts, their random streams and the order their gradients are summed in are fixed,
/// so the fit stays deterministic for a seed.
const PARTS: usize = 2;

/// A fit in progress: the weights and their optimiser.
pub(crate) struct Trainer {
    pub(crate) vars: Vars,
    opt: AdamW,
    /// Draws each batch's dropout seed.
    drop: SeededRng,
    /// Batch order and negatives.
    rng: SeededRng,
}

impl Trainer {
    pub(crate) fn new(
        setup: Setup,
        n_items: usize,
        mut init: SeededRng,
        drop: SeededRng,
        rng: SeededRng,
    ) -> CResult<Self> {
        let vars = Vars::init(setup, n_items, &mut init)?;
        let params = ParamsAdamW {
            lr: setup.learning_rate,
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-8,
            weight_decay: setup.weight_decay,
        };
        let opt = AdamW::new(vars.all(), params)?;
        Ok(Self { vars, opt, drop, rng })
    }

    /// One pass over `corpus`; the mean loss per target.
    pub(crate) fn epoch(&mut self, corpus: &Corpus) -> CResult<f64> {
        let setup = self.vars.setup;
        let (mut total, mut n) = (0f64, 0usize);
        for windows in corpus.batches(setup.batch_size, &mut self.rng) {
            // Every PARTS-th window of the length-sorted batch: parts of like lengths and sizes.
            let parts = (0..PARTS.min(windows.len()))
                .map(|p| {
                    let mine: Vec<usize> = windows.iter().skip(p).step_by(PARTS).copied().collect();
                    Batch::new(corpus, &mine, setup.max_len)
                })
                .collect::<CResult<Vec<_>>>()?;
            let targets: usize = parts.iter().map(|b| b.targets.len()).sum();
            let negatives: Vec<u32> = match setup.negatives {
                None => Vec::new(),
                Some(k) => {
                    let n_items = self.vars.items.dim(0)? as u32;
                    (0..k).map(|_| self.rng.random_range(0..n_items)).collect()
                }
            };
            let drop_seed: u64 = self.drop.random();
            let vars = &self.vars;
            let results: Vec<CResult<(f64, GradStore)>> = parts
                .par_iter()
                .enumerate()
                .map(|(p, part)| {
                    let drop = Dropout::new(setup.dropout, rng::stream(drop_seed, p as u64));
                    vars.part_gradients(part, targets, Some(drop), &negatives)
                })
                .collect();
            // Part 0's gradients, then each later part's added in order.
            let mut results = results.into_iter();
            let Some(first) = results.next() else { continue };
            let (sum, mut grads) = first?;
            total += sum;
            for result in results {
                let (sum, more) = result?;
                total += sum;
                for var in vars.all() {
                    if let Some(g) = more.get(&var) {
                        let g = match grads.get(&var) {
                            Some(acc) => (acc + g)?,
                            None => g.clone(),
                        };
                        grads.insert(&var, g);
                    }
                }
            }
            self.opt.step(&grads)?;
            n += targets;
        }
        Ok(total / n.max(1) as f64)
    }
}
