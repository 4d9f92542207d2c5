//! The wire format of one event, shared by every way events arrive (`POST /v1/events`, a Kafka
//! topic): the JSON shape, and its conversion into a validated [`EventRecord`].

use aisle_core::EventKind;
use aisle_records::EventLimits;
use aisle_records::validate::check_client_event_id;
use aisle_store::EventRecord;
use serde::Deserialize;
use utoipa::ToSchema;

/// One event as clients send it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// Idempotency key: an event with an id already stored is acknowledged and not stored again.
    /// Ids starting with `kafka:` or `import:` are reserved for the ids aisle generates.
    #[schema(min_length = 1, max_length = 256)]
    pub event_id: Option<String>,
    /// Who.
    #[schema(min_length = 1, max_length = 256)]
    pub user_id: String,
    /// What.
    #[schema(min_length = 1, max_length = 256)]
    pub item_id: String,
    /// What happened. An unknown type is refused with `unknown_event_type`.
    #[serde(rename = "type")]
    #[schema(value_type = EventType)]
    pub kind: String,
    /// A rating's value (required for `rating`, within `events.rating_min..=rating_max`), or for
    /// other events a price or quantity from 0 to `events.max_value`.
    pub value: Option<f32>,
    /// When: RFC 3339 (`2026-12-01T10:00:00Z`) or Unix milliseconds; default now. At most
    /// `events.max_future_skew_ms` in the future.
    #[schema(value_type = Option<Timestamp>)]
    pub timestamp: Option<serde_json::Value>,
    /// The shopper's session.
    #[schema(min_length = 1, max_length = 256)]
    pub session_id: Option<String>,
    /// The `recommendation_id` of the list that led to this event.
    #[schema(min_length = 1, max_length = 256)]
    pub recommendation_id: Option<String>,
}

/// The kinds of event, as the API names them.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum EventType {
    /// A product page was viewed.
    View,
    /// A recommendation or product link was clicked.
    Click,
    /// The item went into the cart.
    AddToCart,
    /// The item was bought.
    Purchase,
    /// The item was rated (`value` is the rating).
    Rating,
    /// The shopper liked the item.
    Like,
    /// The shopper disliked the item.
    Dislike,
    /// The item was shown.
    Impression,
}

/// An event time: RFC 3339, or Unix milliseconds (the schema of [`EventIn::timestamp`], which is
/// read as a JSON value and checked by [`event_record`]).
#[derive(Debug, ToSchema)]
#[serde(untagged)]
pub enum Timestamp {
    /// `2026-12-01T10:00:00Z`.
    #[schema(format = DateTime)]
    Rfc3339(String),
    /// Milliseconds since 1970.
    UnixMs(i64),
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

/// Converts and validates one event a client sent; `default_ms` is its time when it names none
/// (the arrival time, or a Kafka message's timestamp), `now_ms` the clock future times are judged
/// by. A client's event id may not use a prefix aisle reserves for the ids it generates.
pub fn event_record(
    e: EventIn,
    default_ms: i64,
    limits: &EventLimits,
    now_ms: i64,
) -> Result<EventRecord, WireError> {
    if let Some(id) = &e.event_id {
        check_client_event_id("event_id", id).map_err(|i| WireError::new(&i.field, i.message))?;
    }
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
    limits.check(&r, Some(now_ms)).map_err(|i| WireError::new(&i.field, i.message))?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<EventRecord, WireError> {
        event_record(
            serde_json::from_value(v).expect("shape"),
            42,
            &EventLimits::default(),
            1_800_000_000_000,
        )
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
        let mut kind = base.clone();
        kind["type"] = "teleport".into();
        let e = parse(kind).expect_err("kind");
        assert!(e.unknown_type && e.field == "type", "{e:?}");
        let mut future = base.clone();
        future["timestamp"] = "2199-01-01T00:00:00Z".into();
        assert_eq!(parse(future).expect_err("2199").field, "timestamp");
        let mut reserved = base;
        reserved["event_id"] = "kafka:t:0:1".into();
        assert_eq!(parse(reserved).expect_err("reserved").field, "event_id");
    }
}
