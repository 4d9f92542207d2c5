//! Explicit SIMD kernels (pulp) for the factor models' hot loops: dot products, `y += a·x`, dense
//! mat-vecs over contiguous row-major factor matrices, and the Gram matrix `YᵀY` through faer.
//!
//! The kernels are generic over [`pulp::Simd`] and `#[inline(always)]`, so a caller's whole loop
//! is compiled once per instruction set inside one [`pulp::Arch::dispatch`] (AVX2 + FMA where the
//! CPU has it, scalar otherwise). Results are identical for a given CPU and do not depend on the
//! thread count; a different instruction set may round differently in the last bits.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use pulp::Simd;

use crate::ids::ItemIdx;

/// `Σ a_k b_k`; `a` and `b` have equal lengths.
#[inline(always)]
pub(crate) fn dot<S: Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (av, at) = S::as_simd_f32s(a);
    let (bv, bt) = S::as_simd_f32s(b);
    // Two accumulators hide the FMA latency for the usual 64–128 factors.
    let (mut acc0, mut acc1) = (simd.splat_f32s(0.0), simd.splat_f32s(0.0));
    let pairs_a = av.chunks_exact(2);
    let pairs_b = bv.chunks_exact(2);
    let (ra, rb) = (pairs_a.remainder(), pairs_b.remainder());
    for (x, y) in pairs_a.zip(pairs_b) {
        acc0 = simd.mul_add_f32s(x[0], y[0], acc0);
        acc1 = simd.mul_add_f32s(x[1], y[1], acc1);
    }
    if let (Some(x), Some(y)) = (ra.first(), rb.first()) {
        acc0 = simd.mul_add_f32s(*x, *y, acc0);
    }
    let mut sum = simd.reduce_sum_f32s(simd.add_f32s(acc0, acc1));
    for (x, y) in at.iter().zip(bt) {
        sum += x * y;
    }
    sum
}

/// [`dot`] of `p` with four rows at once: per row the very operations of `dot(simd, row, p)` (the
/// same two accumulators over pairs of vectors, the same reduction and tail), so bit for bit the
/// same results; `p` is loaded once for the four, and eight independent FMA chains keep both FMA
/// units busy where one row's two chains leave them waiting.
#[inline(always)]
fn dot4<S: Simd>(simd: S, rows: [&[f32]; 4], p: &[f32]) -> [f32; 4] {
    let (pv, pt) = S::as_simd_f32s(p);
    let split = rows.map(|r| S::as_simd_f32s(r));
    let zero = simd.splat_f32s(0.0);
    let (mut acc0, mut acc1) = ([zero; 4], [zero; 4]);
    let pairs = pv.len() / 2;
    for j in 0..pairs {
        let (y0, y1) = (pv[2 * j], pv[2 * j + 1]);
        for ((a0, a1), (x, _)) in acc0.iter_mut().zip(acc1.iter_mut()).zip(&split) {
            *a0 = simd.mul_add_f32s(x[2 * j], y0, *a0);
            *a1 = simd.mul_add_f32s(x[2 * j + 1], y1, *a1);
        }
    }
    if pv.len() % 2 == 1 {
        let last = pv.len() - 1;
        for (a0, (x, _)) in acc0.iter_mut().zip(&split) {
            *a0 = simd.mul_add_f32s(x[last], pv[last], *a0);
        }
    }
    let mut out = [0f32; 4];
    for (((o, a0), a1), (_, tail)) in out.iter_mut().zip(acc0).zip(acc1).zip(&split) {
        let mut sum = simd.reduce_sum_f32s(simd.add_f32s(a0, a1));
        for (x, y) in tail.iter().zip(pt) {
            sum += x * y;
        }
        *o = sum;
    }
    out
}

/// `y += a·x`; `x` and `y` have equal lengths.
#[inline(always)]
pub(crate) fn axpy<S: Simd>(simd: S, a: f32, x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    let (xv, xt) = S::as_simd_f32s(x);
    let (yv, yt) = S::as_mut_simd_f32s(y);
    let av = simd.splat_f32s(a);
    for (yy, xx) in yv.iter_mut().zip(xv) {
        *yy = simd.mul_add_f32s(av, *xx, *yy);
    }
    for (yy, xx) in yt.iter_mut().zip(xt) {
        *yy += a * xx;
    }
}

/// `out[b] += Σ_j coef[j] · row(j)[start + b]` over `W` SIMD vectors (see [`accumulate`]).
#[inline(always)]
fn block_sum<'r, S: Simd, const W: usize>(
    simd: S,
    start: usize,
    row: &impl Fn(usize) -> &'r [f32],
    coef: &[f32],
    out: &mut [S::f32s],
) {
    let n = coef.len();
    let zero = simd.splat_f32s(0.0);
    let (mut even, mut odd) = ([zero; W], [zero; W]);
    let mut j = 0;
    while j + 1 < n {
        let ya = &S::as_simd_f32s(row(j)).0[start..start + W];
        let yb = &S::as_simd_f32s(row(j + 1)).0[start..start + W];
        let (ca, cb) = (simd.splat_f32s(coef[j]), simd.splat_f32s(coef[j + 1]));
        for b in 0..W {
            even[b] = simd.mul_add_f32s(ca, ya[b], even[b]);
            odd[b] = simd.mul_add_f32s(cb, yb[b], odd[b]);
        }
        j += 2;
    }
    if j < n {
        let ya = &S::as_simd_f32s(row(j)).0[start..start + W];
        let ca = simd.splat_f32s(coef[j]);
        for b in 0..W {
            even[b] = simd.mul_add_f32s(ca, ya[b], even[b]);
        }
    }
    for b in 0..W {
        out[b] = simd.add_f32s(out[b], simd.add_f32s(even[b], odd[b]));
    }
}

/// `out += M·v` for a symmetric `k × k` row-major `m` (`Σ_c v[c] · M[c, :]`, see
/// [`accumulate`]).
#[inline(always)]
pub(crate) fn sym_matvec<S: Simd>(simd: S, m: &[f32], v: &[f32], out: &mut [f32]) {
    let k = v.len();
    accumulate(simd, k, |c| &m[c * k..(c + 1) * k], v, out);
}

/// Vectors of `out` held in registers at once by [`accumulate`].
const BLOCK: usize = 4;

/// `out += Σ_j coef[j] · row(j)` for `n` rows of `out.len()` values each. The sum is register
/// blocked: `BLOCK` SIMD vectors of `out` stay in registers, in two sets of accumulators (even
/// and odd rows, so consecutive FMAs do not wait on each other), while every row streams past:
/// each row element costs one load and one FMA and no store. The order of additions per lane
/// is fixed, so the result is deterministic.
#[inline(always)]
pub(crate) fn accumulate<'r, S: Simd>(
    simd: S,
    n: usize,
    row: impl Fn(usize) -> &'r [f32],
    coef: &[f32],
    out: &mut [f32],
) {
    let k = out.len();
    let coef = &coef[..n];
    let (ov, ot) = S::as_mut_simd_f32s(out);
    let nv = ov.len();
    let mut start = 0;
    while start < nv {
        let block = &mut ov[start..(start + BLOCK).min(nv)];
        // A constant width per call, so the accumulators are registers, not a stack array.
        match block.len() {
            4 => block_sum::<S, 4>(simd, start, &row, coef, block),
            3 => block_sum::<S, 3>(simd, start, &row, coef, block),
            2 => block_sum::<S, 2>(simd, start, &row, coef, block),
            _ => block_sum::<S, 1>(simd, start, &row, coef, block),
        }
        start += BLOCK;
    }
    let tail = ot.len();
    if tail > 0 {
        for (j, &c) in coef.iter().enumerate() {
            let y = &row(j)[k - tail..];
            for (o, y) in ot.iter_mut().zip(y) {
                *o += c * y;
            }
        }
    }
}

/// `out[i] = rows[i]·p (+ bias[i])` for every row of a contiguous row-major matrix.
pub(crate) fn score_rows(rows: &[f32], p: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    struct Op<'a> {
        rows: &'a [f32],
        p: &'a [f32],
        bias: Option<&'a [f32]>,
        out: &'a mut [f32],
    }
    impl pulp::WithSimd for Op<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            let k = self.p.len();
            let n = self.out.len().min(self.rows.len() / k);
            let (out, rows) = (&mut self.out[..n], &self.rows[..n * k]);
            // Four rows at a time (the same result per row as one at a time), then the rest.
            let mut outs = out.chunks_exact_mut(4);
            let mut quads = rows.chunks_exact(4 * k);
            for (o, r) in (&mut outs).zip(&mut quads) {
                let (r01, r23) = r.split_at(2 * k);
                let (r0, r1) = r01.split_at(k);
                let (r2, r3) = r23.split_at(k);
                o.copy_from_slice(&dot4(simd, [r0, r1, r2, r3], self.p));
            }
            for (o, r) in outs.into_remainder().iter_mut().zip(quads.remainder().chunks_exact(k)) {
                *o = dot(simd, r, self.p);
            }
            if let Some(b) = self.bias {
                for (o, b) in self.out.iter_mut().zip(b) {
                    *o += b;
                }
            }
        }
    }
    if p.is_empty() {
        out.fill(0.0);
        if let Some(b) = bias {
            out.copy_from_slice(&b[..out.len()]);
        }
        return;
    }
    pulp::Arch::new().dispatch(Op { rows, p, bias, out });
}

/// `out[j] = rows[at[j]]·p (+ bias[at[j]])` (indexes checked by the caller): per element the
/// same kernel and the same additions as [`score_rows`], so the two agree bit for bit.
pub(crate) fn score_rows_at(rows: &[f32], p: &[f32], bias: Option<&[f32]>, at: &[ItemIdx], out: &mut [f32]) {
    struct Op<'a> {
        rows: &'a [f32],
        p: &'a [f32],
        bias: Option<&'a [f32]>,
        at: &'a [ItemIdx],
        out: &'a mut [f32],
    }
    impl pulp::WithSimd for Op<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            let k = self.p.len();
            for (o, i) in self.out.iter_mut().zip(self.at) {
                *o = dot(simd, &self.rows[i.index() * k..(i.index() + 1) * k], self.p);
            }
            if let Some(b) = self.bias {
                for (o, i) in self.out.iter_mut().zip(self.at) {
                    *o += b[i.index()];
                }
            }
        }
    }
    if p.is_empty() {
        for (o, i) in out.iter_mut().zip(at) {
            *o = bias.map_or(0.0, |b| b[i.index()]);
        }
        return;
    }
    pulp::Arch::new().dispatch(Op { rows, p, bias, at, out });
}

/// `a·b` by the kernel [`score_rows`] uses, so a single pair agrees with a whole mat-vec bit for
/// bit.
pub(crate) fn row_dot(a: &[f32], b: &[f32]) -> f32 {
    struct Op<'a>(&'a [f32], &'a [f32]);
    impl pulp::WithSimd for Op<'_> {
        type Output = f32;
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) -> f32 {
            dot(simd, self.0, self.1)
        }
    }
    if a.is_empty() {
        return 0.0;
    }
    pulp::Arch::new().dispatch(Op(a, b))
}

/// `out += Σ_r coef[r] · M[rows[r], :]` for a row-major matrix `m` with rows of `width` values.
pub(crate) fn add_rows(m: &[f32], width: usize, rows: &[u32], coef: &[f32], out: &mut [f32]) {
    struct Op<'a> {
        m: &'a [f32],
        width: usize,
        rows: &'a [u32],
        coef: &'a [f32],
        out: &'a mut [f32],
    }
    impl pulp::WithSimd for Op<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            for (&r, &c) in self.rows.iter().zip(self.coef) {
                let row = &self.m[r as usize * self.width..(r as usize + 1) * self.width];
                axpy(simd, c, row, self.out);
            }
        }
    }
    pulp::Arch::new().dispatch(Op { m, width, rows, coef, out });
}

/// `YᵀY` (`k × k`, row-major = column-major: it is symmetric) of a row-major `n × k` matrix, by
/// faer's GEMM on both cores.
pub(crate) fn gram(rows: &[f32], k: usize) -> Vec<f32> {
    let n = rows.len() / k;
    let mut g = vec![0f32; k * k];
    // The row-major n × k buffer is the column-major k × n matrix Yᵀ.
    let yt = MatRef::from_column_major_slice(rows, k, n);
    let dst = MatMut::from_column_major_slice_mut(&mut g, k, k);
    matmul(dst, Accum::Replace, yt, yt.transpose(), 1.0f32, Par::rayon(0));
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Kernels<'a>(&'a [f32], &'a [f32]);

    impl pulp::WithSimd for Kernels<'_> {
        type Output = (f32, Vec<f32>);
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) -> Self::Output {
            let mut y = self.1.to_vec();
            axpy(simd, 0.5, self.0, &mut y);
            (dot(simd, self.0, self.1), y)
        }
    }

    #[test]
    fn a_mat_vec_four_rows_at_a_time_is_each_rows_dot_bit_for_bit() {
        // Lengths around the SIMD width and its pairs, row counts around multiples of four, and
        // an output shorter than the matrix (only its rows are scored).
        for k in [1usize, 7, 8, 9, 16, 17, 24, 64, 65] {
            for n in [0usize, 1, 3, 4, 5, 9, 30] {
                let rows: Vec<f32> = (0..n * k).map(|x| (x as f32 * 0.37).sin() * 3.0).collect();
                let p: Vec<f32> = (0..k).map(|x| (x as f32 * 0.11).cos()).collect();
                let mut out = vec![f32::NAN; n];
                score_rows(&rows, &p, None, &mut out);
                let one: Vec<u32> = rows.chunks_exact(k).map(|r| row_dot(r, &p).to_bits()).collect();
                assert_eq!(out.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), one, "k {k}, n {n}");
                let mut short = vec![f32::NAN; n.saturating_sub(2)];
                score_rows(&rows, &p, None, &mut short);
                assert_eq!(
                    short.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    one[..short.len()],
                    "k {k}"
                );
            }
        }
    }

    #[test]
    fn kernels_match_naive_loops_on_every_length() {
        for n in [0usize, 1, 7, 8, 9, 16, 17, 33, 64, 100] {
            let a: Vec<f32> = (0..n).map(|k| (k as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|k| (k as f32 * 0.11).cos()).collect();
            let (d, y) = pulp::Arch::new().dispatch(Kernels(&a, &b));
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            assert!((f64::from(d) - naive).abs() < 1e-4, "n = {n}: {d} vs {naive}");
            for k in 0..n {
                assert!((y[k] - (b[k] + 0.5 * a[k])).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn gram_and_scores_match_naive_products() {
        let (n, k) = (13, 5);
        let y: Vec<f32> = (0..n * k).map(|x| ((x * 7 % 11) as f32 - 5.0) / 3.0).collect();
        let g = gram(&y, k);
        for a in 0..k {
            for b in 0..k {
                let naive: f32 = (0..n).map(|r| y[r * k + a] * y[r * k + b]).sum();
                assert!((g[a * k + b] - naive).abs() < 1e-4);
            }
        }
        let p = [1.0, -2.0, 0.5, 0.0, 3.0];
        let bias: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let mut out = vec![0f32; n];
        score_rows(&y, &p, Some(&bias), &mut out);
        for i in 0..n {
            let naive: f32 = (0..k).map(|c| y[i * k + c] * p[c]).sum::<f32>() + bias[i];
            assert!((out[i] - naive).abs() < 1e-4);
        }
        let mut mv = vec![1f32; k];
        struct Mv<'a>(&'a [f32], &'a [f32], &'a mut [f32]);
        impl pulp::WithSimd for Mv<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, simd: S) {
                sym_matvec(simd, self.0, self.1, self.2);
            }
        }
        pulp::Arch::new().dispatch(Mv(&g, &p, &mut mv));
        for a in 0..k {
            let naive: f32 = 1.0 + (0..k).map(|b| g[a * k + b] * p[b]).sum::<f32>();
            assert!((mv[a] - naive).abs() < 1e-3);
        }
    }
}
