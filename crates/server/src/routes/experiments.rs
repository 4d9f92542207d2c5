//! Experiments: `POST /v1/experiments`, `GET /v1/experiments`, `GET /v1/experiments/{id}`,
//! `GET /v1/experiments/{id}/report`, `POST /v1/experiments/{id}/stop`, `POST
//! /v1/experiments/{id}/ship`.

use aisle_engine::impact::{Experiment, ExperimentConfig, ExperimentReport};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::{ApiJson, ApiPath, AppState, id};

/// Starts an experiment on a placement (admin key). Units are assigned by a salted hash of the
/// unit id: the same unit always sees the same variant, on every replica and after restarts.
#[utoipa::path(post, path = "/v1/experiments", tag = "experiments", request_body = ExperimentConfig,
    responses((status = 201, body = Experiment), (status = 422, body = ErrorBody)))]
pub async fn create_experiment(
    State(s): State<AppState>,
    ApiJson(config): ApiJson<ExperimentConfig>,
) -> Result<(StatusCode, Json<Experiment>), ApiError> {
    let e = s.impact.create_experiment(config).await?;
    Ok((StatusCode::CREATED, Json((*e).clone())))
}

/// Every experiment.
#[utoipa::path(get, path = "/v1/experiments", tag = "experiments",
    responses((status = 200, body = Vec<Experiment>)))]
pub async fn list_experiments(State(s): State<AppState>) -> Json<Vec<Experiment>> {
    Json(s.impact.experiments().list().iter().map(|e| (**e).clone()).collect())
}

/// One experiment.
#[utoipa::path(get, path = "/v1/experiments/{id}", tag = "experiments",
    params(("id" = String, Path, description = "Experiment id", min_length = 1, max_length = 64)),
    responses((status = 200, body = Experiment), (status = 404, body = ErrorBody)))]
pub async fn get_experiment(
    State(s): State<AppState>,
    ApiPath(experiment): ApiPath<String>,
) -> Result<Json<Experiment>, ApiError> {
    id("id", &experiment)?;
    let e = s
        .impact
        .experiments()
        .get(&experiment)
        .ok_or(ApiError::NotFound { what: "experiment", id: experiment })?;
    Ok(Json((*e).clone()))
}

/// The report: per variant units, lists, CTR, conversion and revenue per unit; differences
/// against the control with CUPED, 95% and always-valid intervals and p-values; the sample
/// ratio check; the fixed-horizon sample size; for interleaving, the preference.
#[utoipa::path(get, path = "/v1/experiments/{id}/report", tag = "experiments",
    params(("id" = String, Path, description = "Experiment id", min_length = 1, max_length = 64)),
    responses((status = 200, body = ExperimentReport), (status = 404, body = ErrorBody)))]
pub async fn experiment_report(
    State(s): State<AppState>,
    ApiPath(experiment): ApiPath<String>,
) -> Result<Json<ExperimentReport>, ApiError> {
    id("id", &experiment)?;
    Ok(Json(s.impact.experiment_report(&experiment).await?))
}

/// Stops a running experiment (admin key): the placement serves its own configuration again.
#[utoipa::path(post, path = "/v1/experiments/{id}/stop", tag = "experiments",
    params(("id" = String, Path, description = "Experiment id", min_length = 1, max_length = 64)),
    responses((status = 200, body = Experiment), (status = 404, body = ErrorBody)))]
pub async fn stop_experiment(
    State(s): State<AppState>,
    ApiPath(experiment): ApiPath<String>,
) -> Result<Json<Experiment>, ApiError> {
    id("id", &experiment)?;
    Ok(Json((*s.impact.stop_experiment(&experiment).await?).clone()))
}

/// Which variant to ship.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipIn {
    /// The variant's name.
    #[schema(min_length = 1, max_length = 64)]
    pub variant: String,
}

/// Ships a variant (admin key): its configuration becomes a new version of the placement and
/// the experiment ends.
#[utoipa::path(post, path = "/v1/experiments/{id}/ship", tag = "experiments", request_body = ShipIn,
    params(("id" = String, Path, description = "Experiment id", min_length = 1, max_length = 64)),
    responses((status = 200, body = Experiment), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn ship_experiment(
    State(s): State<AppState>,
    ApiPath(experiment): ApiPath<String>,
    ApiJson(body): ApiJson<ShipIn>,
) -> Result<Json<Experiment>, ApiError> {
    id("id", &experiment)?;
    Ok(Json((*s.impact.ship(&experiment, &body.variant).await?).clone()))
}
