//! `aisle bench impact`: how fast the impact report and an experiment's report answer over a
//! store holding a large shop — events in the log, impressions, and attributed clicks, carts and
//! purchases in the rollups and unit counters (the reports read only those, never the log).

use std::sync::Arc;
use std::time::Instant;

use aisle_core::EventKind;
use aisle_engine::impact::{ExperimentConfig, Granularity, Impact, ImpactQuery, PlacementConfig};
use aisle_engine::{Engine, EngineConfig};
use aisle_store::{
    AnyStore, Credit, CreditKind, EventRecord, ImpactStore, Impression, Shown, Store, hour_bucket,
};
use anyhow::Context;
use clap::Args;
use rand::Rng;
use serde::Serialize;

use crate::report::{self, OutputArg, Table};

const DAY_MS: i64 = 86_400_000;

/// Arguments of `aisle bench impact`.
#[derive(Debug, Args)]
pub struct ImpactBenchArgs {
    /// Store URL (default: a new SQLite file in a temp dir).
    #[arg(long)]
    pub store_url: Option<String>,
    /// Events appended to the log, and as many attributed (clicks, carts, purchases).
    #[arg(long, default_value_t = 10_000_000)]
    pub events: usize,
    /// Impressions (lists) logged.
    #[arg(long, default_value_t = 2_000_000)]
    pub impressions: usize,
    /// Experiment units (shoppers).
    #[arg(long, default_value_t = 200_000)]
    pub units: usize,
    /// Days the data spans (ending now).
    #[arg(long, default_value_t = 90)]
    pub days: i64,
    /// Timed calls per report; the table gives the median.
    #[arg(long, default_value_t = 7)]
    pub rounds: usize,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output form.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputArg,
}

#[derive(Debug, Serialize)]
struct Timing {
    report: String,
    rows: usize,
    ms: Vec<f64>,
    median_ms: f64,
}

/// Runs the benchmark.
pub fn run(args: &ImpactBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rounds >= 1 && args.units >= 2 && args.days >= 1,
        "--rounds, --units, --days too small"
    );
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(bench(args))
}

async fn bench(args: &ImpactBenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url =
        args.store_url.clone().unwrap_or_else(|| format!("sqlite:{}", dir.path().join("bench.db").display()));
    let store = AnyStore::open(&url).await.context("opening the store")?;
    let mut config = EngineConfig::default();
    config.impact.log_impressions = false;
    config.impact.flush_ms = 60_000;
    let engine = Engine::open(store.clone(), config).await?;
    let impact = Impact::start(Arc::clone(&engine)).await?;
    let placement: PlacementConfig = serde_json::from_value(serde_json::json!({"kind": "user"}))?;
    impact.put_placement("home", placement).await?;
    let exp: ExperimentConfig = serde_json::from_value(
        serde_json::json!({"id": "bench", "placement": "home",
        "variants": [{"name": "control"}, {"name": "treatment"}], "start_ms": aisle_engine::now_ms() - args.days * DAY_MS}),
    )?;
    let experiment = impact.create_experiment(exp).await?;
    let t = Instant::now();
    fill(&store, args, |unit| {
        experiment.assign(unit).map_or("control", |k| if k == 0 { "control" } else { "treatment" })
    })
    .await?;
    report::note(&format!("filled the store in {:.0} s", t.elapsed().as_secs_f64()));
    let now = aisle_engine::now_ms();
    let mut timings = Vec::new();
    for (name, from, granularity) in [
        ("impact, last 7 days by day", now - 7 * DAY_MS, Granularity::Day),
        ("impact, all days by day", now - args.days * DAY_MS - DAY_MS, Granularity::Day),
        ("impact, all days by hour", now - args.days * DAY_MS - DAY_MS, Granularity::Hour),
    ] {
        let q = ImpactQuery {
            from_ms: from,
            to_ms: now + DAY_MS,
            placement: None,
            experiment: None,
            variant: None,
            granularity,
        };
        let mut ms = Vec::new();
        let mut rows = 0;
        for _ in 0..args.rounds {
            let t = Instant::now();
            rows = impact.report(&q).await?.series.len();
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        timings.push(timing(name, rows, ms));
    }
    let mut ms = Vec::new();
    let mut rows = 0;
    for _ in 0..args.rounds {
        let t = Instant::now();
        rows = impact.experiment_report("bench").await?.variants.iter().map(|v| v.units as usize).sum();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    timings.push(timing("experiment report (units)", rows, ms));
    let table = Table {
        headers: ["report", "rows", "ms (median)", "ms (each)"].map(String::from).to_vec(),
        rows: timings
            .iter()
            .map(|t| {
                let each: Vec<String> = t.ms.iter().map(|m| format!("{m:.1}")).collect();
                vec![t.report.clone(), t.rows.to_string(), format!("{:.1}", t.median_ms), each.join(" ")]
            })
            .collect(),
    };
    let title = format!(
        "{} events, {} impressions, {} units over {} days ({})",
        args.events,
        args.impressions,
        args.units,
        args.days,
        aisle_store::redact_url(&url)
    );
    report::print_table(&title, &table, &timings, args.output)
}

fn timing(name: &str, rows: usize, ms: Vec<f64>) -> Timing {
    let mut sorted = ms.clone();
    sorted.sort_by(f64::total_cmp);
    Timing { report: name.to_owned(), rows, median_ms: sorted[sorted.len() / 2], ms }
}

/// Appends the events, logs the impressions and attributes the events to them, in batches.
async fn fill(
    store: &AnyStore,
    args: &ImpactBenchArgs,
    variant: impl Fn(&str) -> &'static str,
) -> anyhow::Result<()> {
    let mut rng = aisle_core::rng::seeded(args.seed);
    let now = aisle_engine::now_ms();
    let start = now - args.days * DAY_MS;
    let span = (args.days * DAY_MS) as f64;
    const BATCH: usize = 10_000;
    let mut left = args.events;
    while left > 0 {
        let take = left.min(BATCH);
        let events: Vec<EventRecord> = (0..take)
            .map(|_| EventRecord {
                event_id: None,
                user_id: format!("u{}", rng.random_range(0..args.units)),
                item_id: format!("i{}", rng.random_range(0..50_000)),
                kind: EventKind::View,
                value: None,
                ts_ms: start + (rng.random::<f64>() * span) as i64,
                session_id: None,
                recommendation_id: None,
            })
            .collect();
        store.append_events(events).await?;
        left -= take;
    }
    report::note(&format!("appended {} events", args.events));
    let mut left = args.impressions;
    let mut n = 0usize;
    while left > 0 {
        let take = left.min(BATCH);
        let batch: Vec<Impression> = (0..take)
            .map(|_| {
                n += 1;
                let unit = format!("u{}", rng.random_range(0..args.units));
                Impression {
                    recommendation_id: format!("rec_{n}"),
                    at_ms: start + (rng.random::<f64>() * span) as i64,
                    placement: "home".into(),
                    experiment: "bench".into(),
                    variant: variant(&unit).into(),
                    user_id: Some(unit.clone()),
                    unit,
                    model_version: Some(1),
                    covariate: f64::from(rng.random_range(0..50u32)),
                    items: (0..10)
                        .map(|p| Shown {
                            item: format!("i{}", rng.random_range(0..50_000)),
                            position: p,
                            propensity: None,
                            team: None,
                        })
                        .collect(),
                }
            })
            .collect();
        store.log_impressions(batch).await?;
        left -= take;
    }
    report::note(&format!("logged {} impressions", args.impressions));
    let mut left = args.events;
    while left > 0 {
        let take = left.min(100_000);
        let credits: Vec<Credit> = (0..take)
            .map(|_| {
                let unit = format!("u{}", rng.random_range(0..args.units));
                let kind = match rng.random_range(0..10) {
                    0..7 => CreditKind::Click,
                    7..9 => CreditKind::Cart,
                    _ => CreditKind::Purchase,
                };
                Credit {
                    bucket_ms: hour_bucket(start + (rng.random::<f64>() * span) as i64),
                    placement: "home".into(),
                    experiment: "bench".into(),
                    variant: variant(&unit).into(),
                    unit,
                    recommendation_id: String::new(),
                    revenue: if kind == CreditKind::Purchase { rng.random_range(5.0..200.0) } else { 0.0 },
                    kind,
                    team: None,
                }
            })
            .collect();
        // The engine's own attribution may move the cursor meanwhile: retry from where it is.
        loop {
            let cursor = store.attribution_cursor().await?;
            if store.commit_attribution(cursor, cursor + take as u64, credits.clone()).await? {
                break;
            }
        }
        left -= take;
    }
    report::note(&format!("attributed {} events", args.events));
    Ok(())
}
