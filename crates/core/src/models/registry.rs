//! The closed set of models aisle knows: what config and the CLI build, and what the engine serves.
//!
//! [`ModelSpec`] holds validated-on-fit parameters of one model; [`Model`] holds the trained model and
//! dispatches the [`Recommender`] contract with exhaustive matches (no trait objects in hot paths).

use std::str::FromStr;

use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::models::baseline::{BaselineModel, BaselineParams};
use crate::models::knn::{KnnModel, KnnParams};
use crate::models::popularity::{PopularityModel, PopularityParams};
use crate::models::svd::{SvdModel, SvdParams};
use crate::models::svdpp::{SvdPpModel, SvdPpParams};
use crate::recommender::{FitContext, FitError, ModelError, ModelParams, ParamError, Recommender, Scored};

/// Trending half-life used by the `trending` name: one week.
const TRENDING_HALF_LIFE_S: f64 = 7.0 * 24.0 * 3600.0;

/// Parameters of one known model.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSpec {
    /// Popularity or trending.
    Popularity(PopularityParams),
    /// Global mean + user and item biases.
    Baseline(BaselineParams),
    /// User- or item-based neighbourhood model (also kNN-with-baseline).
    Knn(KnnParams),
    /// Biased matrix factorization by SGD.
    Svd(SvdParams),
    /// SVD++.
    SvdPp(SvdPpParams),
}

/// A model name the CLI and config accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown model {given:?}; known: {}", ModelSpec::NAMES.join(", "))]
pub struct UnknownModel {
    /// What was given.
    pub given: String,
}

impl ModelSpec {
    /// Every name [`FromStr`] accepts, each with its documented defaults.
    pub const NAMES: [&'static str; 8] =
        ["pop", "trending", "baseline", "user-knn", "item-knn", "knn-baseline", "svd", "svdpp"];

    /// Validates the parameters, naming the first bad field.
    pub fn validate(&self) -> Result<(), ParamError> {
        match self {
            ModelSpec::Popularity(p) => p.validate(),
            ModelSpec::Baseline(p) => p.validate(),
            ModelSpec::Knn(p) => p.validate(),
            ModelSpec::Svd(p) => p.validate(),
            ModelSpec::SvdPp(p) => p.validate(),
        }
    }

    /// Trains the model on `data`.
    pub fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<Model, FitError> {
        Ok(match self {
            ModelSpec::Popularity(p) => Model::Popularity(p.fit(data, ctx)?),
            ModelSpec::Baseline(p) => Model::Baseline(p.fit(data, ctx)?),
            ModelSpec::Knn(p) => Model::Knn(Box::new(p.fit(data, ctx)?)),
            ModelSpec::Svd(p) => Model::Svd(p.fit(data, ctx)?),
            ModelSpec::SvdPp(p) => Model::SvdPp(p.fit(data, ctx)?),
        })
    }
}

impl FromStr for ModelSpec {
    type Err = UnknownModel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "pop" | "popularity" => ModelSpec::Popularity(PopularityParams::default()),
            "trending" => ModelSpec::Popularity(PopularityParams::trending(TRENDING_HALF_LIFE_S)),
            "baseline" => ModelSpec::Baseline(BaselineParams::default()),
            "user-knn" => ModelSpec::Knn(KnnParams::user()),
            "item-knn" => ModelSpec::Knn(KnnParams::item()),
            "knn-baseline" => ModelSpec::Knn(KnnParams::baseline()),
            "svd" => ModelSpec::Svd(SvdParams::default()),
            "svdpp" | "svd++" => ModelSpec::SvdPp(SvdPpParams::default()),
            _ => return Err(UnknownModel { given: s.to_owned() }),
        })
    }
}

/// A trained model of any known kind.
#[derive(Clone, Debug)]
pub enum Model {
    /// See [`PopularityModel`].
    Popularity(PopularityModel),
    /// See [`BaselineModel`].
    Baseline(BaselineModel),
    /// See [`KnnModel`].
    Knn(Box<KnnModel>),
    /// See [`SvdModel`].
    Svd(SvdModel),
    /// See [`SvdPpModel`].
    SvdPp(SvdPpModel),
}

impl Model {
    fn inner(&self) -> &dyn Recommender {
        match self {
            Model::Popularity(m) => m,
            Model::Baseline(m) => m,
            Model::Knn(m) => m.as_ref(),
            Model::Svd(m) => m,
            Model::SvdPp(m) => m,
        }
    }
}

impl Recommender for Model {
    fn name(&self) -> &'static str {
        self.inner().name()
    }

    fn n_users(&self) -> usize {
        self.inner().n_users()
    }

    fn n_items(&self) -> usize {
        self.inner().n_items()
    }

    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError> {
        self.inner().score_user(user, out)
    }

    fn score_history(&self, history: &[(ItemIdx, f32)], out: &mut [f32]) -> Result<(), ModelError> {
        self.inner().score_history(history, out)
    }

    fn similar_items(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        self.inner().similar_items(item, n, exclude)
    }

    fn predict(&self, user: UserIdx, item: ItemIdx) -> Result<f32, ModelError> {
        self.inner().predict(user, item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_and_validates() {
        for name in ModelSpec::NAMES {
            let spec: ModelSpec = name.parse().unwrap();
            spec.validate().unwrap();
        }
        let err = "svd2".parse::<ModelSpec>().unwrap_err();
        assert!(err.to_string().contains("knn-baseline"), "{err}");
    }
}
