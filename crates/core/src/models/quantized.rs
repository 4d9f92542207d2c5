//! Item vectors in 8 bits, for scanning a large catalog cheaply and still ranking it exactly.
//!
//! Each row `y` is stored as codes `c ∈ [−127, 127]ᵏ` and a scale `s = max|y| / 127`, so
//! `y = s·c + e` with `|e_j| ≤ r` (the row's largest rounding residual, measured when the row is
//! coded, about `s/2`). A query `p` (a user's vector or a fold-in) is coded in 16 bits the same
//! way, `p = s_q·c_q + e_q` with `|e_q,j| ≤ r_q`. Then `c_qᵀc` is an exact integer and
//!
//! `pᵀy = s_q·s·(c_qᵀc) + s_q·c_qᵀe + e_qᵀy`, with `|s_q·c_qᵀe| ≤ (|p|₁ + k·r_q)·r` and
//! `|e_qᵀy| ≤ r_q·k·max|y| ≤ 128·k·r_q·s`.
//!
//! So `upper = s_q·s·(c_qᵀc) + (|p|₁ + k·r_q)·slack + 128·k·r_q·s (+ b + 16ε·|b|)`, with
//! `slack = (r + 16(k + 2)·ε·max|y|)·(1 + 16ε)` rounded up, is at least the exact `f32` kernel's
//! computed score of every row: the margins are several times the worst-case rounding of the
//! exact dot product and of the bound's own arithmetic. A scan reads a quarter of the bytes the
//! `f32` rows take (64 bytes, one cache line, per 64-factor item), and a caller that scores
//! exactly only the rows whose bound can still beat its `n`-th best exact score gets exactly the
//! exact scan's list: the bound makes the index exact, not approximate.

use pulp::Simd;

use crate::ids::ItemIdx;

/// Products summed in `i32` before the sum moves to `i64` (see [`dot_i8`]).
const BLOCK: usize = 512;

/// 8-bit rows and their error bounds (module doc).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Quantized {
    k: usize,
    /// `n × k` codes, row-major.
    codes: Vec<i8>,
    /// Per row: the scale `s`.
    scale: Vec<f32>,
    /// Per row: `(r + 16(k + 2)·ε·max|y|)·(1 + 16ε)`, rounded up.
    slack: Vec<f32>,
}

impl Quantized {
    /// Codes the rows of `rows` (`k` wide, finite). Deterministic: the same rows give the same
    /// codes on every machine (no parallel sums).
    pub(crate) fn new(rows: &[f32], k: usize) -> Self {
        let n = rows.len().checked_div(k).unwrap_or(0);
        let mut codes = vec![0i8; n * k];
        let (mut scale, mut slack) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let pad = 16.0 * (k as f64 + 2.0) * f64::from(f32::EPSILON);
        for (row, code) in rows.chunks_exact(k.max(1)).zip(codes.chunks_exact_mut(k.max(1))) {
            let max = row.iter().fold(0f32, |m, y| m.max(y.abs()));
            let s = if max > 0.0 && max.is_finite() { max / 127.0 } else { 0.0 };
            let mut residual = 0f64;
            for (c, &y) in code.iter_mut().zip(row) {
                let q = if s > 0.0 { (y / s).round().clamp(-127.0, 127.0) } else { 0.0 };
                *c = q as i8;
                residual = residual.max((f64::from(y) - f64::from(s) * f64::from(q)).abs());
            }
            scale.push(s);
            slack.push(round_up((residual + pad * f64::from(max)) * (1.0 + 16.0 * f64::from(f32::EPSILON))));
        }
        Self { k, codes, scale, slack }
    }

    /// The rows `items` (checked by the caller), in that order, contiguous: the same codes and
    /// bounds, read in one pass.
    pub(crate) fn gather(&self, items: &[ItemIdx]) -> Self {
        let k = self.k;
        let mut codes = Vec::with_capacity(items.len() * k);
        for i in items {
            codes.extend_from_slice(&self.codes[i.index() * k..(i.index() + 1) * k]);
        }
        let scale = items.iter().map(|i| self.scale[i.index()]).collect();
        let slack = items.iter().map(|i| self.slack[i.index()]).collect();
        Self { k, codes, scale, slack }
    }

    /// Whether these are `n` rows of `k` codes.
    pub(crate) fn fits(&self, n: usize, k: usize) -> bool {
        self.k == k && self.scale.len() == n && self.slack.len() == n && self.codes.len() == n * k
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.codes.len() + 8 * self.scale.len()
    }

    /// `out[j] ≥` the exact score ([`super::simd::score_rows`]'s `rows[i]·p (+ bias[i])`) of row
    /// `i = at[j]` (`at = None`: every row, `out[i]`). Indexes are checked by the caller. A bound
    /// that is not finite (a query with NaN or ∞) is `f32::MAX`, so that no row is ruled out by it.
    pub(crate) fn upper(&self, p: &[f32], bias: Option<&[f32]>, at: Option<&[ItemIdx]>, out: &mut [f32]) {
        /// Pass 1 under the best instruction set: `out[j] = s_i · codes_iᵀq`.
        struct Op<'a> {
            q: &'a Quantized,
            p: &'a [i16],
            at: Option<&'a [ItemIdx]>,
            out: &'a mut [f32],
        }
        impl pulp::WithSimd for Op<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, _: S) {
                #[cfg(target_arch = "x86_64")]
                if let Some(simd) = pulp::x86::V3::try_new() {
                    let k = self.q.k;
                    if self.at.is_none() && k.is_multiple_of(16) && k <= 512 {
                        return self.q.scaled_dots4(
                            self.out,
                            |r| avx2::dot4(simd, r, self.p),
                            |c| avx2::dot(simd, c, self.p),
                        );
                    }
                    return self.q.scaled_dots(self.at, self.out, |c| avx2::dot(simd, c, self.p));
                }
                self.q.scaled_dots(self.at, self.out, |c| dot_i8(c, self.p));
            }
        }
        let query = Query::new(p);
        if self.k == 0 || query.codes.len() != self.k {
            out.fill(f32::MAX);
            return;
        }
        pulp::Arch::new().dispatch(Op { q: self, p: &query.codes, at, out });
        let pad = 16.0 * f32::EPSILON;
        let bound = |a: f32, i: usize| {
            let b = bias.map_or(0.0, |b| b[i]);
            let u = (query.scale * a + query.l1 * self.slack[i] + query.spread * self.scale[i])
                + (b + b.abs() * pad);
            if u.is_finite() { u } else { f32::MAX }
        };
        match at {
            None => out.iter_mut().enumerate().for_each(|(i, o)| *o = bound(*o, i)),
            Some(at) => out.iter_mut().zip(at).for_each(|(o, i)| *o = bound(*o, i.index())),
        }
    }
}

impl Quantized {
    /// `out[i] = s_i · dot(codes_i)` for every row, four rows at a time by `dot4` (the same
    /// values as `dot`), the rest by `dot`.
    #[inline(always)]
    fn scaled_dots4(
        &self,
        out: &mut [f32],
        dot4: impl Fn([&[i8]; 4]) -> [i64; 4],
        dot: impl Fn(&[i8]) -> i64,
    ) {
        let k = self.k;
        let mut outs = out.chunks_exact_mut(4);
        let mut quads = self.codes.chunks_exact(4 * k);
        let mut scales = self.scale.chunks_exact(4);
        for ((o, r), s) in (&mut outs).zip(&mut quads).zip(&mut scales) {
            let (r01, r23) = r.split_at(2 * k);
            let (r0, r1) = r01.split_at(k);
            let (r2, r3) = r23.split_at(k);
            let d = dot4([r0, r1, r2, r3]);
            for j in 0..4 {
                o[j] = s[j] * d[j] as f32;
            }
        }
        let rest = outs.into_remainder();
        for ((o, c), s) in rest.iter_mut().zip(quads.remainder().chunks_exact(k)).zip(scales.remainder()) {
            *o = s * dot(c) as f32;
        }
    }

    /// `out[j] = s_i · dot(codes_i)` for `i = at[j]` (or every row).
    #[inline(always)]
    fn scaled_dots(&self, at: Option<&[ItemIdx]>, out: &mut [f32], dot: impl Fn(&[i8]) -> i64) {
        let k = self.k;
        match at {
            None => {
                for ((o, c), s) in out.iter_mut().zip(self.codes.chunks_exact(k)).zip(&self.scale) {
                    *o = s * dot(c) as f32;
                }
            }
            Some(at) => {
                for (o, i) in out.iter_mut().zip(at) {
                    let i = i.index();
                    *o = self.scale[i] * dot(&self.codes[i * k..(i + 1) * k]) as f32;
                }
            }
        }
    }
}

/// A query in 16 bits: `p = scale·codes + e`, `|e_j| ≤ residual`. With a row `y = s·c + e_y`,
/// `pᵀy = scale·s·(codesᵀc) + scale·codesᵀe_y + eᵀy`, whose last two terms are at most
/// `l1·r` and `spread·s` (`l1 = |p|₁ + k·residual`, `spread = 128·k·residual`, as
/// `|y|₁ ≤ k·max|y| ≤ 128·k·s`), both rounded up.
struct Query {
    codes: Vec<i16>,
    scale: f32,
    l1: f32,
    spread: f32,
}

impl Query {
    fn new(p: &[f32]) -> Self {
        let max = p.iter().fold(0f32, |m, x| m.max(x.abs()));
        if !max.is_finite() {
            return Self { codes: Vec::new(), scale: 0.0, l1: 0.0, spread: 0.0 };
        }
        let scale = if max > 0.0 { max / 32_767.0 } else { 0.0 };
        let mut residual = 0f64;
        let codes = p
            .iter()
            .map(|&x| {
                let q = if scale > 0.0 { (x / scale).round().clamp(-32_767.0, 32_767.0) } else { 0.0 };
                residual = residual.max((f64::from(x) - f64::from(scale) * f64::from(q)).abs());
                q as i16
            })
            .collect();
        let k = p.len() as f64;
        let l1 =
            p.iter().map(|x| f64::from(x.abs())).sum::<f64>() + k * residual + f64::from(f32::MIN_POSITIVE);
        Self { codes, scale, l1: round_up(l1), spread: round_up(128.0 * k * residual * 1.01) }
    }
}

/// The smallest `f32` at least `x` (`x` finite or not).
fn round_up(x: f64) -> f32 {
    let u = x as f32;
    if f64::from(u) < x { u.next_up() } else { u }
}

/// `Σ c_j·p_j`, exact: `i32` sums of blocks of [`BLOCK`] products (each at most
/// `512 · 127 · 32,767 < 2³¹`), summed in `i64`.
#[inline(always)]
fn dot_i8(c: &[i8], p: &[i16]) -> i64 {
    c.chunks(BLOCK)
        .zip(p.chunks(BLOCK))
        .map(|(c, p)| {
            i64::from(c.iter().zip(p).fold(0i32, |a, (&c, &p)| a.wrapping_add(i32::from(c) * i32::from(p))))
        })
        .sum()
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::{__m128i, __m256i};

    use pulp::bytemuck::cast;
    use pulp::x86::V3;

    /// [`super::dot_i8`] under AVX2: sixteen codes widened to `i16` and multiplied pairwise with
    /// the query into eight `i32` sums (`vpmaddwd`). A lane gains at most `2 · 127 · 32,767` per
    /// sixteen entries, so it stays below `2³¹` up to `k = 4,096`, the largest dimension a model
    /// may have. Exact, so the same as [`super::dot_i8`].
    #[inline(always)]
    pub(super) fn dot(simd: V3, c: &[i8], q: &[i16]) -> i64 {
        let (cs, c_rest) = c.as_chunks::<16>();
        let (qs, q_rest) = q.as_chunks::<16>();
        let mut acc = simd.avx._mm256_setzero_si256();
        for (c, q) in cs.iter().zip(qs) {
            let wide = simd.avx2._mm256_cvtepi8_epi16(cast::<[i8; 16], __m128i>(*c));
            let pairs = simd.avx2._mm256_madd_epi16(wide, cast::<[i16; 16], __m256i>(*q));
            acc = simd.avx2._mm256_add_epi32(acc, pairs);
        }
        let lanes: [i32; 8] = cast(acc);
        lanes.iter().map(|&l| i64::from(l)).sum::<i64>() + super::dot_i8(c_rest, q_rest)
    }

    /// [`dot`] of four rows of `k = 16·m ≤ 512` codes at once, their sums reduced together
    /// (`vphaddd`). Each sum is below `512 · 127 · 32,767 < 2³¹`, so `i32` holds it exactly: the
    /// same values as [`dot`].
    #[inline(always)]
    pub(super) fn dot4(simd: V3, rows: [&[i8]; 4], q: &[i16]) -> [i64; 4] {
        let (qs, _) = q.as_chunks::<16>();
        let chunks = rows.map(|r| r.as_chunks::<16>().0);
        let mut acc = [simd.avx._mm256_setzero_si256(); 4];
        for (j, q) in qs.iter().enumerate() {
            let q = cast::<[i16; 16], __m256i>(*q);
            for (a, c) in acc.iter_mut().zip(&chunks) {
                let wide = simd.avx2._mm256_cvtepi8_epi16(cast::<[i8; 16], __m128i>(c[j]));
                *a = simd.avx2._mm256_add_epi32(*a, simd.avx2._mm256_madd_epi16(wide, q));
            }
        }
        let h01 = simd.avx2._mm256_hadd_epi32(acc[0], acc[1]);
        let h23 = simd.avx2._mm256_hadd_epi32(acc[2], acc[3]);
        let h = simd.avx2._mm256_hadd_epi32(h01, h23);
        let sum = simd
            .sse2
            ._mm_add_epi32(simd.avx._mm256_castsi256_si128(h), simd.avx2._mm256_extracti128_si256::<1>(h));
        cast::<__m128i, [i32; 4]>(sum).map(i64::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::simd::{score_rows, score_rows_at};
    use crate::rng;
    use rand::Rng;

    /// Rows of mixed magnitudes (tiny, huge, zero, one spike) and queries likewise.
    fn rows(rng: &mut rng::SeededRng, n: usize, k: usize) -> Vec<f32> {
        (0..n * k)
            .map(|j| match (j / k) % 5 {
                0 => rng.random_range(-1.0..1.0),
                1 => rng.random_range(-1e-20..1e-20),
                2 => rng.random_range(-3e15..3e15),
                3 => 0.0,
                _ => {
                    if j % k == 3 {
                        50.0
                    } else {
                        rng.random_range(-0.01..0.01)
                    }
                }
            })
            .collect()
    }

    #[test]
    fn the_bound_is_never_below_the_exact_kernels_score_and_is_close() {
        let mut rng = rng::seeded(7);
        for k in [1, 3, 16, 17, 64, 100] {
            let n = 200;
            let items = rows(&mut rng, n, k);
            let bias: Vec<f32> = (0..n).map(|_| rng.random_range(-5.0..5.0)).collect();
            let q = Quantized::new(&items, k);
            assert_eq!(q.scale.len(), n);
            for round in 0..20 {
                let p: Vec<f32> = (0..k)
                    .map(|_| {
                        if round % 4 == 0 {
                            rng.random_range(-1e10..1e10)
                        } else {
                            rng.random_range(-2.0..2.0)
                        }
                    })
                    .collect();
                for b in [None, Some(bias.as_slice())] {
                    let (mut exact, mut upper) = (vec![0f32; n], vec![0f32; n]);
                    score_rows(&items, &p, b, &mut exact);
                    q.upper(&p, b, None, &mut upper);
                    for i in 0..n {
                        assert!(
                            upper[i] >= exact[i],
                            "k {k} row {i}: upper {} < exact {}",
                            upper[i],
                            exact[i]
                        );
                    }
                    // Unit-scale rows (every fifth from 0): the bound is within a few percent of |p|₁·max|y|.
                    for i in (0..n).step_by(5) {
                        let l1: f32 = p.iter().map(|x| x.abs()).sum();
                        let max = items[i * k..(i + 1) * k].iter().fold(0f32, |m, y| m.max(y.abs()));
                        assert!(
                            upper[i] - exact[i] <= 0.02 * l1 * max + 1e-3,
                            "loose bound at k {k} row {i}"
                        );
                    }
                    let at: Vec<ItemIdx> = (0..n as u32).rev().step_by(3).map(ItemIdx).collect();
                    let (mut ea, mut ua) = (vec![0f32; at.len()], vec![0f32; at.len()]);
                    score_rows_at(&items, &p, b, &at, &mut ea);
                    q.upper(&p, b, Some(&at), &mut ua);
                    for (j, i) in at.iter().enumerate() {
                        assert_eq!(ua[j], upper[i.index()], "a subset's bound is the whole scan's");
                        assert!(ua[j] >= ea[j]);
                    }
                }
            }
        }
    }

    #[test]
    fn a_query_that_is_not_finite_rules_nothing_out() {
        let q = Quantized::new(&[1.0, 2.0, -3.0, 4.0], 2);
        let mut out = [0f32; 2];
        q.upper(&[f32::NAN, 1.0], None, None, &mut out);
        assert_eq!(out, [f32::MAX; 2]);
        q.upper(&[f32::INFINITY, 1.0], None, None, &mut out);
        assert_eq!(out, [f32::MAX; 2]);
    }

    #[test]
    fn coding_is_deterministic_and_codes_the_largest_entry_as_127() {
        let items = [0.6f32, -1.0, 0.2, 0.0, 0.0, 0.0];
        let (a, b) = (Quantized::new(&items, 3), Quantized::new(&items, 3));
        assert_eq!(a, b);
        assert_eq!(&a.codes[..3], &[76, -127, 25]);
        assert_eq!(&a.codes[3..], &[0, 0, 0]);
        assert_eq!(a.scale[1], 0.0);
        assert_eq!(a.bytes(), 6 + 16);
    }
}
