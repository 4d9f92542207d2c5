//! The closed set of models aisle knows: what config and the CLI build, and what the engine serves.
//!
//! [`ModelSpec`] holds validated-on-fit parameters of one model; [`Model`] holds the trained model and
//! dispatches the [`Recommender`] contract with exhaustive matches (no trait objects in hot paths).

use std::str::FromStr;

use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::models::baseline::{BaselineModel, BaselineParams};
use crate::models::knn::{KnnModel, KnnParams};
use crate::models::popularity::{PopularityKind, PopularityModel, PopularityParams};
use crate::models::svd::{SvdModel, SvdParams};
use crate::models::svdpp::{SvdPpModel, SvdPpParams};
use crate::recommender::{FitContext, FitError, ModelError, ModelParams, ParamError, Recommender, Scored};

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

    /// The model's name in [`ParamError`]s.
    fn label(&self) -> &'static str {
        match self {
            ModelSpec::Popularity(_) => "popularity",
            ModelSpec::Baseline(_) => "baseline",
            ModelSpec::Knn(_) => "knn",
            ModelSpec::Svd(_) => "svd",
            ModelSpec::SvdPp(_) => "svdpp",
        }
    }

    /// The parameters as JSON, the same shape config files and [`ModelSpec::set`] use.
    pub fn params(&self) -> serde_json::Value {
        let value = match self {
            ModelSpec::Popularity(p) => serde_json::to_value(p),
            ModelSpec::Baseline(p) => serde_json::to_value(p),
            ModelSpec::Knn(p) => serde_json::to_value(p),
            ModelSpec::Svd(p) => serde_json::to_value(p),
            ModelSpec::SvdPp(p) => serde_json::to_value(p),
        };
        value.expect("parameters are plain data")
    }

    /// Sets one parameter by its dotted path (`reg`, `method.als.epochs`, `prediction`) to
    /// `value`, read as JSON when it parses as JSON (numbers, booleans, objects) and as a string
    /// otherwise (`similarity=pearson`). The result is validated; on error nothing changes.
    pub fn set(&mut self, path: &str, value: &str) -> Result<(), ParamError> {
        let model = self.label();
        let mut params = self.params();
        let slot = lookup(&mut params, path).ok_or_else(|| {
            ParamError::new(
                model,
                path.to_owned(),
                format!("no such parameter; parameters: {}", self.params()),
            )
        })?;
        *slot = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        let bad = |e: serde_json::Error| ParamError::new(model, path.to_owned(), e.to_string());
        let updated = match self {
            ModelSpec::Popularity(_) => ModelSpec::Popularity(serde_json::from_value(params).map_err(bad)?),
            ModelSpec::Baseline(_) => ModelSpec::Baseline(serde_json::from_value(params).map_err(bad)?),
            ModelSpec::Knn(_) => ModelSpec::Knn(serde_json::from_value(params).map_err(bad)?),
            ModelSpec::Svd(_) => ModelSpec::Svd(serde_json::from_value(params).map_err(bad)?),
            ModelSpec::SvdPp(_) => ModelSpec::SvdPp(serde_json::from_value(params).map_err(bad)?),
        };
        updated.validate()?;
        *self = updated;
        Ok(())
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
            "trending" => ModelSpec::Popularity(PopularityParams {
                kind: PopularityKind::Trending,
                ..PopularityParams::default()
            }),
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

/// The JSON value at a dotted path inside an object, if every step exists.
fn lookup<'a>(value: &'a mut serde_json::Value, path: &str) -> Option<&'a mut serde_json::Value> {
    path.split('.').try_fold(value, |v, key| v.as_object_mut()?.get_mut(key))
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

    #[test]
    fn parameters_are_set_by_path_and_validated() {
        let mut svd: ModelSpec = "svd".parse().unwrap();
        svd.set("reg", "0.05").unwrap();
        svd.set("factors", "16").unwrap();
        let ModelSpec::Svd(p) = &svd else { panic!("still svd") };
        assert_eq!((p.reg, p.factors), (0.05, 16));
        assert_eq!(svd.params()["factors"], 16);

        let err = svd.set("factors", "0").unwrap_err();
        assert_eq!(err.field, "factors");
        let err = svd.set("nope", "1").unwrap_err();
        assert!(err.reason.contains("no such parameter"), "{err}");
        let err = svd.set("reg", "\"high\"").unwrap_err();
        assert_eq!(err.field, "reg");
        let ModelSpec::Svd(p) = &svd else { panic!("still svd") };
        assert_eq!(p.factors, 16, "a failed set changes nothing");

        let mut knn: ModelSpec = "item-knn".parse().unwrap();
        knn.set("similarity", "pearson").unwrap();
        let mut baseline: ModelSpec = "baseline".parse().unwrap();
        baseline.set("method.als.epochs", "3").unwrap();
        assert_eq!(baseline.params()["method"]["als"]["epochs"], 3);
    }
}
