//! Baseline biases: `r̂_ui = μ + b_u + b_i`, the global mean plus a user and an item offset.
//!
//! Koren 2010, "Factor in the neighbors: scalable and accurate collaborative filtering" (TKDD),
//! section 2.1, fits the biases by regularised least squares,
//! `min Σ_(u,i) (r_ui − μ − b_u − b_i)² + λ_u Σ_u b_u² + λ_i Σ_i b_i²`,
//! with the semantics (and defaults) of Surprise's `BaselineOnly` (`optimize_baselines.pyx`):
//!
//! - ALS (default: 10 epochs, `reg_u` 15, `reg_i` 10): each epoch first sets every
//!   `b_i = Σ_{u∈U_i} (r_ui − μ − b_u) / (reg_i + |U_i|)`, then every
//!   `b_u = Σ_{i∈I_u} (r_ui − μ − b_i) / (reg_u + |I_u|)`; biases start at zero.
//! - SGD (default: 20 epochs, learning rate 0.005, `reg` 0.02): for every rating, user by user in
//!   index order, `e = r − μ − b_u − b_i; b_u += lr (e − reg b_u); b_i += lr (e − reg b_i)`.
//!
//! Both are deterministic (no shuffling), so the seed is unused. The biases are reused by the kNN
//! models (`KnnPrediction::WithBaseline`, `Similarity::PearsonBaseline`) through [`Baselines`].

use rayon::prelude::*;

use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::recommender::{
    FitContext, FitError, ModelError, ModelParams, ParamError, Recommender, Scored, check_history,
    check_history_items, check_pair, check_user, check_user_items,
};

const MODEL: &str = "baseline";

/// How the biases are fitted.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BaselineMethod {
    /// Alternating least squares: closed-form item then user updates per epoch.
    Als {
        /// Passes over the data (Surprise default 10).
        epochs: usize,
        /// Regularisation of user biases (default 15).
        reg_u: f32,
        /// Regularisation of item biases (default 10).
        reg_i: f32,
    },
    /// Stochastic gradient descent over the ratings in user-then-item order.
    Sgd {
        /// Passes over the data (Surprise default 20).
        epochs: usize,
        /// Step size (default 0.005).
        learning_rate: f32,
        /// Weight decay of both biases (default 0.02).
        reg: f32,
    },
}

impl BaselineMethod {
    /// ALS with Surprise's defaults: 10 epochs, `reg_u` 15, `reg_i` 10.
    pub fn als() -> Self {
        Self::Als { epochs: 10, reg_u: 15.0, reg_i: 10.0 }
    }

    /// SGD with Surprise's defaults: 20 epochs, learning rate 0.005, `reg` 0.02.
    pub fn sgd() -> Self {
        Self::Sgd { epochs: 20, learning_rate: 0.005, reg: 0.02 }
    }
}

/// Parameters of [`BaselineModel`]. Default: [`BaselineMethod::als`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineParams {
    /// How the biases are fitted.
    pub method: BaselineMethod,
}

impl Default for BaselineParams {
    fn default() -> Self {
        Self { method: BaselineMethod::als() }
    }
}

/// The user regularisation fold-in uses with SGD fits, which have none of their own: Surprise's
/// ALS default.
const FOLD_IN_REG_U: f32 = 15.0;

impl BaselineParams {
    /// Checks every field, reporting errors under `model` (kNN models reuse these params).
    pub(crate) fn check(&self, model: &'static str) -> Result<(), ParamError> {
        let non_negative = |field, v: f32| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(ParamError::new(model, field, format!("must be finite and ≥ 0, got {v}")))
            }
        };
        let epochs = match self.method {
            BaselineMethod::Als { epochs, reg_u, reg_i } => {
                non_negative("reg_u", reg_u)?;
                non_negative("reg_i", reg_i)?;
                epochs
            }
            BaselineMethod::Sgd { epochs, learning_rate, reg } => {
                if !(learning_rate.is_finite() && learning_rate > 0.0) {
                    let reason = format!("must be finite and > 0, got {learning_rate}");
                    return Err(ParamError::new(model, "learning_rate", reason));
                }
                non_negative("reg", reg)?;
                epochs
            }
        };
        if epochs == 0 {
            return Err(ParamError::new(model, "epochs", "must be at least 1"));
        }
        Ok(())
    }

    /// The user regularisation used to fold in a new user's bias.
    pub(crate) fn fold_in_reg_u(&self) -> f32 {
        match self.method {
            BaselineMethod::Als { reg_u, .. } => reg_u,
            BaselineMethod::Sgd { .. } => FOLD_IN_REG_U,
        }
    }
}

/// Fitted biases: `μ`, one `b_u` per user and one `b_i` per item (zero for unseen ones).
///
/// A bias over no rating with zero regularisation is `0 / 0`, NaN, and is serialised as such
/// (see `floats`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Baselines {
    /// Global mean of the training values.
    pub mu: f32,
    /// User biases, indexed by user.
    #[serde(with = "crate::models::floats")]
    pub bu: Vec<f32>,
    /// Item biases, indexed by item.
    #[serde(with = "crate::models::floats")]
    pub bi: Vec<f32>,
}

impl Baselines {
    /// Fits the biases to `data` (reporting each epoch as model `baseline`; a stop request ends the
    /// fit after the current epoch). Empty data gives all-zero biases.
    pub fn estimate(data: &Interactions, params: &BaselineParams, ctx: &FitContext<'_>) -> Baselines {
        let mu = data.mean();
        let (bu, bi) = match params.method {
            BaselineMethod::Als { epochs, reg_u, reg_i } => als(data, mu, epochs, reg_u, reg_i, ctx),
            BaselineMethod::Sgd { epochs, learning_rate, reg } => {
                sgd(data, mu, epochs, f64::from(learning_rate), f64::from(reg), ctx)
            }
        };
        let narrow = |v: Vec<f64>| v.into_iter().map(|b| b as f32).collect();
        Baselines { mu: mu as f32, bu: narrow(bu), bi: narrow(bi) }
    }

    /// `μ + b_u + b_i`, unclipped.
    pub fn predict(&self, user: UserIdx, item: ItemIdx) -> f32 {
        self.mu + self.bu[user.index()] + self.bi[item.index()]
    }

    /// The bias of a user the fit never saw, from their (item, value) history:
    /// `b_u = Σ (r − μ − b_i) / (reg_u + n)`, the ALS user step.
    pub fn fold_in_user(&self, history: &[(ItemIdx, f32)], reg_u: f32) -> f32 {
        let dev: f64 = history.iter().map(|&(i, r)| f64::from(r - self.mu - self.bi[i.index()])).sum();
        (dev / (f64::from(reg_u) + history.len() as f64)) as f32
    }
}

/// `Σ (r − μ − b_other) / (reg + n)` over one row, in f64 like Surprise.
fn als_step(indices: &[u32], values: &[f32], other: &[f64], mu: f64, reg: f64) -> f64 {
    let dev: f64 = indices.iter().zip(values).map(|(&j, &r)| f64::from(r) - mu - other[j as usize]).sum();
    dev / (reg + indices.len() as f64)
}

fn als(
    data: &Interactions,
    mu: f64,
    epochs: usize,
    reg_u: f32,
    reg_i: f32,
    ctx: &FitContext<'_>,
) -> (Vec<f64>, Vec<f64>) {
    let mut bu = vec![0f64; data.n_users()];
    let mut bi = vec![0f64; data.n_items()];
    for epoch in 1..=epochs {
        // Every item from the previous user biases, then every user from the new item biases.
        bi.par_iter_mut().enumerate().for_each(|(i, b)| {
            let col = data.item(ItemIdx(i as u32));
            *b = als_step(col.indices, col.values, &bu, mu, f64::from(reg_i));
        });
        bu.par_iter_mut().enumerate().for_each(|(u, b)| {
            let row = data.user(UserIdx(u as u32));
            *b = als_step(row.indices, row.values, &bi, mu, f64::from(reg_u));
        });
        if ctx.report(MODEL, epoch, epochs, None) {
            break;
        }
    }
    (bu, bi)
}

fn sgd(
    data: &Interactions,
    mu: f64,
    epochs: usize,
    lr: f64,
    reg: f64,
    ctx: &FitContext<'_>,
) -> (Vec<f64>, Vec<f64>) {
    let mut bu = vec![0f64; data.n_users()];
    let mut bi = vec![0f64; data.n_items()];
    for epoch in 1..=epochs {
        let mut sq = 0f64;
        for e in data.iter() {
            let (u, i) = (e.user.index(), e.item.index());
            let err = f64::from(e.value) - (mu + bu[u] + bi[i]);
            sq += err * err;
            bu[u] += lr * (err - reg * bu[u]);
            bi[i] += lr * (err - reg * bi[i]);
        }
        let loss = sq / data.nnz().max(1) as f64;
        if ctx.report(MODEL, epoch, epochs, Some(loss)) {
            break;
        }
    }
    (bu, bi)
}

/// Predicts `μ + b_u + b_i`; ranks items by `b_i` for everyone.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BaselineModel {
    baselines: Baselines,
    fold_in_reg_u: f32,
    range: (f32, f32),
}

impl BaselineModel {
    /// The clipping range predictions use (see [`crate::models::invariant`]).
    pub(crate) fn check(&self) -> crate::models::invariant::Check {
        crate::models::invariant::range("range", self.range)
    }

    /// The fitted biases.
    pub fn baselines(&self) -> &Baselines {
        &self.baselines
    }
}

impl ModelParams for BaselineParams {
    type Model = BaselineModel;

    fn validate(&self) -> Result<(), ParamError> {
        self.check(MODEL)
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<BaselineModel, FitError> {
        self.validate()?;
        if data.nnz() == 0 {
            return Err(FitError::EmptyData { model: MODEL });
        }
        let baselines = Baselines::estimate(data, self, ctx);
        Ok(BaselineModel { baselines, fold_in_reg_u: self.fold_in_reg_u(), range: data.value_range() })
    }
}

impl BaselineModel {
    fn fill(&self, bu: f32, out: &mut [f32]) {
        let base = self.baselines.mu + bu;
        for (o, &bi) in out.iter_mut().zip(&self.baselines.bi) {
            *o = base + bi;
        }
    }

    /// [`BaselineModel::fill`] for `items` (checked) alone, by the same additions.
    fn fill_items(&self, bu: f32, items: &[ItemIdx], out: &mut [f32]) {
        let base = self.baselines.mu + bu;
        for (o, i) in out.iter_mut().zip(items) {
            *o = base + self.baselines.bi[i.index()];
        }
    }
}

impl Recommender for BaselineModel {
    fn name(&self) -> &'static str {
        MODEL
    }

    fn n_users(&self) -> usize {
        self.baselines.bu.len()
    }

    fn n_items(&self) -> usize {
        self.baselines.bi.len()
    }

    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError> {
        check_user(self, user, out)?;
        self.fill(self.baselines.bu[user.index()], out);
        Ok(())
    }

    fn score_history(&self, history: &[(ItemIdx, f32)], out: &mut [f32]) -> Result<(), ModelError> {
        check_history(self, history, out)?;
        self.fill(self.baselines.fold_in_user(history, self.fold_in_reg_u), out);
        Ok(())
    }

    fn score_user_items(&self, user: UserIdx, items: &[ItemIdx], out: &mut [f32]) -> Result<(), ModelError> {
        check_user_items(self, user, items, out)?;
        self.fill_items(self.baselines.bu[user.index()], items, out);
        Ok(())
    }

    fn score_history_items(
        &self,
        history: &[(ItemIdx, f32)],
        items: &[ItemIdx],
        out: &mut [f32],
    ) -> Result<(), ModelError> {
        check_history_items(self, history, items, out)?;
        self.fill_items(self.baselines.fold_in_user(history, self.fold_in_reg_u), items, out);
        Ok(())
    }

    fn similar_items(&self, _: ItemIdx, _: usize, _: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        Err(ModelError::Unsupported { model: MODEL, operation: "similar items" })
    }

    fn predict(&self, user: UserIdx, item: ItemIdx) -> Result<f32, ModelError> {
        check_pair(self, user, item)?;
        Ok(self.baselines.predict(user, item).clamp(self.range.0, self.range.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Feedback, Interaction};

    /// Two users, two items: u0 rates i0 = 5, i1 = 3; u1 rates i0 = 4. μ = 4.
    fn data() -> Interactions {
        let e = |u, i, v| Interaction { user: UserIdx(u), item: ItemIdx(i), value: v, ts: 0 };
        Interactions::new(2, 3, Feedback::Explicit, vec![e(0, 0, 5.0), e(0, 1, 3.0), e(1, 0, 4.0)]).unwrap()
    }

    fn close(a: f32, b: f64) -> bool {
        (f64::from(a) - b).abs() < 1e-6
    }

    #[test]
    fn one_als_epoch_matches_hand_computation() {
        let p = BaselineParams { method: BaselineMethod::Als { epochs: 1, reg_u: 1.0, reg_i: 2.0 } };
        let b = Baselines::estimate(&data(), &p, &FitContext::seeded(0));
        assert!(close(b.mu, 4.0));
        // Items first with b_u = 0: b_i0 = (1 + 0) / (2 + 2) = 0.25, b_i1 = (−1) / (2 + 1) = −1/3.
        assert!(close(b.bi[0], 0.25) && close(b.bi[1], -1.0 / 3.0) && close(b.bi[2], 0.0));
        // Then users: b_u0 = ((5−4−0.25) + (3−4+1/3)) / (1 + 2) = (0.75 − 2/3) / 3; b_u1 = −0.25 / 2.
        assert!(close(b.bu[0], (0.75 - 2.0 / 3.0) / 3.0));
        assert!(close(b.bu[1], -0.125));
    }

    #[test]
    fn one_sgd_epoch_matches_hand_computation() {
        let p = BaselineParams { method: BaselineMethod::Sgd { epochs: 1, learning_rate: 0.1, reg: 0.5 } };
        let b = Baselines::estimate(&data(), &p, &FitContext::seeded(0));
        // (u0, i0): e = 1 → bu0 = 0.1, bi0 = 0.1. (u0, i1): e = −1 − 0.1 = −1.1 →
        // bu0 = 0.1 + 0.1 (−1.1 − 0.05) = −0.015, bi1 = −0.11. (u1, i0): e = −0.1 →
        // bu1 = −0.01, bi0 = 0.1 + 0.1 (−0.1 − 0.05) = 0.085.
        assert!(close(b.bu[0], -0.015) && close(b.bu[1], -0.01));
        assert!(close(b.bi[0], 0.085) && close(b.bi[1], -0.11));
    }

    #[test]
    fn model_predicts_clipped_scores_and_folds_in() {
        let m = BaselineParams::default().fit(&data(), &FitContext::seeded(0)).unwrap();
        let b = m.baselines().clone();
        let p = m.predict(UserIdx(0), ItemIdx(1)).unwrap();
        assert!(close(p, f64::from((b.mu + b.bu[0] + b.bi[1]).clamp(3.0, 5.0))));
        let mut out = [0f32; 3];
        m.score_user(UserIdx(1), &mut out).unwrap();
        assert!(close(out[2], f64::from(b.mu + b.bu[1])));
        // Fold-in: b_u = (5 − μ − b_i0) / (15 + 1).
        m.score_history(&[(ItemIdx(0), 5.0)], &mut out).unwrap();
        let bu = (5.0 - b.mu - b.bi[0]) / 16.0;
        assert!(close(out[1], f64::from(b.mu + bu + b.bi[1])));
        assert!(matches!(m.similar_items(ItemIdx(0), 1, &[]), Err(ModelError::Unsupported { .. })));
        assert!(matches!(m.predict(UserIdx(2), ItemIdx(0)), Err(ModelError::UnknownUser { .. })));
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |method| BaselineParams { method }.validate().unwrap_err().field;
        assert_eq!(bad(BaselineMethod::Als { epochs: 0, reg_u: 1.0, reg_i: 1.0 }), "epochs");
        assert_eq!(bad(BaselineMethod::Als { epochs: 1, reg_u: -1.0, reg_i: 1.0 }), "reg_u");
        assert_eq!(bad(BaselineMethod::Als { epochs: 1, reg_u: 1.0, reg_i: f32::NAN }), "reg_i");
        assert_eq!(bad(BaselineMethod::Sgd { epochs: 1, learning_rate: 0.0, reg: 0.0 }), "learning_rate");
        assert_eq!(bad(BaselineMethod::Sgd { epochs: 1, learning_rate: 0.1, reg: -0.1 }), "reg");
        let empty = Interactions::new(1, 1, Feedback::Explicit, vec![]).unwrap();
        let err = BaselineParams::default().fit(&empty, &FitContext::seeded(0)).unwrap_err();
        assert_eq!(err, FitError::EmptyData { model: MODEL });
    }
}
