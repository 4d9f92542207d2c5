//! Placements: `PUT/GET/DELETE /v1/placements/{id}`, `GET /v1/placements` — named, versioned
//! serving configurations that every recommendation route takes as `placement=`.

use aisle_engine::impact::{Placement, PlacementConfig};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ErrorBody};
use crate::state::{ApiJson, ApiPath, ApiQuery, AppState, id};

/// Every placement, by id (their newest versions).
#[utoipa::path(get, path = "/v1/placements", tag = "placements",
    responses((status = 200, body = Vec<Placement>)))]
pub async fn list_placements(State(s): State<AppState>) -> Json<Vec<Placement>> {
    Json(s.impact.placements().list().iter().map(|p| (**p).clone()).collect())
}

/// Which version to read.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionParams {
    /// An earlier version (default: the newest).
    #[param(minimum = 1)]
    pub version: Option<u64>,
}

/// A placement: its newest version, or `version=N`.
#[utoipa::path(get, path = "/v1/placements/{id}", tag = "placements",
    params(("id" = String, Path, description = "Placement id", min_length = 1, max_length = 256), VersionParams),
    responses((status = 200, body = Placement), (status = 404, body = ErrorBody)))]
pub async fn get_placement(
    State(s): State<AppState>,
    ApiPath(placement): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionParams>,
) -> Result<Json<Placement>, ApiError> {
    id("id", &placement)?;
    let found = match q.version {
        None => s.impact.placements().get(&placement).map(|p| (*p).clone()),
        Some(v) => s.impact.placement_version(&placement, v).await?,
    };
    found.map(Json).ok_or(ApiError::NotFound { what: "placement", id: placement })
}

/// Creates a placement or writes a new version of it (admin key).
#[utoipa::path(put, path = "/v1/placements/{id}", tag = "placements", request_body = PlacementConfig,
    params(("id" = String, Path, description = "Placement id", min_length = 1, max_length = 256)),
    responses((status = 200, body = Placement), (status = 422, body = ErrorBody)))]
pub async fn put_placement(
    State(s): State<AppState>,
    ApiPath(placement): ApiPath<String>,
    ApiJson(config): ApiJson<PlacementConfig>,
) -> Result<Json<Placement>, ApiError> {
    id("id", &placement)?;
    Ok(Json((*s.impact.put_placement(&placement, config).await?).clone()))
}

/// Deletes a placement (its versions stay readable with `version=N`; admin key).
#[utoipa::path(delete, path = "/v1/placements/{id}", tag = "placements",
    params(("id" = String, Path, description = "Placement id", min_length = 1, max_length = 256)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_placement(
    State(s): State<AppState>,
    ApiPath(placement): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    id("id", &placement)?;
    if s.impact.delete_placement(&placement).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { what: "placement", id: placement })
    }
}
