//! The wire format of one event, shared by every way events arrive (`POST /v1/events`, a Kafka
//! topic): the JSON shape, and its conversion into a validated [`EventRecord`].

use aisle_core::EventKind;
use aisle_store::EventRecord;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::validate_event;

/// One event as clients send it.
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

/// Why an event was refused: the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct WireError {
    /// The field (`type`, `timestamp`, `user_id`, ...).
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// Whether the field is `type` naming no known event type.
    pub unknown_type: bool,
}

impl WireError {
    fn new(field: &str, message: impl Into<String>) -> WireError {
        WireError { field: field.to_owned(), message: message.into(), unknown_type: false }
    }
}

fn timestamp(v: Option<&serde_json::Value>, default_ms: i64) -> Result<i64, WireError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(default_ms),
        Some(serde_json::Value::Number(n)) => {
            n.as_i64().ok_or_else(|| WireError::new("timestamp", "Unix milliseconds must be an integer"))
        }
        Some(serde_json::Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|e| WireError::new("timestamp", format!("not an RFC 3339 time ({e}): {s:?}"))),
        Some(_) => Err(WireError::new("timestamp", "an RFC 3339 string or Unix milliseconds")),
    }
}

/// Converts and validates one event; `default_ms` is its time when it names none (the arrival
/// time, or a Kafka message's timestamp).
pub fn event_record(e: EventIn, default_ms: i64) -> Result<EventRecord, WireError> {
    let kind: EventKind = e.kind.parse().map_err(|err: aisle_core::UnknownEventKind| WireError {
        field: "type".to_owned(),
        message: err.to_string(),
        unknown_type: true,
    })?;
    let r = EventRecord {
        ts_ms: timestamp(e.timestamp.as_ref(), default_ms)?,
        event_id: e.event_id,
        user_id: e.user_id,
        item_id: e.item_id,
        kind,
        value: e.value,
        session_id: e.session_id,
        recommendation_id: e.recommendation_id,
    };
    validate_event(&r).map_err(|(field, message)| WireError { field, message, unknown_type: false })?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<EventRecord, WireError> {
        event_record(serde_json::from_value(v).expect("shape"), 42)
    }

    #[test]
    fn times_default_parse_and_refuse() {
        let base = serde_json::json!({"user_id": "u", "item_id": "i", "type": "view"});
        assert_eq!(parse(base.clone()).expect("ok").ts_ms, 42);
        let mut at = base.clone();
        at["timestamp"] = "2026-12-01T10:00:00Z".into();
        assert_eq!(parse(at).expect("ok").ts_ms, 1_796_119_200_000);
        let mut bad = base.clone();
        bad["timestamp"] = 1.5.into();
        assert_eq!(parse(bad).expect_err("float").field, "timestamp");
        let mut kind = base;
        kind["type"] = "teleport".into();
        let e = parse(kind).expect_err("kind");
        assert!(e.unknown_type && e.field == "type", "{e:?}");
    }
}
