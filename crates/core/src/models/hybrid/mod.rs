//! A LightFM-style hybrid factorisation (Kula 2015, "Metadata embeddings for user and item
//! cold-start recommendations").
//!
//! Every user and item is a set of features: its identity (one feature per user or item, on by
//! default) and what side information says about it — an item's categories, tags, brand, price
//! bucket and title words (see the `features` module), a user's `key=value` attributes. Each
//! feature `f` has an embedding `e_f ∈ ℝᵏ` and a bias `b_f`; a row's representation is the
//! weighted sum of its features' embeddings, with weights normalised to sum to 1 per row (as
//! LightFM's `Dataset` builds them): `q_i = Σ_f w_if e_f`, `p_u = Σ_g w_ug e_g`, and
//! `score(u, i) = p_uᵀq_i + Σ_f w_if b_f`. Because items share feature embeddings, an item nobody
//! has interacted with still has a representation; so does a user known only by attributes.
//!
//! Losses (the training objective):
//! - WARP (Weston, Bengio & Usunier 2011, "WSABIE"): for each observed `(u, i)`, negatives `j` are
//!   drawn uniformly (items `u` has not interacted with) until one violates the margin,
//!   `score(u, j) > score(u, i) − 1`, or `max_sampled` draws fail. After `N` draws the rank of `i`
//!   is estimated as `⌊(n_items − 1) / N⌋` and the pair's hinge loss is weighted
//!   `ln(max(1, rank))` (clipped at 10), which optimises the top of the list.
//! - BPR (Rendle et al. 2009): one uniform negative per positive, loss `−ln σ(score_ui − score_uj)`.
//!
//! Positives are the interactions whose value exceeds `positive_threshold` (LightFM's `Y > 0`);
//! every interaction of a user, positive or not, is kept out of that user's negatives.
//!
//! Optimisation follows LightFM: per-parameter AdaGrad (Duchi, Hazan & Singer 2011) with
//! accumulators starting at 1, embeddings initialised uniformly in `[−0.5/k, 0.5/k)`, biases at
//! 0, optional L2 penalties `item_alpha`/`user_alpha`, every observed pair once per epoch in a
//! fresh random order. LightFM runs Hogwild; here users are cut into a fixed number of shards, as
//! in [`super::bpr`]: each shard draws its positives in rounds, reads the embeddings as they stood
//! at the start of the round and records its gradients, which are applied (AdaGrad included) in
//! shard order at the end of it, in parallel over feature partitions. The result depends only on
//! the data and the seed.
//!
//! After training, an item identity feature that never saw a positive (the item had no
//! interaction) carries only the pushes of being drawn as a negative: it is zeroed, so a cold
//! item is scored by its shared features alone; likewise for users. Scoring uses precomputed
//! representations (one SIMD mat-vec per user). Fold-in of an unseen user from a history: the
//! model's own loss on that user's vector alone, item representations fixed (see
//! [`super::latent::Latent`]'s pairwise fold-in); from attributes alone:
//! [`HybridModel::score_user_features`].

mod train;

use serde::{Deserialize, Serialize};

use super::features::{Field, Vocabulary, all_item_tokens, counts};
use super::latent::{Latent, LatentModel, PairFoldIn, PairLoss};
use super::sparse::Sparse;
use crate::data::Interactions;
use crate::ids::ItemIdx;
use crate::recommender::{FitContext, FitError, ModelError, ModelParams, ParamError};
use crate::side::SideInfo;

const MODEL: &str = "hybrid";

/// The loss the hybrid is trained with.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HybridLoss {
    /// Weighted approximate-rank pairwise loss.
    Warp,
    /// Bayesian personalised ranking.
    Bpr,
}

/// Hyperparameters of [`HybridModel`]. Defaults are LightFM's — AdaGrad, no L2 penalty,
/// `max_sampled` 10 — except `components` (30, the benchmarks' setting; LightFM's is 10) and the
/// learning rate: 0.03 instead of 0.05, measured on MovieLens 100k (P@10 0.352 against 0.333
/// with 0.05, 30 epochs; see `docs/benchmarks.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HybridParams {
    /// Embedding dimension `k` (≥ 1).
    pub components: usize,
    /// Passes over the observed pairs (≥ 1).
    pub epochs: usize,
    /// WARP or BPR.
    pub loss: HybridLoss,
    /// AdaGrad learning rate (finite, > 0).
    pub learning_rate: f32,
    /// L2 penalty on item feature embeddings and biases (finite, ≥ 0).
    pub item_alpha: f32,
    /// L2 penalty on user feature embeddings (finite, ≥ 0).
    pub user_alpha: f32,
    /// Negatives drawn per positive before WARP gives up (≥ 1).
    pub max_sampled: usize,
    /// An interaction is a positive when its value is above this (finite; LightFM's `Y > 0` is
    /// the default 0; e.g. 3 keeps ratings of 4 and 5). Every interaction, positive or not, is
    /// excluded from the user's negatives.
    pub positive_threshold: f32,
    /// Give every item its own identity feature.
    pub item_identity: bool,
    /// Give every user their own identity feature.
    pub user_identity: bool,
    /// Use the items' attributes (categories, tags, brand, price, title words) as features.
    pub item_features: bool,
    /// Use the users' attribute tokens as features.
    pub user_features: bool,
    /// A side-information token must be shared by at least this many rows to become a feature
    /// (≥ 1).
    pub min_df: usize,
    /// Quantile buckets of the item price (≥ 1).
    pub price_buckets: usize,
    /// Passes over an unseen user's history when folding them in (≥ 1).
    pub fold_in_epochs: usize,
    /// SGD step of the fold-in (finite, > 0).
    pub fold_in_learning_rate: f32,
}

impl Default for HybridParams {
    fn default() -> Self {
        Self {
            components: 30,
            epochs: 30,
            loss: HybridLoss::Warp,
            learning_rate: 0.03,
            item_alpha: 0.0,
            user_alpha: 0.0,
            max_sampled: 10,
            positive_threshold: 0.0,
            item_identity: true,
            user_identity: true,
            item_features: true,
            user_features: true,
            min_df: 2,
            price_buckets: 10,
            fold_in_epochs: 30,
            fold_in_learning_rate: 0.05,
        }
    }
}

impl ModelParams for HybridParams {
    type Model = HybridModel;

    fn validate(&self) -> Result<(), ParamError> {
        let err = |field, reason: &str| Err(ParamError::new(MODEL, field, reason));
        for (field, n) in [
            ("components", self.components),
            ("epochs", self.epochs),
            ("max_sampled", self.max_sampled),
            ("fold_in_epochs", self.fold_in_epochs),
            ("min_df", self.min_df),
            ("price_buckets", self.price_buckets),
        ] {
            if n == 0 {
                return err(field, "must be at least 1");
            }
        }
        for (field, v, positive) in [
            ("learning_rate", self.learning_rate, true),
            ("item_alpha", self.item_alpha, false),
            ("user_alpha", self.user_alpha, false),
            ("fold_in_learning_rate", self.fold_in_learning_rate, true),
        ] {
            if !(v.is_finite() && if positive { v > 0.0 } else { v >= 0.0 }) {
                return err(
                    field,
                    if positive { "must be a finite number > 0" } else { "must be a finite number ≥ 0" },
                );
            }
        }
        if !self.positive_threshold.is_finite() {
            return err("positive_threshold", "must be finite");
        }
        if !self.item_identity && !self.item_features {
            return err("item_identity", "items need identity features or attribute features");
        }
        if !self.user_identity && !self.user_features {
            return err("user_identity", "users need identity features or attribute features");
        }
        Ok(())
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<HybridModel, FitError> {
        self.validate()?;
        if data.nnz() == 0 {
            return Err(FitError::EmptyData { model: MODEL });
        }
        let items = self.item_matrix(ctx.side, data.n_items());
        let users = self.user_matrix(ctx.side, data.n_users());
        if items.feature_rows_empty() || users.feature_rows_empty() {
            return Err(FitError::Unfit {
                model: MODEL,
                reason: "some users or items have no feature at all: turn identity features on, or \
                         give every row attributes"
                    .into(),
            });
        }
        let embeddings = train::fit(self, data, &users, &items, ctx);
        Ok(HybridModel::new(self, data, users, items, embeddings, ctx.seed))
    }
}

/// Rows (users or items) as normalised feature weights, and how many features there are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct FeatureMatrix {
    /// Row → `(feature, weight)`, weights summing to 1.
    pub(crate) rows: Sparse,
    pub(crate) n_features: usize,
    /// Identity features come first: row `r`'s identity is feature `r`.
    pub(crate) identity: bool,
    /// Names of the non-identity features (`category:shoes`, `segment=loyal`).
    pub(crate) names: Vec<String>,
}

impl FeatureMatrix {
    /// Identity (if on) plus the given token columns, each row normalised to sum 1.
    fn new(n_rows: usize, identity: bool, names: Vec<String>, tokens: Vec<Vec<(u32, f32)>>) -> Self {
        let offset = if identity { n_rows as u32 } else { 0 };
        let rows = (0..n_rows).map(|r| {
            let mut row: Vec<(u32, f32)> = Vec::new();
            if identity {
                row.push((r as u32, 1.0));
            }
            if let Some(t) = tokens.get(r) {
                row.extend(t.iter().map(|&(c, _)| (offset + c, 1.0)));
            }
            let total = row.len() as f32;
            row.iter_mut().for_each(|(_, w)| *w /= total);
            row
        });
        let rows = Sparse::from_rows(rows);
        Self { rows, n_features: offset as usize + names.len(), identity, names }
    }

    fn feature_rows_empty(&self) -> bool {
        (0..self.rows.n_rows()).any(|r| self.rows.row(r).0.is_empty())
    }
}

impl HybridParams {
    /// Item features: identity plus every categorical and title-word token shared by `min_df`
    /// items (descriptions are left to the content model: they make many weak features).
    fn item_matrix(&self, side: &SideInfo, n_items: usize) -> FeatureMatrix {
        if !self.item_features {
            return FeatureMatrix::new(n_items, true, Vec::new(), Vec::new());
        }
        let mut docs = all_item_tokens(side, n_items, self.price_buckets);
        for d in docs.iter_mut() {
            d.retain(|(f, _)| *f != Field::Description);
        }
        let vocab = Vocabulary::build(&docs, self.min_df, 1.0);
        let tokens: Vec<Vec<(u32, f32)>> = docs.iter().map(|d| counts(&vocab, d)).collect();
        FeatureMatrix::new(n_items, self.item_identity, vocab.names, tokens)
    }

    /// User features: identity plus every attribute token shared by `min_df` users.
    fn user_matrix(&self, side: &SideInfo, n_users: usize) -> FeatureMatrix {
        if !self.user_features {
            return FeatureMatrix::new(n_users, true, Vec::new(), Vec::new());
        }
        let mut df: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for u in 0..n_users {
            let mut seen: Vec<&str> = side.user(u).iter().map(String::as_str).collect();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                *df.entry(t).or_default() += 1;
            }
        }
        let names: Vec<String> =
            df.iter().filter(|&(_, &d)| d >= self.min_df).map(|(t, _)| (*t).to_owned()).collect();
        let tokens: Vec<Vec<(u32, f32)>> = (0..n_users)
            .map(|u| {
                let mut cols: Vec<u32> = side
                    .user(u)
                    .iter()
                    .filter_map(|t| names.binary_search(t).ok().map(|c| c as u32))
                    .collect();
                cols.sort_unstable();
                cols.dedup();
                cols.into_iter().map(|c| (c, 1.0)).collect()
            })
            .collect();
        FeatureMatrix::new(n_users, self.user_identity, names, tokens)
    }
}

/// Trained feature embeddings and biases (row-major, `k` per feature).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Embeddings {
    pub(crate) k: usize,
    #[serde(with = "crate::models::floats")]
    pub(crate) user: Vec<f32>,
    #[serde(with = "crate::models::floats")]
    pub(crate) item: Vec<f32>,
    #[serde(with = "crate::models::floats")]
    pub(crate) item_bias: Vec<f32>,
}

/// A trained [`HybridParams`] model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HybridModel {
    users: FeatureMatrix,
    items: FeatureMatrix,
    embeddings: Embeddings,
    /// Representations of every training user and catalog item, for scoring.
    latent: Latent,
    fold: PairFoldIn,
}

impl FeatureMatrix {
    /// `n_rows` rows over `n_features` columns: the identity block (one per row) then `names`.
    fn check(&self, field: &str, n_rows: usize) -> crate::models::invariant::Check {
        let identity = if self.identity { self.rows.n_rows() } else { 0 };
        crate::models::invariant::len(
            &format!("{field} columns"),
            self.n_features,
            identity + self.names.len(),
        )?;
        self.rows.check_shape(field, n_rows, self.n_features)
    }
}

impl HybridModel {
    /// The shapes serving indexes by and the fold-in's bounds (see
    /// [`crate::models::invariant`]).
    pub(crate) fn check(&self) -> crate::models::invariant::Check {
        use crate::models::invariant::{len, matrix};
        self.latent.check()?;
        self.fold.check()?;
        self.users.check("user features", self.latent.n_users())?;
        self.items.check("item features", self.latent.n_items())?;
        let e = &self.embeddings;
        len("embedding dimension", e.k, self.latent.dim())?;
        matrix("user feature embeddings", e.user.len(), self.users.n_features, e.k)?;
        matrix("item feature embeddings", e.item.len(), self.items.n_features, e.k)?;
        len("item feature biases", e.item_bias.len(), self.items.n_features)
    }

    fn new(
        p: &HybridParams,
        data: &Interactions,
        users: FeatureMatrix,
        items: FeatureMatrix,
        mut e: Embeddings,
        seed: u64,
    ) -> Self {
        let k = e.k;
        // Identity features that never saw a positive carry only negative-sampling noise.
        if items.identity {
            for (i, &c) in data.item_counts().iter().enumerate() {
                if c == 0 {
                    e.item[i * k..(i + 1) * k].fill(0.0);
                    e.item_bias[i] = 0.0;
                }
            }
        }
        if users.identity {
            for (u, &c) in data.user_counts().iter().enumerate() {
                if c == 0 {
                    e.user[u * k..(u + 1) * k].fill(0.0);
                }
            }
        }
        let (user_reps, _) = represent(&users.rows, &e.user, None, k);
        let (item_reps, item_bias) = represent(&items.rows, &e.item, Some(&e.item_bias), k);
        let loss = match p.loss {
            HybridLoss::Warp => PairLoss::Warp { max_sampled: p.max_sampled },
            HybridLoss::Bpr => PairLoss::Bpr,
        };
        let fold = PairFoldIn {
            loss,
            threshold: p.positive_threshold,
            epochs: p.fold_in_epochs,
            lr: p.fold_in_learning_rate,
            lr_decay: 0.95,
            reg: p.user_alpha,
            seed,
        };
        let mut latent = Latent::new(k, user_reps, item_reps, item_bias);
        latent.finish();
        Self { users, items, embeddings: e, latent, fold }
    }

    /// Names of the item features beyond identity (`category:shoes`, `title:scarf`, ...).
    pub fn item_feature_names(&self) -> &[String] {
        &self.items.names
    }

    /// Names of the user features beyond identity.
    pub fn user_feature_names(&self) -> &[String] {
        &self.users.names
    }

    /// Number of feature embeddings (identity included) for users and items.
    pub fn n_features(&self) -> (usize, usize) {
        (self.users.n_features, self.items.n_features)
    }

    /// Scores every item for a user described only by feature names (attributes of a user the
    /// model never saw, e.g. `segment=loyal`); unknown names are ignored. With none known the
    /// scores are the item biases alone.
    pub fn score_user_features(&self, names: &[&str], out: &mut [f32]) -> Result<(), ModelError> {
        if out.len() != self.latent.n_items() {
            return Err(ModelError::BufferLength { expected: self.latent.n_items(), got: out.len() });
        }
        let offset = if self.users.identity { self.users.rows.n_rows() } else { 0 };
        let cols: Vec<usize> = names
            .iter()
            .filter_map(|n| self.users.names.iter().position(|m| m == n))
            .map(|c| offset + c)
            .collect();
        let k = self.embeddings.k;
        let mut p = vec![0f32; k];
        for &c in &cols {
            for (x, e) in p.iter_mut().zip(&self.embeddings.user[c * k..(c + 1) * k]) {
                *x += e / cols.len() as f32;
            }
        }
        self.latent.score(&p, out);
        Ok(())
    }
}

/// `Σ_f w_f e_f` (and `Σ_f w_f b_f`) for every row of `rows`.
fn represent(rows: &Sparse, emb: &[f32], bias: Option<&[f32]>, k: usize) -> (Vec<f32>, Vec<f32>) {
    let n = rows.n_rows();
    let mut reps = vec![0f32; n * k];
    let mut biases = vec![0f32; if bias.is_some() { n } else { 0 }];
    for r in 0..n {
        let (cols, weights) = rows.row(r);
        let rep = &mut reps[r * k..(r + 1) * k];
        for (&f, &w) in cols.iter().zip(weights) {
            for (x, e) in rep.iter_mut().zip(&emb[f as usize * k..(f as usize + 1) * k]) {
                *x += w * e;
            }
            if let Some(b) = bias {
                biases[r] += w * b[f as usize];
            }
        }
    }
    (reps, biases)
}

impl LatentModel for HybridModel {
    const NAME: &'static str = MODEL;

    fn latent(&self) -> &Latent {
        &self.latent
    }

    fn fold_in(&self, history: &[(ItemIdx, f32)]) -> Vec<f32> {
        self.latent.fold_in_pairwise(history, self.fold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Feedback, Interaction};
    use crate::ids::UserIdx;

    #[test]
    fn validation_names_the_field_and_feature_matrices_are_normalised() {
        let ok = HybridParams::default();
        assert_eq!(ok.validate(), Ok(()));
        for (p, field) in [
            (HybridParams { components: 0, ..ok.clone() }, "components"),
            (HybridParams { epochs: 0, ..ok.clone() }, "epochs"),
            (HybridParams { max_sampled: 0, ..ok.clone() }, "max_sampled"),
            (HybridParams { learning_rate: 0.0, ..ok.clone() }, "learning_rate"),
            (HybridParams { item_alpha: -1.0, ..ok.clone() }, "item_alpha"),
            (HybridParams { positive_threshold: f32::NAN, ..ok.clone() }, "positive_threshold"),
            (HybridParams { item_identity: false, item_features: false, ..ok.clone() }, "item_identity"),
            (HybridParams { user_identity: false, user_features: false, ..ok.clone() }, "user_identity"),
        ] {
            assert_eq!(p.validate().unwrap_err().field, field);
        }
        let side = SideInfo {
            items: vec![
                Some(crate::side::ItemAttributes { categories: vec!["a".into()], ..Default::default() }),
                Some(crate::side::ItemAttributes { categories: vec!["a".into()], ..Default::default() }),
                None,
            ],
            users: vec![vec!["segment=x".into()], vec!["segment=x".into()]],
        };
        let items = ok.item_matrix(&side, 3);
        assert_eq!((items.n_features, items.names.clone()), (4, vec!["category:a".to_owned()]));
        assert_eq!(
            items.rows.row(0),
            (&[0u32, 3][..], &[0.5f32, 0.5][..]),
            "identity + category, summing to 1"
        );
        assert_eq!(items.rows.row(2), (&[2u32][..], &[1.0f32][..]), "an undescribed item: identity only");
        let users = ok.user_matrix(&side, 2);
        assert_eq!(users.names, ["segment=x"]);
        // Without identity features, an item with no attribute has no feature at all: refused.
        let e = Interaction { user: UserIdx(0), item: ItemIdx(0), value: 1.0, ts: 0 };
        let data = Interactions::new(2, 3, Feedback::Implicit, vec![e]).unwrap();
        let no_id = HybridParams { item_identity: false, ..ok };
        let err = no_id.fit(&data, &FitContext::seeded(0).with_side(&side)).unwrap_err();
        assert!(matches!(err, FitError::Unfit { .. }), "{err:?}");
    }
}
