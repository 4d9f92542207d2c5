//! Parsing and validation of single fields: ids, numbers, timestamps, event types.

use std::borrow::Cow;

use aisle_core::EventKind;
use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::report::{Bad, reason};

/// Longest accepted id, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// Integer timestamps at least this large (in absolute value) are milliseconds: 10^11 seconds is
/// the year 5138, while millisecond clocks (RetailRocket, Kafka) passed it in 1973.
const MS_THRESHOLD: i64 = 100_000_000_000;

/// Shows at most 40 characters of a bad field in messages.
pub(crate) fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    match s.char_indices().nth(40) {
        Some((cut, _)) => format!("{:?}...", &s[..cut]),
        None => format!("{s:?}"),
    }
}

/// The field as UTF-8 text.
pub(crate) fn utf8<'a>(field: &'static str, b: &'a [u8]) -> Result<&'a str, Bad> {
    std::str::from_utf8(b).map_err(|e| Bad::new(field, reason::UTF8, format!("{e} in {}", show(b))))
}

/// UTF-8 text, or Latin-1 (every byte one char) when it is not valid UTF-8, as in GroupLens files.
pub(crate) fn text_or_latin1(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(b.iter().map(|&c| char::from(c)).collect()),
    }
}

/// A non-empty id of at most [`MAX_ID_BYTES`] bytes.
pub(crate) fn id<'a>(field: &'static str, b: &'a [u8]) -> Result<&'a str, Bad> {
    check_id(field, utf8(field, b)?)
}

/// An id already decoded, checked by the one validator the API and Kafka use too (1..=256
/// bytes, not only whitespace, no control characters).
pub(crate) fn check_id<'a>(field: &'static str, s: &'a str) -> Result<&'a str, Bad> {
    match aisle_records::validate::check_id(field, s) {
        Ok(()) => Ok(s),
        Err(e) => {
            let kind = if s.is_empty() {
                reason::EMPTY_ID
            } else if s.len() > MAX_ID_BYTES {
                reason::LONG_ID
            } else {
                reason::BAD_ID
            };
            Err(Bad::new(field, kind, format!("{} {}", e.message, show(s.as_bytes()))))
        }
    }
}

/// A catalog item, checked by the one validator the API uses too; the field at fault is named
/// in the detail (`categories[2]: must not contain control characters`).
pub(crate) fn checked_item(item: &aisle_records::ItemRecord) -> Result<(), Bad> {
    aisle_records::validate::validate_item(item).map_err(|e| {
        const FIELDS: [&str; 8] =
            ["id", "title", "description", "categories", "tags", "brand", "price", "attributes"];
        let field = FIELDS.into_iter().find(|f| e.field.starts_with(f)).unwrap_or("item");
        Bad::new(field, reason::BAD_ITEM, e.to_string())
    })
}

/// An event's value and time against the limits the API enforces too: a rating within the
/// scale, other values from 0 to the ceiling, a time not before 1970 nor beyond the clock skew.
pub(crate) fn check_event(
    limits: &aisle_records::EventLimits,
    now_ms: Option<i64>,
    kind: EventKind,
    value: f32,
    ts_seconds: i64,
) -> Result<(), Bad> {
    limits.check_value(kind, Some(value)).map_err(|e| Bad::new("value", reason::OUT_OF_RANGE, e.message))?;
    limits
        .check_time(ts_seconds.saturating_mul(1000), now_ms)
        .map_err(|e| Bad::new("timestamp", reason::TIMESTAMP, e.message))
}

/// An optional finite number; empty means absent.
pub(crate) fn value(b: &[u8]) -> Result<Option<f32>, Bad> {
    if b.is_empty() {
        return Ok(None);
    }
    let s = utf8("value", b)?;
    let v: f32 = s.parse().map_err(|_| Bad::new("value", reason::NUMBER, show(b)))?;
    check_finite(v).map(Some)
}

/// Rejects NaN and infinities.
pub(crate) fn check_finite(v: f32) -> Result<f32, Bad> {
    if v.is_finite() { Ok(v) } else { Err(Bad::new("value", reason::NON_FINITE, v.to_string())) }
}

/// A timestamp in unix seconds; empty means unknown (0).
///
/// Accepted: integer seconds (or milliseconds, when at least 10^11), decimal seconds, RFC 3339
/// (`2024-01-02T03:04:05Z`, with any offset), `YYYY-MM-DD HH:MM:SS` / `YYYY-MM-DDTHH:MM:SS` and
/// `YYYY-MM-DD` (both UTC).
pub(crate) fn timestamp(b: &[u8]) -> Result<i64, Bad> {
    if b.is_empty() {
        return Ok(0);
    }
    let s = utf8("timestamp", b)?;
    timestamp_str(s).ok_or_else(|| Bad::new("timestamp", reason::TIMESTAMP, show(b)))
}

pub(crate) fn timestamp_str(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(seconds_from_int(n));
    }
    if s.bytes().next().is_some_and(|c| c.is_ascii_digit() || c == b'-' || c == b'.')
        && let Ok(x) = s.parse::<f64>()
    {
        return seconds_from_f64(x);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp());
        }
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// Seconds from an integer time: seconds, or milliseconds when at least 10^11 in absolute value.
pub(crate) fn seconds_from_int(n: i64) -> i64 {
    if n.unsigned_abs() >= MS_THRESHOLD.unsigned_abs() { n.div_euclid(1000) } else { n }
}

/// Whole seconds from a JSON or text number, with the same millisecond rule as integers.
pub(crate) fn seconds_from_f64(x: f64) -> Option<i64> {
    // 9.2e18 is i64::MAX; anything beyond cannot be a time.
    if !x.is_finite() || x.abs() >= 9.2e18 {
        return None;
    }
    let x = if x.abs() >= MS_THRESHOLD as f64 { x / 1000.0 } else { x };
    Some(x.floor() as i64)
}

/// An optional event type; empty means absent. Besides the names of [`EventKind::ALL`], accepts
/// the RetailRocket spellings `addtocart` and `transaction`.
pub(crate) fn kind(b: &[u8]) -> Result<Option<EventKind>, Bad> {
    if b.is_empty() {
        return Ok(None);
    }
    let s = utf8("type", b)?;
    kind_str(s).map(Some)
}

pub(crate) fn kind_str(s: &str) -> Result<EventKind, Bad> {
    if s.eq_ignore_ascii_case("addtocart") {
        return Ok(EventKind::AddToCart);
    }
    if s.eq_ignore_ascii_case("transaction") {
        return Ok(EventKind::Purchase);
    }
    s.parse::<EventKind>().map_err(|e| Bad::new("type", reason::EVENT_TYPE, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_accepted_form() {
        assert_eq!(timestamp(b"881250949"), Ok(881_250_949));
        assert_eq!(timestamp(b"1700000000123"), Ok(1_700_000_000));
        assert_eq!(timestamp(b"1260759144.0"), Ok(1_260_759_144));
        assert_eq!(timestamp(b"2024-01-02T03:04:05Z"), Ok(1_704_164_645));
        assert_eq!(timestamp(b"2024-01-02T04:04:05+01:00"), Ok(1_704_164_645));
        assert_eq!(timestamp(b"2024-01-02 03:04:05"), Ok(1_704_164_645));
        assert_eq!(timestamp(b"2024-01-02"), Ok(1_704_153_600));
        assert_eq!(timestamp(b""), Ok(0));
        assert_eq!(timestamp(b"yesterday").unwrap_err().kind, reason::TIMESTAMP);
        assert_eq!(timestamp(b"nan").unwrap_err().kind, reason::TIMESTAMP);
        assert_eq!(timestamp(b"1e300").unwrap_err().kind, reason::TIMESTAMP);
        // Found by the `events_jsonl` fuzz target: `abs` of the smallest i64 overflowed.
        assert_eq!(timestamp(b"-9223372036854775808"), Ok(i64::MIN.div_euclid(1000)));
    }

    #[test]
    fn values_and_ids_are_checked() {
        assert_eq!(value(b"4.5"), Ok(Some(4.5)));
        assert_eq!(value(b""), Ok(None));
        assert_eq!(value(b"four").unwrap_err().kind, reason::NUMBER);
        assert_eq!(value(b"inf").unwrap_err().kind, reason::NON_FINITE);
        assert_eq!(value(b"NaN").unwrap_err().kind, reason::NON_FINITE);
        assert_eq!(id("user", b"u1"), Ok("u1"));
        assert_eq!(id("user", b"").unwrap_err().kind, reason::EMPTY_ID);
        assert_eq!(id("user", &[b'x'; 257]).unwrap_err().kind, reason::LONG_ID);
        assert!(id("user", &[b'x'; 256]).is_ok());
        assert_eq!(id("item", b"\xff").unwrap_err().kind, reason::UTF8);
        assert_eq!(id("user", b"u\x01").unwrap_err().kind, reason::BAD_ID);
        assert_eq!(id("user", b"   ").unwrap_err().kind, reason::BAD_ID);
    }

    #[test]
    fn event_types_accept_retailrocket_names() {
        assert_eq!(kind(b"addtocart"), Ok(Some(EventKind::AddToCart)));
        assert_eq!(kind(b"transaction"), Ok(Some(EventKind::Purchase)));
        assert_eq!(kind(b"Purchase"), Ok(Some(EventKind::Purchase)));
        let err = kind(b"buy").unwrap_err();
        assert_eq!(err.kind, reason::EVENT_TYPE);
        assert!(err.detail.contains("add_to_cart"));
    }

    #[test]
    fn latin1_is_decoded_when_not_utf8() {
        assert_eq!(text_or_latin1(b"Mis\xe9rables"), "Misérables");
        assert_eq!(text_or_latin1("Misérables".as_bytes()), "Misérables");
    }
}
