//! The store input mode of `aisle ope`: aisle's own impression log (lists served under an
//! exploration policy, every slot's propensity logged) and a candidate — a stored model version —
//! through the engine (`Impact::ope_data`: reward-interaction IPS rows, see `docs/impact.md`).

use std::sync::Arc;

use aisle_engine::impact::{Impact, OpeData, OpeQuery, Reward};
use anyhow::{Context, ensure};
use clap::{Args, ValueEnum};

use crate::serve::StoreArgs;

const DAY_MS: i64 = 86_400_000;

/// The store input mode: `--candidate-version` selects it.
#[derive(Debug, Args)]
pub struct StoreModeArgs {
    /// Config and store whose impression log is read.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Evaluate this stored model version on the store's exploration log (instead of CSV files).
    #[arg(long, value_name = "VERSION")]
    pub candidate_version: Option<u64>,
    /// Only lists of this placement.
    #[arg(long)]
    pub placement: Option<String>,
    /// What a slot's reward is: a click on its item, or a purchase of it.
    #[arg(long, value_enum, default_value = "click")]
    pub reward: RewardArg,
    /// Lists served in the last this many days.
    #[arg(long, default_value_t = 30)]
    pub days: i64,
    /// At most this many lists (oldest first).
    #[arg(long, default_value_t = 1_000_000)]
    pub max_lists: usize,
}

/// `--reward`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum RewardArg {
    /// A click on the slot's item with the list's recommendation id.
    Click,
    /// A purchase of it.
    Purchase,
}

/// Reads the rows from the store (the engine opened over it, its impression worker idle).
pub fn read(args: &StoreModeArgs, version: u64) -> anyhow::Result<OpeData> {
    ensure!((1..=3650).contains(&args.days), "--days {}: must be in 1..=3650", args.days);
    ensure!(
        (1..=50_000_000).contains(&args.max_lists),
        "--max-lists {}: must be in 1..=50000000",
        args.max_lists
    );
    let mut config = args.store.config(Vec::new())?;
    // A reader: no training, no impressions of its own.
    config.training.on_start = false;
    config.training.interval_s = 0;
    config.impact.log_impressions = false;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let engine = crate::serve::open(&config).await?;
        let impact = Impact::start(Arc::clone(&engine)).await?;
        let now = aisle_engine::now_ms();
        let q = OpeQuery {
            from_ms: now - args.days * DAY_MS,
            to_ms: now + 1,
            placement: args.placement.clone(),
            candidate_version: version,
            reward: match args.reward {
                RewardArg::Click => Reward::Click,
                RewardArg::Purchase => Reward::Purchase,
            },
            max_lists: args.max_lists,
        };
        let data = impact.ope_data(&q).await.context("reading the impression log")?;
        ensure!(
            !data.logged.is_empty(),
            "no explored lists in the last {} days{}: serve a placement with an exploration policy \
             (\"exploration\": {{\"policy\": \"epsilon\" | \"plackett_luce\", ...}}) first ({} lists without \
             propensities or a shopper were skipped)",
            args.days,
            args.placement.as_ref().map(|p| format!(" of placement {p:?}")).unwrap_or_default(),
            data.skipped
        );
        crate::report::note(&format!(
            "{} explored lists ({} rows) from the store; {} lists skipped (no propensities or no shopper); \
             candidate: model version {version}, ranking with what it knows now",
            data.lists,
            data.logged.len(),
            data.skipped
        ));
        Ok(data)
    })
}
