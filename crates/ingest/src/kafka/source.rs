//! The consume loop: a gatherer fills and decodes batches while a writer task writes the earlier
//! ones, up to [`KafkaConfig::writers`] at once, and commits each batch's offsets once it and
//! every batch before it are written.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};

use super::context::SourceContext;
use super::{KafkaConfig, KafkaError, Message, Rejected, Sink, SourceStats};

type Source = StreamConsumer<SourceContext>;

/// One decoded batch and, per partition, the offset to commit once it is written.
struct Batch<E> {
    events: Vec<E>,
    /// Each event's message (partition, offset, payload), to park it as a dead letter.
    sources: Vec<(i32, i64, Vec<u8>)>,
    rejected: Vec<Rejected>,
    next_offsets: BTreeMap<i32, i64>,
}

impl<E> Batch<E> {
    fn len(&self) -> usize {
        self.events.len() + self.rejected.len()
    }
}

/// Aborts the task when dropped, so that dropping [`run`]'s future stops its writer too (a crash
/// leaves the batch in flight uncommitted, as a real one would).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Consumes `config.topic` in group `config.group_id` into `sink` until `shutdown` resolves.
///
/// At-least-once: offsets are committed only after [`Sink::write`] resolved `Ok` (see the module
/// docs). On `shutdown` the batch being gathered and the ones being written are written and
/// committed, then the consumer leaves its group; if a write keeps failing after `shutdown`, it
/// is abandoned uncommitted. Errors: invalid settings, a client that cannot be created or
/// subscribed, or a fatal consumer error.
pub async fn run<S: Sink>(
    config: &KafkaConfig,
    sink: Arc<S>,
    shutdown: impl Future<Output = ()>,
) -> Result<SourceStats, KafkaError> {
    config.validate()?;
    let consumer = Arc::new(consumer(config)?);
    consumer.subscribe(&[&config.topic])?;
    tracing::info!(topic = %config.topic, group = %config.group_id, "kafka source started");
    // Capacity 1: one batch gathered while the earlier ones are written, never more in memory.
    let (batches, queue) = mpsc::channel(1);
    let (stop, stopped) = watch::channel(false);
    let mut writer = AbortOnDrop(tokio::spawn(write_loop(
        Arc::clone(&consumer),
        Arc::clone(&sink),
        config.topic.clone(),
        queue,
        stopped,
        config.write_attempts,
        config.writers,
    )));
    // Shutdown also tells the writer at once, so that a write failing again and again is given up
    // (uncommitted) instead of holding the gatherer in `send` forever.
    let shutdown = async {
        shutdown.await;
        let _ = stop.send(true);
    };
    let gathered = gather_loop(&consumer, config, &*sink, batches, shutdown).await;
    // After a fatal consumer error too; a writer that already finished is fine.
    let _ = stop.send(true);
    let mut stats = match (&mut writer.0).await {
        Ok(stats) => stats,
        // Never cancelled (only aborted when this future is dropped): a sink that panicked.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    let consumed = gathered?;
    stats.consumed = consumed;
    // Closing leaves the group (a blocking poll loop in librdkafka): off the async threads.
    let closing = tokio::task::spawn_blocking(move || {
        consumer.unsubscribe();
        drop(consumer);
    });
    let _ = closing.await;
    tracing::info!(topic = %config.topic, ?stats, "kafka source stopped");
    Ok(stats)
}

fn consumer(config: &KafkaConfig) -> Result<Source, KafkaError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group_id)
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "1000");
    for (k, v) in &config.extra {
        c.set(k, v);
    }
    // Last, so that nothing in `extra` can turn them back on (validate refuses that anyway).
    c.set("enable.auto.commit", "false").set("enable.auto.offset.store", "false");
    Ok(c.create_with_context(SourceContext { topic: config.topic.clone() })?)
}

/// Gathers, decodes and queues batches until `shutdown`; returns how many messages it received.
async fn gather_loop<S: Sink>(
    consumer: &Source,
    config: &KafkaConfig,
    sink: &S,
    batches: mpsc::Sender<Batch<S::Event>>,
    shutdown: impl Future<Output = ()>,
) -> Result<u64, KafkaError> {
    tokio::pin!(shutdown);
    let wait = Duration::from_millis(config.batch_wait_ms);
    let mut consumed = 0u64;
    loop {
        let mut batch = Batch {
            events: Vec::new(),
            sources: Vec::new(),
            rejected: Vec::new(),
            next_offsets: BTreeMap::new(),
        };
        let mut deadline = None;
        let mut stopping = false;
        while batch.len() < config.batch_max {
            let received = tokio::select! {
                biased;
                () = &mut shutdown => { stopping = true; break }
                r = recv(consumer, deadline) => r,
            };
            match received {
                None => break,
                Some(Ok(m)) => {
                    deadline.get_or_insert_with(|| tokio::time::Instant::now() + wait);
                    consumed += 1;
                    take(sink, &m, &mut batch);
                }
                Some(Err(e)) if is_fatal(&e) => return Err(e.into()),
                Some(Err(e)) => {
                    tracing::warn!(topic = %config.topic, error = %e, "kafka consumer error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        if batch.len() > 0 {
            metrics::counter!("aisle_kafka_consumed_total", "topic" => config.topic.clone())
                .increment(batch.len() as u64);
            let send = batches.send(batch);
            tokio::pin!(send);
            let sent = if stopping {
                send.await
            } else {
                tokio::select! {
                    biased;
                    r = &mut send => r,
                    // The writer still takes this batch, unless its current write keeps failing.
                    () = &mut shutdown => { stopping = true; send.await }
                }
            };
            if sent.is_err() {
                return Ok(consumed);
            }
        }
        if stopping {
            return Ok(consumed);
        }
    }
}

/// The next message, or `None` once `deadline` (if any) has passed.
async fn recv(
    consumer: &Source,
    deadline: Option<tokio::time::Instant>,
) -> Option<Result<BorrowedMessage<'_>, RdError>> {
    match deadline {
        None => Some(consumer.recv().await),
        Some(at) => tokio::time::timeout_at(at, consumer.recv()).await.ok(),
    }
}

fn is_fatal(e: &RdError) -> bool {
    matches!(e, RdError::MessageConsumptionFatal(_))
}

/// Decodes one message into the batch (an event or a dead letter) and advances its partition.
fn take<S: Sink>(sink: &S, m: &BorrowedMessage<'_>, batch: &mut Batch<S::Event>) {
    let message = Message {
        topic: m.topic(),
        partition: m.partition(),
        offset: m.offset(),
        timestamp_ms: m.timestamp().to_millis(),
        key: m.key(),
        payload: m.payload(),
    };
    match sink.decode(&message) {
        Ok(event) => {
            batch.events.push(event);
            batch.sources.push((
                message.partition,
                message.offset,
                message.payload.unwrap_or_default().to_vec(),
            ));
        }
        Err(reason) => batch.rejected.push(Rejected {
            partition: message.partition,
            offset: message.offset,
            payload: message.payload.unwrap_or_default().to_vec(),
            reason,
        }),
    }
    let next = batch.next_offsets.entry(message.partition).or_insert(0);
    *next = (*next).max(message.offset + 1);
}

/// What writing one batch came to, for the write loop to commit in order.
struct Delivered {
    /// False when shutdown came while its write kept failing: it is not written.
    written: bool,
    stats: SourceStats,
    next_offsets: BTreeMap<i32, i64>,
    events: u64,
    rejected: u64,
    started: Instant,
}

/// Writes queued batches, up to `writers` at once (retrying failures with backoff), and commits
/// each batch's offsets once it and every batch queued before it are written: a partition's
/// committed offset never passes a message not yet written. A batch given up at shutdown ends the
/// loop; whatever was queued after it is not committed either.
async fn write_loop<S: Sink>(
    consumer: Arc<Source>,
    sink: Arc<S>,
    topic: String,
    mut queue: mpsc::Receiver<Batch<S::Event>>,
    stopped: watch::Receiver<bool>,
    attempts: u32,
    writers: usize,
) -> SourceStats {
    let mut stats = SourceStats::default();
    // Oldest first; dropping the loop aborts them (a crash leaves them uncommitted).
    let mut writing: VecDeque<AbortOnDrop<Delivered>> = VecDeque::new();
    let mut open = true;
    loop {
        let room = open && writing.len() < writers;
        let done = match writing.front_mut() {
            None if !open => return stats,
            None => match queue.recv().await {
                Some(batch) => {
                    writing.push_back(deliver(&sink, &topic, &stopped, attempts, batch));
                    continue;
                }
                None => return stats,
            },
            Some(oldest) if room => tokio::select! {
                biased;
                done = &mut oldest.0 => done,
                batch = queue.recv() => {
                    match batch {
                        Some(batch) => writing.push_back(deliver(&sink, &topic, &stopped, attempts, batch)),
                        None => open = false,
                    }
                    continue;
                }
            },
            Some(oldest) => (&mut oldest.0).await,
        };
        writing.pop_front();
        let done = match done {
            Ok(done) => done,
            // Never cancelled (only aborted when this loop is dropped): a sink that panicked.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        stats.write_failures += done.stats.write_failures;
        stats.parked += done.stats.parked;
        if !done.written {
            tracing::warn!(%topic, "kafka source stopped with a batch unwritten; it will be delivered again");
            return stats;
        }
        stats.batches += 1;
        stats.written += done.events;
        stats.dead_lettered += done.rejected;
        metrics::counter!("aisle_kafka_dead_letters_total", "topic" => topic.clone())
            .increment(done.rejected);
        if let Err(e) = commit(&consumer, &topic, &done.next_offsets).await {
            stats.commit_failures += 1;
            metrics::counter!("aisle_kafka_commit_failures_total", "topic" => topic.clone()).increment(1);
            tracing::warn!(%topic, error = %e, "kafka commit failed; those messages will be delivered again");
        }
        metrics::histogram!("aisle_kafka_batch_seconds", "topic" => topic.clone())
            .record(done.started.elapsed().as_secs_f64());
    }
}

/// Starts writing `batch` in a task of its own.
fn deliver<S: Sink>(
    sink: &Arc<S>,
    topic: &str,
    stopped: &watch::Receiver<bool>,
    attempts: u32,
    batch: Batch<S::Event>,
) -> AbortOnDrop<Delivered> {
    let (sink, topic, mut stopped) = (Arc::clone(sink), topic.to_owned(), stopped.clone());
    AbortOnDrop(tokio::spawn(async move {
        let started = Instant::now();
        let mut stats = SourceStats::default();
        let mut w =
            Writer { sink: &*sink, topic: &topic, stopped: &mut stopped, stats: &mut stats, attempts };
        let written = w.deliver(&batch).await;
        Delivered {
            written,
            stats,
            next_offsets: batch.next_offsets,
            events: batch.events.len() as u64,
            rejected: batch.rejected.len() as u64,
            started,
        }
    }))
}

/// Writes batches for the write loop: retries, backoff and parking.
struct Writer<'a, S: Sink> {
    sink: &'a S,
    topic: &'a str,
    stopped: &'a mut watch::Receiver<bool>,
    stats: &'a mut SourceStats,
    /// `write_attempts` of the config.
    attempts: u32,
}

/// What one write came to.
enum Outcome {
    Written,
    /// Refused for a reason that does not pass.
    Refused(super::SinkError),
    /// Shutdown came while it kept failing: give up, uncommitted.
    Stopped,
}

impl<S: Sink> Writer<'_, S> {
    /// Writes `batch`: retried while failures pass, parked after `attempts` refusals. False when
    /// shutdown came first (nothing may then be committed).
    async fn deliver(&mut self, batch: &Batch<S::Event>) -> bool {
        let mut refusals = 0;
        loop {
            match self.write(&batch.events, &batch.rejected).await {
                Outcome::Written => return true,
                Outcome::Stopped => return false,
                Outcome::Refused(e) => {
                    refusals += 1;
                    if refusals >= self.attempts {
                        tracing::warn!(topic = %self.topic, error = %e, refusals, "the store keeps refusing a kafka batch; parking what it refuses");
                        return self.park(batch).await;
                    }
                }
            }
        }
    }

    /// Writes each event on its own; the ones still refused become dead letters, written with the
    /// batch's others until they are stored.
    async fn park(&mut self, batch: &Batch<S::Event>) -> bool {
        let mut letters = batch.rejected.clone();
        let mut parked = 0u64;
        for (event, (partition, offset, payload)) in batch.events.iter().zip(&batch.sources) {
            match self.write(std::slice::from_ref(event), &[]).await {
                Outcome::Written => {}
                Outcome::Stopped => return false,
                Outcome::Refused(e) => {
                    parked += 1;
                    let reason = format!("the store refused this event: {e}");
                    letters.push(Rejected {
                        partition: *partition,
                        offset: *offset,
                        payload: payload.clone(),
                        reason,
                    });
                }
            }
        }
        self.stats.parked += parked;
        metrics::counter!("aisle_kafka_parked_total", "topic" => self.topic.to_owned()).increment(parked);
        loop {
            // Dead letters are bounded and storable: a refusal here is retried like a passing one.
            match self.write(&[], &letters).await {
                Outcome::Written => return true,
                Outcome::Stopped => return false,
                Outcome::Refused(e) => {
                    tracing::error!(topic = %self.topic, error = %e, "the store refuses dead letters; retrying");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    }

    /// One write, retried with backoff for as long as its failures pass.
    async fn write(&mut self, events: &[S::Event], rejected: &[Rejected]) -> Outcome {
        let mut backoff = Duration::from_millis(100);
        loop {
            let Err(e) = self.sink.write(self.topic, events, rejected).await else { return Outcome::Written };
            self.stats.write_failures += 1;
            metrics::counter!("aisle_kafka_write_failures_total", "topic" => self.topic.to_owned())
                .increment(1);
            if *self.stopped.borrow() {
                tracing::warn!(topic = %self.topic, error = %e, "kafka batch write failed during shutdown; giving up");
                return Outcome::Stopped;
            }
            if !self.sink.transient(&e) {
                return Outcome::Refused(e);
            }
            tracing::warn!(topic = %self.topic, error = %e, ?backoff, "kafka batch write failed; retrying");
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                // Shutdown during the backoff: one last attempt, then give up if it fails.
                _ = self.stopped.changed() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// Commits, for each partition, the offset after the last written message.
async fn commit(
    consumer: &Arc<Source>,
    topic: &str,
    next_offsets: &BTreeMap<i32, i64>,
) -> Result<(), RdError> {
    let mut tpl = TopicPartitionList::with_capacity(next_offsets.len());
    for (&partition, &offset) in next_offsets {
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    }
    let consumer = Arc::clone(consumer);
    // A synchronous commit waits for the coordinator's answer: on the blocking pool.
    tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
        .await
        .unwrap_or(Err(RdError::Canceled))
}
