//! The consumer's librdkafka callbacks: its logs and errors go to `tracing`, rebalances are
//! logged, and statistics become the `aisle_kafka_lag` gauges.

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::statistics::Statistics;

/// Callbacks of one consumer of `topic`.
pub(super) struct SourceContext {
    pub(super) topic: String,
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", fac, "{message}"),
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", fac, "{message}");
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", fac, "{message}"),
        }
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        // Transport errors are retried by librdkafka itself; they are worth a warning, not a stop.
        tracing::warn!(topic = %self.topic, %error, reason, "kafka client error");
    }

    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else { return };
        for p in topic.partitions.values() {
            // Partition -1 is librdkafka's internal "unassigned" queue; `desired` marks ours.
            if p.partition < 0 || !p.desired || p.hi_offset < 0 {
                continue;
            }
            // Before the group's first commit everything from the low watermark on is behind.
            let from = if p.committed_offset >= 0 { p.committed_offset } else { p.lo_offset.max(0) };
            metrics::gauge!("aisle_kafka_lag", "topic" => self.topic.clone(), "partition" => p.partition.to_string())
                .set((p.hi_offset - from).max(0) as f64);
        }
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(topic = %self.topic, partitions = ?partitions(tpl), "kafka partitions assigned");
            }
            Rebalance::Revoke(tpl) => {
                // A batch in flight is still written; its commit may be refused, which only means
                // the new owner delivers it again (idempotent writes absorb that).
                tracing::info!(topic = %self.topic, partitions = ?partitions(tpl), "kafka partitions revoked");
                for p in partitions(tpl) {
                    metrics::gauge!("aisle_kafka_lag", "topic" => self.topic.clone(), "partition" => p.to_string())
                        .set(0.0);
                }
            }
            Rebalance::Error(e) => tracing::warn!(topic = %self.topic, error = %e, "kafka rebalance error"),
        }
    }
}

fn partitions(tpl: &rdkafka::TopicPartitionList) -> Vec<i32> {
    tpl.elements().iter().map(rdkafka::topic_partition_list::TopicPartitionListElem::partition).collect()
}
