//! Hyperparameter search: a search space over a model's parameters (by their dotted paths), grid
//! or seeded random search (Bergstra & Bengio 2012, "Random search for hyper-parameter
//! optimization"), and early stopping of iterative fits on a validation metric (Prechelt 1998,
//! "Early stopping — but when?": stop after `patience` evaluations without improvement, keep the
//! best step).
//!
//! Pure like the rest of the core: the caller fits and times each trial through the objective it
//! passes to [`tune`], and [`EarlyStopping`] is an [`Observer`] that evaluates the model a fit
//! shows at each checkpoint on a validation split.

use std::fmt;
use std::sync::Mutex;

use rand::Rng;
use serde::Serialize;
use serde_json::Value;

use crate::data::Interactions;
use crate::eval::{RankingMetrics, RankingOptions, evaluate_ranking};
use crate::models::registry::ModelSpec;
use crate::recommender::{Control, Observer, ParamError, Progress, Recommender};
use crate::rng;

/// Where one parameter's values come from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Domain {
    /// One of these values (numbers, strings, booleans).
    Choice {
        /// The values.
        values: Vec<Value>,
    },
    /// Uniform in `[lo, hi]`.
    Uniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// Log-uniform in `[lo, hi]`, `0 < lo`.
    LogUniform {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// An integer in `lo..=hi`.
    Int {
        /// Lower bound.
        lo: i64,
        /// Upper bound (inclusive).
        hi: i64,
    },
}

/// One searched parameter: its dotted path (as `--param` takes it) and its domain.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dimension {
    /// `reg`, `weights.ials`, `method.als.epochs`, ...
    pub path: String,
    /// Its values.
    pub domain: Domain,
}

/// Why a search could not be set up or run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TuneError {
    /// A dimension's text does not parse.
    #[error("search dimension {spec:?}: {reason}")]
    BadDimension {
        /// What was given.
        spec: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// Grid search over a continuous domain, or a grid too large.
    #[error("grid search: {reason}")]
    BadGrid {
        /// What is wrong.
        reason: String,
    },
    /// A sampled setting is not valid for the model.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// No trial produced a finite score.
    #[error("no trial produced a score")]
    NoTrials,
}

/// The most combinations grid search enumerates.
pub const MAX_GRID: usize = 10_000;

impl Dimension {
    /// Parses `PATH=DOMAIN`: `a,b,c` (choice), `lo..hi` (uniform), `log:lo..hi` (log-uniform) or
    /// `int:lo..hi` (integers, inclusive). Choice values are read as JSON when they parse
    /// (`64`, `true`) and as strings otherwise (`cholesky`).
    pub fn parse(spec: &str) -> Result<Dimension, TuneError> {
        let bad = |reason: &str| TuneError::BadDimension { spec: spec.to_owned(), reason: reason.to_owned() };
        let (path, domain) =
            spec.split_once('=').ok_or_else(|| bad("expected PATH=VALUES, e.g. reg=log:0.01..10"))?;
        let path = path.trim();
        if path.is_empty() {
            return Err(bad("the parameter path is empty"));
        }
        let num = |s: &str| s.trim().parse::<f64>().ok().filter(|x| x.is_finite());
        let range = |s: &str| -> Option<(f64, f64)> {
            let (lo, hi) = s.split_once("..")?;
            Some((num(lo)?, num(hi)?)).filter(|(lo, hi)| lo <= hi)
        };
        let domain = if let Some(r) = domain.strip_prefix("log:") {
            let (lo, hi) = range(r).ok_or_else(|| bad("log:LO..HI needs two numbers, LO ≤ HI"))?;
            if lo <= 0.0 {
                return Err(bad("a log-uniform range needs LO > 0"));
            }
            Domain::LogUniform { lo, hi }
        } else if let Some(r) = domain.strip_prefix("int:") {
            let (lo, hi) = range(r).ok_or_else(|| bad("int:LO..HI needs two integers, LO ≤ HI"))?;
            if lo.fract() != 0.0 || hi.fract() != 0.0 {
                return Err(bad("int:LO..HI needs integer bounds"));
            }
            Domain::Int { lo: lo as i64, hi: hi as i64 }
        } else if domain.contains("..") {
            let (lo, hi) = range(domain).ok_or_else(|| bad("LO..HI needs two numbers, LO ≤ HI"))?;
            Domain::Uniform { lo, hi }
        } else {
            let values: Vec<Value> = domain
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned())))
                .collect();
            if values.is_empty() {
                return Err(bad("no values"));
            }
            Domain::Choice { values }
        };
        Ok(Dimension { path: path.to_owned(), domain })
    }

    /// A value drawn from the domain.
    fn sample(&self, rng: &mut rng::SeededRng) -> Value {
        match &self.domain {
            Domain::Choice { values } => values[rng.random_range(0..values.len())].clone(),
            Domain::Uniform { lo, hi } => Value::from(lo + (hi - lo) * rng.random::<f64>()),
            Domain::LogUniform { lo, hi } => {
                Value::from((lo.ln() + (hi.ln() - lo.ln()) * rng.random::<f64>()).exp())
            }
            Domain::Int { lo, hi } => Value::from(rng.random_range(*lo..=*hi)),
        }
    }

    /// Every value, for grid search; `None` for continuous domains.
    fn values(&self) -> Option<Vec<Value>> {
        match &self.domain {
            Domain::Choice { values } => Some(values.clone()),
            Domain::Int { lo, hi } => Some((*lo..=*hi).map(Value::from).collect()),
            Domain::Uniform { .. } | Domain::LogUniform { .. } => None,
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.domain {
            Domain::Choice { values } => {
                let v: Vec<String> = values.iter().map(show).collect();
                write!(f, "{}={}", self.path, v.join(","))
            }
            Domain::Uniform { lo, hi } => write!(f, "{}={lo}..{hi}", self.path),
            Domain::LogUniform { lo, hi } => write!(f, "{}=log:{lo}..{hi}", self.path),
            Domain::Int { lo, hi } => write!(f, "{}=int:{lo}..{hi}", self.path),
        }
    }
}

/// A value as `--param` would take it (strings unquoted).
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The search space `aisle tune` uses for a model when none is given: the parameters that
/// matter most, over ranges wide enough for real data. `None` for models with nothing to tune.
pub fn default_space(spec: &ModelSpec) -> Option<Vec<Dimension>> {
    let dims: &[&str] = match spec {
        ModelSpec::Ials(_) => &["factors=32,64,128", "alpha=log:0.1..10", "reg=log:1..300"],
        ModelSpec::Bpr(_) => &["factors=32,64,128", "learning_rate=log:0.01..0.2", "reg=log:0.0005..0.05"],
        ModelSpec::Ease(_) => &["reg=log:10..5000"],
        ModelSpec::Sasrec(_) => {
            &["dropout=0.1,0.2,0.3,0.5", "learning_rate=log:0.0003..0.003", "max_len=50,100,200"]
        }
        ModelSpec::Hybrid(_) => {
            &["learning_rate=log:0.01..0.1", "item_alpha=0,0.000001,0.00001", "max_sampled=5,10,20"]
        }
        ModelSpec::Content(_) => &[
            "title_weight=0..1",
            "description_weight=0..1",
            "category_weight=0..1",
            "brand_weight=0..1",
            "price_weight=0..1",
        ],
        ModelSpec::Knn(_) => &["k=10,20,40,80,160", "shrinkage=0,10,100"],
        ModelSpec::Svd(_) | ModelSpec::SvdPp(_) => {
            &["factors=20,50,100", "reg=log:0.005..0.2", "learning_rate=log:0.002..0.02"]
        }
        ModelSpec::Sknn(_) => &["k=50,100,200", "sample=500,1000", "context=5,20,50", "idf=false,true"],
        ModelSpec::Rules(_) => &["steps=1,3,10", "context=1,3", "across_sessions=false,true"],
        ModelSpec::Baseline(_) | ModelSpec::Popularity(_) | ModelSpec::Blend(_) => return None,
    };
    Some(dims.iter().map(|d| Dimension::parse(d).expect("the default spaces parse")).collect())
}

/// How settings are chosen.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Search {
    /// Every combination of the (discrete) domains.
    Grid,
    /// `trials` settings drawn independently (seeded).
    Random {
        /// Settings tried.
        trials: usize,
    },
}

/// Every setting of a search: lists of `(path, value)`, in trial order.
pub fn settings(
    dims: &[Dimension],
    search: Search,
    seed: u64,
) -> Result<Vec<Vec<(String, Value)>>, TuneError> {
    match search {
        Search::Random { trials } => {
            let mut rng = rng::seeded(seed);
            Ok((0..trials)
                .map(|_| dims.iter().map(|d| (d.path.clone(), d.sample(&mut rng))).collect())
                .collect())
        }
        Search::Grid => grid(dims),
    }
}

/// The cartesian product of the dimensions' values, the first dimension varying slowest.
fn grid(dims: &[Dimension]) -> Result<Vec<Vec<(String, Value)>>, TuneError> {
    let mut out: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for d in dims {
        let values = d.values().ok_or_else(|| TuneError::BadGrid {
            reason: format!("{d} is continuous; give a list of values or int:LO..HI, or use random search"),
        })?;
        if out.len().saturating_mul(values.len()) > MAX_GRID {
            return Err(TuneError::BadGrid { reason: format!("more than {MAX_GRID} combinations") });
        }
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut s = prefix.clone();
                    s.push((d.path.clone(), v.clone()));
                    s
                })
            })
            .collect();
    }
    Ok(out)
}

/// `base` with a setting applied (each value set by its path, as `--param` does).
pub fn apply(base: &ModelSpec, setting: &[(String, Value)]) -> Result<ModelSpec, ParamError> {
    let mut spec = base.clone();
    for (path, value) in setting {
        spec.set(path, &value.to_string())?;
    }
    Ok(spec)
}

/// What a trial's objective reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    /// The validation metric at its best (higher is better).
    pub score: f64,
    /// The step (epoch, iteration) where the metric was best, for fits that report steps.
    pub best_step: Option<usize>,
    /// Steps run before stopping.
    pub steps_run: Option<usize>,
    /// Seconds the trial took (measured by the caller).
    pub seconds: f64,
}

/// One trial of a search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trial {
    /// 1-based number in trial order.
    pub number: usize,
    /// The setting tried.
    pub setting: Vec<(String, Value)>,
    /// Every parameter of the model as tried, with the steps set to the best step when early
    /// stopping found one.
    pub params: Value,
    /// What it scored.
    pub outcome: Outcome,
}

/// Runs `objective` on every setting of the search and returns the trials best first (ties
/// keep trial order). Settings the model rejects are errors before anything runs.
pub fn tune<E: From<TuneError>>(
    base: &ModelSpec,
    dims: &[Dimension],
    search: Search,
    seed: u64,
    mut objective: impl FnMut(usize, &ModelSpec) -> Result<Outcome, E>,
) -> Result<Vec<Trial>, E> {
    let settings = settings(dims, search, seed)?;
    let specs: Vec<ModelSpec> =
        settings.iter().map(|s| apply(base, s)).collect::<Result<_, _>>().map_err(TuneError::from)?;
    let mut trials = Vec::with_capacity(specs.len());
    for (k, (setting, spec)) in settings.into_iter().zip(specs).enumerate() {
        let outcome = objective(k + 1, &spec)?;
        let mut spec = spec;
        if let (Some(step), Some(path)) = (outcome.best_step, spec.steps_param()) {
            spec.set(path, &step.to_string()).map_err(TuneError::from)?;
        }
        trials.push(Trial { number: k + 1, setting, params: spec.params(), outcome });
    }
    if !trials.iter().any(|t| t.outcome.score.is_finite()) {
        return Err(TuneError::NoTrials.into());
    }
    trials.sort_by(|a, b| b.outcome.score.total_cmp(&a.outcome.score).then(a.number.cmp(&b.number)));
    Ok(trials)
}

/// A ranking metric to maximise.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// NDCG@K.
    Ndcg,
    /// Precision@K.
    Precision,
    /// Recall@K.
    Recall,
    /// MAP@K.
    Map,
    /// MRR.
    Mrr,
    /// HitRate@K.
    HitRate,
    /// AUC.
    Auc,
}

impl Metric {
    /// Every metric, in the order of [`Metric::name`].
    pub const ALL: [Metric; 7] = [
        Metric::Ndcg,
        Metric::Precision,
        Metric::Recall,
        Metric::Map,
        Metric::Mrr,
        Metric::HitRate,
        Metric::Auc,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Ndcg => "ndcg",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::Map => "map",
            Metric::Mrr => "mrr",
            Metric::HitRate => "hit-rate",
            Metric::Auc => "auc",
        }
    }

    /// Its value in a report.
    pub fn of(self, m: &RankingMetrics) -> f64 {
        match self {
            Metric::Ndcg => m.ndcg,
            Metric::Precision => m.precision,
            Metric::Recall => m.recall,
            Metric::Map => m.map,
            Metric::Mrr => m.mrr,
            Metric::HitRate => m.hit_rate,
            Metric::Auc => m.auc,
        }
    }
}

/// An [`Observer`] that evaluates the model at every checkpoint on a validation split and stops
/// the fit after `patience` checkpoints without improvement; it remembers the best step. Fits
/// that do not show checkpoints run to the end, and the score is taken afterwards by the
/// caller.
pub struct EarlyStopping<'a> {
    train: &'a Interactions,
    validation: &'a Interactions,
    options: RankingOptions,
    metric: Metric,
    patience: usize,
    state: Mutex<Best>,
}

/// The best checkpoint so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Best {
    /// Its metric value.
    pub score: Option<f64>,
    /// Its step.
    pub step: Option<usize>,
    /// Checkpoints since it.
    pub since: usize,
    /// Checkpoints seen.
    pub steps: usize,
}

impl<'a> EarlyStopping<'a> {
    /// Evaluates on `validation` (ranked against the catalog minus `train` items) with `options`.
    /// `patience = 0` never stops (it still records the best step).
    pub fn new(
        train: &'a Interactions,
        validation: &'a Interactions,
        options: RankingOptions,
        metric: Metric,
        patience: usize,
    ) -> Self {
        Self { train, validation, options, metric, patience, state: Mutex::new(Best::default()) }
    }

    /// The best checkpoint seen.
    pub fn best(&self) -> Best {
        self.state.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

impl Observer for EarlyStopping<'_> {
    fn progress(&self, _: &Progress) -> Control {
        Control::Continue
    }

    fn wants_checkpoints(&self) -> bool {
        true
    }

    fn checkpoint(&self, progress: &Progress, model: &dyn Recommender) -> Control {
        let Ok(m) = evaluate_ranking(model, self.train, self.validation, &self.options) else {
            return Control::Continue;
        };
        let score = self.metric.of(&m);
        let Ok(mut best) = self.state.lock() else { return Control::Continue };
        best.steps = progress.done;
        if best.score.is_none_or(|b| score > b) {
            *best = Best { score: Some(score), step: Some(progress.done), since: 0, steps: progress.done };
        } else {
            best.since += 1;
        }
        if self.patience > 0 && best.since >= self.patience { Control::Stop } else { Control::Continue }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_parse_every_domain_and_refuse_nonsense() {
        let d = Dimension::parse("factors=32,64,128").unwrap();
        assert_eq!(d.domain, Domain::Choice { values: vec![32.into(), 64.into(), 128.into()] });
        assert_eq!(Dimension::parse("solver=cg,cholesky").unwrap().to_string(), "solver=cg,cholesky");
        assert_eq!(
            Dimension::parse("reg=log:0.01..10").unwrap().domain,
            Domain::LogUniform { lo: 0.01, hi: 10.0 }
        );
        assert_eq!(Dimension::parse("alpha=0.5..4").unwrap().domain, Domain::Uniform { lo: 0.5, hi: 4.0 });
        assert_eq!(
            Dimension::parse("k=int:1..3").unwrap().values().unwrap(),
            vec![Value::from(1), 2.into(), 3.into()]
        );
        for bad in ["reg", "=1,2", "reg=log:0..1", "reg=3..1", "k=int:1.5..3", "reg=", "reg=log:a..b"] {
            assert!(matches!(Dimension::parse(bad), Err(TuneError::BadDimension { .. })), "{bad}");
        }
    }

    #[test]
    fn grid_is_the_full_product_and_random_is_seeded_within_bounds() {
        let dims = vec![Dimension::parse("a=1,2").unwrap(), Dimension::parse("b=x,y,z").unwrap()];
        let g = settings(&dims, Search::Grid, 0).unwrap();
        assert_eq!(g.len(), 6);
        assert_eq!(g[0], vec![("a".into(), Value::from(1)), ("b".into(), Value::from("x"))]);
        assert_eq!(g[5], vec![("a".into(), Value::from(2)), ("b".into(), Value::from("z"))]);
        let cont = vec![Dimension::parse("r=log:0.1..10").unwrap()];
        assert!(matches!(settings(&cont, Search::Grid, 0), Err(TuneError::BadGrid { .. })));
        let r = settings(&cont, Search::Random { trials: 200 }, 3).unwrap();
        assert_eq!(r, settings(&cont, Search::Random { trials: 200 }, 3).unwrap());
        let xs: Vec<f64> = r.iter().map(|s| s[0].1.as_f64().unwrap()).collect();
        assert!(xs.iter().all(|&x| (0.1..=10.0).contains(&x)));
        // Log-uniform: about half the draws below the geometric midpoint 1.
        let below = xs.iter().filter(|&&x| x < 1.0).count();
        assert!((70..130).contains(&below), "{below} of 200 below 1");
    }

    #[test]
    fn every_default_space_yields_valid_settings() {
        let mut with_space = 0;
        for name in ModelSpec::NAMES {
            let base: ModelSpec = name.parse().unwrap();
            let Some(dims) = default_space(&base) else { continue };
            with_space += 1;
            for setting in settings(&dims, Search::Random { trials: 8 }, 1).unwrap() {
                apply(&base, &setting).unwrap_or_else(|e| panic!("{name}: {setting:?}: {e}"));
            }
        }
        assert_eq!(with_space, 14, "all but pop, trending, baseline and blend have a space");
    }

    /// A synthetic problem with a known best setting: the score of an SVD setting is a smooth
    /// bowl around factors = 50, reg = 0.03 (on a log scale); no model is fitted.
    fn bowl(spec: &ModelSpec) -> f64 {
        let p = spec.params();
        let f = p["factors"].as_f64().unwrap();
        let r = p["reg"].as_f64().unwrap();
        -((f - 50.0) / 50.0).powi(2) - (r.ln() - 0.03f64.ln()).powi(2)
    }

    #[test]
    fn tuning_finds_the_known_best_setting_of_a_synthetic_problem() {
        let base: ModelSpec = "svd".parse().unwrap();
        let grid = vec![
            Dimension::parse("factors=10,50,100").unwrap(),
            Dimension::parse("reg=0.003,0.03,0.3").unwrap(),
        ];
        let run = |dims: &[Dimension], search| {
            tune::<TuneError>(&base, dims, search, 7, |_, spec| {
                Ok(Outcome { score: bowl(spec), best_step: None, steps_run: None, seconds: 0.0 })
            })
            .unwrap()
        };
        let trials = run(&grid, Search::Grid);
        assert_eq!(trials.len(), 9);
        assert_eq!(trials[0].params["factors"], 50);
        assert!((trials[0].params["reg"].as_f64().unwrap() - 0.03).abs() < 1e-6);
        assert!(trials.windows(2).all(|w| w[0].outcome.score >= w[1].outcome.score), "best first");
        // Random search over continuous ranges lands near the optimum with enough trials.
        let space = vec![
            Dimension::parse("factors=int:10..100").unwrap(),
            Dimension::parse("reg=log:0.001..1").unwrap(),
        ];
        let best = &run(&space, Search::Random { trials: 60 })[0];
        let (f, r) = (best.params["factors"].as_f64().unwrap(), best.params["reg"].as_f64().unwrap());
        assert!((f - 50.0).abs() <= 15.0 && (r.ln() - 0.03f64.ln()).abs() < 0.7, "best {f}, {r}");
        // A setting the model refuses fails before anything runs.
        let bad = vec![Dimension::parse("factors=0").unwrap()];
        let err = tune::<TuneError>(&base, &bad, Search::Grid, 0, |_, _| unreachable!()).unwrap_err();
        assert!(matches!(err, TuneError::Param(_)));
    }
}
