//! Rating prediction, ranking scores, fold-in and similar items of a fitted [`KnnModel`].

use super::similarity::{Acc, by_sim_desc, keep_top};
use super::{KnnModel, Rule, Similarity};
use crate::ids::ItemIdx;
use crate::models::sparse::norm;
use crate::recommender::{Scored, top_excluding};

/// A history as sorted, unique item indexes and their values (the last value of a repeated item).
pub(super) fn dedup(history: &[(ItemIdx, f32)]) -> (Vec<u32>, Vec<f32>) {
    let mut pairs: Vec<(u32, f32)> = history.iter().map(|&(i, v)| (i.0, v)).collect();
    // Stable: among equal items the input order is kept, so the last one is the latest.
    pairs.sort_by_key(|p| p.0);
    let mut idx: Vec<u32> = Vec::with_capacity(pairs.len());
    let mut vals: Vec<f32> = Vec::with_capacity(pairs.len());
    for (i, v) in pairs {
        if idx.last() == Some(&i) {
            if let Some(last) = vals.last_mut() {
                *last = v;
            }
        } else {
            idx.push(i);
            vals.push(v);
        }
    }
    (idx, vals)
}

impl KnnModel {
    /// The unclipped estimate for row `x` and column `y` (Surprise `knns.py` semantics): walk
    /// x's neighbours best first, keep the first `k` that rated `y`, weight their deviations.
    pub(super) fn estimate(&self, x: usize, y: u32) -> f32 {
        let unknown = self.rows.row(x).0.is_empty() || self.cols.row(y as usize).0.is_empty();
        let base = match self.rule {
            // Surprise answers unknown ids with the global mean, except for KNNBaseline.
            Rule::Basic | Rule::WithMeans if unknown => return self.mu,
            Rule::Basic => self.mu,
            Rule::WithMeans => self.row_means[x],
            Rule::WithBaseline => self.baseline(x, y),
        };
        let (mut sum_sim, mut sum) = (0f64, 0f64);
        let chosen = self.first_k_raters(x, y);
        for &(x2, sim, r) in &chosen {
            let dev = match self.rule {
                Rule::Basic => r,
                Rule::WithMeans => r - self.row_means[x2 as usize],
                Rule::WithBaseline => r - self.baseline(x2 as usize, y),
            };
            sum_sim += f64::from(sim);
            sum += f64::from(sim) * f64::from(dev);
        }
        let found = chosen.len();
        if found < self.min_k || sum_sim <= 0.0 {
            return base;
        }
        let weighted = (sum / sum_sim) as f32;
        match self.rule {
            Rule::Basic => weighted,
            Rule::WithMeans | Rule::WithBaseline => base + weighted,
        }
    }

    /// The first `k` of x's neighbours (best first) that rated `y`, as (neighbour, sim, rating).
    /// Two equivalent routes, whichever touches fewer entries: walk x's list probing each
    /// neighbour's row (about `len·k/|raters|` probes), or probe x's list for each rater of `y`
    /// and keep the best `k`.
    pub(super) fn first_k_raters(&self, x: usize, y: u32) -> Vec<(u32, f32, f32)> {
        let (nb, sims) = self.neighbors.of(x);
        let (raters, ratings) = self.cols.row(y as usize);
        let mut chosen = Vec::with_capacity(self.k.min(raters.len()));
        if raters.len() * raters.len().max(self.k) < nb.len() * self.k {
            for (&x2, &r) in raters.iter().zip(ratings) {
                if let Some(sim) = self.neighbors.lookup(x, x2) {
                    chosen.push((x2, sim, r));
                }
            }
            let order = |a: &(u32, f32, f32), b: &(u32, f32, f32)| by_sim_desc(&(a.0, a.1), &(b.0, b.1));
            if chosen.len() > self.k {
                chosen.select_nth_unstable_by(self.k - 1, order);
                chosen.truncate(self.k);
            }
            chosen.sort_unstable_by(order);
            return chosen;
        }
        for (&x2, &sim) in nb.iter().zip(sims) {
            if chosen.len() == self.k {
                break;
            }
            if let Some(r) = self.rows.get(x2 as usize, y) {
                chosen.push((x2, sim, r));
            }
        }
        chosen
    }

    /// `b_xy = μ + b_x + b_y`.
    fn baseline(&self, x: usize, y: u32) -> f32 {
        self.mu + self.bx[x] + self.by[y as usize]
    }

    /// User-based scores: `out[i] += sim · x_vi` for each neighbour `v`.
    pub(super) fn add_user_based(&self, neighbours: impl Iterator<Item = (u32, f32)>, out: &mut [f32]) {
        for (v, sim) in neighbours {
            let (items, vals) = self.rows.row(v as usize);
            for (&i, &x) in items.iter().zip(vals) {
                out[i as usize] += sim * x;
            }
        }
    }

    /// Item-based scores: `out[i] += sim(j, i) · x_j` over each history item `j`'s top-k `i`.
    pub(super) fn add_item_based(&self, history: (&[u32], &[f32]), out: &mut [f32]) {
        for (&j, &x) in history.0.iter().zip(history.1) {
            let (nb, sims) = self.neighbors.of(j as usize);
            for (&i, &sim) in nb.iter().zip(sims).take(self.k) {
                out[i as usize] += sim * x;
            }
        }
    }

    /// The top-k training users most similar to a new user's history (user-based only), by the
    /// model's measure over the item columns, best first.
    pub(super) fn fold_in_neighbours(&self, idx: &[u32], vals: &[f32]) -> Vec<(u32, f32)> {
        let vals: Vec<f32> = match self.measure.similarity {
            Similarity::PearsonBaseline => {
                // The new user's bias by the ALS user step, then residuals as in training.
                let dev: f64 =
                    idx.iter().zip(vals).map(|(&i, &r)| f64::from(r - self.mu - self.by[i as usize])).sum();
                let bu = (dev / (f64::from(self.fold_in_reg_u) + idx.len() as f64)) as f32;
                idx.iter().zip(vals).map(|(&i, &r)| r - self.mu - bu - self.by[i as usize]).collect()
            }
            Similarity::Cosine | Similarity::Pearson | Similarity::Msd => vals.to_vec(),
        };
        let cols = self.centred_cols.as_ref().unwrap_or(&self.cols);
        let mut acc = Acc::new(self.rows.n_rows());
        let mut cands =
            self.measure.candidates(&mut acc, (idx, &vals), norm(&vals), cols, &self.row_norms, None);
        keep_top(&mut cands, self.k);
        cands
    }

    /// Item-based similar items: the stored list, minus `exclude`.
    pub(super) fn stored_similar(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Vec<Scored> {
        let mut skip: Vec<u32> = exclude.iter().map(|e| e.0).collect();
        skip.sort_unstable();
        let (nb, sims) = self.neighbors.of(item.index());
        nb.iter()
            .zip(sims)
            .filter(|(i, _)| skip.binary_search(i).is_err())
            .take(n)
            .map(|(&i, &score)| Scored { item: ItemIdx(i), score })
            .collect()
    }

    /// The cosine [`KnnModel::cosine_similar`] gives `b` as a neighbour of `a` (the same sums
    /// in the same order: over the users of `a`); `None` when either column is empty.
    pub(super) fn cosine_pair(&self, a: ItemIdx, b: ItemIdx) -> Option<f32> {
        let mut dot = 0f64;
        let (users, vals) = self.cols.row(a.index());
        for (&u, &x) in users.iter().zip(vals) {
            if let Some(y) = self.rows.get(u as usize, b.0) {
                dot += f64::from(x) * f64::from(y);
            }
        }
        let den = f64::from(self.col_norms[a.index()]) * f64::from(self.col_norms[b.index()]);
        (den > 0.0).then(|| (dot / den) as f32)
    }

    /// User-based models store no item neighbours: cosine between item columns (full norms),
    /// computed on the fly through the users who have `item`.
    pub(super) fn cosine_similar(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Vec<Scored> {
        let mut dots = vec![0f64; self.n_items];
        let (users, vals) = self.cols.row(item.index());
        for (&u, &a) in users.iter().zip(vals) {
            let (items, bs) = self.rows.row(u as usize);
            for (&j, &b) in items.iter().zip(bs) {
                dots[j as usize] += f64::from(a) * f64::from(b);
            }
        }
        let norm_i = f64::from(self.col_norms[item.index()]);
        let mut scores: Vec<f32> = dots
            .iter()
            .zip(&self.col_norms)
            .map(|(&d, &nj)| {
                let den = norm_i * f64::from(nj);
                let sim = if den > 0.0 { (d / den) as f32 } else { 0.0 };
                if sim > 0.0 { sim } else { f32::NEG_INFINITY }
            })
            .collect();
        scores[item.index()] = f32::NEG_INFINITY;
        top_excluding(&mut scores, n, exclude)
    }
}
