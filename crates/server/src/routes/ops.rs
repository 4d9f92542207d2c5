//! Operations: health, readiness, Prometheus metrics.

use aisle_store::Store;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
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
    /// What is wrong while still serving (readiness only): the active model version could not
    /// be read, and which version (or popular lists) serves instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
}

/// The process is alive.
#[utoipa::path(get, path = "/health/live", tag = "ops", responses((status = 200, body = Health)))]
pub async fn live() -> Json<Health> {
    Json(Health { status: "ok".to_owned(), serving_version: None, role: None, degraded: None })
}

/// The server can answer: the store responds (recommendations fall back to popular items while
/// no model serves). A `degraded` field says when the active model version could not be read and
/// another one serves. 503 (`store_unavailable`, with `Retry-After`) when the store does not
/// answer; the store's own error goes to the log, not the body.
#[utoipa::path(get, path = "/health/ready", tag = "ops", responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn ready(State(s): State<AppState>) -> Response {
    // A cheap indexed read on every backend (counting events would scan a large log).
    let answered = s.engine.store().active_model().await.map(|_| ());
    readiness(
        answered,
        s.engine.serving().map(|p| p.version()),
        s.engine.is_leader(),
        s.engine.serving_health().degraded,
    )
}

/// The readiness answer for the store's `answered`.
fn readiness(
    answered: Result<(), aisle_store::StoreError>,
    serving_version: Option<u64>,
    leader: bool,
    degraded: Option<String>,
) -> Response {
    match answered {
        Ok(()) => {
            let role = Some(if leader { "leader" } else { "follower" }.to_owned());
            Json(Health { status: "ready".to_owned(), serving_version, role, degraded }).into_response()
        }
        Err(e) => ApiError::StoreUnavailable(e.to_string()).into_response(),
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
    metrics::gauge!("aisle_deleted_users").set(stats.deleted_users as f64);
    let degraded = s.engine.serving_health().degraded.is_some();
    metrics::gauge!("aisle_serving_degraded").set(if degraded { 1.0 } else { 0.0 });
    s.metrics.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unready_store_is_a_json_503_without_its_internals() {
        let failure = aisle_store::StoreError::Unavailable(
            "connection to 10.0.0.7:5432 refused; password=hunter2".into(),
        );
        let res = readiness(Err(failure), Some(3), true, None);
        assert_eq!(res.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 16).await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(body["code"], "store_unavailable");
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("10.0.0.7") && !text.contains("hunter2"), "{text}");
    }
}
