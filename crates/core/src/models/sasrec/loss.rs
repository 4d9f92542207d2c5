//! The fused losses of SASRec's training graph: the softmax cross-entropy over a logit matrix
//! (sampled negatives) and over the whole catalog straight from the hidden states and the item
//! embeddings (no logit matrix), each one candle op with its own backward pass.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::fastexp;
use super::train::{CResult, MASKED, flat};

/// `MASKED` where a negative is the row's own target, if any is.
pub(crate) fn collisions(targets: &[u32], negs: &[u32]) -> Option<Vec<f32>> {
    let mut sorted = negs.to_vec();
    sorted.sort_unstable();
    if !targets.iter().any(|t| sorted.binary_search(t).is_ok()) {
        return None;
    }
    let mut m = vec![0f32; targets.len() * negs.len()];
    for (row, t) in m.chunks_exact_mut(negs.len()).zip(targets) {
        for (v, n) in row.iter_mut().zip(negs) {
            if n == t {
                *v = MASKED;
            }
        }
    }
    Some(m)
}

/// `mean_i (log Σ_j exp(x_ij) − x_i,t_i)` over the rows of a logit matrix, fused: one pass
/// per row forward and one backward (`softmax − one-hot`), rows in parallel, the sum in row
/// order.
pub(crate) struct SoftmaxCrossEntropy {
    pub(crate) targets: Arc<Vec<u32>>,
}

/// `log Σ exp(row)`, overwriting `row` with `exp(row − max)`.
fn log_sum_exp(row: &mut [f32]) -> f32 {
    let max = fastexp::max(row);
    max + fastexp::exp_shifted(row, max).ln()
}

/// `row ← (softmax(row) − one-hot(t))·scale`.
fn softmax_grad(row: &mut [f32], t: usize, scale: f32) {
    let max = fastexp::max(row);
    let k = scale / fastexp::exp_shifted(row, max);
    for v in row.iter_mut() {
        *v *= k;
    }
    row[t] -= scale;
}

/// Rows per parallel task of the fused cross-entropy.
const CE_ROWS: usize = 16;

impl CustomOp1 for SoftmaxCrossEntropy {
    fn name(&self) -> &'static str {
        "softmax-cross-entropy"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> CResult<(CpuStorage, Shape)> {
        let (n, c) = layout.shape().dims2()?;
        let Some((a, b)) = layout.contiguous_offsets() else {
            candle_core::bail!("softmax-cross-entropy needs contiguous logits")
        };
        let x = &storage.as_slice::<f32>()?[a..b];
        let per_row: Vec<f64> = x
            .par_chunks(c * CE_ROWS)
            .zip(self.targets.par_chunks(CE_ROWS))
            .flat_map_iter(|(rows, ts)| {
                rows.chunks_exact(c).zip(ts).map(|(row, &t)| {
                    let target = row[t as usize];
                    f64::from(log_sum_exp(&mut row.to_vec()) - target)
                })
            })
            .collect();
        let loss = per_row.iter().sum::<f64>() / n.max(1) as f64;
        Ok((CpuStorage::F32(vec![loss as f32]), Shape::from(())))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> CResult<Option<Tensor>> {
        let (n, c) = arg.dims2()?;
        let scale = grad_res.to_dtype(DType::F32)?.to_scalar::<f32>()? / n.max(1) as f32;
        let mut g = flat(arg)?;
        g.par_chunks_mut(c * CE_ROWS).zip(self.targets.par_chunks(CE_ROWS)).for_each(|(rows, ts)| {
            for (row, &t) in rows.chunks_exact_mut(c).zip(ts) {
                softmax_grad(row, t as usize, scale);
            }
        });
        Ok(Some(Tensor::from_vec(g, (n, c), arg.device())?))
    }
}

/// Rows of logits the full softmax holds at once per task: `CHUNK × n_items` floats.
const CHUNK: usize = 64;

/// One task's share of the full softmax's backward pass: its chunks' rows of `∂/∂H`, and its
/// accumulator of `∂/∂E`.
struct Part {
    rows: Vec<(usize, Vec<f32>)>,
    acc: Vec<f32>,
}

/// Accumulators of the item-embedding gradient in the full softmax: task `a` sums the chunks
/// `a, a + ACCUMULATORS, …` in order and the accumulators are added in order, so the sum does not
/// depend on the thread count.
const ACCUMULATORS: usize = 4;

/// `mean_i (log Σ_j exp(h_iᵀe_j) − h_iᵀe_{t_i})` over every item `j`, from the hidden states
/// `H` (`n × d`) and the item embeddings `E` (`n_items × d`) without materialising the `n ×
/// n_items` logits: rows are processed in chunks of [`CHUNK`], forward and (recomputing the
/// chunk's logits) backward, `∂/∂H = G E` and `∂/∂E = Gᵀ H` for `G = (softmax − one-hot) / n`.
pub(crate) struct FullSoftmax {
    pub(crate) targets: Arc<Vec<u32>>,
}

/// `dst = lhs · rhsᵀ` (row-major slices; `lhs` is `m × k`, `rhs` is `n × k`).
fn mul_t(dst: &mut [f32], lhs: &[f32], rhs: &[f32], k: usize) {
    let (m, n) = (lhs.len() / k, rhs.len() / k);
    let dst = MatMut::from_row_major_slice_mut(dst, m, n);
    let lhs = MatRef::from_row_major_slice(lhs, m, k);
    let rhs = MatRef::from_row_major_slice(rhs, n, k);
    matmul(dst, Accum::Replace, lhs, rhs.transpose(), 1.0f32, Par::Seq);
}

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout) -> CResult<&'a [f32]> {
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("a fused op needs contiguous inputs")
    };
    Ok(&s.as_slice::<f32>()?[a..b])
}

impl CustomOp2 for FullSoftmax {
    fn name(&self) -> &'static str {
        "full-softmax-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let (n, d) = l1.shape().dims2()?;
        let (h, e) = (contiguous(s1, l1)?, contiguous(s2, l2)?);
        let n_items = e.len() / d;
        let per_row: Vec<f64> = h
            .par_chunks(CHUNK * d)
            .zip(self.targets.par_chunks(CHUNK))
            .map_init(
                || vec![0f32; CHUNK * n_items],
                |logits, (rows, ts)| {
                    let logits = &mut logits[..ts.len() * n_items];
                    mul_t(logits, rows, e, d);
                    logits
                        .chunks_exact_mut(n_items)
                        .zip(ts)
                        .map(|(row, &t)| {
                            let target = row[t as usize];
                            f64::from(log_sum_exp(row) - target)
                        })
                        .collect::<Vec<f64>>()
                },
            )
            .flatten()
            .collect();
        let loss = per_row.iter().sum::<f64>() / n.max(1) as f64;
        Ok((CpuStorage::F32(vec![loss as f32]), Shape::from(())))
    }

    fn bwd(
        &self,
        h: &Tensor,
        e: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>)> {
        let (n, d) = h.dims2()?;
        let n_items = e.dim(0)?;
        let scale = grad_res.to_dtype(DType::F32)?.to_scalar::<f32>()? / n.max(1) as f32;
        let (hv, ev) = (flat(h)?, flat(e)?);
        let n_chunks = n.div_ceil(CHUNK);
        // Task `a`: the gradients of its chunks' rows, and its share of `Gᵀ H`.
        let parts: Vec<Part> = (0..ACCUMULATORS)
            .into_par_iter()
            .map(|a| {
                let mut acc = vec![0f32; n_items * d];
                let mut logits = vec![0f32; CHUNK * n_items];
                let mut rows_out = Vec::new();
                for c in (a..n_chunks).step_by(ACCUMULATORS) {
                    let rows = &hv[c * CHUNK * d..((c + 1) * CHUNK).min(n) * d];
                    let ts = &self.targets[c * CHUNK..((c + 1) * CHUNK).min(n)];
                    let m = ts.len();
                    let g = &mut logits[..m * n_items];
                    mul_t(g, rows, &ev, d);
                    for (row, &t) in g.chunks_exact_mut(n_items).zip(ts) {
                        softmax_grad(row, t as usize, scale);
                    }
                    let gm = MatRef::from_row_major_slice(g, m, n_items);
                    let mut dh = vec![0f32; m * d];
                    let em = MatRef::from_row_major_slice(&ev, n_items, d);
                    matmul(
                        MatMut::from_row_major_slice_mut(&mut dh, m, d),
                        Accum::Replace,
                        gm,
                        em,
                        1.0f32,
                        Par::Seq,
                    );
                    let hm = MatRef::from_row_major_slice(rows, m, d);
                    let accm = MatMut::from_row_major_slice_mut(&mut acc, n_items, d);
                    matmul(accm, Accum::Add, gm.transpose(), hm, 1.0f32, Par::Seq);
                    rows_out.push((c, dh));
                }
                Part { rows: rows_out, acc }
            })
            .collect();
        let mut dh = vec![0f32; n * d];
        let mut de = vec![0f32; n_items * d];
        for Part { rows, acc } in parts {
            for (c, g) in rows {
                dh[c * CHUNK * d..c * CHUNK * d + g.len()].copy_from_slice(&g);
            }
            for (x, y) in de.iter_mut().zip(&acc) {
                *x += y;
            }
        }
        let dev = h.device();
        Ok((Some(Tensor::from_vec(dh, (n, d), dev)?), Some(Tensor::from_vec(de, (n_items, d), dev)?)))
    }
}
