//! Events: `POST /v1/events` with one event, an array, or `{"events": [...]}`. A batch is
//! validated whole before anything is stored (all or nothing) and is durable before the 200.

use aisle_engine::wire::EventIn;
use aisle_store::{Appended, EventRecord, Store};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::{ApiJson, ApiQuery, AppState};

/// A batch of events (the body may also be one event or a bare array).
#[derive(Debug, Deserialize, ToSchema)]
pub struct EventBatch {
    /// The events (at most `server.max_batch`, 10,000 by default).
    #[schema(min_items = 1)]
    pub events: Vec<EventIn>,
}

/// The body of `POST /v1/events`: one event, an array of them, or `{"events": [...]}`.
#[derive(Debug, ToSchema)]
#[serde(untagged)]
pub enum EventsIn {
    /// One event.
    One(EventIn),
    /// An array of events.
    Many(Vec<EventIn>),
    /// A batch object.
    Batch(EventBatch),
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

fn event(
    e: EventIn,
    k: usize,
    now: i64,
    limits: &aisle_engine::EventLimits,
) -> Result<EventRecord, ApiError> {
    aisle_engine::wire::event_record(e, now, limits, now).map_err(|err| {
        let field = format!("events[{k}].{}", err.field);
        if err.unknown_type {
            ApiError::UnknownEventType { field, message: err.message }
        } else {
            ApiError::invalid(field, err.message)
        }
    })
}

/// Records one event or a batch; durable in the store before the response.
#[utoipa::path(post, path = "/v1/events", tag = "events", request_body = EventsIn,
    responses((status = 200, body = EventsOut), (status = 422, body = ErrorBody, description = "A field is bad (`validation_failed`) or a type unknown (`unknown_event_type`); nothing of the batch is stored"), (status = 413, body = ErrorBody)))]
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
        records.push(event(e, k, now, &s.engine.config().events)?);
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

/// A page of the dead-letter log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// Page size, 1..=1000 (default 100).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page (a dead-letter id).
    pub cursor: Option<u64>,
}

/// A message a source could not take in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterOut {
    /// Position in the dead-letter log.
    pub id: u64,
    /// Where it came from, e.g. `kafka:aisle-events`.
    pub source: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// The message (bytes that are not UTF-8 are replaced by U+FFFD).
    pub payload: String,
    /// Why it was refused.
    pub reason: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
}

/// A page of dead letters.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterPage {
    /// Oldest first.
    pub dead_letters: Vec<DeadLetterOut>,
    /// Cursor of the next page; null on the last.
    pub next_cursor: Option<u64>,
}

/// Messages from Kafka that were not valid events, with their reasons (oldest first).
#[utoipa::path(get, path = "/v1/admin/dead-letters", tag = "events", params(DeadLetterQuery),
    responses((status = 200, body = DeadLetterPage), (status = 422, body = ErrorBody)))]
pub async fn dead_letters(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<DeadLetterQuery>,
) -> Result<Json<DeadLetterPage>, ApiError> {
    let limit = crate::state::check_limit(q.limit)?;
    // One more than asked tells whether there is a next page.
    let mut rows = s
        .engine
        .store()
        .dead_letters_after(q.cursor.unwrap_or(0), limit + 1)
        .await
        .map_err(aisle_engine::EngineError::from)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more { rows.last().map(|d| d.id) } else { None };
    let dead_letters = rows
        .into_iter()
        .map(|d| DeadLetterOut {
            id: d.id,
            source: d.letter.source,
            partition: d.letter.partition,
            offset: d.letter.offset,
            payload: String::from_utf8_lossy(&d.letter.payload).into_owned(),
            reason: d.letter.reason,
            at_ms: d.letter.at_ms,
        })
        .collect();
    Ok(Json(DeadLetterPage { dead_letters, next_cursor }))
}
