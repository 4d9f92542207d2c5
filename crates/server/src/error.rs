//! Every error the API returns, and the one place engine errors become HTTP statuses.
//!
//! Bodies are `{"code", "message", "request_id"}` (plus `field` for validation errors). The
//! `request_id` is filled in by [`with_request_id`], which sees both the request's id and the
//! error: handlers never thread it through.

use axum::Json;
use axum::extract::Request;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use aisle_engine::EngineError;
use aisle_store::StoreError;

/// The JSON body of every error.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code (`unauthorized`, `validation_failed`, ...).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The field at fault, for validation errors (`events[3].type`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The id of the request (also in the `x-request-id` header).
    pub request_id: String,
}

/// An API error.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No API key was sent.
    #[error("an API key is required: send `Authorization: Bearer KEY` or `x-api-key: KEY`")]
    Unauthorized,
    /// The key sent is not one of the configured keys.
    #[error("the API key is invalid")]
    InvalidKey,
    /// The key is not valid for this route.
    #[error("this API key may not {0}")]
    Forbidden(&'static str),
    /// A named resource does not exist.
    #[error("{what} {id:?} not found")]
    NotFound {
        /// `item`, `user`, `model`, ...
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// No route has this path.
    #[error("no route for {0}")]
    NoRoute(String),
    /// The route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A field has a bad value.
    #[error("{message}")]
    Validation {
        /// The field (`n`, `events[2].user_id`).
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// An event type that is not one of the known ones.
    #[error("{message}")]
    UnknownEventType {
        /// The field (`events[2].type`).
        field: String,
        /// Names the allowed types.
        message: String,
    },
    /// The body is not valid JSON or not the expected shape.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than `server.max_body_bytes`.
    #[error("request body is larger than server.max_body_bytes")]
    PayloadTooLarge,
    /// The body is not `application/json`.
    #[error("expected a body with content-type application/json")]
    UnsupportedMediaType,
    /// A conflicting operation is running (a training job).
    #[error("{0}")]
    Conflict(String),
    /// Work only the leader replica does was sent to a follower.
    #[error("{0}")]
    NotLeader(String),
    /// The operation needs something not there yet (a serving model).
    #[error("{0}")]
    Unavailable(String),
    /// The store cannot be reached or is busy; retry after a moment (logged, never shown).
    #[error("the store is unavailable; retry shortly")]
    StoreUnavailable(String),
    /// The store's disk is full: writes are refused, nothing acknowledged is lost, reads work.
    #[error("the store's disk is full: writes are refused until space is freed (reads still work)")]
    StoreFull(String),
    /// Anything else: logged with the request id, never shown.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A validation error on `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation { field: field.into(), message: message.into() }
    }

    fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::InvalidKey => (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::NoRoute(_) => (StatusCode::NOT_FOUND, "no_route"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Validation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            ApiError::UnknownEventType { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_event_type"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::NotLeader(_) => (StatusCode::CONFLICT, "not_leader"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::StoreUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            ApiError::StoreFull(_) => (StatusCode::INSUFFICIENT_STORAGE, "store_full"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The error a bare status means, for responses that were not made by this module (a
    /// library's plain-text rejection, a file server's empty 404): every error body is JSON.
    pub fn from_status(status: StatusCode) -> ApiError {
        match status {
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
            StatusCode::NOT_FOUND => ApiError::NoRoute("this path".to_owned()),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => {
                ApiError::invalid("body", "the request could not be processed")
            }
            s if s.is_client_error() => ApiError::BadRequest(
                s.canonical_reason().unwrap_or("the request could not be processed").to_owned(),
            ),
            s if s == StatusCode::SERVICE_UNAVAILABLE => {
                ApiError::Unavailable("try again shortly".to_owned())
            }
            s => ApiError::Internal(format!("status {s} without a body")),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound { what, id } => ApiError::NotFound { what, id },
            EngineError::Invalid(m) => ApiError::invalid("body", m),
            EngineError::Config { key, reason } => ApiError::invalid(key, reason),
            e @ EngineError::TrainingBusy { .. } => ApiError::Conflict(e.to_string()),
            e @ EngineError::NotLeader => ApiError::NotLeader(e.to_string()),
            EngineError::Store(StoreError::Fenced(reason)) => {
                ApiError::NotLeader(format!("this replica no longer leads: {reason}"))
            }
            e @ EngineError::Training(_) => ApiError::Unavailable(e.to_string()),
            EngineError::Store(StoreError::NotFound { what, id }) => ApiError::NotFound { what, id },
            e @ EngineError::Store(StoreError::Unavailable(_)) => ApiError::StoreUnavailable(e.to_string()),
            e @ EngineError::Store(StoreError::Full(_)) => ApiError::StoreFull(e.to_string()),
            e @ (EngineError::Artifact { .. }
            | EngineError::Store(StoreError::Corrupt { .. } | StoreError::Backend(_))
            | EngineError::Task(_)) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::invalid("body", r.body_text()),
            _ => ApiError::BadRequest(r.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::invalid("query", r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::invalid("path", r.body_text())
    }
}

/// Marks an error response so that [`with_request_id`] can finish its body.
#[derive(Clone, Debug)]
struct PendingError(ErrorBody);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_code();
        match &self {
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            ApiError::StoreUnavailable(detail) | ApiError::StoreFull(detail) => {
                tracing::warn!(%detail, "the store refused a request")
            }
            _ => {}
        }
        let field = match &self {
            ApiError::Validation { field, .. } | ApiError::UnknownEventType { field, .. } => {
                Some(field.clone())
            }
            _ => None,
        };
        let body = ErrorBody { code, message: self.to_string(), field, request_id: String::new() };
        let mut res = (status, Json(body.clone())).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::INSUFFICIENT_STORAGE {
            // The condition passes (a store restarting, space freed): say when to try again.
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_S));
        }
        res.extensions_mut().insert(PendingError(body));
        res
    }
}

/// The header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// Seconds a client should wait before retrying a 503 or 507.
pub const RETRY_AFTER_S: &str = "1";

/// Gives every request an id (the client's `x-request-id` if it sent a sane one), echoes it in
/// the response header and writes it into error bodies.
pub async fn with_request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(new_request_id, str::to_owned);
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let mut res = next.run(req).await;
    if res.status().as_u16() >= 400 && res.extensions().get::<PendingError>().is_none() && !is_json(&res) {
        // An error some library answered in its own words (a plain-text 413, an empty 404):
        // the same JSON body as every other error.
        let headers = std::mem::take(res.headers_mut());
        res = ApiError::from_status(res.status()).into_response();
        for (k, v) in &headers {
            if k != axum::http::header::CONTENT_LENGTH && k != axum::http::header::CONTENT_TYPE {
                res.headers_mut().insert(k, v.clone());
            }
        }
    }
    if let Some(PendingError(mut body)) = res.extensions_mut().remove::<PendingError>() {
        body.request_id = id.clone();
        let status = res.status();
        let headers = std::mem::take(res.headers_mut());
        res = (status, Json(body)).into_response();
        for (k, v) in &headers {
            if k != axum::http::header::CONTENT_LENGTH {
                res.headers_mut().insert(k, v.clone());
            }
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    res
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"))
}

fn new_request_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("req_{:016x}", RandomState::new().hash_one(n))
}
