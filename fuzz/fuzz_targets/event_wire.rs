//! The JSON event of `POST /v1/events` and of Kafka messages: decoding never panics, and what
//! `wire::event_record` accepts passes the validator (`EventLimits::check`) it claims to apply.
#![no_main]

use aisle_engine::EventLimits;
use aisle_engine::validate::RESERVED_EVENT_ID_PREFIXES;
use aisle_engine::wire::{EventIn, event_record};
use libfuzzer_sys::fuzz_target;

/// The clock future times are judged by (2027-01-15).
const NOW_MS: i64 = 1_800_000_000_000;
/// The time of an event that names none (its arrival), a little before `NOW_MS`.
const DEFAULT_MS: i64 = NOW_MS - 5_000;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<EventIn>(data) else { return };
    let limits = EventLimits::default();
    let had_timestamp = event.timestamp.as_ref().is_some_and(|t| !t.is_null());
    let Ok(record) = event_record(event, DEFAULT_MS, &limits, NOW_MS) else { return };
    if let Err(e) = limits.check(&record, Some(NOW_MS)) {
        panic!("event_record accepted an event EventLimits::check refuses ({e}): {record:?}");
    }
    if let Some(id) = &record.event_id {
        assert!(
            !RESERVED_EVENT_ID_PREFIXES.iter().any(|p| id.starts_with(p)),
            "a client event id with a reserved prefix was accepted: {id:?}"
        );
    }
    if !had_timestamp {
        assert_eq!(record.ts_ms, DEFAULT_MS, "an event without a time did not get the default");
    }
});
