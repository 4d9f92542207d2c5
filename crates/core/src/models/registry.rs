//! The closed set of models aisle knows: what config and the CLI build, and what the engine serves.
//!
//! [`ModelSpec`] holds validated-on-fit parameters of one model; [`Model`] holds the trained model and
//! dispatches the [`Recommender`] contract with exhaustive matches (no trait objects in hot paths).
//! Both enums and every match over them are generated from one table (`known_models!`), so adding
//! a model is one line there plus its name in [`ModelSpec::from_str`].

use std::str::FromStr;

use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::models::baseline::{BaselineModel, BaselineParams};
use crate::models::blend::{BlendModel, BlendParams};
use crate::models::bpr::{BprModel, BprParams};
use crate::models::content::{ContentModel, ContentParams};
use crate::models::ease::{EaseModel, EaseParams};
use crate::models::hybrid::{HybridModel, HybridParams};
use crate::models::ials::{IalsModel, IalsParams};
use crate::models::knn::{KnnModel, KnnParams};
use crate::models::popularity::{PopularityKind, PopularityModel, PopularityParams};
use crate::models::sasrec::{SasrecModel, SasrecParams};
use crate::models::session::rules::{RulesModel, RulesParams};
use crate::models::session::sknn::{SknnModel, SknnParams};
use crate::models::svd::{SvdModel, SvdParams};
use crate::models::svdpp::{SvdPpModel, SvdPpParams};
use crate::recommender::{
    Block, Bounded, FitContext, FitError, ModelError, ModelParams, ParamError, Query, Recommender, Scored,
};

/// Generates [`ModelSpec`], [`Model`] and their exhaustive dispatches from `Variant(Params =>
/// Model, "label", "doc")` rows, and [`Component`] from the rows before the `;` (the kinds a blend
/// may hold: every kind but the blend, which comes last). Trained models are boxed: they are
/// large and few.
macro_rules! known_models {
    (
        $($leaf:ident($lparams:ty => $lmodel:ty, $llabel:literal, $ldoc:literal)),+ ;
        $blend:ident($bparams:ty => $bmodel:ty, $blabel:literal, $bdoc:literal) $(,)?
    ) => {
        known_models!(@all
            $($leaf($lparams => $lmodel, $llabel, $ldoc),)+
            $blend($bparams => $bmodel, $blabel, $bdoc)
        );

        /// A model a blend may hold: [`Model`] without the blend, variant for variant (the same
        /// names and positions, so it reads what `Model` writes). A blend's components decode
        /// as this, so a blend inside a blend is refused at its tag, before any nesting.
        #[derive(serde::Deserialize)]
        pub(crate) enum Component {
            $($leaf(Box<$lmodel>),)+
        }

        impl From<Component> for Model {
            fn from(c: Component) -> Model {
                match c {
                    $(Component::$leaf(m) => Model::$leaf(m),)+
                }
            }
        }
    };
    (@all $($variant:ident($params:ty => $model:ty, $label:literal, $doc:literal)),+) => {
        /// Parameters of one known model.
        #[derive(Clone, Debug, PartialEq)]
        pub enum ModelSpec {
            $(#[doc = $doc] $variant($params),)+
        }

        /// A trained model of any known kind. It serialises with serde to any format (the engine
        /// stores artifacts as postcard) and reloads bit for bit: the same scores, fold-ins and
        /// similar items as the model that was saved.
        #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
        pub enum Model {
            $(#[doc = $doc] $variant(Box<$model>),)+
        }

        impl ModelSpec {
            /// Validates the parameters, naming the first bad field.
            pub fn validate(&self) -> Result<(), ParamError> {
                match self {
                    $(ModelSpec::$variant(p) => p.validate(),)+
                }
            }

            /// The model's name in [`ParamError`]s.
            fn label(&self) -> &'static str {
                match self {
                    $(ModelSpec::$variant(_) => $label,)+
                }
            }

            /// The parameters as JSON, the same shape config files and [`ModelSpec::set`] use.
            pub fn params(&self) -> serde_json::Value {
                let value = match self {
                    $(ModelSpec::$variant(p) => serde_json::to_value(p),)+
                };
                value.expect("parameters are plain data")
            }

            /// The same kind of model with parameters read from `params` (all of them).
            fn with_params(&self, params: serde_json::Value) -> Result<ModelSpec, serde_json::Error> {
                Ok(match self {
                    $(ModelSpec::$variant(_) => ModelSpec::$variant(serde_json::from_value(params)?),)+
                })
            }

            /// Trains the model on `data`.
            pub fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<Model, FitError> {
                Ok(match self {
                    $(ModelSpec::$variant(p) => Model::$variant(Box::new(p.fit(data, ctx)?)),)+
                })
            }
        }

        impl Model {
            /// Whether this model, decoded from stored bytes, may serve: the shapes its methods
            /// index by agree, and nothing in it would panic a call or make one unbounded (see
            /// `models/invariant.rs`). Every fitted model passes.
            pub fn check(&self) -> Result<(), String> {
                match self {
                    $(Model::$variant(m) => m.check(),)+
                }
            }

            fn inner(&self) -> &dyn Recommender {
                match self {
                    $(Model::$variant(m) => m.as_ref(),)+
                }
            }
        }
    };
}

known_models! {
    Popularity(PopularityParams => PopularityModel, "popularity", "Popularity or trending."),
    Baseline(BaselineParams => BaselineModel, "baseline", "Global mean + user and item biases."),
    Knn(KnnParams => KnnModel, "knn", "User- or item-based neighbourhood model (also kNN-with-baseline)."),
    Svd(SvdParams => SvdModel, "svd", "Biased matrix factorization by SGD."),
    SvdPp(SvdPpParams => SvdPpModel, "svdpp", "SVD++."),
    Ials(IalsParams => IalsModel, "ials", "Implicit alternating least squares."),
    Bpr(BprParams => BprModel, "bpr", "Bayesian personalised ranking."),
    Ease(EaseParams => EaseModel, "ease", "The EASE item-item autoencoder."),
    Content(ContentParams => ContentModel, "content", "Content-based TF-IDF similarity."),
    Hybrid(HybridParams => HybridModel, "hybrid", "LightFM-style hybrid factorisation (WARP or BPR)."),
    Sknn(SknnParams => SknnModel, "sknn", "Session-based kNN (V-SKNN)."),
    Rules(RulesParams => RulesModel, "sr", "Sequential rules, or item-to-item transitions (`markov`)."),
    Sasrec(SasrecParams => SasrecModel, "sasrec", "SASRec: self-attentive next-item prediction.");
    Blend(BlendParams => BlendModel, "blend", "A weighted blend of other models' normalised scores."),
}

/// A factor model's learned vectors, as `aisle export` writes them: row `u` of `users` (and
/// `i` of `items`) is `dim` floats, row-major; biases are empty for the models without them.
#[derive(Clone, Copy, Debug)]
pub struct Factors<'a> {
    /// The latent dimension.
    pub dim: usize,
    /// User vectors, `n_users × dim`.
    pub users: &'a [f32],
    /// Item vectors, `n_items × dim`.
    pub items: &'a [f32],
    /// `b_u` per user (SVD, SVD++), else empty.
    pub user_bias: &'a [f32],
    /// `b_i` per item, else empty.
    pub item_bias: &'a [f32],
    /// `μ`, the training mean of the rating models; `None` for the others.
    pub global_mean: Option<f32>,
}

impl Model {
    /// The vectors of a factor model (SVD, SVD++, iALS, BPR, the hybrid); `None` for the others,
    /// whose state is not one vector per user and item.
    pub fn factors(&self) -> Option<Factors<'_>> {
        use crate::models::latent::LatentModel;
        fn latent(l: &crate::models::latent::Latent) -> Factors<'_> {
            Factors {
                dim: l.dim(),
                users: l.user_factors(),
                items: l.item_factors(),
                user_bias: &[],
                item_bias: l.item_biases(),
                global_mean: None,
            }
        }
        fn core(c: &crate::models::factors::FactorCore) -> Factors<'_> {
            Factors {
                dim: c.dim(),
                users: c.user_factors(),
                items: c.item_factors(),
                user_bias: if c.biased { c.user_biases() } else { &[] },
                item_bias: if c.biased { c.item_biases() } else { &[] },
                global_mean: Some(c.global_mean()),
            }
        }
        match self {
            Model::Ials(m) => Some(latent(m.latent())),
            Model::Bpr(m) => Some(latent(m.latent())),
            Model::Hybrid(m) => Some(latent(m.latent())),
            Model::Svd(m) => Some(core(m.core())),
            Model::SvdPp(m) => Some(core(m.core())),
            _ => None,
        }
    }
}

impl Model {
    /// A vector for an unseen user with `history` (item, value) pairs, in the space of the user
    /// vectors [`Model::factors`] gives: what [`Recommender::score_history`] scores from. `None` for
    /// the models without one vector per user to fold into (iALS, BPR and the hybrid have one);
    /// an error for an item the model does not know.
    pub fn fold_in(&self, history: &[(ItemIdx, f32)]) -> Result<Option<Vec<f32>>, ModelError> {
        use crate::models::latent::LatentModel;
        for &(item, _) in history {
            crate::recommender::check_item(self, item)?;
        }
        Ok(match self {
            Model::Ials(m) => Some(m.fold_in(history)),
            Model::Bpr(m) => Some(m.fold_in(history)),
            Model::Hybrid(m) => Some(m.fold_in(history)),
            _ => None,
        })
    }
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
    pub const NAMES: [&'static str; 18] = [
        "pop",
        "trending",
        "baseline",
        "user-knn",
        "item-knn",
        "knn-baseline",
        "svd",
        "svdpp",
        "ials",
        "bpr",
        "ease",
        "content",
        "hybrid",
        "sknn",
        "sr",
        "markov",
        "sasrec",
        "blend",
    ];

    /// Whether the fit reads the order of events ([`crate::FitContext::sequences`]): the session
    /// and sequential models, and a blend (whose components may be among them). A caller that
    /// builds sequences only for these saves a sort of the whole log for the others.
    pub fn reads_sequences(&self) -> bool {
        matches!(self, ModelSpec::Sknn(_) | ModelSpec::Rules(_) | ModelSpec::Sasrec(_) | ModelSpec::Blend(_))
    }

    /// The parameter that counts a fit's steps, for the models whose fits show checkpoints to an
    /// [`crate::Observer`] (so early stopping can pick the best step); `None` for the others.
    pub fn steps_param(&self) -> Option<&'static str> {
        match self {
            ModelSpec::Ials(_) => Some("iterations"),
            ModelSpec::Bpr(_) | ModelSpec::Hybrid(_) | ModelSpec::Sasrec(_) => Some("epochs"),
            ModelSpec::Popularity(_)
            | ModelSpec::Baseline(_)
            | ModelSpec::Knn(_)
            | ModelSpec::Svd(_)
            | ModelSpec::SvdPp(_)
            | ModelSpec::Ease(_)
            | ModelSpec::Content(_)
            | ModelSpec::Sknn(_)
            | ModelSpec::Rules(_)
            | ModelSpec::Blend(_) => None,
        }
    }

    /// Sets one parameter by its dotted path (`reg`, `method.als.epochs`, `weights.ials`) to
    /// `value`, read as JSON when it parses as JSON (numbers, booleans, objects) and as a string
    /// otherwise (`similarity=pearson`). A path may end in a new key of a map-valued parameter
    /// (a blend's `weights`); a key that is not a field is refused by the parameters' own
    /// deserialisation. The result is validated; on error nothing changes.
    pub fn set(&mut self, path: &str, value: &str) -> Result<(), ParamError> {
        let model = self.label();
        let no_such = || {
            ParamError::new(
                model,
                path.to_owned(),
                format!("no such parameter; parameters: {}", self.params()),
            )
        };
        let mut params = self.params();
        let (slot, inserted) = lookup(&mut params, path).ok_or_else(no_such)?;
        *slot = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        match self.clone().replace(params, model, path) {
            Ok(updated) => {
                *self = updated;
                Ok(())
            }
            // A new key that the parameters refuse is a name that is not a parameter.
            Err(e) if inserted && e.reason.contains("unknown field") => Err(no_such()),
            Err(e) => Err(e),
        }
    }

    /// Overrides parameters with the fields of a JSON object (nested objects merge field by
    /// field), e.g. `{"factors": 32, "method": {"als": {"epochs": 5}}}`. Validated; on error
    /// nothing changes.
    pub fn merge(&mut self, over: &serde_json::Value) -> Result<(), ParamError> {
        let model = self.label();
        let mut params = self.params();
        merge_json(&mut params, over);
        *self = self.clone().replace(params, model, "")?;
        Ok(())
    }

    /// This kind of model with `params`, validated.
    fn replace(
        self,
        params: serde_json::Value,
        model: &'static str,
        path: &str,
    ) -> Result<ModelSpec, ParamError> {
        let updated =
            self.with_params(params).map_err(|e| ParamError::new(model, path.to_owned(), e.to_string()))?;
        updated.validate()?;
        Ok(updated)
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
            "ials" | "als" => ModelSpec::Ials(IalsParams::default()),
            "bpr" => ModelSpec::Bpr(BprParams::default()),
            "ease" => ModelSpec::Ease(EaseParams::default()),
            "content" => ModelSpec::Content(ContentParams::default()),
            "hybrid" | "lightfm" => ModelSpec::Hybrid(HybridParams::default()),
            "sknn" | "session-knn" | "v-sknn" => ModelSpec::Sknn(SknnParams::default()),
            "sr" | "sequential-rules" => ModelSpec::Rules(RulesParams::default()),
            "markov" | "transitions" => ModelSpec::Rules(RulesParams::markov()),
            "sasrec" => ModelSpec::Sasrec(SasrecParams::default()),
            "blend" => ModelSpec::Blend(BlendParams::default()),
            _ => return Err(UnknownModel { given: s.to_owned() }),
        })
    }
}

/// The JSON value at a dotted path inside an object, if every step but the last exists; a
/// missing last key is inserted (as null) into its object. The flag says whether it was
/// inserted.
fn lookup<'a>(value: &'a mut serde_json::Value, path: &str) -> Option<(&'a mut serde_json::Value, bool)> {
    let (parent, last) = match path.rsplit_once('.') {
        Some((parent, last)) => {
            (parent.split('.').try_fold(value, |v, key| v.as_object_mut()?.get_mut(key))?, last)
        }
        None => (value, path),
    };
    let object = parent.as_object_mut()?;
    let inserted = !object.contains_key(last);
    Some((object.entry(last.to_owned()).or_insert(serde_json::Value::Null), inserted))
}

/// `dst` with every field of `over` written into it, objects merged recursively.
fn merge_json(dst: &mut serde_json::Value, over: &serde_json::Value) {
    match (dst, over) {
        (serde_json::Value::Object(d), serde_json::Value::Object(o)) => {
            for (key, value) in o {
                merge_json(d.entry(key.clone()).or_insert(serde_json::Value::Null), value);
            }
        }
        (d, o) => *d = o.clone(),
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

    fn score_user_items(&self, user: UserIdx, items: &[ItemIdx], out: &mut [f32]) -> Result<(), ModelError> {
        self.inner().score_user_items(user, items, out)
    }

    fn score_history_items(
        &self,
        history: &[(ItemIdx, f32)],
        items: &[ItemIdx],
        out: &mut [f32],
    ) -> Result<(), ModelError> {
        self.inner().score_history_items(history, items, out)
    }

    fn similar_items(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        self.inner().similar_items(item, n, exclude)
    }

    fn similar_lists(&self, depth: usize) -> Result<Vec<Vec<Scored>>, ModelError> {
        self.inner().similar_lists(depth)
    }

    fn similar_lists_indexed(
        &self,
        depth: usize,
        index: &crate::ListIndex,
    ) -> Result<Option<crate::IndexedLists>, ModelError> {
        self.inner().similar_lists_indexed(depth, index)
    }

    fn item_affinity(&self, a: ItemIdx, b: ItemIdx) -> Option<f32> {
        self.inner().item_affinity(a, b)
    }

    fn predict(&self, user: UserIdx, item: ItemIdx) -> Result<f32, ModelError> {
        self.inner().predict(user, item)
    }

    fn user_steps(&self, user: UserIdx) -> Option<&[u32]> {
        self.inner().user_steps(user)
    }

    fn bounded(&self, query: Query<'_>) -> Result<Option<Box<dyn Bounded + '_>>, ModelError> {
        self.inner().bounded(query)
    }

    fn block(&self, items: &[ItemIdx]) -> Result<Option<Block>, ModelError> {
        self.inner().block(items)
    }

    fn prepare(&self) {
        self.inner().prepare();
    }

    fn prepared_bytes(&self) -> usize {
        self.inner().prepared_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fold_in_vector_scores_what_score_history_scores() {
        let triples: Vec<(u32, u32, f32)> =
            (0..12u32).flat_map(|u| (0..3u32).map(move |j| (u, (u + 2 * j) % 9, 1.0 + j as f32))).collect();
        let entries = triples.iter().map(|&(u, i, value)| crate::Interaction {
            user: UserIdx(u),
            item: ItemIdx(i),
            value,
            ts: 0,
        });
        let data = Interactions::new(12, 9, crate::Feedback::Implicit, entries.collect()).unwrap();
        let history = [(ItemIdx(1), 2.0), (ItemIdx(4), 1.0)];
        for name in ["ials", "bpr"] {
            let model = name.parse::<ModelSpec>().unwrap().fit(&data, &FitContext::seeded(3)).unwrap();
            let v = model.fold_in(&history).unwrap().expect("a factor model folds in");
            let f = model.factors().unwrap();
            let mut scores = vec![0f32; 9];
            model.score_history(&history, &mut scores).unwrap();
            for (i, s) in scores.iter().enumerate() {
                let dot: f32 = v.iter().zip(&f.items[i * f.dim..(i + 1) * f.dim]).map(|(a, b)| a * b).sum();
                let bias = f.item_bias.get(i).copied().unwrap_or(0.0);
                assert!(
                    (dot + bias - s).abs() <= 1e-4 * (1.0 + s.abs()),
                    "{name} item {i}: {dot} + {bias} vs {s}"
                );
            }
            assert!(model.fold_in(&[(ItemIdx(9), 1.0)]).is_err(), "{name}: an unknown item is refused");
        }
        let knn = "item-knn".parse::<ModelSpec>().unwrap().fit(&data, &FitContext::seeded(3)).unwrap();
        assert_eq!(knn.fold_in(&history).unwrap(), None);
    }

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

    #[test]
    fn maps_take_new_keys_and_merges_nest() {
        let mut blend: ModelSpec = "blend".parse().unwrap();
        blend.set("weights.content", "0.5").unwrap();
        assert_eq!(blend.params()["weights"]["content"], 0.5);
        let err = blend.set("weights.nope", "1").unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let mut ials: ModelSpec = "ials".parse().unwrap();
        let err = ials.set("nope", "1").unwrap_err();
        assert!(err.reason.contains("no such parameter"), "{err}");
        ials.merge(&serde_json::json!({"factors": 8, "solver": "cholesky"})).unwrap();
        assert_eq!(
            (ials.params()["factors"].clone(), ials.params()["solver"].clone()),
            (8.into(), "cholesky".into())
        );
        assert!(ials.merge(&serde_json::json!({"factors": 0})).is_err());
        assert_eq!(ials.params()["factors"], 8, "a failed merge changes nothing");
        let mut baseline: ModelSpec = "baseline".parse().unwrap();
        baseline.merge(&serde_json::json!({"method": {"als": {"epochs": 4}}})).unwrap();
        assert_eq!(baseline.params()["method"]["als"]["reg_i"], 10.0, "siblings are kept");
        assert_eq!(ials.steps_param(), Some("iterations"));
        assert_eq!(baseline.steps_param(), None);
    }
}
