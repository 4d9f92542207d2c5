//! Catalog items: `PUT/PATCH/GET/DELETE /v1/items/{id}`, `POST /v1/items/batch`, `GET /v1/items`.

use aisle_engine::ItemPatch;
use aisle_store::{ItemRecord, PageRequest};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::state::{ApiJson, ApiPath, ApiQuery, AppState, check_limit, id};

/// An item as written. Every field but the id (path or body) may be omitted.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemIn {
    /// The id; in a batch, required; in `PUT /v1/items/{id}`, absent or equal to the path's.
    #[schema(min_length = 1, max_length = 256)]
    pub id: Option<String>,
    /// Display title (no control characters).
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub title: String,
    /// Description (line breaks and tabs allowed, no other control characters).
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: String,
    /// Categories (each 1..=256 bytes, not only whitespace, no control characters).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub categories: Vec<String>,
    /// Tags (as categories).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub tags: Vec<String>,
    /// Brand.
    #[schema(max_length = 1000)]
    pub brand: Option<String>,
    /// Price, from 0 to 1e12.
    #[schema(minimum = 0.0, maximum = 1e12)]
    pub price: Option<f64>,
    /// In stock (default true).
    pub in_stock: Option<bool>,
    /// Other attributes.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

fn record(item: ItemIn, id_value: String, field: &str) -> Result<ItemRecord, ApiError> {
    let r = ItemRecord {
        id: id_value,
        title: item.title,
        description: item.description,
        categories: item.categories,
        tags: item.tags,
        brand: item.brand,
        price: item.price,
        in_stock: item.in_stock.unwrap_or(true),
        attributes: item.attributes,
        updated_at_ms: 0,
    };
    aisle_engine::validate::validate_item(&r)
        .map_err(|e| ApiError::invalid(format!("{field}{}", e.field), e.message))?;
    Ok(r)
}

/// A batch of items.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemBatch {
    /// The items, each with its id (at most `server.max_item_batch`, 10,000 by default).
    pub items: Vec<ItemIn>,
}

/// What a batch did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchOut {
    /// Items written.
    pub upserted: usize,
}

/// A listing page request.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of items.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ItemPage {
    /// Items in id order.
    pub items: Vec<ItemRecord>,
    /// Cursor of the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Creates or replaces an item.
#[utoipa::path(put, path = "/v1/items/{id}", tag = "catalog",
    params(("id" = String, Path, description = "Item id", min_length = 1, max_length = 256)), request_body = ItemIn,
    responses((status = 200, body = ItemRecord), (status = 422, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put_item(
    State(s): State<AppState>,
    ApiPath(item_id): ApiPath<String>,
    ApiJson(item): ApiJson<ItemIn>,
) -> Result<Json<ItemRecord>, ApiError> {
    id("id", &item_id)?;
    if item.id.as_ref().is_some_and(|b| *b != item_id) {
        return Err(ApiError::invalid("id", "the body's id differs from the path's"));
    }
    let r = record(item, item_id.clone(), "")?;
    s.engine.put_items(vec![r]).await?;
    let stored = s.engine.item(&item_id).ok_or_else(|| ApiError::Internal("item vanished".to_owned()))?;
    Ok(Json((*stored).clone()))
}

/// Updates some fields of an item (JSON merge patch: present fields replace, null clears).
#[utoipa::path(patch, path = "/v1/items/{id}", tag = "catalog",
    params(("id" = String, Path, description = "Item id", min_length = 1, max_length = 256)), request_body(content = Object, description = "RFC 7396 merge patch"),
    responses((status = 200, body = ItemRecord), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_item(
    State(s): State<AppState>,
    ApiPath(item_id): ApiPath<String>,
    ApiJson(patch): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<ItemRecord>, ApiError> {
    id("id", &item_id)?;
    if patch.get("id").is_some_and(|v| v.as_str() != Some(item_id.as_str())) {
        return Err(ApiError::invalid("id", "an item's id cannot be changed"));
    }
    if let Some(bad) = patch.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid(bad.clone(), format!("unknown field; fields: {}", FIELDS.join(", "))));
    }
    let r = s.engine.patch_item(&item_id, &ItemPatch(patch)).await?;
    Ok(Json(r))
}

const FIELDS: [&str; 9] =
    ["id", "title", "description", "categories", "tags", "brand", "price", "in_stock", "attributes"];

/// An item.
#[utoipa::path(get, path = "/v1/items/{id}", tag = "catalog",
    params(("id" = String, Path, description = "Item id", min_length = 1, max_length = 256)),
    responses((status = 200, body = ItemRecord), (status = 404, body = ErrorBody)))]
pub async fn get_item(
    State(s): State<AppState>,
    ApiPath(item_id): ApiPath<String>,
) -> Result<Json<ItemRecord>, ApiError> {
    id("id", &item_id)?;
    let r = s.engine.item(&item_id).ok_or(ApiError::NotFound { what: "item", id: item_id })?;
    Ok(Json((*r).clone()))
}

/// Deletes an item; it is no longer recommended from the next request.
#[utoipa::path(delete, path = "/v1/items/{id}", tag = "catalog",
    params(("id" = String, Path, description = "Item id", min_length = 1, max_length = 256)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_item(
    State(s): State<AppState>,
    ApiPath(item_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    id("id", &item_id)?;
    if s.engine.delete_item(&item_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { what: "item", id: item_id })
    }
}

/// Creates or replaces many items in one transaction (all or nothing).
#[utoipa::path(post, path = "/v1/items/batch", tag = "catalog", request_body = ItemBatch,
    responses((status = 200, body = BatchOut), (status = 422, body = ErrorBody)))]
pub async fn batch_items(
    State(s): State<AppState>,
    ApiJson(batch): ApiJson<ItemBatch>,
) -> Result<Json<BatchOut>, ApiError> {
    if batch.items.len() > s.server.max_item_batch {
        return Err(ApiError::invalid(
            "items",
            format!("at most server.max_item_batch = {} items", s.server.max_item_batch),
        ));
    }
    let mut records = Vec::with_capacity(batch.items.len());
    for (k, mut item) in batch.items.into_iter().enumerate() {
        let field = format!("items[{k}].");
        let item_id = item.id.take().ok_or_else(|| ApiError::invalid(format!("{field}id"), "missing"))?;
        records.push(record(item, item_id, &field)?);
    }
    let upserted = records.len();
    s.engine.put_items(records).await?;
    Ok(Json(BatchOut { upserted }))
}

/// Items in id order, a page at a time.
#[utoipa::path(get, path = "/v1/items", tag = "catalog", params(ListQuery),
    responses((status = 200, body = ItemPage), (status = 422, body = ErrorBody)))]
pub async fn list_items(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ItemPage>, ApiError> {
    let limit = check_limit(q.limit)?;
    let page = s.engine.items(PageRequest { limit, after: q.cursor }).await?;
    Ok(Json(ItemPage { items: page.rows, next_cursor: page.next }))
}
