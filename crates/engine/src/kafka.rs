//! The engine as a Kafka sink: each message is one event in the JSON shape of `POST /v1/events`,
//! decoded and validated exactly as the API does; a batch is ingested (durable, then visible to
//! fold-in) and its dead letters stored, before [`aisle_ingest::kafka::run`] commits its offsets.
//!
//! Redelivery is idempotent: an event is stored once per `event_id`, and an event without one
//! gets an id from its message, the same on every delivery of that message and different for a
//! message that merely sits at the same place in a re-created topic:
//! `kafka:{topic}:{partition}:{offset}:{timestamp_ms}:{payload hash}` (the message's timestamp,
//! `-` when it has none, and 16 hex digits of FNV-1a over its payload; the topic name is replaced
//! by `#` and its hash when the id would pass 256 bytes). Kafka's own topic ids are not exposed by
//! librdkafka's consumer API, so the message's timestamp and content stand for the topic's
//! identity. Clients may not send ids starting with `kafka:`. Dead letters are stored once per
//! (`kafka:{topic}`, partition, offset), with their reason made storable (no NUL or other control
//! characters, at most 1 KiB) and their payload cut to 4 KiB, so that one message can neither
//! block its partition nor make the dead-letter table large.

use std::future::Future;
use std::sync::Arc;

use aisle_ingest::kafka::{self, KafkaConfig, KafkaError, Message, Rejected, Sink, SinkError, SourceStats};
use aisle_records::EventLimits;
use aisle_records::validate::MAX_ID_BYTES;
use aisle_store::{DeadLetter, EventRecord, Store, StoreError};

use crate::wire::{EventIn, event_record};
use crate::{Engine, EngineError, now_ms};

/// Longest dead-letter reason kept, in bytes.
const MAX_REASON_BYTES: usize = 1024;
/// Longest dead-letter payload kept, in bytes.
const MAX_PAYLOAD_BYTES: usize = 4096;

/// Ingests decoded Kafka messages into an [`Engine`].
#[derive(Clone, Debug)]
pub struct KafkaSink {
    engine: Arc<Engine>,
}

impl KafkaSink {
    /// A sink into `engine`.
    pub fn new(engine: Arc<Engine>) -> KafkaSink {
        KafkaSink { engine }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The id of an event that came without one: its message's place, time and content.
fn message_id(m: &Message<'_>) -> String {
    let ts = m.timestamp_ms.map_or_else(|| "-".to_owned(), |t| t.to_string());
    let tail = format!("{}:{}:{ts}:{:016x}", m.partition, m.offset, fnv1a(m.payload.unwrap_or_default()));
    let id = format!("kafka:{}:{tail}", m.topic);
    if id.len() <= MAX_ID_BYTES { id } else { format!("kafka:#{:016x}:{tail}", fnv1a(m.topic.as_bytes())) }
}

/// Why a message is not an event, as its dead letter says.
fn decode(message: &Message<'_>, limits: &EventLimits, now: i64) -> Result<EventRecord, String> {
    let payload = match message.payload {
        None | Some([]) => return Err("empty message: no payload".to_owned()),
        Some(p) => p,
    };
    let event: EventIn = serde_json::from_slice(payload).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => format!("invalid event: {e}"),
        serde_json::error::Category::Io
        | serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof => format!("invalid JSON: {e}"),
    })?;
    let mut r =
        event_record(event, message.timestamp_ms.unwrap_or(now), limits, now).map_err(|e| e.to_string())?;
    if r.event_id.is_none() {
        r.event_id = Some(message_id(message));
    }
    Ok(r)
}

/// A reason any store can keep: control characters (a NUL in a field name echoed by serde, which
/// PostgreSQL text refuses) replaced, and at most [`MAX_REASON_BYTES`].
fn storable_reason(reason: &str) -> String {
    let mut out: String = reason.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
    if out.len() > MAX_REASON_BYTES {
        let mut cut = MAX_REASON_BYTES - 3;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

/// A dead letter of `rejected`, bounded and storable.
fn letter(topic: &str, r: &Rejected, at_ms: i64) -> DeadLetter {
    let mut reason = storable_reason(&r.reason);
    let mut payload = r.payload.clone();
    if payload.len() > MAX_PAYLOAD_BYTES {
        reason = storable_reason(&format!("{reason} (payload cut from {} bytes)", payload.len()));
        payload.truncate(MAX_PAYLOAD_BYTES);
    }
    DeadLetter {
        source: format!("kafka:{topic}"),
        partition: r.partition,
        offset: r.offset,
        payload,
        reason,
        at_ms,
    }
}

impl Sink for KafkaSink {
    type Event = EventRecord;

    fn decode(&self, message: &Message<'_>) -> Result<EventRecord, String> {
        decode(message, &self.engine.config().events, now_ms())
    }

    fn transient(&self, error: &SinkError) -> bool {
        // A store that cannot be reached, is busy or full will take the batch later; anything
        // else (a value the database refuses) would fail the same way for ever.
        match error.downcast_ref::<EngineError>() {
            Some(EngineError::Store(StoreError::Unavailable(_) | StoreError::Full(_))) => true,
            Some(EngineError::Store(
                StoreError::NotFound { .. }
                | StoreError::Corrupt { .. }
                | StoreError::Backend(_)
                | StoreError::Fenced(_),
            ))
            | Some(
                EngineError::Config { .. }
                | EngineError::NotFound { .. }
                | EngineError::Invalid(_)
                | EngineError::TrainingBusy { .. }
                | EngineError::NotLeader
                | EngineError::Training(_)
                | EngineError::Artifact { .. },
            ) => false,
            Some(EngineError::Task(_)) | None => true,
        }
    }

    async fn write(
        &self,
        topic: &str,
        events: &[EventRecord],
        rejected: &[Rejected],
    ) -> Result<(), SinkError> {
        if !events.is_empty() {
            self.engine.ingest(events.to_vec()).await?;
        }
        if !rejected.is_empty() {
            let at_ms = now_ms();
            let letters = rejected.iter().map(|r| letter(topic, r, at_ms)).collect();
            self.engine.store().put_dead_letters(letters).await.map_err(EngineError::from)?;
        }
        Ok(())
    }
}

/// Consumes `config.topic` into `engine` until `shutdown` resolves (see
/// [`aisle_ingest::kafka::run`]).
pub async fn run_kafka(
    engine: Arc<Engine>,
    config: KafkaConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<SourceStats, KafkaError> {
    kafka::run(&config, Arc::new(KafkaSink::new(engine)), shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: Option<&[u8]>) -> Message<'_> {
        Message {
            topic: "events",
            partition: 2,
            offset: 17,
            timestamp_ms: Some(1_700_000_000_000),
            key: None,
            payload,
        }
    }

    fn decode(m: &Message<'_>) -> Result<EventRecord, String> {
        super::decode(m, &EventLimits::default(), 1_800_000_000_000)
    }

    fn reason(payload: Option<&[u8]>) -> String {
        decode(&message(payload)).expect_err("a dead letter")
    }

    #[test]
    fn good_events_decode_with_the_message_defaults() {
        let body: &[u8] = br#"{"user_id": "u1", "item_id": "i1", "type": "view"}"#;
        let e = decode(&message(Some(body))).unwrap();
        let id = e.event_id.clone().unwrap();
        assert!(id.starts_with("kafka:events:2:17:1700000000000:"), "a stable id for redelivery: {id}");
        assert_eq!(decode(&message(Some(body))).unwrap().event_id, e.event_id, "the same on redelivery");
        // The same place in a re-created topic is another message: another time, another id.
        let recreated = Message { timestamp_ms: Some(1_700_000_999_000), ..message(Some(body)) };
        assert_ne!(decode(&recreated).unwrap().event_id, e.event_id);
        let other = br#"{"user_id": "u2", "item_id": "i1", "type": "view"}"#;
        assert_ne!(decode(&message(Some(other))).unwrap().event_id, e.event_id, "another payload");
        let long = "t".repeat(249);
        let m = Message { topic: &long, ..message(Some(body)) };
        let id = decode(&m).unwrap().event_id.unwrap();
        assert!(id.len() <= 256 && id.starts_with("kafka:#"), "{id}");
        assert_eq!(e.ts_ms, 1_700_000_000_000, "the message timestamp when the event has none");
        let body =
            br#"{"event_id": "o-1", "user_id": "u", "item_id": "i", "type": "purchase", "timestamp": 5}"#;
        let e = decode(&message(Some(body))).unwrap();
        assert_eq!(
            (e.event_id.as_deref(), e.ts_ms, e.kind),
            (Some("o-1"), 5, aisle_core::EventKind::Purchase)
        );
    }

    #[test]
    fn each_malformed_message_names_its_reason() {
        assert_eq!(reason(None), "empty message: no payload");
        assert_eq!(reason(Some(b"")), "empty message: no payload");
        assert!(reason(Some(b"{\"user_id\": ")).starts_with("invalid JSON: "), "{}", reason(Some(b"{")));
        let missing = reason(Some(br#"{"item_id": "i", "type": "view"}"#));
        assert!(missing.starts_with("invalid event: missing field `user_id`"), "{missing}");
        let unknown = reason(Some(br#"{"user_id": "u", "item_id": "i", "type": "teleport"}"#));
        assert!(unknown.starts_with("type: "), "{unknown}");
        let long = format!(r#"{{"user_id": "{}", "item_id": "i", "type": "view"}}"#, "u".repeat(300));
        assert!(reason(Some(long.as_bytes())).starts_with("user_id: "), "{}", reason(Some(long.as_bytes())));
        let rating = reason(Some(br#"{"user_id": "u", "item_id": "i", "type": "rating"}"#));
        assert!(rating.starts_with("value: "), "{rating}");
        let reserved =
            reason(Some(br#"{"event_id": "kafka:x", "user_id": "u", "item_id": "i", "type": "view"}"#));
        assert!(reserved.starts_with("event_id: "), "{reserved}");
        let huge = reason(Some(br#"{"user_id": "u", "item_id": "i", "type": "rating", "value": 3e38}"#));
        assert!(huge.starts_with("value: "), "{huge}");
    }

    #[test]
    fn dead_letters_are_storable_and_bounded() {
        let r = Rejected {
            partition: 1,
            offset: 9,
            payload: vec![b'x'; 100_000],
            reason: format!("invalid event: unknown field `a\0b` {}", "é".repeat(2_000)),
        };
        let l = letter("events", &r, 5);
        assert!(!l.reason.contains('\0') && l.reason.len() <= MAX_REASON_BYTES, "{}", l.reason);
        assert!(l.reason.starts_with("invalid event: unknown field `a\u{fffd}b`"), "{}", l.reason);
        assert_eq!(l.payload.len(), MAX_PAYLOAD_BYTES);
        let short = letter("events", &Rejected { payload: b"{}".to_vec(), reason: "bad".into(), ..r }, 5);
        assert_eq!((short.payload.as_slice(), short.reason.as_str()), (&b"{}"[..], "bad"));
    }
}
