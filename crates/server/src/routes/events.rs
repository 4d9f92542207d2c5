//! Events: `POST /v1/events` with one event, an array, or `{"events": [...]}`. A batch is
//! validated whole before anything is stored (all or nothing) and is durable before the 200.

use aisle_engine::wire::EventIn;
use aisle_store::{Appended, EventRecord};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::{ApiJson, AppState};

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

fn event(e: EventIn, k: usize, now: i64) -> Result<EventRecord, ApiError> {
    aisle_engine::wire::event_record(e, now).map_err(|err| {
        let field = format!("events[{k}].{}", err.field);
        if err.unknown_type {
            ApiError::UnknownEventType { field, message: err.message }
        } else {
            ApiError::invalid(field, err.message)
        }
    })
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
