//! All-pairs similarities over co-rated entries, and the per-row neighbour lists.
//!
//! Row `x` meets every row `x2` it shares a column with by walking the other axis: for each of
//! x's columns `y`, for each `x2` in column `y`, the pair's sufficient statistics are accumulated in
//! dense per-thread buffers (reused across rows via rayon's `map_init`), then turned into a
//! similarity. Cost is `Σ_y |column y|²`; no `n × n` matrix is ever built. Every pair's sums run
//! over the common columns in increasing order from either side, so `sim(x, x2) == sim(x2, x)`
//! bit for bit, and results do not depend on the thread count.

use std::cmp::Ordering;

use rayon::prelude::*;

use super::Similarity;
use crate::models::sparse::Sparse;
use crate::recommender::FitContext;

/// Sufficient statistics of one pair, meaning set by the [`Similarity`] (see [`Accumulate`]).
type Stats = [f64; 5];

/// Dense per-thread accumulators indexed by row, plus the rows touched so far.
pub(super) struct Acc {
    count: Vec<u32>,
    stats: Vec<Stats>,
    touched: Vec<u32>,
}

impl Acc {
    /// Buffers for a matrix with `n_rows` rows.
    pub(super) fn new(n_rows: usize) -> Self {
        Self { count: vec![0; n_rows], stats: vec![[0.0; 5]; n_rows], touched: Vec::new() }
    }
}

/// What one co-rated column adds to a pair's statistics; `a` is the row's value, `b` the other's.
trait Accumulate {
    fn add(s: &mut Stats, a: f64, b: f64);
}

/// Cosine: `Σ ab` (norms are over full rows).
struct Dot;
/// MSD: `Σ (a − b)²`.
struct SqDiff;
/// Pearson: `Σ ab, Σ a, Σ b, Σ a², Σ b²`.
struct Moments;
/// Pearson-baseline (values already centred on baselines): `Σ ab, Σ a², Σ b²`.
struct Centred;

impl Accumulate for Dot {
    #[inline]
    fn add(s: &mut Stats, a: f64, b: f64) {
        s[0] += a * b;
    }
}

impl Accumulate for SqDiff {
    #[inline]
    fn add(s: &mut Stats, a: f64, b: f64) {
        s[0] += (a - b) * (a - b);
    }
}

impl Accumulate for Moments {
    #[inline]
    fn add(s: &mut Stats, a: f64, b: f64) {
        s[0] += a * b;
        s[1] += a;
        s[2] += b;
        s[3] += a * a;
        s[4] += b * b;
    }
}

impl Accumulate for Centred {
    #[inline]
    fn add(s: &mut Stats, a: f64, b: f64) {
        s[0] += a * b;
        s[1] += a * a;
        s[2] += b * b;
    }
}

/// Accumulates the statistics of row (`idx`, `vals`) against every row of `cols`' columns.
fn accumulate<A: Accumulate>(acc: &mut Acc, idx: &[u32], vals: &[f32], cols: &Sparse) {
    for (&y, &a) in idx.iter().zip(vals) {
        let (others, values) = cols.row(y as usize);
        for (&x2, &b) in others.iter().zip(values) {
            let x2 = x2 as usize;
            if acc.count[x2] == 0 {
                acc.touched.push(x2 as u32);
            }
            acc.count[x2] += 1;
            A::add(&mut acc.stats[x2], f64::from(a), f64::from(b));
        }
    }
}

/// A similarity measure with its shrinkage.
#[derive(Copy, Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Measure {
    /// Which formula.
    pub(super) similarity: Similarity,
    /// Shrinkage λ: `n/(n+λ)` (cosine, Pearson, MSD) or `(n−1)/(n−1+λ)` (Pearson-baseline).
    pub(super) shrinkage: f32,
}

/// `num / den`, or 0 where the ratio is undefined (zero variance, zero norm).
fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 && den.is_finite() { num / den } else { 0.0 }
}

impl Measure {
    /// The similarity of a pair with `n` common entries and statistics `s`; `norm_a`, `norm_b`
    /// are the full-row norms (cosine only).
    fn finish(&self, n: u32, s: &Stats, norm_a: f32, norm_b: f32) -> f64 {
        let nf = f64::from(n);
        let lambda = f64::from(self.shrinkage);
        match self.similarity {
            Similarity::Cosine => ratio(s[0], f64::from(norm_a) * f64::from(norm_b)) * ratio(nf, nf + lambda),
            Similarity::Msd => 1.0 / (s[0] / nf + 1.0) * ratio(nf, nf + lambda),
            Similarity::Pearson => {
                let num = nf * s[0] - s[1] * s[2];
                let den = ((nf * s[3] - s[1] * s[1]) * (nf * s[4] - s[2] * s[2])).sqrt();
                ratio(num, den) * ratio(nf, nf + lambda)
            }
            Similarity::PearsonBaseline => {
                ratio(s[0], (s[1] * s[2]).sqrt()) * ratio(nf - 1.0, nf - 1.0 + lambda)
            }
        }
    }

    /// Similarities of row (`idx`, `vals`, full norm `norm`) to every row sharing a column with
    /// it, keeping the positive ones (the only ones any prediction or score uses) and skipping
    /// `skip` (the row itself). `cols` is the transpose the values come from, `norms` its rows'
    /// norms. Leaves `acc` clean for the next row.
    pub(super) fn candidates(
        &self,
        acc: &mut Acc,
        row: (&[u32], &[f32]),
        norm: f32,
        cols: &Sparse,
        norms: &[f32],
        skip: Option<u32>,
    ) -> Vec<(u32, f32)> {
        let (idx, vals) = row;
        match self.similarity {
            Similarity::Cosine => accumulate::<Dot>(acc, idx, vals, cols),
            Similarity::Msd => accumulate::<SqDiff>(acc, idx, vals, cols),
            Similarity::Pearson => accumulate::<Moments>(acc, idx, vals, cols),
            Similarity::PearsonBaseline => accumulate::<Centred>(acc, idx, vals, cols),
        }
        let mut out = Vec::new();
        for &x2 in &acc.touched {
            let k = x2 as usize;
            if Some(x2) != skip {
                let other_norm = norms.get(k).copied().unwrap_or(0.0);
                let sim = self.finish(acc.count[k], &acc.stats[k], norm, other_norm) as f32;
                if sim > 0.0 && sim.is_finite() {
                    out.push((x2, sim));
                }
            }
            acc.count[k] = 0;
            acc.stats[k] = [0.0; 5];
        }
        acc.touched.clear();
        out
    }
}

/// Higher similarity first, then lower index: the order of every neighbour list.
pub(super) fn by_sim_desc(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// A sort key ordering positive similarities descending, then indexes ascending: the bits of a
/// positive finite f32 grow with its value, so inverting them and appending the index gives one
/// integer per candidate (sorting integers is several times faster than comparing pairs).
fn key(x: u32, sim: f32) -> u64 {
    (u64::from(u32::MAX - sim.to_bits()) << 32) | u64::from(x)
}

fn unkey(key: u64) -> (u32, f32) {
    (key as u32, f32::from_bits(u32::MAX - (key >> 32) as u32))
}

/// Keeps the `n` best of `cands` (all similarities positive and finite), sorted best first.
pub(super) fn keep_top(cands: &mut Vec<(u32, f32)>, n: usize) {
    let mut keys: Vec<u64> = cands.iter().map(|&(x, s)| key(x, s)).collect();
    if keys.len() > n {
        if n == 0 {
            keys.clear();
        } else {
            keys.select_nth_unstable(n - 1);
            keys.truncate(n);
        }
    }
    keys.sort_unstable();
    cands.clear();
    cands.extend(keys.into_iter().map(unkey));
}

/// Each row's neighbours with positive similarity, best first (ties by index), CSR-packed, plus
/// the same lists sorted by index for lookups. The lookup copy is half the model and follows
/// from the lists, so it is rebuilt on load rather than stored.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Lists")]
pub(super) struct Neighbors {
    indptr: Vec<usize>,
    idx: Vec<u32>,
    sim: Vec<f32>,
    #[serde(skip)]
    lookup_idx: Vec<u32>,
    #[serde(skip)]
    lookup_sim: Vec<f32>,
}

/// What [`Neighbors`] stores: the best-first lists alone (similarities are positive and
/// finite, so they need no special float encoding). The fields are those `Neighbors` writes, in
/// its order: binary formats read fields by position.
#[derive(serde::Deserialize)]
struct Lists {
    indptr: Vec<usize>,
    idx: Vec<u32>,
    sim: Vec<f32>,
}

impl TryFrom<Lists> for Neighbors {
    type Error = String;

    fn try_from(lists: Lists) -> Result<Self, String> {
        let Lists { indptr, idx, sim } = lists;
        if !crate::models::sparse::offsets_fit(&indptr, idx.len()) || idx.len() != sim.len() {
            return Err("neighbour lists: offsets do not match the lists".to_owned());
        }
        let mut out = Neighbors::empty();
        for w in indptr.windows(2) {
            let list: Vec<(u32, f32)> =
                idx[w[0]..w[1]].iter().copied().zip(sim[w[0]..w[1]].iter().copied()).collect();
            let best_first = list.iter().all(|p| p.1.is_finite() && p.1 > 0.0)
                && list.windows(2).all(|p| p[0].1 >= p[1].1);
            if !best_first {
                return Err("neighbour lists: similarities not positive, finite, best first".to_owned());
            }
            out.push(&list);
            let (a, b) = (out.indptr[out.indptr.len() - 2], out.idx.len());
            if out.lookup_idx[a..b].windows(2).any(|p| p[0] == p[1]) {
                return Err("neighbour lists: a neighbour listed twice".to_owned());
            }
        }
        Ok(out)
    }
}

impl Neighbors {
    /// `n` lists, each of rows below `n`.
    pub(super) fn check(&self, field: &str, n: usize) -> crate::models::invariant::Check {
        crate::models::invariant::len(field, self.indptr.len() - 1, n)?;
        for x in 0..n {
            let (list, _) = self.of(x);
            if let Some(&y) = list.iter().find(|&&y| y as usize >= n || y as usize == x) {
                return Err(format!("{field}: row {x} lists {y} (of {n})"));
            }
        }
        Ok(())
    }

    /// Row `x`'s neighbours and their similarities, best first.
    #[inline]
    pub(super) fn of(&self, x: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[x], self.indptr[x + 1]);
        (&self.idx[a..b], &self.sim[a..b])
    }

    /// The similarity of `x` to `x2` if `x2` is a stored neighbour of `x` (binary search).
    #[inline]
    pub(super) fn lookup(&self, x: usize, x2: u32) -> Option<f32> {
        let (a, b) = (self.indptr[x], self.indptr[x + 1]);
        let k = self.lookup_idx[a..b].binary_search(&x2).ok()?;
        Some(self.lookup_sim[a + k])
    }

    fn empty() -> Self {
        Neighbors {
            indptr: vec![0],
            idx: Vec::new(),
            sim: Vec::new(),
            lookup_idx: Vec::new(),
            lookup_sim: Vec::new(),
        }
    }

    fn push(&mut self, list: &[(u32, f32)]) {
        self.idx.extend(list.iter().map(|p| p.0));
        self.sim.extend(list.iter().map(|p| p.1));
        let mut sorted = list.to_vec();
        sorted.sort_unstable_by_key(|p| p.0);
        self.lookup_idx.extend(sorted.iter().map(|p| p.0));
        self.lookup_sim.extend(sorted.iter().map(|p| p.1));
        self.indptr.push(self.idx.len());
    }
}

/// Rows per progress report.
const CHUNK: usize = 2048;

/// The top `max_neighbors` neighbours of every row of `rows` (values as the measure sees them),
/// in parallel, reporting progress per chunk of rows as `model`. A one-pass fit has no useful
/// partial state, so a stop request is not honoured here.
pub(super) fn neighbors(
    measure: &Measure,
    rows: &Sparse,
    cols: &Sparse,
    norms: &[f32],
    max_neighbors: usize,
    model: &'static str,
    ctx: &FitContext<'_>,
) -> Neighbors {
    let n = rows.n_rows();
    let mut out = Neighbors::empty();
    for start in (0..n).step_by(CHUNK) {
        let end = (start + CHUNK).min(n);
        let lists: Vec<Vec<(u32, f32)>> = (start..end)
            .into_par_iter()
            .with_min_len(16)
            .map_init(
                || Acc::new(n),
                |acc, x| {
                    let mut c = measure.candidates(acc, rows.row(x), norms[x], cols, norms, Some(x as u32));
                    keep_top(&mut c, max_neighbors);
                    c
                },
            )
            .collect();
        for list in &lists {
            out.push(list);
        }
        ctx.report(model, end, n, None);
    }
    out
}
