//! Events: `POST /v1/events` with one event, an array, or `{"events": [...]}`. A batch is
//! validated whole before anything is stored (all or nothing) and is durable before the 200.

use aisle_core::EventKind;
use aisle_store::{Appended, EventRecord};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::{ApiJson, AppState};

/// One event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// Idempotency key: an event with an id already stored is acknowledged and not stored again.
    pub event_id: Option<String>,
    /// Who.
    pub user_id: String,
    /// What.
    pub item_id: String,
    /// `view`, `click`, `add_to_cart`, `purchase`, `rating`, `like`, `dislike` or `impression`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The rating (required for `rating`), or e.g. a price.
    pub value: Option<f32>,
    /// When: RFC 3339 (`2026-12-01T10:00:00Z`) or Unix milliseconds; default now.
    #[schema(value_type = Option<String>)]
    pub timestamp: Option<serde_json::Value>,
    /// The shopper's session.
    pub session_id: Option<String>,
    /// The `recommendation_id` of the list that led to this event.
    pub recommendation_id: Option<String>,
}

/// A batch of events (the body may also be one event or a bare array).
#[derive(Debug, Deserialize, ToSchema)]
pub struct EventBatch {
    /// The events.
    pub events: Vec<EventIn>,
}

/// The fate of one event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventResult {
    /// `inserted` or `duplicate`.
    pub status: String,
    /// Its sequence number in the store.
    pub seq: u64,
}

/// What a batch did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventsOut {
    /// Events stored now.
    pub inserted: usize,
    /// Events already stored (same `event_id`).
    pub duplicates: usize,
    /// Per event, in order.
    pub results: Vec<EventResult>,
}

fn timestamp(v: Option<&serde_json::Value>, field: &str, now: i64) -> Result<i64, ApiError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(now),
        Some(serde_json::Value::Number(n)) => {
            n.as_i64().ok_or_else(|| ApiError::invalid(field, "Unix milliseconds must be an integer"))
        }
        Some(serde_json::Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|e| ApiError::invalid(field, format!("not an RFC 3339 time ({e}): {s:?}"))),
        Some(_) => Err(ApiError::invalid(field, "an RFC 3339 string or Unix milliseconds")),
    }
}

fn event(e: EventIn, k: usize, now: i64) -> Result<EventRecord, ApiError> {
    let at = |f: &str| format!("events[{k}].{f}");
    let kind: EventKind = e.kind.parse().map_err(|err: aisle_core::UnknownEventKind| {
        ApiError::UnknownEventType { field: at("type"), message: err.to_string() }
    })?;
    let r = EventRecord {
        ts_ms: timestamp(e.timestamp.as_ref(), &at("timestamp"), now)?,
        event_id: e.event_id,
        user_id: e.user_id,
        item_id: e.item_id,
        kind,
        value: e.value,
        session_id: e.session_id,
        recommendation_id: e.recommendation_id,
    };
    aisle_engine::validate_event(&r).map_err(|(f, m)| ApiError::invalid(at(&f), m))?;
    Ok(r)
}

/// Records one event or a batch; durable in the store before the response.
#[utoipa::path(post, path = "/v1/events", tag = "events", request_body = EventBatch,
    responses((status = 200, body = EventsOut), (status = 422, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn post_events(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<EventsOut>, ApiError> {
    let list = match body {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(mut o) if o.contains_key("events") => match o.remove("events") {
            Some(serde_json::Value::Array(a)) if o.is_empty() => a,
            _ => return Err(ApiError::invalid("events", "`events` must be the only key and an array")),
        },
        one @ serde_json::Value::Object(_) => vec![one],
        _ => {
            return Err(ApiError::invalid(
                "body",
                "an event object, an array of them, or {\"events\": [...]}",
            ));
        }
    };
    if list.is_empty() {
        return Err(ApiError::invalid("events", "no events"));
    }
    if list.len() > s.server.max_batch {
        return Err(ApiError::invalid(
            "events",
            format!("at most server.max_batch = {} per request", s.server.max_batch),
        ));
    }
    let now = aisle_engine::now_ms();
    let mut records = Vec::with_capacity(list.len());
    for (k, v) in list.into_iter().enumerate() {
        let e: EventIn = serde_json::from_value(v)
            .map_err(|err| ApiError::invalid(format!("events[{k}]"), err.to_string()))?;
        records.push(event(e, k, now)?);
    }
    let out = s.engine.ingest(records).await?;
    let results = out
        .results
        .iter()
        .map(|r| match *r {
            Appended::Inserted(seq) => EventResult { status: "inserted".to_owned(), seq },
            Appended::Duplicate(seq) => EventResult { status: "duplicate".to_owned(), seq },
        })
        .collect();
    Ok(Json(EventsOut { inserted: out.inserted, duplicates: out.duplicates, results }))
}
