//! Request and response types of the recommendation queries.

use serde::{Deserialize, Serialize};

use crate::popular::Window;

/// Who the recommendations are for.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    /// A shopper by id: known to the model, folded in from their events, or unknown.
    User(String),
    /// An anonymous session: the items it touched, oldest first.
    Session(Vec<String>),
}

/// Business rules applied to every candidate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filters {
    /// Only items in this category.
    pub category: Option<String>,
    /// Only items priced at least this.
    pub min_price: Option<f64>,
    /// Only items priced at most this.
    pub max_price: Option<f64>,
    /// Only items whose `in_stock` equals this.
    pub in_stock: Option<bool>,
    /// Never these item ids.
    pub exclude: Vec<String>,
}

/// Multiplies the scores of matching items by `weight` (divides negative scores), so `2` favours
/// them and `0.5` demotes them without changing the order among the others.
#[derive(Clone, Debug, PartialEq)]
pub struct Boost {
    /// Items in this category match.
    pub category: Option<String>,
    /// These items match.
    pub item_ids: Vec<String>,
    /// The factor, > 0.
    pub weight: f32,
}

/// A personalised recommendation request.
#[derive(Clone, Debug, PartialEq)]
pub struct RecommendRequest {
    /// For whom.
    pub subject: Subject,
    /// How many items, 1..=1000.
    pub n: usize,
    /// Business rules.
    pub filters: Filters,
    /// Score boosts.
    pub boosts: Vec<Boost>,
    /// Attach reasons to each item.
    pub explain: bool,
    /// Also recommend items the shopper already bought (excluded by default).
    pub include_purchased: bool,
    /// Exclude every item the shopper interacted with, not only purchases.
    pub exclude_seen: bool,
}

impl RecommendRequest {
    /// `n` items for `subject`, no rules.
    pub fn new(subject: Subject, n: usize) -> Self {
        Self {
            subject,
            n,
            filters: Filters::default(),
            boosts: Vec::new(),
            explain: false,
            include_purchased: false,
            exclude_seen: false,
        }
    }
}

/// How a list was produced.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The model's vector of a user it was trained on.
    Model,
    /// Fold-in: the model scored the shopper's history, including events since training.
    FoldIn,
    /// Item-to-item: similar items or bought together.
    Item,
    /// Popularity: the shopper is unknown and has no history, or no model is serving.
    Popular,
}

/// Why an item was recommended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// `similar_to`, `bought_together`, `popular` or `taste`.
    pub kind: String,
    /// The item of the shopper's history it relates to, if any.
    pub item_id: Option<String>,
    /// A sentence for display.
    pub text: String,
}

/// One recommended item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecommendedItem {
    /// Item id.
    pub id: String,
    /// Score; comparable only within one list.
    pub score: f32,
    /// Title, where the catalog has one.
    pub title: Option<String>,
    /// Price, where the catalog has one.
    pub price: Option<f64>,
    /// Reasons (with `explain=true`).
    pub reasons: Option<Vec<Reason>>,
}

/// A list of recommendations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recommendations {
    /// Unique id of this response, for attribution of later events.
    pub recommendation_id: String,
    /// How the list was produced.
    pub source: Source,
    /// Whether this is a fallback (popular items for an unknown shopper, or no model).
    pub fallback: bool,
    /// The serving model version, if one answered.
    pub model_version: Option<u64>,
    /// The items, best first.
    pub items: Vec<RecommendedItem>,
}

/// A popular-list request.
#[derive(Clone, Debug, PartialEq)]
pub struct PopularRequest {
    /// The window.
    pub window: Window,
    /// How many items.
    pub n: usize,
    /// Business rules.
    pub filters: Filters,
}
