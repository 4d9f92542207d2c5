//! What every handler gets, and the extractors that turn axum's rejections into [`ApiError`]s.

use std::sync::Arc;

use aisle_engine::Engine;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::de::DeserializeOwned;

use crate::auth::Keys;
use crate::config::ServerConfig;
use crate::error::ApiError;

/// Shared state of the router.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Placements, impressions and attribution.
    pub impact: Arc<aisle_engine::impact::Impact>,
    /// API keys.
    pub keys: Keys,
    /// Limits.
    pub server: Arc<ServerConfig>,
    /// The Prometheus registry's handle.
    pub metrics: PrometheusHandle,
}

/// `axum::Json` whose rejections are [`ApiError`]s.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(v))
    }
}

/// `axum::extract::Query` whose rejections are [`ApiError`]s.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(v) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(v))
    }
}

/// `axum::extract::Path` whose rejections are [`ApiError`]s.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(v) = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(v))
    }
}

/// Checks a path or body id.
pub fn id(field: &str, value: &str) -> Result<(), ApiError> {
    aisle_engine::check_id(field, value).map_err(|e| ApiError::invalid(field, e.message))
}

/// Checks a list size `n` against 1..=1000.
pub fn check_n(n: usize) -> Result<usize, ApiError> {
    if (1..=1000).contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::invalid("n", format!("n must be between 1 and 1000, got {n}")))
    }
}

/// Checks a page size: 1..=1000, default 100.
pub fn check_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let l = limit.unwrap_or(100);
    if (1..=1000).contains(&l) {
        Ok(l)
    } else {
        Err(ApiError::invalid("limit", format!("limit must be between 1 and 1000, got {l}")))
    }
}
