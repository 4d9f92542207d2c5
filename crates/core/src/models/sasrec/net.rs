//! SASRec's trained weights as plain data, and the forward pass that serves from them.
//!
//! Training runs in candle (`train.rs`); serving does not rebuild a graph. The forward pass here
//! is the same arithmetic written out for one sequence: every linear layer is one SIMD mat-vec
//! per position ([`score_rows`]), the last block computes only the last position's query (the
//! only output scoring needs), and nothing allocates per item of the catalog but the scores.

use serde::{Deserialize, Serialize};

use crate::models::invariant::{Check, dim, ensure, len, matrix, rows_of};
use crate::models::simd::{add_rows, score_rows};

/// Added to the variance in layer normalisation (as in the reference PyTorch port of SASRec).
pub(crate) const LN_EPS: f32 = 1e-8;

/// Most positions a model may claim: a forward pass costs `max_len²` per block.
pub(crate) const MAX_LEN: usize = 4096;

/// Most blocks or heads a model may claim.
pub(crate) const MAX_BLOCKS: usize = 64;

/// `y = W x + b`, `W` square (`hidden × hidden`, row-major: row `o` holds output `o`'s weights).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Linear {
    #[serde(with = "crate::models::floats")]
    pub(crate) w: Vec<f32>,
    #[serde(with = "crate::models::floats")]
    pub(crate) b: Vec<f32>,
}

impl Linear {
    fn apply(&self, x: &[f32], out: &mut [f32]) {
        score_rows(&self.w, x, Some(&self.b), out);
    }

    fn check(&self, field: &str, d: usize) -> Check {
        matrix(&format!("{field}.w"), self.w.len(), d, d)?;
        len(&format!("{field}.b"), self.b.len(), d)
    }
}

/// Layer normalisation over the hidden dimension: `γ ⊙ (x − μ)/√(σ² + ε) + β`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Norm {
    #[serde(with = "crate::models::floats")]
    pub(crate) gamma: Vec<f32>,
    #[serde(with = "crate::models::floats")]
    pub(crate) beta: Vec<f32>,
}

impl Norm {
    /// In `f64`: the squares of any finite `f32` stay finite, so a decoded model with large
    /// (but ordinary) weights still scores finitely.
    fn apply(&self, x: &[f32], out: &mut [f32]) {
        let n = x.len() as f64;
        let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = x.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        let inv = 1.0 / (var + f64::from(LN_EPS)).sqrt();
        for (((o, &v), &g), &b) in out.iter_mut().zip(x).zip(&self.gamma).zip(&self.beta) {
            *o = ((f64::from(v) - mean) * inv * f64::from(g) + f64::from(b)) as f32;
        }
    }

    fn check(&self, field: &str, d: usize) -> Check {
        len(&format!("{field}.gamma"), self.gamma.len(), d)?;
        len(&format!("{field}.beta"), self.beta.len(), d)
    }
}

/// One self-attention block (pre-normalised queries, as in Kang & McAuley's code).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Block {
    pub(crate) attn_norm: Norm,
    pub(crate) q: Linear,
    pub(crate) k: Linear,
    pub(crate) v: Linear,
    pub(crate) out: Linear,
    pub(crate) ffn_norm: Norm,
    pub(crate) ffn1: Linear,
    pub(crate) ffn2: Linear,
}

/// Every weight of a trained SASRec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Net {
    pub(crate) hidden: usize,
    pub(crate) heads: usize,
    pub(crate) max_len: usize,
    /// `n_items × hidden`: the input embedding and, shared, the output layer.
    #[serde(with = "crate::models::floats")]
    pub(crate) items: Vec<f32>,
    /// `max_len × hidden`; position `max_len − 1` is the newest step.
    #[serde(with = "crate::models::floats")]
    pub(crate) positions: Vec<f32>,
    pub(crate) blocks: Vec<Block>,
    pub(crate) last_norm: Norm,
}

impl Net {
    /// Items the net scores.
    pub(crate) fn n_items(&self) -> usize {
        self.items.len().checked_div(self.hidden).unwrap_or(0)
    }

    /// Item `i`'s embedding.
    pub(crate) fn item(&self, i: usize) -> &[f32] {
        &self.items[i * self.hidden..(i + 1) * self.hidden]
    }

    /// Every shape the forward pass indexes by, and the bounds on its work.
    pub(crate) fn check(&self) -> Check {
        let d = self.hidden;
        dim("hidden", d)?;
        ensure((1..=MAX_BLOCKS).contains(&self.heads) && d.is_multiple_of(self.heads), || {
            format!("heads is {}, not a divisor of hidden {d} in 1..={MAX_BLOCKS}", self.heads)
        })?;
        ensure((1..=MAX_LEN).contains(&self.max_len), || {
            format!("max_len is {}, not 1..={MAX_LEN}", self.max_len)
        })?;
        ensure(self.blocks.len() <= MAX_BLOCKS, || {
            format!("{} blocks, more than {MAX_BLOCKS}", self.blocks.len())
        })?;
        rows_of("item embeddings", self.items.len(), d)?;
        matrix("position embeddings", self.positions.len(), self.max_len, d)?;
        for (b, block) in self.blocks.iter().enumerate() {
            let name = |part: &str| format!("block {b} {part}");
            block.attn_norm.check(&name("attn_norm"), d)?;
            block.ffn_norm.check(&name("ffn_norm"), d)?;
            for (part, lin) in [
                ("q", &block.q),
                ("k", &block.k),
                ("v", &block.v),
                ("out", &block.out),
                ("ffn1", &block.ffn1),
                ("ffn2", &block.ffn2),
            ] {
                lin.check(&name(part), d)?;
            }
        }
        self.last_norm.check("last_norm", d)
    }

    /// The sequence's representation at its last step: the vector every item's embedding is
    /// scored against. `items` are known item indexes, oldest first, at most `max_len` of them
    /// (the caller keeps the newest); empty gives the zero vector (no preference).
    pub(crate) fn encode(&self, items: &[u32]) -> Vec<f32> {
        let (d, t_len) = (self.hidden, items.len());
        if t_len == 0 {
            return vec![0.0; d];
        }
        let scale = (d as f32).sqrt();
        let first_pos = self.max_len - t_len;
        let mut x = vec![0f32; t_len * d];
        for (t, (row, &i)) in x.chunks_exact_mut(d).zip(items).enumerate() {
            let p = &self.positions[(first_pos + t) * d..(first_pos + t + 1) * d];
            for ((o, e), p) in row.iter_mut().zip(self.item(i as usize)).zip(p) {
                *o = e * scale + p;
            }
        }
        let mut scratch = Scratch::new(d, t_len);
        for (b, block) in self.blocks.iter().enumerate() {
            // The last block needs only the newest position's output.
            let from = if b + 1 == self.blocks.len() { t_len - 1 } else { 0 };
            x = self.block(block, &x, from, &mut scratch);
        }
        let last = &x[x.len() - d..];
        let mut out = vec![0f32; d];
        self.last_norm.apply(last, &mut out);
        out
    }

    /// One block over the `t_len` rows of `x`, returning the outputs of rows `from..t_len`.
    fn block(&self, block: &Block, x: &[f32], from: usize, s: &mut Scratch) -> Vec<f32> {
        let (d, h) = (self.hidden, self.heads);
        let dh = d / h;
        let t_len = x.len() / d;
        // Keys and values from the un-normalised inputs, per head contiguous: `kh[head][t]`.
        for (t, row) in x.chunks_exact(d).enumerate() {
            block.k.apply(row, &mut s.tmp);
            scatter_heads(&s.tmp, &mut s.keys, t, t_len, dh);
            block.v.apply(row, &mut s.tmp);
            scatter_heads(&s.tmp, &mut s.values, t, t_len, dh);
        }
        let inv_sqrt = 1.0 / (dh as f32).sqrt();
        let mut out = vec![0f32; (t_len - from) * d];
        for (t, row) in out.chunks_exact_mut(d).enumerate().map(|(r, row)| (r + from, row)) {
            block.attn_norm.apply(&x[t * d..(t + 1) * d], &mut s.qn);
            block.q.apply(&s.qn, &mut s.tmp);
            s.attended.fill(0.0);
            for head in 0..h {
                let keys = &s.keys[head * t_len * dh..(head * t_len + t + 1) * dh];
                let weights = &mut s.weights[..=t];
                score_rows(keys, &s.tmp[head * dh..(head + 1) * dh], None, weights);
                softmax(weights, inv_sqrt);
                let values = &s.values[head * t_len * dh..(head + 1) * t_len * dh];
                add_rows(values, dh, &s.rows[..=t], weights, &mut s.attended[head * dh..(head + 1) * dh]);
            }
            block.out.apply(&s.attended, &mut s.tmp);
            // Residual on the normalised query, then the point-wise feed-forward with its own
            // residual on its normalised input.
            for (q, a) in s.qn.iter_mut().zip(&s.tmp) {
                *q += a;
            }
            block.ffn_norm.apply(&s.qn, &mut s.z);
            block.ffn1.apply(&s.z, &mut s.tmp);
            for v in s.tmp.iter_mut() {
                *v = v.max(0.0);
            }
            block.ffn2.apply(&s.tmp, row);
            for (o, z) in row.iter_mut().zip(&s.z) {
                *o += z;
            }
        }
        out
    }
}

/// Buffers of one forward pass.
struct Scratch {
    tmp: Vec<f32>,
    qn: Vec<f32>,
    z: Vec<f32>,
    attended: Vec<f32>,
    /// `heads × t_len × dh`.
    keys: Vec<f32>,
    values: Vec<f32>,
    weights: Vec<f32>,
    /// `0..t_len`, the row indexes `add_rows` takes.
    rows: Vec<u32>,
}

impl Scratch {
    fn new(d: usize, t_len: usize) -> Self {
        Self {
            tmp: vec![0.0; d],
            qn: vec![0.0; d],
            z: vec![0.0; d],
            attended: vec![0.0; d],
            keys: vec![0.0; t_len * d],
            values: vec![0.0; t_len * d],
            weights: vec![0.0; t_len],
            rows: (0..t_len as u32).collect(),
        }
    }
}

/// Writes the heads of `row` (`heads × dh` values) into `dst[head][t]`.
fn scatter_heads(row: &[f32], dst: &mut [f32], t: usize, t_len: usize, dh: usize) {
    for (head, part) in row.chunks_exact(dh).enumerate() {
        let at = (head * t_len + t) * dh;
        dst[at..at + dh].copy_from_slice(part);
    }
}

/// `w ← softmax(scale · w)` in place.
fn softmax(w: &mut [f32], scale: f32) {
    let max = w.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v * scale));
    let mut sum = 0f32;
    for v in w.iter_mut() {
        *v = (*v * scale - max).exp();
        sum += *v;
    }
    for v in w.iter_mut() {
        *v /= sum;
    }
}
