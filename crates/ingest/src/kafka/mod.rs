//! A Kafka topic as an event source: a consumer group reads it, a [`Sink`] decodes each message
//! and writes batches durably, and offsets follow the writes.
//!
//! **At-least-once.** [`run`] gathers a batch (up to [`KafkaConfig::batch_max`] messages or
//! [`KafkaConfig::batch_wait_ms`] after the first one), decodes every message, hands the batch to
//! [`Sink::write`] and commits, per partition, the offset after the batch's last message — only
//! once that write has resolved `Ok`. Auto-commit and the automatic offset store are off, so
//! librdkafka never commits on its own. A crash at any point therefore loses nothing: whatever
//! was not committed is delivered again to whichever consumer of the group owns the partition
//! next. A write that fails for a passing reason (the sink says so: [`Sink::transient`], e.g. a
//! store that cannot be reached) is retried with backoff for as long as it takes, never skipped
//! and never committed; a failed commit is counted and only means more redelivery.
//!
//! **A batch the store keeps refusing does not block its partition.** A write that fails for
//! another reason (a value the database will not take) is retried [`KafkaConfig::write_attempts`]
//! times; then the batch is *parked*: each event is written on its own, and the ones that still
//! fail become dead letters with the store's reason, together with the batch's other dead letters
//! (counted in `aisle_kafka_parked_total`). Only then are its offsets committed.
//!
//! **Redelivery creates no duplicates** because the sink's writes are idempotent: events by their
//! event id (the engine gives an event without one the id `kafka:{topic}:{partition}:{offset}`, the
//! same on every delivery), dead letters by (source, partition, offset).
//!
//! **A bad message never blocks its partition.** A message without payload, with bad JSON or with
//! an invalid event is a [`Rejected`] dead letter, written with the batch (with its reason) and
//! committed past like any other message.
//!
//! **Rebalances** use the group's default eager protocol. A batch in flight when partitions are
//! revoked is still written; its commit for partitions this member no longer owns may be refused
//! by the coordinator (counted in `aisle_kafka_commit_failures_total`), and the new owner starts
//! from the last committed offset and rewrites those messages, which the idempotent writes absorb.
//! While a write is retried the consumer stops polling; past `max.poll.interval.ms` it leaves the
//! group and its partitions move on, with the same outcome.
//!
//! **Metrics** (the `metrics` facade): `aisle_kafka_consumed_total`, `aisle_kafka_dead_letters_total`,
//! `aisle_kafka_write_failures_total`, `aisle_kafka_commit_failures_total` (counters, label
//! `topic`), `aisle_kafka_batch_seconds` (histogram of write + commit time, label `topic`) and
//! `aisle_kafka_lag` (gauge, labels `topic` and `partition`: high watermark minus committed offset,
//! from librdkafka's statistics every `statistics.interval.ms`, 1 s by default).

mod admin;
mod context;
mod source;

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};

pub use admin::{Outgoing, create_topic, produce};
pub use source::run;

/// Where and how to consume.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port...]`.
    pub brokers: String,
    /// The topic of JSON events.
    pub topic: String,
    /// The consumer group; its committed offsets are where a restart resumes.
    pub group_id: String,
    /// Most messages per batch (one store write, one commit).
    pub batch_max: usize,
    /// Most batches written at once (their offsets are still committed in order). Several let a
    /// store that takes writes side by side (PostgreSQL) work on more than one; on the embedded
    /// store, which writes one at a time, a batch's write overlaps the previous one's in-memory
    /// work.
    pub writers: usize,
    /// How long a batch waits for more messages after its first one, in milliseconds.
    pub batch_wait_ms: u64,
    /// Attempts at writing a batch the store refuses for a reason that does not pass, before its
    /// events are written one by one and the refused ones parked as dead letters.
    pub write_attempts: u32,
    /// Further librdkafka settings (`session.timeout.ms`, `security.protocol`, ...). The ones
    /// at-least-once depends on (`enable.auto.commit`, `enable.auto.offset.store`) are refused.
    pub extra: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> KafkaConfig {
        KafkaConfig {
            brokers: "127.0.0.1:9092".to_owned(),
            topic: "aisle-events".to_owned(),
            group_id: "aisle".to_owned(),
            batch_max: 10_000,
            writers: 2,
            batch_wait_ms: 50,
            write_attempts: 5,
            extra: BTreeMap::new(),
        }
    }
}

impl std::fmt::Debug for KafkaConfig {
    // `extra` may hold credentials (`sasl.password`, `ssl.key.password`): only its keys are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("group_id", &self.group_id)
            .field("batch_max", &self.batch_max)
            .field("writers", &self.writers)
            .field("batch_wait_ms", &self.batch_wait_ms)
            .field("write_attempts", &self.write_attempts)
            .field("extra", &self.extra.keys().map(|k| format!("{k}=***")).collect::<Vec<_>>())
            .finish()
    }
}

/// Settings [`run`] owns: overriding them would break at-least-once delivery.
const OWNED_SETTINGS: [&str; 4] =
    ["enable.auto.commit", "enable.auto.offset.store", "group.id", "bootstrap.servers"];

impl KafkaConfig {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), KafkaError> {
        let bad = |key: &str, message: &str| {
            Err(KafkaError::Config { key: key.to_owned(), message: message.to_owned() })
        };
        if self.brokers.trim().is_empty() {
            return bad("brokers", "must name at least one broker");
        }
        if self.topic.is_empty() || self.topic.len() > 249 {
            return bad("topic", "must be 1..=249 characters");
        }
        if self.group_id.is_empty() {
            return bad("group_id", "must not be empty");
        }
        if !(1..=1_000_000).contains(&self.batch_max) {
            return bad("batch_max", "must be 1..=1000000");
        }
        if !(1..=16).contains(&self.writers) {
            return bad("writers", "must be 1..=16");
        }
        if !(1..=1_000).contains(&self.write_attempts) {
            return bad("write_attempts", "must be 1..=1000");
        }
        if self.batch_wait_ms > 60_000 {
            return bad("batch_wait_ms", "must be at most 60000");
        }
        if let Some(key) = self.extra.keys().find(|k| OWNED_SETTINGS.contains(&k.as_str())) {
            return bad(&format!("extra.{key}"), "is set by aisle (offsets are committed after each write)");
        }
        Ok(())
    }
}

/// One consumed message, as the sink sees it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Its topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its timestamp (create or log-append time), Unix milliseconds, when it has one.
    pub timestamp_ms: Option<i64>,
    /// Its key, if any.
    pub key: Option<&'a [u8]>,
    /// Its payload, if any (a tombstone has none).
    pub payload: Option<&'a [u8]>,
}

/// A message that could not be decoded: a dead letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its payload as received (empty when it had none).
    pub payload: Vec<u8>,
    /// Why it was refused.
    pub reason: String,
}

/// Any error a sink's write may fail with; it is logged and the write retried (or, when it does
/// not pass, the batch parked).
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Where consumed messages go: decoding and a durable, idempotent batch write.
pub trait Sink: Send + Sync + 'static {
    /// A decoded message.
    type Event: Send + Sync + 'static;

    /// Decodes and validates one message; `Err(reason)` makes it a dead letter.
    fn decode(&self, message: &Message<'_>) -> Result<Self::Event, String>;

    /// Writes one batch durably: events and dead letters, both idempotent (a redelivered batch
    /// must change nothing). Offsets are committed only after this resolves `Ok`; on `Err` the
    /// same batch is written again after a backoff (hence borrowed, not moved).
    fn write(
        &self,
        topic: &str,
        events: &[Self::Event],
        rejected: &[Rejected],
    ) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Whether a write that failed with `error` may succeed later unchanged (a store that cannot
    /// be reached): such writes are retried for as long as it takes. Others are retried
    /// [`KafkaConfig::write_attempts`] times, then their batch is parked.
    fn transient(&self, error: &SinkError) -> bool;
}

/// What one [`run`] did, returned when it stops.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Messages received (valid or not; a redelivered message counts again).
    pub consumed: u64,
    /// Decoded events in batches the sink wrote.
    pub written: u64,
    /// Dead letters in batches the sink wrote.
    pub dead_lettered: u64,
    /// Batches written.
    pub batches: u64,
    /// Writes that failed and were retried.
    pub write_failures: u64,
    /// Events the store kept refusing, parked as dead letters.
    pub parked: u64,
    /// Commits that failed (their messages will be delivered again).
    pub commit_failures: u64,
}

/// Why the Kafka source (or a topic or produce call) failed.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// A setting is invalid.
    #[error("kafka.{key}: {message}")]
    Config {
        /// The setting.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// librdkafka refused or failed (client creation, subscription, a fatal consumer error).
    #[error("kafka: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    /// A topic could not be created or did not appear.
    #[error("kafka topic {topic:?}: {message}")]
    Topic {
        /// The topic.
        topic: String,
        /// What went wrong.
        message: String,
    },
    /// A produced message was not delivered.
    #[error("kafka delivery of message {index}: {source}")]
    Delivery {
        /// Its position in the input.
        index: usize,
        /// Why.
        source: rdkafka::error::KafkaError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_the_bad_key() {
        assert!(KafkaConfig::default().validate().is_ok());
        let key = |c: KafkaConfig| match c.validate() {
            Err(KafkaError::Config { key, .. }) => key,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert_eq!(key(KafkaConfig { batch_max: 0, ..KafkaConfig::default() }), "batch_max");
        assert_eq!(key(KafkaConfig { topic: String::new(), ..KafkaConfig::default() }), "topic");
        let mut extra = BTreeMap::new();
        extra.insert("enable.auto.commit".to_owned(), "true".to_owned());
        assert_eq!(key(KafkaConfig { extra, ..KafkaConfig::default() }), "extra.enable.auto.commit");
    }
}
