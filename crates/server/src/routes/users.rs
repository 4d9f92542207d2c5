//! Users: `PUT/GET/DELETE /v1/users/{id}`, `GET /v1/users`.

use aisle_store::{PageRequest, UserRecord};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::routes::items::ListQuery;
use crate::state::{ApiJson, ApiPath, ApiQuery, AppState, check_limit, id};

/// A user as written.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    /// Absent or equal to the path's id.
    pub id: Option<String>,
    /// Attributes (`segment`, `country`, ...); strings, numbers and booleans become features of
    /// the hybrid model.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// What a delete removed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserDeleted {
    /// The user's id.
    pub id: String,
    /// Their events deleted with them.
    pub events_deleted: u64,
}

/// A page of users.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserPage {
    /// Users in id order.
    pub users: Vec<UserRecord>,
    /// Cursor of the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Creates or replaces a user.
#[utoipa::path(put, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id", min_length = 1, max_length = 256)), request_body = UserIn,
    responses((status = 200, body = UserRecord), (status = 422, body = ErrorBody)))]
pub async fn put_user(
    State(s): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(user): ApiJson<UserIn>,
) -> Result<Json<UserRecord>, ApiError> {
    id("id", &user_id)?;
    if user.id.as_ref().is_some_and(|b| *b != user_id) {
        return Err(ApiError::invalid("id", "the body's id differs from the path's"));
    }
    let record = UserRecord { id: user_id.clone(), attributes: user.attributes, updated_at_ms: 0 };
    aisle_engine::validate::validate_user(&record).map_err(|e| ApiError::invalid(e.field, e.message))?;
    s.engine.put_user(record).await?;
    let stored =
        s.engine.user(&user_id).await?.ok_or_else(|| ApiError::Internal("user vanished".to_owned()))?;
    Ok(Json(stored))
}

/// A user.
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id", min_length = 1, max_length = 256)),
    responses((status = 200, body = UserRecord), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(s): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserRecord>, ApiError> {
    id("id", &user_id)?;
    let u = s.engine.user(&user_id).await?.ok_or(ApiError::NotFound { what: "user", id: user_id })?;
    Ok(Json(u))
}

/// Deletes a user and all their events.
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "users",
    params(("id" = String, Path, description = "User id", min_length = 1, max_length = 256)),
    responses((status = 200, body = UserDeleted), (status = 404, body = ErrorBody)))]
pub async fn delete_user(
    State(s): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserDeleted>, ApiError> {
    id("id", &user_id)?;
    let r = s.engine.delete_user(&user_id).await?;
    if !r.existed && r.events == 0 {
        return Err(ApiError::NotFound { what: "user", id: user_id });
    }
    Ok(Json(UserDeleted { id: user_id, events_deleted: r.events }))
}

/// Users in id order, a page at a time.
#[utoipa::path(get, path = "/v1/users", tag = "users", params(ListQuery),
    responses((status = 200, body = UserPage), (status = 422, body = ErrorBody)))]
pub async fn list_users(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let limit = check_limit(q.limit)?;
    let page = s.engine.users(PageRequest { limit, after: q.cursor }).await?;
    Ok(Json(UserPage { users: page.rows, next_cursor: page.next }))
}
