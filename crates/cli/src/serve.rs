//! `aisle serve`, `aisle import`, `aisle train`, `aisle recommend`: the server and the commands
//! that work on its store. Wiring only: config from aisle-server, everything else in the engine.

use std::path::PathBuf;
use std::sync::Arc;

use aisle_engine::{Engine, EventBatches, InOrder, RecommendRequest, Subject, TrainRequest, shop_records};
use aisle_ingest::synth::ShopParams;
use aisle_server::config::AisleConfig;
use aisle_store::{AnyStore, Store};
use anyhow::Context;
use clap::Args;

use crate::report;

/// Options every store command shares: where the config and the store are.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// A config file (TOML); see config/aisle.example.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory of the embedded store (overrides store.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// A store URL (overrides store.url): `sqlite:PATH`, or `postgres://user:pass@host/db` for
    /// several replicas on one PostgreSQL.
    #[arg(long)]
    pub store_url: Option<String>,
}

impl StoreArgs {
    /// The layered config, with these flags and `extra` (`key`, `value`, `flag`) on top.
    pub fn config(&self, mut extra: Vec<(String, String, String)>) -> anyhow::Result<AisleConfig> {
        if let Some(d) = &self.data_dir {
            extra.push((
                "store.data_dir".to_owned(),
                toml_string(&d.display().to_string()),
                "--data-dir".to_owned(),
            ));
        }
        if let Some(u) = &self.store_url {
            extra.push(("store.url".to_owned(), toml_string(u), "--store-url".to_owned()));
        }
        Ok(AisleConfig::load(self.config.as_deref(), std::env::vars(), &extra)?)
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Opens the configured store and the engine over it.
pub async fn open(config: &AisleConfig) -> anyhow::Result<Arc<Engine>> {
    let store = AnyStore::open(&config.store.url())
        .await
        .with_context(|| format!("opening the store {}", config.store.shown_url()))?;
    Ok(Engine::open(store, config.engine()).await?)
}

/// Arguments of `aisle serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config and store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address and port to listen on (overrides server.listen; default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<String>,
    /// Consume events from Kafka at these bootstrap brokers (overrides kafka.brokers).
    #[arg(long)]
    pub kafka_brokers: Option<String>,
    /// The Kafka topic of events (overrides kafka.topic).
    #[arg(long)]
    pub kafka_topic: Option<String>,
    /// Generate a demo shop into an empty store, train on it, then serve.
    #[arg(long)]
    pub demo: bool,
    /// Demo shop: shoppers.
    #[arg(long, default_value_t = 2_000)]
    pub demo_users: usize,
    /// Demo shop: catalog items.
    #[arg(long, default_value_t = 3_000)]
    pub demo_items: usize,
    /// Demo shop: events.
    #[arg(long, default_value_t = 200_000)]
    pub demo_events: usize,
    /// Demo shop: categories.
    #[arg(long, default_value_t = 20)]
    pub demo_categories: usize,
}

fn init_logs(config: &AisleConfig) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if config.log.json { builder.json().try_init() } else { builder.try_init() };
}

/// [`Engine::load`] with a progress bar of the records stored (on a terminal).
pub async fn load_reporting(
    engine: &Arc<Engine>,
    items: Vec<aisle_store::ItemRecord>,
    users: Vec<aisle_store::UserRecord>,
    events: impl EventBatches,
    expected_events: usize,
) -> anyhow::Result<aisle_engine::Loaded> {
    let bar = report::progress_bar(false, (items.len() + users.len() + expected_events) as u64);
    bar.set_message("records stored");
    let loaded = engine
        .load_batches(items, users, events, expected_events, |l| {
            bar.set_position((l.items + l.users + l.events + l.duplicates) as u64);
        })
        .await?;
    bar.finish_and_clear();
    Ok(loaded)
}

async fn seed_demo(engine: &Arc<Engine>, args: &ServeArgs) -> anyhow::Result<()> {
    if engine.store().counts().await?.events > 0 {
        report::note("the store already holds events: the demo shop is not generated again");
        return Ok(());
    }
    let params = ShopParams {
        users: args.demo_users,
        items: args.demo_items,
        events: args.demo_events,
        categories: args.demo_categories,
        ..ShopParams::default()
    };
    report::note(&format!(
        "generating a demo shop: {} shoppers, {} items, {} events",
        params.users, params.items, params.events
    ));
    let shop =
        tokio::task::spawn_blocking(move || crate::generate::generate_reporting(&params, 42)).await??;
    // Shift the log so that it ends now: popular windows (1h, 24h, 7d) then mean something.
    let end_ms = shop.events.last().map_or(0, |e| e.ts * 1000);
    let (items, users, events) = shop_records(&shop, aisle_engine::now_ms() - end_ms);
    let expected = events.len();
    let loaded = load_reporting(engine, items, users, InOrder(events), expected).await?;
    report::note(&format!(
        "imported {} items, {} users, {} events",
        loaded.items, loaded.users, loaded.events
    ));
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let mut extra = Vec::new();
    if let Some(l) = &args.listen {
        extra.push(("server.listen".to_owned(), toml_string(l), "--listen".to_owned()));
    }
    if let Some(b) = &args.kafka_brokers {
        extra.push(("kafka.brokers".to_owned(), toml_string(b), "--kafka-brokers".to_owned()));
    }
    if let Some(t) = &args.kafka_topic {
        extra.push(("kafka.topic".to_owned(), toml_string(t), "--kafka-topic".to_owned()));
    }
    let config = args.store.config(extra)?;
    init_logs(&config);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = rt.block_on(async {
        let engine = open(&config).await?;
        // On a shared store only the leader trains; the lease taken here (if no other replica
        // holds it) passes to the replication task, which keeps it or elects another.
        let lease = engine.try_lead().await?;
        if args.demo {
            seed_demo(&engine, args).await?;
            if engine.serving().is_none() && lease.is_some() {
                report::note("training the demo model");
                let out = engine.train(&TrainRequest::default()).await?;
                report::note(&format!(
                    "model v{} trained in {:.1} s: {}",
                    out.model.version, out.seconds, out.reason
                ));
            }
        }
        if !config.auth.has_keys() {
            tracing::warn!("no API keys are configured: every route is open (set auth.read_keys etc.)");
        }
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("listening on {}", config.server.listen))?;
        let addr = listener.local_addr()?;
        report::note(&format!("aisle serves http://{addr}/  (dashboard)  ·  http://{addr}/docs  (API docs)"));
        let impact = aisle_engine::impact::Impact::start(engine.clone()).await?;
        let app = aisle_server::router(engine.clone(), impact.clone(), &config);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.changed().await;
            }
        };
        let mut background = vec![
            tokio::spawn(engine.clone().run_schedule(stopped())),
            tokio::spawn(engine.clone().run_replication(lease, stopped())),
        ];
        if let Some(kafka) = config.kafka.source() {
            report::note(&format!("consuming events from Kafka topic {} at {}", kafka.topic, kafka.brokers));
            let (engine, stop) = (engine.clone(), stopped());
            background.push(tokio::spawn(async move {
                if let Err(e) = aisle_engine::run_kafka(engine, kafka, stop).await {
                    tracing::error!(error = %e, "the Kafka consumer stopped");
                }
            }));
        }
        aisle_server::serve(listener, app, engine.clone(), &config, shutdown_signal()).await?;
        // The impressions still queued, and the attribution of the events stored so far.
        if let Err(e) = impact.flush().await {
            tracing::warn!(error = %e, "writing the last impressions on shutdown failed");
        }
        let _ = stop_tx.send(());
        for task in background {
            // Each task returns soon after the stop signal (the replication task gives up the
            // leader lock, the Kafka consumer finishes its batch).
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
        }
        report::note("stopped; the store is flushed");
        anyhow::Ok(())
    });
    // A training still running on the blocking pool (a scheduled one, one asked for over the
    // API, `auto`'s slow follow-up) holds nothing that must be written: its version is stored
    // only when it ends. Dropping the runtime would wait for it, minutes or hours after the stop
    // signal; the process ends instead (the next start trains on schedule again).
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    served
}

/// Arguments of `aisle train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Config and store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Train this model instead of model.name.
    #[arg(long)]
    pub model: Option<String>,
    /// Publish whatever the gate says.
    #[arg(long)]
    pub force: bool,
    /// Store the version without publishing it (to pin in an experiment or evaluate with
    /// `aisle ope --candidate-version`).
    #[arg(long, conflicts_with = "force")]
    pub candidate: bool,
}

/// Trains a model into the store (a running server picks it up at its next restart or
/// activation).
pub fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let config = args.store.config(Vec::new())?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let engine = open(&config).await?;
        // On a shared store only the leader trains: this command leads for its run, or says who does.
        let Some(_lease) = engine.try_lead().await? else {
            anyhow::bail!(
                "a running replica holds the store's leader lock and does the training: \
                 send POST /v1/admin/train to the replica whose /health/ready says \"role\": \"leader\""
            );
        };
        let model = args
            .model
            .as_ref()
            .map(|name| aisle_engine::ModelConfig { name: name.clone(), ..config.model.clone() });
        let out = engine.train(&TrainRequest { model, force: args.force, candidate: args.candidate }).await?;
        let m = &out.model;
        report::print(&format!(
            "version {} ({}) {} — {}\nmetrics: {}\n",
            m.version,
            m.model.name,
            if out.published { "published" } else { "stored, not published" },
            out.reason,
            serde_json::to_string(&m.model.metrics)?
        ));
        if !out.follow_up.is_empty() {
            // What a server does in the background, this command waits for.
            report::note(&format!(
                "follow-up: fitting {} against version {}'s setting (model.slow_candidates; [] turns it off)",
                out.follow_up.join(", "),
                m.version
            ));
            engine.training_finished().await;
            if let Some(f) = engine.training_status().follow_up {
                let stored = match (f.version, f.published) {
                    (Some(v), true) => format!("version {v} published"),
                    (Some(v), false) => format!("version {v} stored, not published"),
                    (None, _) => "nothing stored".to_owned(),
                };
                report::print(&format!("follow-up: {stored} — {} ({:.1} s)\n", f.reason, f.seconds));
            }
        }
        engine.flush().await?;
        anyhow::Ok(())
    })
}

/// Arguments of `aisle recommend`.
#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// Config and store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The shopper.
    #[arg(long)]
    pub user: String,
    /// How many items.
    #[arg(long, short, default_value_t = 10)]
    pub n: usize,
    /// Only this category.
    #[arg(long)]
    pub category: Option<String>,
    /// Show reasons.
    #[arg(long)]
    pub explain: bool,
}

/// Prints recommendations from the store's serving model.
pub fn recommend(args: &RecommendArgs) -> anyhow::Result<()> {
    let config = args.store.config(Vec::new())?;
    anyhow::ensure!((1..=1000).contains(&args.n), "--n must be between 1 and 1000");
    tokio::runtime::Runtime::new()?.block_on(async {
        let engine = open(&config).await?;
        let mut req = RecommendRequest::new(Subject::User(args.user.clone()), args.n);
        req.filters.category = args.category.clone();
        req.explain = args.explain;
        let r = engine.recommend(&req).await?;
        report::print(&format!("{}\n", serde_json::to_string_pretty(&r)?));
        anyhow::Ok(())
    })
}
