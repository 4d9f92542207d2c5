//! The Kafka bar, against a real broker (`AISLE_TEST_KAFKA_BROKERS`) and a real store
//! (`AISLE_TEST_POSTGRES_URL`, else a SQLite file): 100,000 events with 1% re-sends, 37
//! malformed messages (some with a NUL byte in a field name, which PostgreSQL text cannot hold)
//! and one event the store keeps refusing; the first consumer crashes after a write it never
//! commits, the second is stopped gracefully mid-stream, the third finishes. The store must then
//! hold exactly the distinct valid events but the refused one, and the dead letters exactly the
//! malformed messages and the refused event (parked).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aisle_engine::{Engine, EngineConfig, KafkaSink};
use aisle_ingest::kafka::{self, KafkaConfig, Message, Outgoing, Rejected, Sink, SinkError};
use aisle_store::{AnyStore, EventRecord, Store};
use tokio::sync::Notify;

const EVENTS: usize = 100_000;
const MALFORMED: usize = 37;
/// The event the store refuses (a permanent failure, not a passing one): it is parked.
const POISON: usize = 5_000;
const PARTITIONS: i32 = 4;
/// How long each phase may take before the test fails (generous: CI machines are slow and busy).
const PHASE_DEADLINE: Duration = Duration::from_secs(300);

/// Delegates to the engine's sink, failing its first `fail_first` writes (a store outage: the
/// batch must be retried, not skipped). Once the store holds `after` events it trips: it
/// notifies `hit` after its write and, when `hang`, never returns, so that the batch it wrote is
/// never committed (the crash the test aborts it in).
struct Tripwire {
    inner: KafkaSink,
    engine: Arc<Engine>,
    fail_first: AtomicU32,
    after: u64,
    hang: bool,
    hit: Arc<Notify>,
}

impl Sink for Tripwire {
    type Event = EventRecord;

    fn decode(&self, message: &Message<'_>) -> Result<EventRecord, String> {
        self.inner.decode(message)
    }

    async fn write(
        &self,
        topic: &str,
        events: &[EventRecord],
        rejected: &[Rejected],
    ) -> Result<(), SinkError> {
        if self.fail_first.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
            return Err("store unavailable (injected)".into());
        }
        let poison = format!("e{POISON}");
        if events.iter().any(|e| e.event_id.as_deref() == Some(poison.as_str())) {
            return Err(Box::new(aisle_engine::EngineError::Invalid(
                "the store refuses this row (injected)".into(),
            )));
        }
        self.inner.write(topic, events, rejected).await?;
        if self.engine.store().counts().await?.events >= self.after {
            self.hit.notify_one();
            if self.hang {
                std::future::pending::<()>().await;
            }
        }
        Ok(())
    }

    fn transient(&self, error: &SinkError) -> bool {
        self.inner.transient(error)
    }
}

/// The `k`-th valid event. Every 50th has no event id (the sink derives one from its offset).
fn valid(k: usize) -> Outgoing {
    let user = format!("u{}", k % 2_000);
    let id = if k % 50 == 25 { String::new() } else { format!(r#""event_id": "e{k}", "#) };
    let kind = ["view", "click", "add_to_cart", "purchase"][k % 4];
    let body = format!(
        r#"{{{id}"user_id": "{user}", "item_id": "i{}", "type": "{kind}", "timestamp": {}}}"#,
        k % 3_000,
        1_750_000_000_000 + k as i64
    );
    Outgoing { key: Some(user.into_bytes()), payload: Some(body.into_bytes()) }
}

/// The `j`-th malformed message, each kind of refusal in turn.
fn malformed(j: usize) -> Outgoing {
    let payload = match j % 7 {
        0 => Some(format!(r#"{{"user_id": "bad{j}", "item_id": "#).into_bytes()),
        1 => Some(format!(r#"{{"user_id": "bad{j}", "item_id": "i1", "type": "teleport"}}"#).into_bytes()),
        2 => Some(format!(r#"{{"item_id": "i{j}", "type": "view"}}"#).into_bytes()),
        3 => None,
        4 => Some(Vec::new()),
        // An unknown field whose name holds a NUL: serde's reason names it, NUL and all.
        5 => Some(
            format!(r#"{{"user_id": "bad{j}", "item_id": "i1", "type": "view", "x\u0000y": 1}}"#)
                .into_bytes(),
        ),
        _ => Some(
            format!(r#"{{"user_id": "{}", "item_id": "i1", "type": "view"}}"#, "u".repeat(300 + j))
                .into_bytes(),
        ),
    };
    Outgoing { key: Some(format!("bad-{j}").into_bytes()), payload }
}

/// The messages in produce order, and which of them are re-sends and malformed.
struct Plan {
    messages: Vec<Outgoing>,
    /// Index in `messages` of the first send of each valid event.
    first: Vec<usize>,
    malformed: Vec<usize>,
}

fn plan() -> Plan {
    let mut plan = Plan { messages: Vec::new(), first: Vec::new(), malformed: Vec::new() };
    for k in 0..EVENTS {
        plan.first.push(plan.messages.len());
        plan.messages.push(valid(k));
        // 1% re-sends: event k - 50 again (always one with an event id), 1,000 in all.
        if k % 100 == 57 {
            plan.messages.push(valid(k - 50));
        }
        if k % 2_700 == 1_300 && plan.malformed.len() < MALFORMED {
            plan.malformed.push(plan.messages.len());
            plan.messages.push(malformed(plan.malformed.len() - 1));
        }
    }
    plan
}

async fn open_store(dir: &std::path::Path) -> (AnyStore, String) {
    let url = match std::env::var("AISLE_TEST_POSTGRES_URL") {
        Ok(pg) => {
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
            let sep = if pg.contains('?') { '&' } else { '?' };
            format!("{pg}{sep}schema=kafka_{}_{nanos}", std::process::id())
        }
        Err(_) => format!("sqlite:{}", dir.join("aisle.db").display()),
    };
    (AnyStore::open(&url).await.unwrap(), url)
}

async fn dead_letters(store: &AnyStore) -> Vec<aisle_store::StoredDeadLetter> {
    store.dead_letters_after(0, 10_000).await.unwrap()
}

/// Waits until `done` holds for the store's (events, dead letters), polling.
async fn wait_for(store: &AnyStore, what: &str, done: impl Fn(u64, usize) -> bool) {
    let waited = tokio::time::timeout(PHASE_DEADLINE, async {
        loop {
            let events = store.counts().await.unwrap().events;
            if done(events, dead_letters(store).await.len()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let events = store.counts().await.unwrap().events;
    assert!(waited.is_ok(), "timed out waiting for {what}: {events} events stored");
}

/// The `aisle_kafka_lag` gauges of `topic` in a Prometheus rendering, by partition.
fn lag(rendered: &str, topic: &str) -> BTreeMap<i32, f64> {
    rendered
        .lines()
        .filter(|l| l.starts_with("aisle_kafka_lag{") && l.contains(&format!("topic=\"{topic}\"")))
        .filter_map(|l| {
            let partition = l.split("partition=\"").nth(1)?.split('"').next()?.parse().ok()?;
            Some((partition, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(clippy::print_stderr, reason = "the run's figures are reported")]
async fn kafka_redelivery_after_a_crash_and_a_restart_stores_each_event_once_and_each_bad_message_as_a_dead_letter()
 {
    let Some(brokers) = crate::service_url("AISLE_TEST_KAFKA_BROKERS") else { return };
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = open_store(dir.path()).await;
    let engine = Engine::open(store, EngineConfig::default()).await.unwrap();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let topic = format!("aisle-it-{}-{nanos}", std::process::id());
    kafka::create_topic(&brokers, &topic, PARTITIONS).await.unwrap();
    let plan = plan();
    // One record per record batch: tansu 0.6 answers a fetch from an offset inside a batch with
    // the batches after it (dropping the rest of that one) and reports the last batch's base
    // offset + 1 as the high watermark, so a consumer resuming from a commit mid-batch would
    // lose messages there. Kafka returns the whole batch; single-record batches sidestep it.
    let started = std::time::Instant::now();
    let positions =
        kafka::produce(&brokers, &topic, &plan.messages, &[("batch.num.messages", "1")]).await.unwrap();
    let produce_time = started.elapsed();
    assert_eq!(positions.len(), plan.messages.len());
    eprintln!(
        "kafka test: {} messages produced to {topic} in {produce_time:?}, store {url}",
        positions.len()
    );

    let config = KafkaConfig {
        brokers: brokers.clone(),
        topic: topic.clone(),
        group_id: format!("{topic}-group"),
        batch_max: 5_000,
        // Batches written side by side, committed in order: the at-least-once rules must hold.
        writers: 3,
        batch_wait_ms: 50,
        write_attempts: 5,
        extra: BTreeMap::new(),
    };
    let tripwire = |fail_first: u32, after: u64, hang: bool, hit: &Arc<Notify>| {
        Arc::new(Tripwire {
            inner: KafkaSink::new(Arc::clone(&engine)),
            engine: Arc::clone(&engine),
            fail_first: AtomicU32::new(fail_first),
            after,
            hang,
            hit: Arc::clone(hit),
        })
    };

    // 1. A crash: the consumer is dropped mid-batch, right after a write it never commits.
    let crashed = Arc::new(Notify::new());
    let sink = tripwire(0, 30_000, true, &crashed);
    let c = config.clone();
    let first = tokio::spawn(async move { kafka::run(&c, sink, std::future::pending()).await });
    tokio::time::timeout(PHASE_DEADLINE, crashed.notified()).await.expect("the first consumer wrote 30,000");
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    let after_crash = engine.store().counts().await.unwrap().events;
    eprintln!("kafka test: crashed with {after_crash} events stored");
    assert!((30_000..EVENTS as u64).contains(&after_crash), "mid-stream: {after_crash}");

    // 2. Two failed writes (retried), then a graceful stop mid-stream: what it gathered and
    // wrote is committed before it returns.
    let stop = Arc::new(Notify::new());
    let sink = tripwire(2, 60_000, false, &stop);
    let stopping = Arc::clone(&stop);
    let second = tokio::time::timeout(
        PHASE_DEADLINE,
        kafka::run(&config, sink, async move { stopping.notified().await }),
    )
    .await
    .expect("the second consumer reached 60,000 and stopped")
    .unwrap();
    assert!(second.batches > 0 && second.written > 0, "{second:?}");
    // Two injected outages, plus the refused batch's attempts if this consumer is the one that
    // meets it (which consumer does depends on where the first one crashed).
    assert!(second.write_failures >= 2, "each failed write is retried: {second:?}");
    let after_stop = engine.store().counts().await.unwrap().events;
    eprintln!("kafka test: stopped with {after_stop} events stored: {second:?}");
    assert!((60_000..EVENTS as u64).contains(&after_stop), "mid-stream: {after_stop}");

    // 3. A restart that finishes the topic.
    let finish = Arc::new(Notify::new());
    let finished = Arc::clone(&finish);
    // The store refuses the poison row here too: with batches written side by side, the first
    // two consumers may stop before the batch holding it is parked (it is then not committed).
    let sink = tripwire(0, u64::MAX, false, &Arc::new(Notify::new()));
    let third =
        tokio::spawn(
            async move { kafka::run(&config, sink, async move { finished.notified().await }).await },
        );
    wait_for(engine.store(), "every event and dead letter", |events, letters| {
        events >= EVENTS as u64 - 1 && letters > MALFORMED
    })
    .await;
    // The lag gauges: every partition's high watermark minus its committed offset reaches 0.
    let lag_done = tokio::time::timeout(PHASE_DEADLINE, async {
        loop {
            let lags = lag(&metrics.render(), &topic);
            if lags.len() == PARTITIONS as usize && lags.values().all(|&l| l == 0.0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(lag_done.is_ok(), "lag gauges: {:?}", lag(&metrics.render(), &topic));
    finish.notify_one();
    let third = third.await.unwrap().unwrap();
    eprintln!("kafka test: finished: {third:?}");

    // Exactly the distinct valid events but the refused one, by event id (derived ones from their
    // message's place: `kafka:{topic}:{partition}:{offset}:` then its time and a payload hash).
    let expected: BTreeSet<String> = (0..EVENTS)
        .filter(|&k| k != POISON)
        .map(|k| match k % 50 {
            25 => {
                let (p, o) = positions[plan.first[k]];
                format!("kafka:{topic}:{p}:{o}")
            }
            _ => format!("e{k}"),
        })
        .collect();
    assert_eq!(engine.store().counts().await.unwrap().events, EVENTS as u64 - 1);
    let mut stored = BTreeSet::new();
    let mut seq = 0;
    let place = |id: String| match id.strip_prefix("kafka:") {
        Some(_) => id.splitn(5, ':').take(4).collect::<Vec<_>>().join(":"),
        None => id,
    };
    loop {
        let page = engine.store().events_after(seq, 20_000).await.unwrap();
        let Some(last) = page.last() else { break };
        seq = last.seq;
        stored
            .extend(page.into_iter().map(|e| place(e.event.event_id.expect("every stored event has an id"))));
    }
    assert_eq!(stored.len(), EVENTS - 1);
    assert!(stored == expected, "stored event ids differ from the distinct valid ones");

    // Exactly the malformed messages and the refused event as dead letters, each with its payload
    // and a storable reason.
    let letters = dead_letters(engine.store()).await;
    assert_eq!(letters.len(), MALFORMED + 1);
    let want: BTreeMap<(i32, i64), Vec<u8>> = plan
        .malformed
        .iter()
        .chain([&plan.first[POISON]])
        .map(|&i| (positions[i], plan.messages[i].payload.clone().unwrap_or_default()))
        .collect();
    let got: BTreeMap<(i32, i64), Vec<u8>> =
        letters.iter().map(|l| ((l.letter.partition, l.letter.offset), l.letter.payload.clone())).collect();
    assert_eq!(got, want);
    for l in &letters {
        assert_eq!(l.letter.source, format!("kafka:{topic}"));
        assert!(!l.letter.reason.is_empty() && !l.letter.reason.contains('\0'), "{l:?}");
    }
    let parked = letters.iter().filter(|l| l.letter.reason.contains("the store refused this event")).count();
    assert_eq!(parked, 1, "the refused event is parked, the partition moved on");
    let rendered = metrics.render();
    let counter = |name: &str| {
        rendered
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(&format!("topic=\"{topic}\"")))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
    };
    // Counters of all three consumers; redelivered messages count again.
    assert!(
        counter("aisle_kafka_consumed_total").is_some_and(|n| n >= plan.messages.len() as f64),
        "{rendered}"
    );
    assert!(counter("aisle_kafka_dead_letters_total").is_some_and(|n| n >= MALFORMED as f64), "{rendered}");
    // Two injected outages, then the refused batch: five attempts and its one event alone, once or
    // (if a crash came between its parking and its commit) twice.
    let failures = counter("aisle_kafka_write_failures_total").unwrap_or(0.0);
    assert!(failures == 8.0 || failures == 14.0, "{failures}: {rendered}");
    assert!(counter("aisle_kafka_parked_total").is_some_and(|n| n >= 1.0), "{rendered}");
}
