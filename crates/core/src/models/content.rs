//! Content-based recommendation: items are vectors of what the catalog says about them, users
//! are the weighted sum of the items they touched (Pazzani & Billsus 2007, "Content-based
//! recommendation systems"; Lops, de Gemmis & Semeraro 2011).
//!
//! Item vectors: TF-IDF over the words of the title and the description, and over tags,
//! categories, brand and price bucket (see the `features` module), with sublinear term frequency
//! `1 + ln(count)` and smoothed inverse document frequency `ln((1 + N) / (1 + df)) + 1` over the
//! `N` described items (Salton & Buckley 1988; scikit-learn's `TfidfVectorizer` defaults). Each
//! field's block is normalised to unit length and scaled by its weight, so a long description
//! cannot drown out the category, then the whole vector is normalised. Objective (none is
//! learned from interactions): for a user with history `H`, the profile is
//! `p = Σ_{i∈H} w_i x_i` and item `j` scores `cos(p, x_j) = p·x_j / |p|`; similar items are
//! ranked by `cos(x_i, x_j)`.
//!
//! Scoring goes through an inverted index (feature → items), so it costs the postings of the
//! profile's features, not the catalog times the vocabulary. An item nobody has interacted with
//! scores like any other: this model is what cold-start items rely on. Fold-in is exact: an
//! unseen user's profile is built from their history the same way.

use serde::{Deserialize, Serialize};

use super::features::{Field, Vocabulary, all_item_tokens, counts};
use super::sparse::Sparse;
use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::recommender::{
    FitContext, FitError, ModelError, ModelParams, ParamError, Recommender, Scored, check_history,
    check_item, check_user, top_excluding,
};

const MODEL: &str = "content";

/// Hyperparameters of [`ContentModel`]: field weights and the vocabulary's filters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentParams {
    /// Weight of the title's words (finite, ≥ 0).
    pub title_weight: f32,
    /// Weight of the description's words (finite, ≥ 0).
    pub description_weight: f32,
    /// Weight of the tags (finite, ≥ 0).
    pub tags_weight: f32,
    /// Weight of the categories (finite, ≥ 0).
    pub category_weight: f32,
    /// Weight of the brand (finite, ≥ 0).
    pub brand_weight: f32,
    /// Weight of the price bucket (finite, ≥ 0).
    pub price_weight: f32,
    /// Quantile buckets of the price (≥ 1; 1 = price unused).
    pub price_buckets: usize,
    /// A token must appear in at least this many items (≥ 1).
    pub min_df: usize,
    /// A word in more than this share of the items is dropped (in (0, 1]).
    pub max_df: f32,
    /// Weigh every touched item 1 in a profile, instead of the interaction's value.
    pub binary: bool,
}

impl Default for ContentParams {
    fn default() -> Self {
        Self {
            title_weight: 1.0,
            description_weight: 0.5,
            tags_weight: 1.0,
            category_weight: 1.0,
            brand_weight: 0.5,
            price_weight: 0.3,
            price_buckets: 10,
            min_df: 2,
            max_df: 0.5,
            binary: false,
        }
    }
}

impl ContentParams {
    fn weight(&self, field: Field) -> f32 {
        match field {
            Field::Title => self.title_weight,
            Field::Description => self.description_weight,
            Field::Tag => self.tags_weight,
            Field::Category => self.category_weight,
            Field::Brand => self.brand_weight,
            Field::Price => self.price_weight,
        }
    }
}

impl ModelParams for ContentParams {
    type Model = ContentModel;

    fn validate(&self) -> Result<(), ParamError> {
        let err = |field, reason: &str| Err(ParamError::new(MODEL, field, reason));
        let weights = [
            ("title_weight", self.title_weight),
            ("description_weight", self.description_weight),
            ("tags_weight", self.tags_weight),
            ("category_weight", self.category_weight),
            ("brand_weight", self.brand_weight),
            ("price_weight", self.price_weight),
        ];
        for (field, w) in weights {
            if !(w.is_finite() && w >= 0.0) {
                return err(field, "must be a finite number ≥ 0");
            }
        }
        if weights.iter().all(|&(_, w)| w == 0.0) {
            return err("title_weight", "at least one field weight must be > 0");
        }
        if self.price_buckets == 0 {
            return err("price_buckets", "must be at least 1");
        }
        if self.min_df == 0 {
            return err("min_df", "must be at least 1");
        }
        if !(self.max_df > 0.0 && self.max_df <= 1.0) {
            return err("max_df", "must be in (0, 1]");
        }
        Ok(())
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<ContentModel, FitError> {
        self.validate()?;
        if ctx.side.described_items() == 0 {
            return Err(FitError::Unfit {
                model: MODEL,
                reason: "needs item attributes (a catalog with titles, categories, ...); none were given"
                    .into(),
            });
        }
        let n_items = data.n_items();
        let docs = all_item_tokens(ctx.side, n_items, self.price_buckets);
        let vocab = Vocabulary::build(&docs, self.min_df, self.max_df);
        let described = docs.iter().filter(|d| !d.is_empty()).count();
        let items = Sparse::from_rows(docs.iter().map(|d| self.vector(&vocab, d, described)));
        let postings = items.transpose(vocab.len());
        let rows = Sparse::collect(data.n_users(), |u| data.user(UserIdx(u)));
        ctx.report(MODEL, 1, 1, None);
        Ok(ContentModel { items, postings, rows, names: vocab.names, binary: self.binary })
    }
}

impl ContentParams {
    /// The unit TF-IDF vector of one item's tokens, each field's block weighted (module doc).
    fn vector(&self, vocab: &Vocabulary, tokens: &[(Field, String)], n_docs: usize) -> Vec<(u32, f32)> {
        let mut v: Vec<(u32, f32)> = counts(vocab, tokens)
            .into_iter()
            .map(|(c, n)| {
                let idf = ((1.0 + n_docs as f32) / (1.0 + vocab.df[c as usize] as f32)).ln() + 1.0;
                (c, (1.0 + n.ln()) * idf)
            })
            .collect();
        let mut block_norm = [0f32; Field::ALL.len()];
        for &(c, x) in &v {
            block_norm[vocab.fields[c as usize].index()] += x * x;
        }
        for (c, x) in v.iter_mut() {
            let field = vocab.fields[*c as usize];
            *x *= self.weight(field) / block_norm[field.index()].sqrt();
        }
        v.retain(|&(_, x)| x > 0.0);
        let total = v.iter().map(|&(_, x)| x * x).sum::<f32>().sqrt();
        for (_, x) in v.iter_mut() {
            *x /= total;
        }
        v
    }
}

/// A fitted [`ContentParams`] model: unit item vectors, their inverted index, and the training
/// rows that make the users' profiles. The index is the transpose of the item vectors, as large
/// as they are, so it is rebuilt on load rather than stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ContentParts")]
pub struct ContentModel {
    items: Sparse,
    #[serde(skip)]
    postings: Sparse,
    rows: Sparse,
    /// `field:token` of every feature column.
    names: Vec<String>,
    binary: bool,
}

/// What [`ContentModel`] stores: the fields it writes, in its order (binary formats read fields
/// by position).
#[derive(Deserialize)]
struct ContentParts {
    items: Sparse,
    rows: Sparse,
    names: Vec<String>,
    binary: bool,
}

impl TryFrom<ContentParts> for ContentModel {
    type Error = String;

    /// Checks the shapes serving indexes by (see [`crate::models::invariant`]) before the index
    /// is rebuilt from them.
    fn try_from(p: ContentParts) -> Result<Self, String> {
        p.items.check_cols("item features", p.names.len())?;
        p.rows.check_cols("training rows", p.items.n_rows())?;
        let postings = p.items.transpose(p.names.len());
        Ok(Self { items: p.items, postings, rows: p.rows, names: p.names, binary: p.binary })
    }
}

impl ContentModel {
    /// Checked on decoding (`TryFrom<ContentParts>`): nothing left to check.
    pub(crate) fn check(&self) -> crate::models::invariant::Check {
        Ok(())
    }

    /// The features of `item` by name and weight, strongest first (for explanations).
    pub fn item_features(&self, item: ItemIdx) -> Vec<(&str, f32)> {
        let (cols, vals) = self.items.row(item.index());
        let mut out: Vec<(&str, f32)> =
            cols.iter().zip(vals).map(|(&c, &v)| (self.names[c as usize].as_str(), v)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }

    /// `out[j] = p·x_j / |p|` for the profile of `history`.
    fn score_profile(&self, history: impl Iterator<Item = (u32, f32)>, out: &mut [f32]) {
        out.fill(0.0);
        let mut profile = vec![0f32; self.postings.n_rows()];
        let mut touched: Vec<u32> = Vec::new();
        for (i, w) in history.filter(|(_, w)| w.is_finite() && *w != 0.0) {
            let w = if self.binary { 1.0 } else { w };
            let (cols, vals) = self.items.row(i as usize);
            for (&c, &x) in cols.iter().zip(vals) {
                if profile[c as usize] == 0.0 {
                    touched.push(c);
                }
                profile[c as usize] += w * x;
            }
        }
        let norm = touched.iter().map(|&c| profile[c as usize].powi(2)).sum::<f32>().sqrt();
        if norm == 0.0 {
            return;
        }
        // `affinity` repeats these sums for one item: keep the two in step.
        for &c in &touched {
            let p = profile[c as usize] / norm;
            let (items, vals) = self.postings.row(c as usize);
            for (&j, &x) in items.iter().zip(vals) {
                out[j as usize] += p * x;
            }
        }
    }
}

impl ContentModel {
    /// The cosine [`Recommender::similar_items`] gives `b` as a neighbour of `a`:
    /// [`ContentModel::score_profile`]'s sums for the profile of `a` alone, restricted to `b`.
    /// `None` when either item has no feature.
    fn affinity(&self, a: ItemIdx, b: ItemIdx) -> Option<f32> {
        let (cols, vals) = self.items.row(a.index());
        if self.items.row(b.index()).0.is_empty() {
            return None;
        }
        // A one-item profile is the item's own vector (weight 1; its columns are unique).
        let norm = vals.iter().map(|x| x.powi(2)).sum::<f32>().sqrt();
        if norm == 0.0 {
            return None;
        }
        let mut score = 0f32;
        for (&c, &x) in cols.iter().zip(vals) {
            if let Some(y) = self.items.get(b.index(), c) {
                score += x / norm * y;
            }
        }
        Some(score)
    }
}

impl Recommender for ContentModel {
    fn name(&self) -> &'static str {
        MODEL
    }

    fn n_users(&self) -> usize {
        self.rows.n_rows()
    }

    fn n_items(&self) -> usize {
        self.items.n_rows()
    }

    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError> {
        check_user(self, user, out)?;
        let (items, values) = self.rows.row(user.index());
        self.score_profile(items.iter().copied().zip(values.iter().copied()), out);
        Ok(())
    }

    fn score_history(&self, history: &[(ItemIdx, f32)], out: &mut [f32]) -> Result<(), ModelError> {
        check_history(self, history, out)?;
        self.score_profile(history.iter().map(|&(i, w)| (i.0, w)), out);
        Ok(())
    }

    fn similar_items(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        check_item(self, item)?;
        let mut scores = vec![0f32; self.n_items()];
        self.score_profile(std::iter::once((item.0, 1.0)), &mut scores);
        for s in scores.iter_mut().filter(|s| **s <= 0.0) {
            *s = f32::NEG_INFINITY;
        }
        scores[item.index()] = f32::NEG_INFINITY;
        Ok(top_excluding(&mut scores, n, exclude))
    }

    fn item_affinity(&self, a: ItemIdx, b: ItemIdx) -> Option<f32> {
        let n = self.n_items();
        if a.index() >= n || b.index() >= n {
            return None;
        }
        self.affinity(a, b)
    }

    fn predict(&self, _: UserIdx, _: ItemIdx) -> Result<f32, ModelError> {
        Err(ModelError::Unsupported { model: MODEL, operation: "rating prediction" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Feedback, Interaction};
    use crate::side::{ItemAttributes, SideInfo};

    fn side() -> SideInfo {
        let item = |title: &str, cat: &str, brand: &str| {
            Some(ItemAttributes {
                title: title.into(),
                categories: vec![cat.into()],
                brand: Some(brand.into()),
                ..ItemAttributes::default()
            })
        };
        SideInfo {
            items: vec![
                item("red wool scarf", "winter", "acme"),
                item("blue wool scarf", "winter", "zen"),
                item("red swim shorts", "summer", "acme"),
                item("blue swim shorts", "summer", "zen"),
            ],
            users: vec![],
        }
    }

    #[test]
    fn item_vectors_are_unit_and_field_weights_choose_the_neighbours() {
        let e = Interaction { user: UserIdx(0), item: ItemIdx(0), value: 1.0, ts: 0 };
        let data = Interactions::new(1, 4, Feedback::Implicit, vec![e]).unwrap();
        let ctx = FitContext::seeded(0);
        let side = side();
        let p = ContentParams { min_df: 1, max_df: 1.0, ..ContentParams::default() };
        let m = p.fit(&data, &ctx.with_side(&side)).unwrap();
        for i in 0..4 {
            let norm: f32 = m.item_features(ItemIdx(i)).iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "item {i}: {norm}");
        }
        // Category and title words dominate: the scarf's nearest is the other scarf.
        assert_eq!(m.similar_items(ItemIdx(0), 1, &[]).unwrap()[0].item, ItemIdx(1));
        // Only the brand counts: the nearest is the other acme item.
        let brand_only = ContentParams {
            title_weight: 0.0,
            description_weight: 0.0,
            tags_weight: 0.0,
            category_weight: 0.0,
            price_weight: 0.0,
            brand_weight: 1.0,
            ..p
        };
        let m = brand_only.fit(&data, &ctx.with_side(&side)).unwrap();
        assert_eq!(m.similar_items(ItemIdx(0), 1, &[]).unwrap()[0].item, ItemIdx(2));
        assert!(
            matches!(ContentParams::default().fit(&data, &ctx), Err(FitError::Unfit { .. })),
            "no catalog"
        );
        let zero = ContentParams { brand_weight: 0.0, ..brand_only };
        assert_eq!(zero.validate().unwrap_err().field, "title_weight");
    }
}
