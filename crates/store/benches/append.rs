//! Append throughput of a store: `AISLE_BENCH_EVENTS` events (default 200,000) with event ids, in
//! batches of `AISLE_BENCH_BATCH` (default 1,000), into a fresh database; prints events/s of each
//! of 3 runs and their median. The embedded store by default; with `AISLE_BENCH_POSTGRES_URL` set,
//! PostgreSQL (a fresh schema per run).
//!
//! Run with `cargo bench -p aisle-store --bench append`.

#![expect(clippy::print_stdout, reason = "a bench binary reports its figures on stdout")]

use std::error::Error;
use std::time::Instant;

use aisle_core::EventKind;
use aisle_store::{AnyStore, EventRecord, SqliteStore, Store};

const RUNS: usize = 3;
const DEFAULT_EVENTS: usize = 200_000;

fn main() -> Result<(), Box<dyn Error>> {
    let number = |name: &str, default: usize| -> Result<usize, String> {
        match std::env::var(name) {
            Ok(n) => n.parse::<usize>().map_err(|e| format!("{name}={n:?}: {e}")),
            Err(_) => Ok(default),
        }
    };
    let total = number("AISLE_BENCH_EVENTS", DEFAULT_EVENTS)?;
    let batch_size = number("AISLE_BENCH_BATCH", 1_000)?.max(1);
    let pg = std::env::var("AISLE_BENCH_POSTGRES_URL").ok();
    println!("store: {}", if pg.is_some() { "PostgreSQL" } else { "SQLite (temporary file)" });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rates = Vec::with_capacity(RUNS);
    for run in 1..=RUNS {
        let rate = runtime.block_on(one_run(total, batch_size, pg.as_deref(), run))?;
        println!("run {run}: {total} events in batches of {batch_size}: {rate:.0} events/s");
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!("median: {:.0} events/s", rates[RUNS / 2]);
    Ok(())
}

/// Appends `total` events into a new store in a temporary directory; returns events per second.
async fn one_run(total: usize, size: usize, pg: Option<&str>, run: usize) -> Result<f64, Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let store = match pg {
        Some(url) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            AnyStore::open(&format!("{url}{sep}schema=bench_append_{}_{run}", std::process::id())).await?
        }
        None => AnyStore::Sqlite(SqliteStore::open(dir.path().join("bench.db"))?),
    };
    let batches: Vec<Vec<EventRecord>> =
        (0..total).step_by(size).map(|start| batch(start, (start + size).min(total))).collect();
    let started = Instant::now();
    for events in batches {
        store.append_events(events).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let stored = store.counts().await?.events;
    if stored != total as u64 {
        return Err(format!("stored {stored} events, expected {total}").into());
    }
    Ok(total as f64 / seconds)
}

/// Events `start..end`: 10,000 users, 5,000 items, a mix of kinds, and event
/// ids in random order (like client-generated UUIDs), so the unique index is not filled in order.
fn batch(start: usize, end: usize) -> Vec<EventRecord> {
    (start..end)
        .map(|i| EventRecord {
            event_id: Some(format!("{:016x}-{i}", mix(i as u64))),
            user_id: format!("user-{}", (i * 7_919) % 10_000),
            item_id: format!("item-{}", (i * 104_729) % 5_000),
            kind: EventKind::ALL[i % EventKind::ALL.len()],
            value: i.is_multiple_of(5).then_some(4.0),
            ts_ms: 1_700_000_000_000 + i as i64,
            session_id: Some(format!("session-{}", i / 20)),
            recommendation_id: None,
        })
        .collect()
}

/// SplitMix64's finaliser: a cheap bijection that scatters consecutive numbers.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
