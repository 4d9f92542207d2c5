//! Operations: health, readiness, Prometheus metrics.

use aisle_store::Store;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::state::AppState;

/// A health answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
    /// The serving model version (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving_version: Option<u64>,
    /// `leader` (trains) or `follower` (readiness only; on the embedded store always `leader`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Why not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The process is alive.
#[utoipa::path(get, path = "/health/live", tag = "ops", responses((status = 200, body = Health)))]
pub async fn live() -> Json<Health> {
    Json(Health { status: "ok".to_owned(), serving_version: None, role: None, reason: None })
}

/// The server can answer: the store responds (recommendations fall back to popular items while
/// no model serves).
#[utoipa::path(get, path = "/health/ready", tag = "ops", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn ready(State(s): State<AppState>) -> Response {
    let serving_version = s.engine.serving().map(|p| p.version());
    let role = Some(if s.engine.is_leader() { "leader" } else { "follower" }.to_owned());
    // A cheap indexed read on every backend (counting events would scan a large log).
    match s.engine.store().active_model().await {
        Ok(_) => {
            Json(Health { status: "ready".to_owned(), serving_version, role, reason: None }).into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable".to_owned(),
                serving_version,
                role,
                reason: Some(e.to_string()),
            }),
        )
            .into_response(),
    }
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let stats = s.engine.stats();
    metrics::gauge!("aisle_catalog_items").set(stats.items as f64);
    metrics::gauge!("aisle_users").set(stats.users as f64);
    metrics::gauge!("aisle_events").set(stats.events as f64);
    metrics::gauge!("aisle_history_cached_users").set(stats.cached_users as f64);
    metrics::gauge!("aisle_serving_model_version").set(stats.serving_version.unwrap_or(0) as f64);
    s.metrics.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
}
