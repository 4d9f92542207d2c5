//! The engine as a Kafka sink: each message is one event in the JSON shape of `POST /v1/events`,
//! decoded and validated exactly as the API does; a batch is ingested (durable, then visible to
//! fold-in) and its dead letters stored, before [`aisle_ingest::kafka::run`] commits its offsets.
//!
//! Redelivery is idempotent: an event is stored once per `event_id`, and an event without one
//! gets `kafka:{topic}:{partition}:{offset}`, the same id on every delivery of that message. Dead
//! letters are stored once per (`kafka:{topic}`, partition, offset).

use std::future::Future;
use std::sync::Arc;

use aisle_ingest::kafka::{self, KafkaConfig, KafkaError, Message, Rejected, Sink, SinkError, SourceStats};
use aisle_store::{DeadLetter, EventRecord, Store};

use crate::wire::{EventIn, event_record};
use crate::{Engine, now_ms};

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

/// Why a message is not an event, as its dead letter says.
fn decode(message: &Message<'_>) -> Result<EventRecord, String> {
    let payload = match message.payload {
        None | Some([]) => return Err("empty message: no payload".to_owned()),
        Some(p) => p,
    };
    let mut event: EventIn = serde_json::from_slice(payload).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => format!("invalid event: {e}"),
        serde_json::error::Category::Io
        | serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof => format!("invalid JSON: {e}"),
    })?;
    if event.event_id.is_none() {
        event.event_id = Some(format!("kafka:{}:{}:{}", message.topic, message.partition, message.offset));
    }
    event_record(event, message.timestamp_ms.unwrap_or_else(now_ms)).map_err(|e| e.to_string())
}

impl Sink for KafkaSink {
    type Event = EventRecord;

    fn decode(&self, message: &Message<'_>) -> Result<EventRecord, String> {
        decode(message)
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
            let letters = rejected
                .iter()
                .map(|r| DeadLetter {
                    source: format!("kafka:{topic}"),
                    partition: r.partition,
                    offset: r.offset,
                    payload: r.payload.clone(),
                    reason: r.reason.clone(),
                    at_ms,
                })
                .collect();
            self.engine.store().put_dead_letters(letters).await?;
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

    fn reason(payload: Option<&[u8]>) -> String {
        decode(&message(payload)).expect_err("a dead letter")
    }

    #[test]
    fn good_events_decode_with_the_message_defaults() {
        let e = decode(&message(Some(br#"{"user_id": "u1", "item_id": "i1", "type": "view"}"#))).unwrap();
        assert_eq!(e.event_id.as_deref(), Some("kafka:events:2:17"), "a stable id for redelivery");
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
    }
}
