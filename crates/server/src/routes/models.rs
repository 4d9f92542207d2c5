//! Model versions: `GET /v1/models`, `POST /v1/admin/train`, `POST
//! /v1/admin/models/{version}/activate`.

use std::collections::BTreeMap;

use aisle_engine::{FollowUp, ModelConfig, Selection, TrainOutcome, TrainRequest};
use aisle_store::ModelRecord;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::{ApiPath, AppState};

/// A stored model version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelOut {
    /// 1, 2, ...
    pub version: u64,
    /// Whether it serves now.
    pub serving: bool,
    /// Model name.
    pub name: String,
    /// Parameters.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// Offline metrics on the holdout split (`ndcg@10`, ...).
    pub metrics: BTreeMap<String, f64>,
    /// The highest event sequence number it was trained on.
    pub trained_on_seq: u64,
    /// When it was trained, Unix ms.
    pub created_at_ms: i64,
    /// Artifact size.
    pub artifact_bytes: u64,
}

impl From<ModelRecord> for ModelOut {
    fn from(r: ModelRecord) -> Self {
        ModelOut {
            version: r.version,
            serving: r.active,
            name: r.model.name,
            params: r.model.params,
            metrics: r.model.metrics,
            trained_on_seq: r.model.trained_on_seq,
            created_at_ms: r.model.created_at_ms,
            artifact_bytes: r.artifact_bytes,
        }
    }
}

/// The result of a training job.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrainOut {
    /// The stored version.
    pub model: ModelOut,
    /// Whether it now serves.
    pub published: bool,
    /// Why (the gate's comparison, in words).
    pub reason: String,
    /// What the gate compared the candidate with: `nothing_serving`, `serving_model` (the serving
    /// version scored on events neither was trained on), `serving_configuration` (too few new
    /// events: the serving configuration refitted on the same split), `validation` (a slow
    /// candidate's follow-up: both settings on the selection's validation cases) or
    /// `unevaluable`.
    pub comparison: String,
    /// The NDCG@10 of what it was compared with.
    pub serving_ndcg: Option<f64>,
    /// With `auto`: every candidate's NDCG@10 on the time split, best first, and which was
    /// trained (the version's metrics keep each as `selection:NAME`).
    pub selection: Option<Selection>,
    /// With `auto`: the slow candidates (`model.slow_candidates`) a follow-up job now fits
    /// against this version's setting in the background (`GET /v1/models` shows it running as
    /// `training_since_ms`, and what it did as `follow_up`); empty when none follows.
    pub follow_up: Vec<String>,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl From<TrainOutcome> for TrainOut {
    fn from(o: TrainOutcome) -> Self {
        TrainOut {
            model: o.model.into(),
            published: o.published,
            reason: o.reason,
            comparison: o.comparison.kind().to_owned(),
            serving_ndcg: o.serving_ndcg,
            selection: o.selection,
            follow_up: o.follow_up,
            seconds: o.seconds,
        }
    }
}

/// Versions and training state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelsOut {
    /// The serving version.
    pub serving_version: Option<u64>,
    /// When the running training job started, if one runs (Unix ms).
    pub training_since_ms: Option<i64>,
    /// The last training error, if the last job failed.
    pub last_training_error: Option<String>,
    /// The last follow-up of an `auto` training (its slow candidates against the chosen
    /// setting), when one has ended.
    pub follow_up: Option<FollowUp>,
    /// Every stored version, newest first.
    pub models: Vec<ModelOut>,
}

/// Stored model versions, their offline metrics, and which one serves.
#[utoipa::path(get, path = "/v1/models", tag = "models", responses((status = 200, body = ModelsOut)))]
pub async fn list_models(State(s): State<AppState>) -> Result<Json<ModelsOut>, ApiError> {
    let models = s.engine.models().await?;
    let t = s.engine.training_status();
    Ok(Json(ModelsOut {
        serving_version: s.engine.serving().map(|p| p.version()),
        training_since_ms: t.running_since_ms,
        last_training_error: t.last_error,
        follow_up: t.follow_up,
        models: models.into_iter().map(ModelOut::from).collect(),
    }))
}

/// A training request.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainIn {
    /// A model name other than the configured one, or `auto`: the best of the configured
    /// `model.candidates` by validation.
    pub model: Option<String>,
    /// Its parameters over the defaults.
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Map<String, serde_json::Value>>,
    /// Publish regardless of the gate.
    #[serde(default)]
    pub force: bool,
    /// Store the version without publishing it (a candidate for an experiment's variant, pinned
    /// by `model_version`, or for `aisle ope --candidate-version`).
    #[serde(default)]
    pub candidate: bool,
    /// Answer when the job is done (200) instead of at once (202).
    #[serde(default)]
    pub wait: bool,
}

/// The answer while a job runs in the background.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrainStarted {
    /// `started`.
    pub status: String,
}

/// Trains a model in the background; publishes it if the gate passes. The job runs to its end
/// even if the client stops waiting.
#[utoipa::path(post, path = "/v1/admin/train", tag = "models", request_body(content = TrainIn, description = "optional: an empty body trains the configured model"),
    responses((status = 200, body = TrainOut), (status = 202, body = TrainStarted), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn train(State(s): State<AppState>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let body: TrainIn = if body.iter().all(u8::is_ascii_whitespace) {
        TrainIn::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid("body", e.to_string()))?
    };
    if let Some(name) = &body.model {
        crate::state::id("model", name)?;
    }
    let model = match (body.model, body.params) {
        (None, None) => None,
        (name, params) => Some(ModelConfig {
            name: name.unwrap_or_else(|| s.engine.config().model.name.clone()),
            params: params.unwrap_or_default(),
            ..s.engine.config().model.clone()
        }),
    };
    if let Some(m) = &model {
        m.choice().map_err(ApiError::from)?;
    }
    let req = TrainRequest { model, force: body.force, candidate: body.candidate };
    if body.wait {
        let out = s.engine.train(&req).await?;
        return Ok(Json(TrainOut::from(out)).into_response());
    }
    if !s.engine.is_leader() {
        return Err(aisle_engine::EngineError::NotLeader.into());
    }
    if let Some(since) = s.engine.training_status().running_since_ms {
        return Err(aisle_engine::EngineError::TrainingBusy { started_at_ms: since }.into());
    }
    let engine = s.engine.clone();
    tokio::spawn(async move {
        if let Err(e) = engine.train(&req).await {
            tracing::warn!(error = %e, "training requested over the API did not publish");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(TrainStarted { status: "started".to_owned() })).into_response())
}

/// Makes a stored version the serving one (rollback included); atomic for requests. Send
/// `content-type: application/json` (an empty body is fine).
#[utoipa::path(post, path = "/v1/admin/models/{version}/activate", tag = "models",
    params(("version" = u64, Path, description = "Model version", minimum = 1)),
    responses((status = 200, body = ModelOut), (status = 404, body = ErrorBody)))]
pub async fn activate(
    State(s): State<AppState>,
    ApiPath(version): ApiPath<u64>,
) -> Result<Json<ModelOut>, ApiError> {
    Ok(Json(s.engine.activate(version).await?.into()))
}
