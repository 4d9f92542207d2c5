//! Neighbourhood models: user-based and item-based k-nearest neighbours, one implementation for
//! both (item-based is the same code on the transposed matrix).
//!
//! Sources: Resnick et al. 1994 (GroupLens) and Herlocker et al. 1999 for user-based
//! collaborative filtering; Sarwar et al. 2001, "Item-based collaborative filtering recommendation
//! algorithms", for item-based; Koren 2010, "Factor in the neighbors", for the baseline-centred
//! variant. Rating prediction follows Surprise (`knns.py`, `similarities.pyx`) exactly; below, `x`
//! is the row (user for user-based, item for item-based), `y` the other axis, `N_k(x; y)` the first
//! `k` neighbours of `x` (by similarity, descending) that rated `y`, and only `sim > 0` counts:
//!
//! - [`KnnPrediction::Basic`]: `r̂ = Σ sim·r_x2y / Σ sim`;
//! - [`KnnPrediction::WithMeans`]: `r̂ = μ_x + Σ sim·(r_x2y − μ_x2) / Σ sim`;
//! - [`KnnPrediction::WithBaseline`]: `r̂ = b_xy + Σ sim·(r_x2y − b_x2y) / Σ sim`, `b = μ + b_u + b_i`;
//!
//! falling back to the global mean / `μ_x` / `b_xy` with fewer than `min_k` such neighbours (and
//! to the global mean for Basic and WithMeans when `x` or `y` has no training data, as Surprise
//! does for unknown ids), clipped to the training scale.
//!
//! Similarities over the `n` co-rated entries (see [`Similarity`]). Ranking (`score_user`) uses
//! unnormalised sums, the standard top-N kNN: user-based `s(i) = Σ_{v ∈ top-k(u)} sim(u,v)·x_vi`,
//! item-based `s(i) = Σ_{j ∈ I_u} sim(j,i)·x_uj` over `j`'s top-k neighbours `i`, with `x` the
//! stored value (rating or confidence).

mod predict;
mod similarity;
#[cfg(test)]
mod tests;

use super::sparse::Sparse;
use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::models::baseline::{BaselineParams, Baselines};
use crate::recommender::{
    FitContext, FitError, ModelError, ModelParams, ParamError, Recommender, Scored, check_history,
    check_item, check_pair, check_user,
};
use similarity::{Measure, Neighbors};

/// Which entities are compared.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Based {
    /// Users similar to the user (Resnick 1994, Herlocker 1999).
    User,
    /// Items similar to the user's items (Sarwar 2001).
    Item,
}

/// How two rows are compared, over the `n` entries both have (`a`, `b` their values there).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Similarity {
    /// `Σ ab / (‖a‖ ‖b‖)` with full-row norms (the standard for implicit data and ranking; Surprise
    /// uses co-rated norms instead), times `n/(n+shrinkage)`.
    Cosine,
    /// Pearson correlation centred on the co-rated means,
    /// `(nΣab − ΣaΣb) / √((nΣa² − (Σa)²)(nΣb² − (Σb)²))`, times `n/(n+shrinkage)` (Surprise: 0).
    Pearson,
    /// `1 / (Σ(a − b)²/n + 1)`, times `n/(n+shrinkage)` (Surprise: 0).
    Msd,
    /// Pearson centred on baselines, `d = r − μ − b_u − b_i`: `Σ d_a d_b / √(Σd_a² Σd_b²)`, times
    /// `(n−1)/(n−1+shrinkage)` (Koren 2010 eq. 2; Surprise's default shrinkage 100).
    PearsonBaseline,
}

/// How a rating is predicted from the neighbours (see the module docs for the formulas).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KnnPrediction {
    /// Similarity-weighted mean of the neighbours' ratings (Surprise `KNNBasic`).
    Basic,
    /// Row mean plus the weighted mean of the neighbours' deviations (`KNNWithMeans`).
    WithMeans,
    /// Baseline plus the weighted mean of the neighbours' baseline residuals (`KNNBaseline`).
    WithBaseline(BaselineParams),
}

/// Parameters of [`KnnModel`]. Start from [`KnnParams::user`], [`KnnParams::item`] or
/// [`KnnParams::baseline`]; `Default` is [`KnnParams::user`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnnParams {
    /// Compare users or items.
    pub based: Based,
    /// The similarity measure.
    pub similarity: Similarity,
    /// Neighbours used per prediction or score.
    pub k: usize,
    /// Fewer neighbours than this (with positive similarity) and a prediction falls back.
    pub min_k: usize,
    /// Neighbours stored per row, best first; `k ≤ max_neighbors`. Only positive similarities are
    /// stored: no formula uses the others.
    pub max_neighbors: usize,
    /// Shrinkage λ of the similarity (see [`Similarity`]); 0 = none.
    pub shrinkage: f32,
    /// How ratings are predicted.
    pub prediction: KnnPrediction,
}

impl Default for KnnParams {
    fn default() -> Self {
        Self::user()
    }
}

/// Neighbours stored per row by the constructors.
const MAX_NEIGHBORS: usize = 1000;

impl KnnParams {
    /// User-based kNN, the classic collaborative filter: cosine, `k` 40, `min_k` 1, no shrinkage,
    /// mean-centred prediction (Surprise `KNNWithMeans` defaults, cosine), 1000 stored neighbours.
    pub fn user() -> Self {
        Self {
            based: Based::User,
            similarity: Similarity::Cosine,
            k: 40,
            min_k: 1,
            max_neighbors: MAX_NEIGHBORS,
            shrinkage: 0.0,
            prediction: KnnPrediction::WithMeans,
        }
    }

    /// Item-based kNN, "customers who bought this also bought": cosine with shrinkage 10 (damps
    /// pairs with few common users), `k` 40, `min_k` 1, mean-centred prediction, 1000 stored
    /// neighbours.
    pub fn item() -> Self {
        Self { based: Based::Item, shrinkage: 10.0, ..Self::user() }
    }

    /// The KNNBaseline configuration: item-based Pearson-baseline similarity (shrinkage 100),
    /// `k` 40, `min_k` 1, baseline-centred prediction with ALS baselines (10 epochs, `reg_u` 15,
    /// `reg_i` 10). Surprise's own default is user-based MSD; item-based Pearson-baseline is the
    /// combination Koren 2010 recommends and the more accurate one on MovieLens.
    pub fn baseline() -> Self {
        Self {
            based: Based::Item,
            similarity: Similarity::PearsonBaseline,
            k: 40,
            min_k: 1,
            max_neighbors: MAX_NEIGHBORS,
            shrinkage: 100.0,
            prediction: KnnPrediction::WithBaseline(BaselineParams::default()),
        }
    }

    /// The model's name: `knn-baseline` for baseline prediction, else `user-knn` / `item-knn`.
    pub fn name(&self) -> &'static str {
        match (&self.prediction, self.based) {
            (KnnPrediction::WithBaseline(_), _) => "knn-baseline",
            (KnnPrediction::Basic | KnnPrediction::WithMeans, Based::User) => "user-knn",
            (KnnPrediction::Basic | KnnPrediction::WithMeans, Based::Item) => "item-knn",
        }
    }

    /// The ratings by row and by column, rows being the entities compared.
    fn orient(&self, data: &Interactions) -> (Sparse, Sparse) {
        let users = || Sparse::collect(data.n_users(), |u| data.user(UserIdx(u)));
        let items = || Sparse::collect(data.n_items(), |i| data.item(ItemIdx(i)));
        match self.based {
            Based::User => (users(), items()),
            Based::Item => (items(), users()),
        }
    }

    /// Fitted biases as (row biases, column biases).
    fn oriented_biases(
        &self,
        data: &Interactions,
        params: &BaselineParams,
        ctx: &FitContext<'_>,
    ) -> (Vec<f32>, Vec<f32>) {
        let Baselines { bu, bi, .. } = Baselines::estimate(data, params, ctx);
        match self.based {
            Based::User => (bu, bi),
            Based::Item => (bi, bu),
        }
    }

    /// The baselines the fit needs: the prediction's, or the ALS defaults for a Pearson-baseline
    /// similarity with another prediction (as Surprise's `bsl_options`).
    fn baseline_params(&self) -> Option<BaselineParams> {
        match (&self.prediction, self.similarity) {
            (KnnPrediction::WithBaseline(p), _) => Some(p.clone()),
            (KnnPrediction::Basic | KnnPrediction::WithMeans, Similarity::PearsonBaseline) => {
                Some(BaselineParams::default())
            }
            (
                KnnPrediction::Basic | KnnPrediction::WithMeans,
                Similarity::Cosine | Similarity::Pearson | Similarity::Msd,
            ) => None,
        }
    }
}

/// The internal prediction rule (baseline params are only needed at fit time).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Rule {
    Basic,
    WithMeans,
    WithBaseline,
}

/// A fitted kNN model: the oriented ratings, each row's neighbour list and the statistics the
/// prediction rule needs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KnnModel {
    based: Based,
    measure: Measure,
    rule: Rule,
    k: usize,
    min_k: usize,
    n_users: usize,
    n_items: usize,
    /// Ratings by row (users for user-based, items for item-based) and by column.
    rows: Sparse,
    cols: Sparse,
    neighbors: Neighbors,
    mu: f32,
    /// Row means (WithMeans), else empty.
    #[serde(with = "crate::models::floats")]
    row_means: Vec<f32>,
    /// Row and column biases (baseline prediction or similarity), else empty; NaN where the
    /// baselines are (see [`Baselines`]).
    #[serde(with = "crate::models::floats")]
    bx: Vec<f32>,
    #[serde(with = "crate::models::floats")]
    by: Vec<f32>,
    /// User regularisation for folding in a new user's bias.
    fold_in_reg_u: f32,
    /// Columns centred on baselines (Pearson-baseline only), for user-based fold-in.
    centred_cols: Option<Sparse>,
    /// Full-row norms of the values the measure sees, and raw column norms.
    #[serde(with = "crate::models::floats")]
    row_norms: Vec<f32>,
    #[serde(with = "crate::models::floats")]
    col_norms: Vec<f32>,
    range: (f32, f32),
}

impl ModelParams for KnnParams {
    type Model = KnnModel;

    fn validate(&self) -> Result<(), ParamError> {
        let model = self.name();
        if self.k == 0 {
            return Err(ParamError::new(model, "k", "must be at least 1"));
        }
        if self.min_k > self.k {
            return Err(ParamError::new(
                model,
                "min_k",
                format!("must be ≤ k ({}), got {}", self.k, self.min_k),
            ));
        }
        if self.max_neighbors < self.k {
            let reason = format!("must be ≥ k ({}), got {}", self.k, self.max_neighbors);
            return Err(ParamError::new(model, "max_neighbors", reason));
        }
        if !(self.shrinkage.is_finite() && self.shrinkage >= 0.0) {
            let reason = format!("must be finite and ≥ 0, got {}", self.shrinkage);
            return Err(ParamError::new(model, "shrinkage", reason));
        }
        match &self.prediction {
            KnnPrediction::WithBaseline(p) => p.check(model),
            KnnPrediction::Basic | KnnPrediction::WithMeans => Ok(()),
        }
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<KnnModel, FitError> {
        self.validate()?;
        let name = self.name();
        if data.nnz() == 0 {
            return Err(FitError::EmptyData { model: name });
        }
        let (rows, cols) = self.orient(data);
        let mu = data.mean() as f32;
        let bsl = self.baseline_params();
        let (bx, by) = match &bsl {
            None => (Vec::new(), Vec::new()),
            Some(p) => self.oriented_biases(data, p, ctx),
        };
        let rule = match self.prediction {
            KnnPrediction::Basic => Rule::Basic,
            KnnPrediction::WithMeans => Rule::WithMeans,
            KnnPrediction::WithBaseline(_) => Rule::WithBaseline,
        };
        let row_means = if rule == Rule::WithMeans { rows.means(mu) } else { Vec::new() };
        let measure = Measure { similarity: self.similarity, shrinkage: self.shrinkage };
        let (centred_rows, centred_cols) = match self.similarity {
            Similarity::PearsonBaseline => {
                let centre = |x: usize, y: u32, r: f32| r - mu - bx[x] - by[y as usize];
                (Some(rows.map(centre)), Some(cols.map(|y, x, r| centre(x as usize, y as u32, r))))
            }
            Similarity::Cosine | Similarity::Pearson | Similarity::Msd => (None, None),
        };
        let sim_rows = centred_rows.as_ref().unwrap_or(&rows);
        let sim_cols = centred_cols.as_ref().unwrap_or(&cols);
        let row_norms = sim_rows.norms();
        let neighbors =
            similarity::neighbors(&measure, sim_rows, sim_cols, &row_norms, self.max_neighbors, name, ctx);
        Ok(KnnModel {
            based: self.based,
            measure,
            rule,
            k: self.k,
            min_k: self.min_k,
            n_users: data.n_users(),
            n_items: data.n_items(),
            col_norms: cols.norms(),
            rows,
            cols,
            neighbors,
            mu,
            row_means,
            bx,
            by,
            fold_in_reg_u: bsl.map_or(0.0, |p| p.fold_in_reg_u()),
            centred_cols,
            row_norms,
            range: data.value_range(),
        })
    }
}

/// Most neighbours a model may use per prediction.
const MAX_K: usize = 1 << 20;

impl KnnModel {
    /// The shapes serving indexes by (see [`crate::models::invariant`]): `rows` are the entities
    /// compared (users when user-based), `cols` the other axis.
    pub(crate) fn check(&self) -> crate::models::invariant::Check {
        use crate::models::invariant::{ensure, len, len_or_empty, range};
        let (n_rows, n_cols) = match self.based {
            Based::User => (self.n_users, self.n_items),
            Based::Item => (self.n_items, self.n_users),
        };
        ensure((1..=MAX_K).contains(&self.k) && self.min_k <= self.k, || {
            format!("k {} and min_k {} are not 1 ≤ min_k ≤ k ≤ {MAX_K}", self.k, self.min_k)
        })?;
        self.rows.check_shape("rows", n_rows, n_cols)?;
        self.cols.check_shape("columns", n_cols, n_rows)?;
        if let Some(c) = &self.centred_cols {
            c.check_shape("centred columns", n_cols, n_rows)?;
        }
        self.neighbors.check("neighbour lists", n_rows)?;
        len("row_norms", self.row_norms.len(), n_rows)?;
        len("col_norms", self.col_norms.len(), n_cols)?;
        let baseline =
            self.rule == Rule::WithBaseline || self.measure.similarity == Similarity::PearsonBaseline;
        if baseline {
            len("row biases", self.bx.len(), n_rows)?;
            len("column biases", self.by.len(), n_cols)?;
        } else {
            len_or_empty("row biases", self.bx.len(), n_rows)?;
            len_or_empty("column biases", self.by.len(), n_cols)?;
        }
        ensure(
            self.centred_cols.is_some() == (self.measure.similarity == Similarity::PearsonBaseline),
            || "centred columns are kept exactly for pearson_baseline".to_owned(),
        )?;
        if self.rule == Rule::WithMeans {
            len("row means", self.row_means.len(), n_rows)?;
        }
        range("range", self.range)
    }

    /// The stored neighbours of row `x` (a user for user-based, an item for item-based) with their
    /// similarities, best first; `None` when out of range.
    pub fn neighbors(&self, x: usize) -> Option<(&[u32], &[f32])> {
        (x < self.rows.n_rows()).then(|| self.neighbors.of(x))
    }

    /// Users or items compared.
    pub fn based(&self) -> Based {
        self.based
    }
}

impl Recommender for KnnModel {
    fn name(&self) -> &'static str {
        // The name follows from the rule and the orientation, as [`KnnParams::name`] does.
        match (self.rule, self.based) {
            (Rule::WithBaseline, _) => "knn-baseline",
            (Rule::Basic | Rule::WithMeans, Based::User) => "user-knn",
            (Rule::Basic | Rule::WithMeans, Based::Item) => "item-knn",
        }
    }

    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.n_items
    }

    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError> {
        check_user(self, user, out)?;
        out.fill(0.0);
        match self.based {
            Based::User => {
                let (nb, sims) = self.neighbors.of(user.index());
                let top = nb.iter().copied().zip(sims.iter().copied()).take(self.k);
                self.add_user_based(top, out);
            }
            Based::Item => self.add_item_based(self.cols.row(user.index()), out),
        }
        Ok(())
    }

    fn score_history(&self, history: &[(ItemIdx, f32)], out: &mut [f32]) -> Result<(), ModelError> {
        check_history(self, history, out)?;
        out.fill(0.0);
        let (idx, vals) = predict::dedup(history);
        match self.based {
            Based::User => {
                let top = self.fold_in_neighbours(&idx, &vals);
                self.add_user_based(top.into_iter(), out);
            }
            Based::Item => self.add_item_based((&idx, &vals), out),
        }
        Ok(())
    }

    fn similar_items(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        check_item(self, item)?;
        Ok(match self.based {
            Based::Item => self.stored_similar(item, n, exclude),
            Based::User => self.cosine_similar(item, n, exclude),
        })
    }

    fn item_affinity(&self, a: ItemIdx, b: ItemIdx) -> Option<f32> {
        if a.index() >= self.n_items || b.index() >= self.n_items {
            return None;
        }
        match self.based {
            Based::Item => self.neighbors.lookup(a.index(), b.0),
            Based::User => self.cosine_pair(a, b),
        }
    }

    fn predict(&self, user: UserIdx, item: ItemIdx) -> Result<f32, ModelError> {
        check_pair(self, user, item)?;
        let est = match self.based {
            Based::User => self.estimate(user.index(), item.0),
            Based::Item => self.estimate(item.index(), user.0),
        };
        Ok(est.clamp(self.range.0, self.range.1))
    }
}
