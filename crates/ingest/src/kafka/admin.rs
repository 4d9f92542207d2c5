//! Topic creation and a delivery-confirmed producer, for set-up, tests, benchmarks and tools.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use super::KafkaError;

/// How long [`create_topic`] waits for the new topic's partitions to appear in the metadata.
const TOPIC_VISIBLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Creates `topic` with `partitions` partitions (replication factor 1) and waits until the broker
/// reports them all; `Ok` when it already exists.
pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics([&new], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                return Err(KafkaError::Topic { topic: topic.to_owned(), message: code.to_string() });
            }
        }
    }
    // Producing to a topic before the broker's metadata lists it times out: wait until it does.
    let topic_name = topic.to_owned();
    let visible = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        while started.elapsed() < TOPIC_VISIBLE_TIMEOUT {
            if let Ok(m) = admin.inner().fetch_metadata(Some(&topic_name), Duration::from_secs(5))
                && m.topics().iter().any(|t| {
                    t.name() == topic_name
                        && t.error().is_none()
                        && t.partitions().len() >= partitions as usize
                })
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    });
    match visible.await {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(KafkaError::Topic {
            topic: topic.to_owned(),
            message: format!("not visible in the metadata after {TOPIC_VISIBLE_TIMEOUT:?}"),
        }),
    }
}

/// One message to produce.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outgoing {
    /// Its key (the partitioner hashes it; none spreads messages over partitions).
    pub key: Option<Vec<u8>>,
    /// Its payload; none produces a message without a value.
    pub payload: Option<Vec<u8>>,
}

/// Most deliveries awaited at once; beyond it the oldest is awaited before sending more.
const IN_FLIGHT: usize = 100_000;

/// Produces `messages` to `topic` and waits until every one is acknowledged by the broker;
/// returns each one's (partition, offset), in input order. `settings` are further librdkafka
/// producer settings (e.g. `batch.num.messages`), applied last.
pub async fn produce(
    brokers: &str,
    topic: &str,
    messages: &[Outgoing],
    settings: &[(&str, &str)],
) -> Result<Vec<(i32, i64)>, KafkaError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .set("message.timeout.ms", "60000");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    let producer: FutureProducer = config.create()?;
    let mut positions = Vec::with_capacity(messages.len());
    let mut in_flight: VecDeque<(usize, DeliveryFuture)> = VecDeque::with_capacity(IN_FLIGHT);
    for (index, m) in messages.iter().enumerate() {
        loop {
            let mut record = FutureRecord::<[u8], [u8]>::to(topic);
            record.key = m.key.as_deref();
            record.payload = m.payload.as_deref();
            match producer.send_result(record) {
                Ok(delivery) => {
                    in_flight.push_back((index, delivery));
                    break;
                }
                // The local queue is full: wait for the oldest delivery, then try again.
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    match in_flight.pop_front() {
                        Some(oldest) => positions.push(settle(oldest).await?),
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                Err((source, _)) => return Err(KafkaError::Delivery { index, source }),
            }
        }
        if in_flight.len() >= IN_FLIGHT
            && let Some(oldest) = in_flight.pop_front()
        {
            positions.push(settle(oldest).await?);
        }
    }
    while let Some(next) = in_flight.pop_front() {
        positions.push(settle(next).await?);
    }
    Ok(positions)
}

/// The (partition, offset) of one delivery, or why it failed.
async fn settle((index, delivery): (usize, DeliveryFuture)) -> Result<(i32, i64), KafkaError> {
    match delivery.await {
        Ok(Ok(d)) => Ok((d.partition, d.offset)),
        Ok(Err((source, _))) => Err(KafkaError::Delivery { index, source }),
        Err(_) => Err(KafkaError::Delivery { index, source: RdError::Canceled }),
    }
}
