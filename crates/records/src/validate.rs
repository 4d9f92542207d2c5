//! The one validator of what comes in: the API, a Kafka topic and file imports call these same
//! functions, so a record one door refuses cannot come in through another.
//!
//! Every value from outside is bounded: ids and labels (1..=256 bytes, not only whitespace, no
//! control characters), text (a length, no control characters but line breaks and tabs in a
//! description), attribute maps (a count, a size, sane keys), prices, event values per kind
//! ([`EventLimits`]: a rating scale, a ceiling for prices and quantities) and event times (not
//! before 1970, not further in the future than a configured clock skew).

use aisle_core::EventKind;
use serde::{Deserialize, Serialize};

use crate::{EventRecord, ItemRecord, UserRecord};

/// Longest accepted id (item, user, event, session, recommendation, category, tag), in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Longest accepted title or brand, in bytes.
pub const MAX_TITLE_BYTES: usize = 1_000;
/// Longest accepted description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 20_000;
/// Most categories or tags per item.
pub const MAX_LABELS: usize = 100;
/// Most attributes per item or user.
pub const MAX_ATTRIBUTES: usize = 200;
/// Largest attribute map, in bytes of JSON.
pub const MAX_ATTRIBUTE_BYTES: usize = 64 * 1024;
/// Highest accepted price.
pub const MAX_PRICE: f64 = 1e12;
/// No event time is later than 2200-01-01 (Unix ms), whatever the configured skew.
pub const MAX_TS_MS: i64 = 7_258_118_400_000;
/// Event id prefixes aisle gives events that come without one (`kafka:` from a topic's message
/// position, `import:` from a file's name and line): a client may not send them, so that a
/// client's id never collides with a generated one.
pub const RESERVED_EVENT_ID_PREFIXES: [&str; 2] = ["kafka:", "import:"];

/// Why a record was refused: the field at fault and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The field (`user_id`, `value`, `categories[2]`, `attributes.colour`, ...).
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl Invalid {
    /// A refusal of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid { field: field.into(), message: message.into() }
    }

    /// The same refusal with `prefix` before the field (`events[3].` + `user_id`).
    #[must_use]
    pub fn within(mut self, prefix: &str) -> Invalid {
        self.field.insert_str(0, prefix);
        self
    }
}

type Checked = Result<(), Invalid>;

/// An id: 1..=256 bytes, not only whitespace, no control characters.
pub fn check_id(field: &str, id: &str) -> Checked {
    if id.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(Invalid::new(
            field,
            format!("is {} bytes; at most {MAX_ID_BYTES} are allowed", id.len()),
        ));
    }
    if id.trim().is_empty() {
        return Err(Invalid::new(field, "must not be only whitespace"));
    }
    if id.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(())
}

/// A client-supplied event id: an [id](check_id) that does not start with a prefix aisle
/// reserves for the ids it generates ([`RESERVED_EVENT_ID_PREFIXES`]).
pub fn check_client_event_id(field: &str, id: &str) -> Checked {
    check_id(field, id)?;
    match RESERVED_EVENT_ID_PREFIXES.iter().find(|p| id.starts_with(*p)) {
        Some(p) => Err(Invalid::new(
            field,
            format!("ids starting with {p:?} are reserved for the ids aisle generates"),
        )),
        None => Ok(()),
    }
}

/// Text of at most `max_bytes`, without control characters (a `multiline` text may hold line
/// breaks and tabs).
pub fn check_text(field: &str, text: &str, max_bytes: usize, multiline: bool) -> Checked {
    if text.len() > max_bytes {
        return Err(Invalid::new(field, format!("is {} bytes; at most {max_bytes} are allowed", text.len())));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if text.chars().any(|c| c.is_control() && !allowed(c)) {
        let what = if multiline {
            "control characters other than line breaks and tabs"
        } else {
            "control characters"
        };
        return Err(Invalid::new(field, format!("must not contain {what}")));
    }
    Ok(())
}

/// An attribute map: at most [`MAX_ATTRIBUTES`] entries and [`MAX_ATTRIBUTE_BYTES`] of JSON,
/// keys 1..=256 bytes without control characters.
pub fn check_attributes(field: &str, map: &serde_json::Map<String, serde_json::Value>) -> Checked {
    if map.len() > MAX_ATTRIBUTES {
        return Err(Invalid::new(
            field,
            format!("has {} entries; at most {MAX_ATTRIBUTES} are allowed", map.len()),
        ));
    }
    for key in map.keys() {
        if key.is_empty() || key.len() > MAX_ID_BYTES || key.chars().any(char::is_control) {
            let shown: String = key.chars().take(40).collect();
            return Err(Invalid::new(
                format!("{field}.{}", shown.escape_debug()),
                format!("attribute names must be 1..={MAX_ID_BYTES} bytes without control characters"),
            ));
        }
    }
    let bytes = serde_json::to_vec(map).map_or(usize::MAX, |b| b.len());
    if bytes > MAX_ATTRIBUTE_BYTES {
        return Err(Invalid::new(
            field,
            format!("is {bytes} bytes of JSON; at most {MAX_ATTRIBUTE_BYTES} are allowed"),
        ));
    }
    Ok(())
}

/// A list of labels (categories, tags): at most [`MAX_LABELS`], each an [id](check_id).
fn check_labels(field: &str, labels: &[String]) -> Checked {
    if labels.len() > MAX_LABELS {
        return Err(Invalid::new(
            field,
            format!("has {} entries; at most {MAX_LABELS} are allowed", labels.len()),
        ));
    }
    for (k, label) in labels.iter().enumerate() {
        check_id(&format!("{field}[{k}]"), label)?;
    }
    Ok(())
}

/// Checks every field of an item, naming the first bad one.
pub fn validate_item(r: &ItemRecord) -> Checked {
    check_id("id", &r.id)?;
    check_text("title", &r.title, MAX_TITLE_BYTES, false)?;
    check_text("description", &r.description, MAX_DESCRIPTION_BYTES, true)?;
    check_labels("categories", &r.categories)?;
    check_labels("tags", &r.tags)?;
    if let Some(brand) = &r.brand {
        check_text("brand", brand, MAX_TITLE_BYTES, false)?;
    }
    if r.price.is_some_and(|p| !(p.is_finite() && (0.0..=MAX_PRICE).contains(&p))) {
        return Err(Invalid::new("price", format!("must be a finite number from 0 to {MAX_PRICE:e}")));
    }
    check_attributes("attributes", &r.attributes)
}

/// Checks every field of a user, naming the first bad one.
pub fn validate_user(u: &UserRecord) -> Checked {
    check_id("id", &u.id)?;
    check_attributes("attributes", &u.attributes)
}

/// The bounds of event values and times: the `[events]` section of aisle's config.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventLimits {
    /// Lowest accepted rating. Default -10.
    pub rating_min: f32,
    /// Highest accepted rating. Default 10 (covers 1–5, 1–10 and −10..10 scales; set it for a
    /// 0–100 scale).
    pub rating_max: f32,
    /// Highest accepted value of other events (a price, a quantity); they must be ≥ 0.
    /// Default 1e9.
    pub max_value: f32,
    /// How far in the future an event's time may be (clock skew), in milliseconds. Default
    /// 3,600,000 (one hour).
    pub max_future_skew_ms: u64,
}

impl Default for EventLimits {
    fn default() -> Self {
        Self { rating_min: -10.0, rating_max: 10.0, max_value: 1e9, max_future_skew_ms: 3_600_000 }
    }
}

/// One year, the largest clock skew a config may allow.
const MAX_SKEW_MS: u64 = 366 * 86_400_000;

impl EventLimits {
    /// Checks the limits themselves (at start-up), naming the bad key.
    pub fn validate(&self) -> Checked {
        let finite = |v: f32| v.is_finite() && v.abs() <= 1e12;
        if !(finite(self.rating_min) && finite(self.rating_max) && self.rating_min < self.rating_max) {
            return Err(Invalid::new(
                "rating_min",
                "rating_min and rating_max must be finite with rating_min < rating_max",
            ));
        }
        if !(finite(self.max_value) && self.max_value > 0.0) {
            return Err(Invalid::new("max_value", "must be a finite number > 0 and ≤ 1e12"));
        }
        if self.max_future_skew_ms > MAX_SKEW_MS {
            return Err(Invalid::new(
                "max_future_skew_ms",
                format!("must be at most {MAX_SKEW_MS} (a year)"),
            ));
        }
        Ok(())
    }

    /// An event's value: a rating needs one within the rating scale; other events may carry one
    /// from 0 to `max_value`.
    pub fn check_value(&self, kind: EventKind, value: Option<f32>) -> Checked {
        let (lo, hi) = match kind {
            EventKind::Rating => (self.rating_min, self.rating_max),
            EventKind::View
            | EventKind::Click
            | EventKind::AddToCart
            | EventKind::Purchase
            | EventKind::Like
            | EventKind::Dislike
            | EventKind::Impression => (0.0, self.max_value),
        };
        match value {
            None if kind == EventKind::Rating => Err(Invalid::new("value", "a rating needs a value")),
            None => Ok(()),
            Some(v) if v.is_finite() && (lo..=hi).contains(&v) => Ok(()),
            Some(_) => Err(Invalid::new(
                "value",
                format!("a {} value must be a finite number from {lo} to {hi}", kind.as_str()),
            )),
        }
    }

    /// The latest event time accepted at `now_ms`.
    pub fn latest_ms(&self, now_ms: i64) -> i64 {
        let skew = i64::try_from(self.max_future_skew_ms).unwrap_or(i64::MAX);
        now_ms.saturating_add(skew).min(MAX_TS_MS)
    }

    /// An event time in Unix ms: not before 1970, and (when the clock is known) not later than
    /// `now_ms` plus the allowed skew.
    pub fn check_time(&self, ts_ms: i64, now_ms: Option<i64>) -> Checked {
        let latest = now_ms.map_or(MAX_TS_MS, |now| self.latest_ms(now));
        if ts_ms < 0 {
            return Err(Invalid::new("timestamp", "must not be before 1970"));
        }
        if ts_ms > latest {
            return Err(Invalid::new(
                "timestamp",
                format!(
                    "is more than events.max_future_skew_ms = {} ms in the future",
                    self.max_future_skew_ms
                ),
            ));
        }
        Ok(())
    }

    /// Checks every field of an event, naming the first bad one. `now_ms` is the clock future
    /// times are judged by (`None`: only the absolute bounds, for data read back from a file of
    /// the past).
    pub fn check(&self, e: &EventRecord, now_ms: Option<i64>) -> Checked {
        check_id("user_id", &e.user_id)?;
        check_id("item_id", &e.item_id)?;
        for (field, id) in [
            ("event_id", &e.event_id),
            ("session_id", &e.session_id),
            ("recommendation_id", &e.recommendation_id),
        ] {
            if let Some(id) = id {
                check_id(field, id)?;
            }
        }
        self.check_value(e.kind, e.value)?;
        self.check_time(e.ts_ms, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, value: Option<f32>, ts_ms: i64) -> EventRecord {
        EventRecord {
            event_id: None,
            user_id: "u".into(),
            item_id: "i".into(),
            kind,
            value,
            ts_ms,
            session_id: None,
            recommendation_id: None,
        }
    }

    #[test]
    fn ids_are_bounded_printable_and_not_blank() {
        assert!(check_id("id", "sku-1").is_ok());
        assert!(check_id("id", &"x".repeat(256)).is_ok());
        for bad in ["", "   ", "\t", "a\nb", "a\0b", "a\u{85}b"] {
            assert_eq!(check_id("id", bad).unwrap_err().field, "id", "{bad:?}");
        }
        assert!(check_id("id", &"x".repeat(257)).is_err());
        assert!(check_client_event_id("event_id", "order-1").is_ok());
        let e = check_client_event_id("event_id", "kafka:t:0:1").unwrap_err();
        assert!(e.message.contains("reserved"), "{e}");
        assert!(check_client_event_id("event_id", "import:f:2").is_err());
    }

    #[test]
    fn items_refuse_control_characters_and_out_of_range_prices() {
        let ok = ItemRecord {
            categories: vec!["home/kitchen".into()],
            price: Some(9.5),
            ..ItemRecord::new("i", "Mug")
        };
        assert!(validate_item(&ok).is_ok());
        let mut bad = ok.clone();
        bad.title = "a\0b".into();
        assert_eq!(validate_item(&bad).unwrap_err().field, "title");
        let mut bad = ok.clone();
        bad.description = "two\nlines\tand a tab".into();
        assert!(validate_item(&bad).is_ok(), "descriptions may hold line breaks");
        bad.description = "bell\u{7}".into();
        assert_eq!(validate_item(&bad).unwrap_err().field, "description");
        let mut bad = ok.clone();
        bad.categories = vec!["kitchen".into(), " ".into()];
        assert_eq!(validate_item(&bad).unwrap_err().field, "categories[1]");
        let mut bad = ok.clone();
        bad.price = Some(f64::INFINITY);
        assert_eq!(validate_item(&bad).unwrap_err().field, "price");
        let mut bad = ok.clone();
        bad.attributes.insert("a\u{1}".into(), 1.into());
        assert!(validate_item(&bad).unwrap_err().field.starts_with("attributes."));
        let mut bad = ok;
        bad.attributes.insert("blob".into(), "x".repeat(MAX_ATTRIBUTE_BYTES).into());
        assert_eq!(validate_item(&bad).unwrap_err().field, "attributes");
    }

    #[test]
    fn values_are_bounded_per_kind() {
        let l = EventLimits::default();
        assert!(l.check(&event(EventKind::Rating, Some(4.5), 0), None).is_ok());
        for bad in [None, Some(3e38), Some(f32::NAN), Some(11.0), Some(-10.5)] {
            let e = l.check(&event(EventKind::Rating, bad, 0), None).unwrap_err();
            assert_eq!(e.field, "value", "{bad:?}");
        }
        assert!(l.check(&event(EventKind::Purchase, Some(129.99), 0), None).is_ok());
        assert!(l.check(&event(EventKind::Purchase, None, 0), None).is_ok());
        for bad in [Some(-1.0), Some(2e9), Some(f32::INFINITY)] {
            assert_eq!(l.check(&event(EventKind::Purchase, bad, 0), None).unwrap_err().field, "value");
        }
    }

    #[test]
    fn times_are_not_before_1970_nor_beyond_the_skew() {
        let l = EventLimits::default();
        let now = 1_800_000_000_000;
        assert!(l.check_time(now + 3_600_000, Some(now)).is_ok());
        let e = l.check_time(now + 3_600_001, Some(now)).unwrap_err();
        assert!(e.message.contains("max_future_skew_ms"), "{e}");
        assert!(l.check_time(-1, Some(now)).is_err());
        // 2199 is refused today, and beyond 2200 whatever the clock.
        assert!(l.check_time(7_226_582_400_000, Some(now)).is_err());
        assert!(l.check_time(MAX_TS_MS + 1, None).is_err());
        assert!(l.check_time(7_226_582_400_000, None).is_ok(), "without a clock only 2200 bounds it");
    }

    #[test]
    fn limits_themselves_are_checked() {
        assert!(EventLimits::default().validate().is_ok());
        let bad = EventLimits { rating_min: 5.0, rating_max: 1.0, ..EventLimits::default() };
        assert_eq!(bad.validate().unwrap_err().field, "rating_min");
        let bad = EventLimits { max_value: f32::NAN, ..EventLimits::default() };
        assert_eq!(bad.validate().unwrap_err().field, "max_value");
        let bad = EventLimits { max_future_skew_ms: u64::MAX, ..EventLimits::default() };
        assert_eq!(bad.validate().unwrap_err().field, "max_future_skew_ms");
    }
}
