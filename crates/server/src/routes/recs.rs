//! Recommendations: personalised (`GET /v1/users/{id}/recommendations`, `POST
//! /v1/recommendations`), similar items, bought together and popular lists.

use aisle_engine::impact::{Placed, Query};
use aisle_engine::{Boost, Filters, RecommendRequest, Recommendations, Subject, Window};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Granted, Level, require_level};
use crate::error::{ApiError, ErrorBody};
use crate::state::{ApiJson, ApiPath, ApiQuery, AppState, check_n, id};

/// Most boosts in one request.
pub const MAX_BOOSTS: usize = 20;
/// Most item ids across a request's boosts.
pub const MAX_BOOST_IDS: usize = 1000;

/// Business rules, as query parameters.
#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// How many items, 1..=1000 (default 10).
    #[param(minimum = 1, maximum = 1000)]
    pub n: Option<usize>,
    /// Only this category.
    pub category: Option<String>,
    /// Minimum price.
    pub min_price: Option<f64>,
    /// Maximum price.
    pub max_price: Option<f64>,
    /// Only in-stock (true) or out-of-stock (false) items.
    pub in_stock: Option<bool>,
    /// Comma-separated item ids to leave out.
    pub exclude: Option<String>,
    /// Attach reasons to each item. On a user's list they name the shopper's history, so they
    /// need a private (or higher) key.
    pub explain: Option<bool>,
    /// Also recommend items already bought (personalised lists only).
    pub include_purchased: Option<bool>,
    /// Leave out every item the shopper interacted with (personalised lists only).
    pub exclude_seen: Option<bool>,
    /// Popular lists only: `1h`, `24h`, `7d`, `30d` or `all` (default `7d`).
    pub window: Option<String>,
    /// A placement (`GET /v1/placements`): its kind, default rules, diversity and exploration
    /// shape the list, and the impression is logged under it.
    pub placement: Option<String>,
    /// The shopper seeing an item or popular list (for attribution and experiments).
    pub user_id: Option<String>,
    /// The session (for session-randomised experiments).
    pub session_id: Option<String>,
    /// `false` for a preview that no shopper sees (a dashboard, a test): the list is not logged
    /// as an impression, so it credits and counts nothing. Default true.
    pub log: Option<bool>,
}

fn placement(p: Option<String>) -> Result<Option<String>, ApiError> {
    if let Some(p) = &p {
        id("placement", p)?;
    }
    Ok(p)
}

fn filters(
    category: Option<String>,
    min_price: Option<f64>,
    max_price: Option<f64>,
    in_stock: Option<bool>,
    exclude: Vec<String>,
) -> Result<Filters, ApiError> {
    for (field, p) in [("min_price", min_price), ("max_price", max_price)] {
        if p.is_some_and(|p| !p.is_finite() || p < 0.0) {
            return Err(ApiError::invalid(field, "must be a finite number ≥ 0"));
        }
    }
    if let (Some(lo), Some(hi)) = (min_price, max_price)
        && lo > hi
    {
        return Err(ApiError::invalid("min_price", "min_price is above max_price"));
    }
    if let Some(c) = &category {
        id("category", c)?;
    }
    if exclude.len() > 1000 {
        return Err(ApiError::invalid("exclude", "at most 1000 ids"));
    }
    for e in &exclude {
        id("exclude", e)?;
    }
    Ok(Filters { category, min_price, max_price, in_stock, exclude })
}

impl ListParams {
    fn n(&self) -> Result<Option<usize>, ApiError> {
        self.n.map(check_n).transpose()
    }

    fn placement(&self) -> Result<Option<String>, ApiError> {
        placement(self.placement.clone())
    }

    /// The request's placement, length and who sees it, around `query`.
    fn placed(&self, query: Query) -> Result<Placed, ApiError> {
        for (field, v) in [("user_id", &self.user_id), ("session_id", &self.session_id)] {
            if let Some(v) = v {
                id(field, v)?;
            }
        }
        Ok(Placed {
            placement: self.placement()?,
            n: self.n()?,
            query,
            user_id: self.user_id.clone(),
            session_id: self.session_id.clone(),
            log: self.log.unwrap_or(true),
        })
    }

    fn filters(&self) -> Result<Filters, ApiError> {
        let exclude = self
            .exclude
            .as_deref()
            .map(|e| e.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        filters(self.category.clone(), self.min_price, self.max_price, self.in_stock, exclude)
    }

    fn no_window(&self) -> Result<(), ApiError> {
        match self.window {
            Some(_) => Err(ApiError::invalid("window", "only popular lists take a window")),
            None => Ok(()),
        }
    }
}

/// One recommended item.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecItem {
    /// Item id.
    pub id: String,
    /// Score (comparable within one list).
    pub score: f32,
    /// Title, where the catalog has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Price, where the catalog has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    /// Reasons, with `explain=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<ReasonOut>>,
}

/// Why an item is recommended.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReasonOut {
    /// `similar_to`, `popular` or `taste`.
    pub kind: String,
    /// The related item of the shopper's history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// For display ("because you viewed X").
    pub text: String,
}

/// A recommendation list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecsOut {
    /// Send it back with events that follow from this list (attribution).
    pub recommendation_id: String,
    /// `model`, `fold_in`, `item` or `popular`.
    pub source: String,
    /// True when the shopper was unknown (or no model serves) and popular items were returned.
    pub fallback: bool,
    /// The serving model version.
    pub model_version: Option<u64>,
    /// Best first.
    pub items: Vec<RecItem>,
}

impl From<Recommendations> for RecsOut {
    fn from(r: Recommendations) -> Self {
        let source = serde_json::to_value(r.source)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        RecsOut {
            recommendation_id: r.recommendation_id,
            source,
            fallback: r.fallback,
            model_version: r.model_version,
            items: r
                .items
                .into_iter()
                .map(|i| RecItem {
                    id: i.id,
                    score: i.score,
                    title: i.title,
                    price: i.price,
                    reasons: i.reasons.map(|rs| {
                        rs.into_iter()
                            .map(|x| ReasonOut { kind: x.kind, item_id: x.item_id, text: x.text })
                            .collect()
                    }),
                })
                .collect(),
        }
    }
}

/// Recommendations for a user: their model vector, or a fold-in of their events since training;
/// popular items (`fallback: true`) for a user with no history.
#[utoipa::path(get, path = "/v1/users/{id}/recommendations", tag = "recommendations",
    params(("id" = String, Path, description = "User id", min_length = 1, max_length = 256), ListParams),
    responses((status = 200, body = RecsOut), (status = 422, body = ErrorBody)))]
pub async fn user_recs(
    State(s): State<AppState>,
    axum::Extension(granted): axum::Extension<Granted>,
    ApiPath(user_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<Json<RecsOut>, ApiError> {
    id("id", &user_id)?;
    q.no_window()?;
    let n = q.n()?;
    let mut req = RecommendRequest::new(Subject::User(user_id), n.unwrap_or(10));
    req.filters = q.filters()?;
    req.explain = q.explain.unwrap_or(false);
    if req.explain {
        require_level(granted, Level::Private)?;
    }
    req.include_purchased = q.include_purchased.unwrap_or(false);
    req.exclude_seen = q.exclude_seen.unwrap_or(false);
    if q.user_id.is_some() {
        return Err(ApiError::invalid("user_id", "the path names the user"));
    }
    let placed = q.placed(Query::Personal(req))?;
    Ok(Json(s.impact.serve(placed).await?.into()))
}

/// Filters of a POST request.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FiltersIn {
    /// Only this category.
    pub category: Option<String>,
    /// Minimum price.
    pub min_price: Option<f64>,
    /// Maximum price.
    pub max_price: Option<f64>,
    /// Only in-stock (true) or out-of-stock (false) items.
    pub in_stock: Option<bool>,
    /// Item ids to leave out.
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub exclude: Vec<String>,
}

/// Multiplies matching items' scores by `weight`. An item's factor is the product of the weights
/// of the boosts that match it, kept within [0.01, 100].
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BoostIn {
    /// Items in this category match.
    #[schema(min_length = 1, max_length = 256)]
    pub category: Option<String>,
    /// These items match (at most 1,000 across all boosts).
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub item_ids: Vec<String>,
    /// The factor, in (0, 100].
    #[schema(exclusive_minimum = 0.0, maximum = 100.0)]
    pub weight: f32,
}

/// A recommendation request for a user or an anonymous session.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecsIn {
    /// A user id (or give `session_items`).
    #[schema(min_length = 1, max_length = 256)]
    pub user_id: Option<String>,
    /// An anonymous session's items, oldest first (or give `user_id`).
    #[schema(max_items = 1000)]
    pub session_items: Option<Vec<String>>,
    /// How many, 1..=1000 (default 10).
    #[schema(minimum = 1, maximum = 1000)]
    pub n: Option<usize>,
    /// Business rules.
    #[serde(default)]
    pub filters: Option<FiltersIn>,
    /// Boosts (at most 20).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub boosts: Vec<BoostIn>,
    /// Attach reasons (for a user: needs a private or higher key, as they name their history).
    #[serde(default)]
    pub explain: bool,
    /// Also recommend items already bought.
    #[serde(default)]
    pub include_purchased: bool,
    /// Leave out every item interacted with.
    #[serde(default)]
    pub exclude_seen: bool,
    /// A placement (`GET /v1/placements`) shaping the list; the impression is logged under it.
    #[schema(min_length = 1, max_length = 256)]
    pub placement: Option<String>,
    /// The session (for session-randomised experiments).
    #[schema(min_length = 1, max_length = 256)]
    pub session_id: Option<String>,
    /// `false` for a preview no shopper sees: the list is not logged as an impression. Default
    /// true.
    #[serde(default = "yes")]
    pub log: bool,
}

fn yes() -> bool {
    true
}

fn boosts(list: Vec<BoostIn>) -> Result<Vec<Boost>, ApiError> {
    if list.len() > MAX_BOOSTS {
        return Err(ApiError::invalid("boosts", format!("at most {MAX_BOOSTS} boosts")));
    }
    let mut ids = 0;
    list.into_iter()
        .enumerate()
        .map(|(k, b)| {
            if !(b.weight.is_finite() && b.weight > 0.0 && b.weight <= 100.0) {
                return Err(ApiError::invalid(format!("boosts[{k}].weight"), "must be in (0, 100]"));
            }
            if b.category.is_none() && b.item_ids.is_empty() {
                return Err(ApiError::invalid(format!("boosts[{k}]"), "give a category or item_ids"));
            }
            ids += b.item_ids.len();
            if ids > MAX_BOOST_IDS {
                return Err(ApiError::invalid(
                    format!("boosts[{k}].item_ids"),
                    format!("at most {MAX_BOOST_IDS} item ids across all boosts"),
                ));
            }
            if let Some(c) = &b.category {
                id(&format!("boosts[{k}].category"), c)?;
            }
            for i in &b.item_ids {
                id(&format!("boosts[{k}].item_ids"), i)?;
            }
            Ok(Boost { category: b.category, item_ids: b.item_ids, weight: b.weight })
        })
        .collect()
}

/// Recommendations for a user or an anonymous session, with filters and boosts.
#[utoipa::path(post, path = "/v1/recommendations", tag = "recommendations", request_body = RecsIn,
    responses((status = 200, body = RecsOut), (status = 404, body = ErrorBody, description = "No such placement"),
        (status = 422, body = ErrorBody)))]
pub async fn post_recs(
    State(s): State<AppState>,
    axum::Extension(granted): axum::Extension<Granted>,
    ApiJson(body): ApiJson<RecsIn>,
) -> Result<Json<RecsOut>, ApiError> {
    if body.explain && body.user_id.is_some() {
        require_level(granted, Level::Private)?;
    }
    let subject = match (body.user_id, body.session_items) {
        (Some(u), None) => {
            id("user_id", &u)?;
            Subject::User(u)
        }
        (None, Some(items)) => {
            if items.len() > 1000 {
                return Err(ApiError::invalid("session_items", "at most 1000 items"));
            }
            for i in &items {
                id("session_items", i)?;
            }
            Subject::Session(items)
        }
        _ => return Err(ApiError::invalid("user_id", "give exactly one of user_id and session_items")),
    };
    let f = body.filters.unwrap_or_default();
    let n = body.n.map(check_n).transpose()?;
    let mut req = RecommendRequest::new(subject, n.unwrap_or(10));
    req.filters = filters(f.category, f.min_price, f.max_price, f.in_stock, f.exclude)?;
    req.boosts = boosts(body.boosts)?;
    req.explain = body.explain;
    req.include_purchased = body.include_purchased;
    req.exclude_seen = body.exclude_seen;
    if let Some(sid) = &body.session_id {
        id("session_id", sid)?;
    }
    let placed = Placed {
        placement: placement(body.placement)?,
        n,
        query: Query::Personal(req),
        user_id: None,
        session_id: body.session_id,
        log: body.log,
    };
    Ok(Json(s.impact.serve(placed).await?.into()))
}

/// Items similar to an item, by the serving model.
#[utoipa::path(get, path = "/v1/items/{id}/similar", tag = "recommendations",
    params(("id" = String, Path, description = "Item id", min_length = 1, max_length = 256), ListParams),
    responses((status = 200, body = RecsOut), (status = 404, body = ErrorBody)))]
pub async fn similar(
    State(s): State<AppState>,
    ApiPath(item_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<Json<RecsOut>, ApiError> {
    id("id", &item_id)?;
    q.no_window()?;
    let query = Query::Similar { item: item_id, filters: q.filters()?, explain: q.explain.unwrap_or(false) };
    Ok(Json(s.impact.serve(q.placed(query)?).await?.into()))
}

/// Items most often bought in the same basket as an item.
#[utoipa::path(get, path = "/v1/items/{id}/bought-together", tag = "recommendations",
    params(("id" = String, Path, description = "Item id", min_length = 1, max_length = 256), ListParams),
    responses((status = 200, body = RecsOut), (status = 404, body = ErrorBody)))]
pub async fn bought_together(
    State(s): State<AppState>,
    ApiPath(item_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<Json<RecsOut>, ApiError> {
    id("id", &item_id)?;
    q.no_window()?;
    let query = Query::BoughtTogether { item: item_id, filters: q.filters()? };
    Ok(Json(s.impact.serve(q.placed(query)?).await?.into()))
}

/// The most popular items of a time window (events weighted by kind), updated as events arrive.
#[utoipa::path(get, path = "/v1/popular", tag = "recommendations", params(ListParams),
    responses((status = 200, body = RecsOut), (status = 404, body = ErrorBody, description = "No such placement"),
        (status = 422, body = ErrorBody)))]
pub async fn popular(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<Json<RecsOut>, ApiError> {
    let window = match q.window.as_deref() {
        None => None,
        Some(w) => Some(Window::parse(w).ok_or_else(|| {
            ApiError::invalid("window", format!("unknown window {w:?}; allowed: 1h, 24h, 7d, 30d, all"))
        })?),
    };
    let query = Query::Popular { window, filters: q.filters()? };
    Ok(Json(s.impact.serve(q.placed(query)?).await?.into()))
}
