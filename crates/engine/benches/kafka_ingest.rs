//! Kafka → store ingest throughput: `N` JSON events (default 1,000,000) are produced to a fresh
//! 6-partition topic (not timed; the produce rate is reported too), then [`run_kafka`] consumes
//! them into an engine over the store, timed until the engine holds all `N`. `RUNS` runs (default
//! 3), each with a fresh topic, consumer group and store; prints each run and the median. For
//! scale, each run also times `Engine::ingest` of the same events, already decoded, in batches
//! of the same size into another fresh store: the ceiling the Kafka path can reach.
//!
//! Broker: `AISLE_BENCH_KAFKA_BROKERS` or `AISLE_TEST_KAFKA_BROKERS` (required). Store:
//! `AISLE_BENCH_POSTGRES_URL` or `AISLE_TEST_POSTGRES_URL` (a fresh `?schema=` per run), else a
//! SQLite file in a temporary directory. `BATCH_MAX` sets the consumer's batch size (10,000).
//!
//! Run with `AISLE_BENCH_KAFKA_BROKERS=127.0.0.1:59092 cargo bench -p aisle-engine --bench kafka_ingest`.

#![expect(clippy::print_stdout, reason = "a bench binary reports its figures on stdout")]

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aisle_engine::wire::{EventIn, event_record};
use aisle_engine::{Engine, EngineConfig, run_kafka};
use aisle_ingest::kafka::{self, KafkaConfig, Outgoing};
use aisle_store::AnyStore;
use tokio::sync::Notify;

const PARTITIONS: i32 = 6;
/// A run that has not stored every event by then failed.
const DEADLINE: Duration = Duration::from_secs(900);

fn env_number(name: &str, default: usize) -> Result<usize, Box<dyn Error>> {
    match std::env::var(name) {
        Ok(v) => Ok(v.parse::<usize>().map_err(|e| format!("{name}={v:?}: {e}"))?),
        Err(_) => Ok(default),
    }
}

fn env_either(a: &str, b: &str) -> Option<String> {
    std::env::var(a).or_else(|_| std::env::var(b)).ok()
}

fn main() -> Result<(), Box<dyn Error>> {
    let Some(brokers) = env_either("AISLE_BENCH_KAFKA_BROKERS", "AISLE_TEST_KAFKA_BROKERS") else {
        println!("kafka_ingest: no broker; set AISLE_BENCH_KAFKA_BROKERS (e.g. 127.0.0.1:59092)");
        return Ok(());
    };
    let n = env_number("N", 1_000_000)?;
    let runs = env_number("RUNS", 3)?.max(1);
    let batch_max = env_number("BATCH_MAX", 10_000)?;
    let writers = env_number("WRITERS", KafkaConfig::default().writers)?;
    let postgres = env_either("AISLE_BENCH_POSTGRES_URL", "AISLE_TEST_POSTGRES_URL");
    println!(
        "kafka_ingest: {n} events, {PARTITIONS} partitions, batches of up to {batch_max}, {writers} written at once, store {}",
        if postgres.is_some() { "PostgreSQL" } else { "SQLite (temporary file; no PostgreSQL URL set)" }
    );
    let messages: Vec<Outgoing> = (0..n).map(event).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rates = Vec::with_capacity(runs);
    let mut direct = Vec::with_capacity(runs);
    for run in 1..=runs {
        let r = runtime.block_on(one_run(&brokers, postgres.as_deref(), &messages, batch_max, writers))?;
        println!(
            "run {run}: produced at {:.0} msg/s; consumed → stored {n} events in {:.2} s: {:.0} events/s \
             ({} batches); Engine::ingest alone: {:.0} events/s",
            r.produce_rate,
            r.seconds,
            n as f64 / r.seconds,
            r.batches,
            r.direct_rate
        );
        rates.push(n as f64 / r.seconds);
        direct.push(r.direct_rate);
    }
    rates.sort_by(f64::total_cmp);
    direct.sort_by(f64::total_cmp);
    println!(
        "median over {runs} runs: {:.0} events/s Kafka → store; {:.0} events/s Engine::ingest alone",
        rates[runs / 2],
        direct[runs / 2]
    );
    Ok(())
}

struct RunResult {
    produce_rate: f64,
    seconds: f64,
    batches: u64,
    direct_rate: f64,
}

async fn open_engine(
    postgres: Option<&str>,
    dir: &std::path::Path,
    name: &str,
) -> Result<Arc<Engine>, Box<dyn Error>> {
    let url = match postgres {
        Some(pg) => format!("{pg}{}schema={name}", if pg.contains('?') { '&' } else { '?' }),
        None => format!("sqlite:{}", dir.join(format!("{name}.db")).display()),
    };
    Ok(Engine::open(AnyStore::open(&url).await?, EngineConfig::default()).await?)
}

/// Events per second of `Engine::ingest` of `messages`, decoded beforehand, in batches of
/// `batch_max`, `writers` of them at once.
async fn direct_rate(
    engine: &std::sync::Arc<Engine>,
    messages: &[Outgoing],
    batch_max: usize,
    writers: usize,
) -> Result<f64, Box<dyn Error>> {
    let mut records = Vec::with_capacity(messages.len());
    for m in messages {
        let event: EventIn = serde_json::from_slice(m.payload.as_deref().unwrap_or_default())?;
        let now = aisle_engine::now_ms();
        records.push(event_record(event, now, &engine.config().events, now)?);
    }
    let started = Instant::now();
    let mut writing = tokio::task::JoinSet::new();
    for chunk in records.chunks(batch_max.max(1)) {
        if writing.len() >= writers.max(1)
            && let Some(done) = writing.join_next().await
        {
            done??;
        }
        let (engine, chunk) = (Arc::clone(engine), chunk.to_vec());
        writing.spawn(async move { engine.ingest(chunk).await.map(|_| ()) });
    }
    while let Some(done) = writing.join_next().await {
        done??;
    }
    Ok(messages.len() as f64 / started.elapsed().as_secs_f64())
}

async fn one_run(
    brokers: &str,
    postgres: Option<&str>,
    messages: &[Outgoing],
    batch_max: usize,
    writers: usize,
) -> Result<RunResult, Box<dyn Error>> {
    let unique = format!(
        "{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos()
    );
    let dir = tempfile::tempdir()?;
    let engine = open_engine(postgres, dir.path(), &format!("bench_{unique}")).await?;
    let topic = format!("aisle-bench-{unique}");
    kafka::create_topic(brokers, &topic, PARTITIONS).await?;
    let started = Instant::now();
    kafka::produce(brokers, &topic, messages, &[]).await?;
    let produce_rate = messages.len() as f64 / started.elapsed().as_secs_f64();

    let config = KafkaConfig {
        brokers: brokers.to_owned(),
        group_id: format!("{topic}-group"),
        topic,
        batch_max,
        writers,
        ..KafkaConfig::default()
    };
    let stop = Arc::new(Notify::new());
    let stopping = Arc::clone(&stop);
    let started = Instant::now();
    let consumer =
        tokio::spawn(run_kafka(Arc::clone(&engine), config, async move { stopping.notified().await }));
    let target = messages.len() as u64;
    while engine.stats().events < target {
        if started.elapsed() > DEADLINE {
            return Err(format!(
                "only {} of {target} events stored after {DEADLINE:?}",
                engine.stats().events
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.notify_one();
    let stats = consumer.await??;
    drop(engine);
    let direct = open_engine(postgres, dir.path(), &format!("bench_{unique}_d")).await?;
    let direct_rate = direct_rate(&direct, messages, batch_max, writers).await?;
    Ok(RunResult { produce_rate, seconds, batches: stats.batches, direct_rate })
}

/// Event `i`: 100,000 shoppers, 20,000 items, a mix of kinds, a unique event id.
fn event(i: usize) -> Outgoing {
    let user = format!("user-{}", (i * 7_919) % 100_000);
    let kind = ["view", "view", "view", "click", "add_to_cart", "purchase"][i % 6];
    let body = format!(
        r#"{{"event_id": "ev-{i:010}", "user_id": "{user}", "item_id": "item-{}", "type": "{kind}", "timestamp": {}, "session_id": "s-{}"}}"#,
        (i * 104_729) % 20_000,
        1_750_000_000_000 + i as i64,
        i / 20
    );
    Outgoing { key: Some(user.into_bytes()), payload: Some(body.into_bytes()) }
}
