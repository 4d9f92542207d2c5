//! A blender: a weighted combination of several models' normalised scores (linear ensembling,
//! as in the Netflix-prize blends; Koren 2009, "The BellKor solution to the Netflix grand prize").
//!
//! Each component scores every item; its score vector is standardised over the items it scores
//! (finite values: `z = (s − mean) / std`, or rescaled to [0, 1] with `min_max`), so that models
//! with different scales (cosines, dot products, counts) can be added; the blend's score is
//! `Σ_m w_m z_m`. The components are fitted independently on the same data and side information.
//! Weights are plain parameters (`weights.ials = 0.7`), so `aisle tune` can search them. Fold-in
//! and similar items combine the components' own (similar items: each component's top list,
//! standardised within the list).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::registry::{Component, Model, ModelSpec};
use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::recommender::{
    FitContext, FitError, ModelError, ModelParams, ParamError, Recommender, Scored, check_history,
    check_item, check_user, top_excluding,
};

const MODEL: &str = "blend";

/// How each component's scores are put on a common scale.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlendNorm {
    /// `(s − mean) / std` over the scored items.
    ZScore,
    /// `(s − min) / (max − min)`.
    MinMax,
}

/// Hyperparameters of [`BlendModel`]: the components by name with their weights, optional
/// parameter overrides per component, and the normalisation. Default: iALS and item-kNN with
/// equal weights, z-scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlendParams {
    /// Component model name → weight (finite, ≥ 0; at least one > 0).
    pub weights: BTreeMap<String, f32>,
    /// Component model name → parameters to override (the same JSON shape as the model's own).
    pub params: BTreeMap<String, serde_json::Value>,
    /// Score normalisation.
    pub norm: BlendNorm,
}

impl Default for BlendParams {
    fn default() -> Self {
        Self {
            weights: BTreeMap::from([("ials".to_owned(), 1.0), ("item-knn".to_owned(), 1.0)]),
            params: BTreeMap::new(),
            norm: BlendNorm::ZScore,
        }
    }
}

impl BlendParams {
    /// The component specs with their weights, in name order.
    fn components(&self) -> Result<Vec<(ModelSpec, f32)>, ParamError> {
        let mut out = Vec::with_capacity(self.weights.len());
        for (name, &w) in &self.weights {
            let bad = |reason: String| ParamError::new(MODEL, format!("weights.{name}"), reason);
            let mut spec: ModelSpec = name.parse().map_err(|e| bad(format!("{e}")))?;
            if matches!(spec, ModelSpec::Blend(_)) {
                return Err(bad("a blend cannot contain a blend".into()));
            }
            if let Some(over) = self.params.get(name) {
                spec.merge(over)
                    .map_err(|e| ParamError::new(MODEL, format!("params.{name}"), e.to_string()))?;
            }
            spec.validate().map_err(|e| bad(e.to_string()))?;
            out.push((spec, w));
        }
        Ok(out)
    }
}

impl ModelParams for BlendParams {
    type Model = BlendModel;

    fn validate(&self) -> Result<(), ParamError> {
        for (name, &w) in &self.weights {
            if !(w.is_finite() && w >= 0.0) {
                return Err(ParamError::new(MODEL, format!("weights.{name}"), "must be a finite number ≥ 0"));
            }
        }
        if !self.weights.values().any(|&w| w > 0.0) {
            return Err(ParamError::new(MODEL, "weights", "at least one component needs a weight > 0"));
        }
        if let Some(name) = self.params.keys().find(|n| !self.weights.contains_key(*n)) {
            return Err(ParamError::new(MODEL, format!("params.{name}"), "names no component of weights"));
        }
        self.components().map(|_| ())
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<BlendModel, FitError> {
        self.validate()?;
        let mut components = Vec::new();
        for (spec, w) in self.components()? {
            if w > 0.0 {
                components.push((spec.fit(data, ctx)?, w));
            }
        }
        Ok(BlendModel { components, norm: self.norm, n_users: data.n_users(), n_items: data.n_items() })
    }
}

/// A fitted [`BlendParams`] model: the fitted components and their weights.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "BlendParts")]
pub struct BlendModel {
    components: Vec<(Model, f32)>,
    norm: BlendNorm,
    n_users: usize,
    n_items: usize,
}

/// What [`BlendModel`] stores, its components read as [`Component`]s: a blend among them is
/// refused at its tag (fields in `BlendModel`'s order: binary formats read fields by position).
#[derive(Deserialize)]
struct BlendParts {
    components: Vec<(Component, f32)>,
    norm: BlendNorm,
    n_users: usize,
    n_items: usize,
}

impl TryFrom<BlendParts> for BlendModel {
    type Error = String;

    fn try_from(p: BlendParts) -> Result<Self, String> {
        let components = p.components.into_iter().map(|(m, w)| (Model::from(m), w)).collect();
        Ok(BlendModel { components, norm: p.norm, n_users: p.n_users, n_items: p.n_items })
    }
}

impl BlendModel {
    /// Every component checks and covers the blend's users and items (see
    /// [`crate::models::invariant`]).
    pub(crate) fn check(&self) -> crate::models::invariant::Check {
        for (model, _) in &self.components {
            // Checked before anything else is asked of it: its counts may divide by its sizes.
            model.check().map_err(|e| format!("component {}: {e}", model.name()))?;
            let (name, users, items) = (model.name(), model.n_users(), model.n_items());
            crate::models::invariant::ensure(users == self.n_users && items == self.n_items, || {
                format!(
                    "component {name} has {users} users and {items} items, the blend {} and {}",
                    self.n_users, self.n_items
                )
            })?;
        }
        Ok(())
    }

    /// The components' names and weights.
    pub fn components(&self) -> impl Iterator<Item = (&'static str, f32)> + '_ {
        self.components.iter().map(|(m, w)| (m.name(), *w))
    }

    /// `out = Σ w · normalise(score(model))`.
    fn blend(
        &self,
        out: &mut [f32],
        score: impl Fn(&Model, &mut [f32]) -> Result<(), ModelError>,
    ) -> Result<(), ModelError> {
        out.fill(0.0);
        let mut buf = vec![0f32; out.len()];
        for (model, w) in &self.components {
            score(model, &mut buf)?;
            normalise(&mut buf, self.norm);
            for (o, s) in out.iter_mut().zip(&buf) {
                *o += w * s;
            }
        }
        Ok(())
    }
}

/// Puts a score vector on a common scale (see [`BlendNorm`]); non-finite scores become 0, the
/// scale's neutral value, and a constant vector becomes all 0.
fn normalise(s: &mut [f32], norm: BlendNorm) {
    let finite = || s.iter().copied().filter(|x| x.is_finite());
    let (shift, scale) = match norm {
        BlendNorm::ZScore => {
            let (n, sum) = finite().fold((0usize, 0f64), |(n, t), x| (n + 1, t + f64::from(x)));
            let mean = if n == 0 { 0.0 } else { sum / n as f64 };
            let var = finite().map(|x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n.max(1) as f64;
            (mean as f32, var.sqrt() as f32)
        }
        BlendNorm::MinMax => {
            let (lo, hi) =
                finite().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
            (lo, hi - lo)
        }
    };
    for x in s.iter_mut() {
        *x = if x.is_finite() && scale > 0.0 { (*x - shift) / scale } else { 0.0 };
    }
}

impl Recommender for BlendModel {
    fn name(&self) -> &'static str {
        MODEL
    }

    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError> {
        check_user(self, user, out)?;
        self.blend(out, |m, buf| m.score_user(user, buf))
    }

    fn score_history(&self, history: &[(ItemIdx, f32)], out: &mut [f32]) -> Result<(), ModelError> {
        check_history(self, history, out)?;
        self.blend(out, |m, buf| m.score_history(history, buf))
    }

    fn similar_items(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        check_item(self, item)?;
        let mut total = vec![f32::NEG_INFINITY; self.n_items];
        let mut answered = false;
        for (model, w) in &self.components {
            let mut list = match model.similar_items(item, (4 * n).max(50), exclude) {
                Ok(list) => list,
                Err(ModelError::Unsupported { .. }) => continue,
                Err(e) => return Err(e),
            };
            answered = true;
            let mut scores: Vec<f32> = list.iter().map(|s| s.score).collect();
            normalise(&mut scores, self.norm);
            for (s, z) in list.iter_mut().zip(scores) {
                let t = &mut total[s.item.index()];
                *t = if t.is_finite() { *t + w * z } else { w * z };
            }
        }
        if !answered {
            return Err(ModelError::Unsupported {
                model: MODEL,
                operation: "similar items (no component has them)",
            });
        }
        Ok(top_excluding(&mut total, n, exclude))
    }

    fn predict(&self, _: UserIdx, _: ItemIdx) -> Result<f32, ModelError> {
        Err(ModelError::Unsupported { model: MODEL, operation: "rating prediction" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_standardises_and_neutralises() {
        let mut s = [1.0, 2.0, 3.0, f32::NEG_INFINITY];
        normalise(&mut s, BlendNorm::ZScore);
        let sd = (2.0f32 / 3.0).sqrt();
        assert!(
            (s[0] + 1.0 / sd).abs() < 1e-5 && s[1].abs() < 1e-6 && (s[2] - 1.0 / sd).abs() < 1e-5,
            "{s:?}"
        );
        assert_eq!(s[3], 0.0);
        let mut s = [2.0, 4.0, 3.0];
        normalise(&mut s, BlendNorm::MinMax);
        assert_eq!(s, [0.0, 1.0, 0.5]);
        let mut flat = [5.0; 3];
        normalise(&mut flat, BlendNorm::ZScore);
        assert_eq!(flat, [0.0; 3]);
    }

    #[test]
    fn components_are_validated_by_name() {
        let mut p = BlendParams::default();
        assert_eq!(p.validate(), Ok(()));
        p.weights.insert("nope".into(), 1.0);
        assert_eq!(p.validate().unwrap_err().field, "weights.nope");
        let mut p = BlendParams::default();
        p.weights.insert("blend".into(), 1.0);
        assert!(p.validate().unwrap_err().reason.contains("cannot contain a blend"));
        let mut p = BlendParams::default();
        p.params.insert("ials".into(), serde_json::json!({"factors": 0}));
        assert!(p.validate().unwrap_err().reason.contains("factors"));
        p.params.insert("ials".into(), serde_json::json!({"factors": 8}));
        assert_eq!(p.validate(), Ok(()));
        p.params.insert("svd".into(), serde_json::json!({}));
        assert_eq!(p.validate().unwrap_err().field, "params.svd");
        let zero = BlendParams { weights: BTreeMap::from([("ials".into(), 0.0)]), ..BlendParams::default() };
        assert_eq!(zero.validate().unwrap_err().field, "weights");
    }
}
