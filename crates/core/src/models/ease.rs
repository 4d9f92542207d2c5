//! EASE, an embarrassingly shallow autoencoder (Steck 2019, "Embarrassingly shallow autoencoders
//! for sparse data").
//!
//! A linear item-item model: scores are `x_u B` for the user's interaction row `x_u`. Objective:
//! `min_B |X − XB|²_F + λ|B|²_F` subject to `diag(B) = 0` (an item may not predict itself). The
//! closed form: with `P = (XᵀX + λI)⁻¹`, `B = I − P·diag(1/diag(P))`, i.e. `B_ij = −P_ij / P_jj`
//! off the diagonal and 0 on it. `XᵀX` is built from the sparse rows (rayon over item rows), then
//! Cholesky-factored and inverted by faer in place, in f32.
//!
//! The cost is dense in the catalog: about `12·n²` bytes at the peak (the Gram matrix, its
//! inverse and faer's workspace) and `n³` flops for `n` items. Catalogs beyond `max_items` are
//! refused with an error that names the alternatives (iALS or item-kNN scale with the data, not
//! with the square of the catalog).
//!
//! Fold-in is the model itself: an unseen user's scores are `x B` for their history `x`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::simd::add_rows;
use super::sparse::Sparse;
use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::recommender::{
    FitContext, FitError, ModelError, ModelParams, ParamError, Recommender, Scored, check_history,
    check_item, check_user, top_excluding,
};

const MODEL: &str = "ease";

/// Hyperparameters of [`EaseModel`]. Default `λ` as measured on MovieLens 100k and
/// ml-latest-small (see `docs/benchmarks.md`); Steck used 500 on the far larger MovieLens 20M.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EaseParams {
    /// L2 penalty `λ` (finite, > 0).
    pub reg: f32,
    /// Train on 0/1 interactions (as the paper does) instead of their values.
    pub binary: bool,
    /// The largest catalog EASE accepts (≥ 1); past it, fitting fails with an error naming iALS
    /// and item-kNN. Default 20,000 items (≈ 4.8 GB at the peak).
    pub max_items: usize,
}

impl Default for EaseParams {
    fn default() -> Self {
        Self { reg: 400.0, binary: true, max_items: 20_000 }
    }
}

impl ModelParams for EaseParams {
    type Model = EaseModel;

    fn validate(&self) -> Result<(), ParamError> {
        if !(self.reg.is_finite() && self.reg > 0.0) {
            return Err(ParamError::new(MODEL, "reg", "must be a finite number > 0"));
        }
        if self.max_items == 0 {
            return Err(ParamError::new(MODEL, "max_items", "must be at least 1"));
        }
        Ok(())
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<EaseModel, FitError> {
        self.validate()?;
        if data.nnz() == 0 {
            return Err(FitError::EmptyData { model: MODEL });
        }
        let n = data.n_items();
        if n > self.max_items {
            let bytes = 12.0 * (n as f64).powi(2);
            let size = if bytes >= 1e9 {
                format!("{:.1} GB", bytes / 1e9)
            } else {
                format!("{:.0} MB", bytes / 1e6)
            };
            return Err(FitError::Unfit {
                model: MODEL,
                reason: format!(
                    "the catalog has {n} items, more than max_items = {} (EASE needs about {size} \
                     and n³ flops for n items); use ials or item-knn, which scale with the data, \
                     or raise ease.max_items",
                    self.max_items
                ),
            });
        }
        let value = |v: f32| if self.binary { 1.0 } else { v };
        let mut g = gram(data, value);
        for i in 0..n {
            g[i * n + i] += self.reg;
        }
        let p = invert_spd(g, n).ok_or_else(|| FitError::Unfit {
            model: MODEL,
            reason: "XᵀX + λI is not positive definite (non-finite data?)".to_owned(),
        })?;
        ctx.report(MODEL, 1, 1, None);
        let rows = Sparse::collect(data.n_users(), |u| data.user(UserIdx(u)));
        Ok(EaseModel { n, weights: to_b(p, n), binary: self.binary, rows })
    }
}

/// `XᵀX` as a dense row-major `n × n` matrix: row `i` sums `x_ui · x_u` over the users of `i`.
fn gram(data: &Interactions, value: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let n = data.n_items();
    let mut g = vec![0f32; n * n];
    g.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        let users = data.item(ItemIdx(i as u32));
        for (u, xi) in users.iter() {
            let xi = value(xi);
            for (j, xj) in data.user(UserIdx(u)).iter() {
                row[j as usize] += xi * value(xj);
            }
        }
    });
    g
}

/// `A⁻¹` of a symmetric positive definite `n × n` matrix (row- = column-major), by Cholesky in
/// place and faer's triangular inverse; `None` if `A` is not positive definite.
fn invert_spd(mut a: Vec<f32>, n: usize) -> Option<Vec<f32>> {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::cholesky::llt::{factor, inverse};
    use faer::{MatMut, MatRef, Par};
    let par = Par::rayon(0);
    {
        let req = factor::cholesky_in_place_scratch::<f32>(n, par, Default::default());
        let mut buf = MemBuffer::new(req);
        let l = MatMut::from_column_major_slice_mut(&mut a, n, n);
        factor::cholesky_in_place(l, Default::default(), par, MemStack::new(&mut buf), Default::default())
            .ok()?;
    }
    let mut out = vec![0f32; n * n];
    let mut buf = MemBuffer::new(inverse::inverse_scratch::<f32>(n, par));
    let l = MatRef::from_column_major_slice(&a, n, n);
    inverse::inverse(MatMut::from_column_major_slice_mut(&mut out, n, n), l, par, MemStack::new(&mut buf));
    drop(a);
    // faer writes the lower triangle of the symmetric inverse; mirror it.
    for c in 0..n {
        for r in c + 1..n {
            out[r * n + c] = out[c * n + r];
        }
    }
    out.iter().all(|v| v.is_finite()).then_some(out)
}

/// `B = I − P·diag(1/diag(P))` in place, row-major: `B_ij = −P_ij / P_jj`, `B_ii = 0`.
fn to_b(mut p: Vec<f32>, n: usize) -> Vec<f32> {
    let diag: Vec<f32> = (0..n).map(|j| p[j * n + j]).collect();
    p.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for (b, d) in row.iter_mut().zip(&diag) {
            *b = -*b / d;
        }
        row[i] = 0.0;
    });
    p
}

/// A trained [`EaseParams`] model: the `n × n` item-item weights and the training rows they
/// score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EaseModel {
    n: usize,
    /// `B`, row-major: row `i` is what item `i` contributes to every item's score.
    #[serde(with = "crate::models::floats")]
    weights: Vec<f32>,
    binary: bool,
    /// Each training user's row `x_u`.
    rows: Sparse,
}

impl EaseModel {
    /// The shapes serving indexes by (see [`crate::models::invariant`]).
    pub(crate) fn check(&self) -> crate::models::invariant::Check {
        crate::models::invariant::matrix("weights", self.weights.len(), self.n, self.n)?;
        self.rows.check_cols("training rows", self.n)
    }

    /// `B_ij`: how much an interaction with `i` adds to the score of `j`.
    pub fn weight(&self, i: ItemIdx, j: ItemIdx) -> f32 {
        self.weights[i.index() * self.n + j.index()]
    }

    /// `out = Σ x_i B[i, :]` over `(item, value)` pairs (values 1 for a binary model; zero and
    /// non-finite values carry nothing).
    fn score_row(&self, entries: impl Iterator<Item = (u32, f32)>, out: &mut [f32]) {
        let (rows, coef): (Vec<u32>, Vec<f32>) = entries
            .filter(|(_, v)| v.is_finite() && *v != 0.0)
            .map(|(i, v)| (i, if self.binary { 1.0 } else { v }))
            .unzip();
        out.fill(0.0);
        add_rows(&self.weights, self.n, &rows, &coef, out);
    }
}

impl Recommender for EaseModel {
    fn name(&self) -> &'static str {
        MODEL
    }

    fn n_users(&self) -> usize {
        self.rows.n_rows()
    }

    fn n_items(&self) -> usize {
        self.n
    }

    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError> {
        check_user(self, user, out)?;
        let (items, values) = self.rows.row(user.index());
        self.score_row(items.iter().copied().zip(values.iter().copied()), out);
        Ok(())
    }

    fn score_history(&self, history: &[(ItemIdx, f32)], out: &mut [f32]) -> Result<(), ModelError> {
        check_history(self, history, out)?;
        self.score_row(history.iter().map(|&(i, v)| (i.0, v)), out);
        Ok(())
    }

    fn similar_items(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        check_item(self, item)?;
        let mut scores = self.weights[item.index() * self.n..(item.index() + 1) * self.n].to_vec();
        scores[item.index()] = f32::NEG_INFINITY;
        Ok(top_excluding(&mut scores, n, exclude))
    }

    /// `B_ab`, what [`Recommender::similar_items`] ranks by (0 for an item with itself).
    fn item_affinity(&self, a: ItemIdx, b: ItemIdx) -> Option<f32> {
        (a.index() < self.n && b.index() < self.n).then(|| self.weight(a, b))
    }

    fn predict(&self, _: UserIdx, _: ItemIdx) -> Result<f32, ModelError> {
        Err(ModelError::Unsupported { model: MODEL, operation: "rating prediction" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Feedback, Interaction};

    #[test]
    fn weights_match_the_closed_form_by_hand() {
        // X = [[1, 1], [1, 0]]: XᵀX = [[2, 1], [1, 1]]; λ = 1: P = (XᵀX + I)⁻¹ = [[2, −1], [−1, 3]] / 5.
        // B_01 = −P_01 / P_11 = 1/3, B_10 = −P_10 / P_00 = 1/2, diagonal 0.
        let e = |u, i| Interaction { user: UserIdx(u), item: ItemIdx(i), value: 4.0, ts: 0 };
        let data = Interactions::new(2, 2, Feedback::Implicit, vec![e(0, 0), e(0, 1), e(1, 0)]).unwrap();
        let m = EaseParams { reg: 1.0, ..EaseParams::default() }.fit(&data, &FitContext::seeded(0)).unwrap();
        let close = |a: f32, b: f32| assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        close(m.weight(ItemIdx(0), ItemIdx(1)), 1.0 / 3.0);
        close(m.weight(ItemIdx(1), ItemIdx(0)), 0.5);
        close(m.weight(ItemIdx(0), ItemIdx(0)), 0.0);
        // User 1 (item 0 only) scores item 1 with B_01; fold-in of the same history agrees.
        let (mut s, mut f) = ([0f32; 2], [0f32; 2]);
        m.score_user(UserIdx(1), &mut s).unwrap();
        m.score_history(&[(ItemIdx(0), 4.0)], &mut f).unwrap();
        close(s[1], 1.0 / 3.0);
        assert_eq!(s, f);
    }

    #[test]
    fn large_catalogs_are_refused_naming_the_alternatives() {
        let data = Interactions::new(1, 5, Feedback::Implicit, vec![]).unwrap();
        let p = EaseParams { max_items: 4, ..EaseParams::default() };
        assert_eq!(p.fit(&data, &FitContext::seeded(0)).unwrap_err(), FitError::EmptyData { model: "ease" });
        let e = Interaction { user: UserIdx(0), item: ItemIdx(0), value: 1.0, ts: 0 };
        let data = Interactions::new(1, 5, Feedback::Implicit, vec![e]).unwrap();
        match p.fit(&data, &FitContext::seeded(0)) {
            Err(FitError::Unfit { reason, .. }) => {
                assert!(
                    reason.contains("max_items = 4")
                        && reason.contains("ials")
                        && reason.contains("item-knn"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(EaseParams { reg: 0.0, ..EaseParams::default() }.validate().unwrap_err().field, "reg");
    }
}
