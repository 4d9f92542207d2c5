//! `aisle generate`: the synthetic shop.

use std::path::PathBuf;

use aisle_ingest::synth::{ShopParams, generate, write_shop};
use anyhow::Context;
use clap::Args;

/// Arguments of `aisle generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of shoppers.
    #[arg(long, default_value_t = 1_000)]
    pub users: usize,
    /// Number of catalog items.
    #[arg(long, default_value_t = 2_000)]
    pub items: usize,
    /// Number of events (views, carts, purchases, ratings).
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
    /// Seed: the same seed writes the same files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also emit explicit 1–5 ratings.
    #[arg(long)]
    pub ratings: bool,
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// Generates and writes the shop, then says what it wrote.
pub fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    let params = shop_params(args)?;
    let shop = generate(&params, args.seed);
    let files = write_shop(&shop, &args.out).with_context(|| format!("writing {}", args.out.display()))?;
    crate::report::note(&format!("wrote {files}"));
    Ok(())
}

fn shop_params(args: &GenerateArgs) -> anyhow::Result<ShopParams> {
    anyhow::ensure!(args.users > 0, "--users must be at least 1");
    anyhow::ensure!(args.items > 0, "--items must be at least 1");
    anyhow::ensure!(args.events > 0, "--events must be at least 1");
    Ok(ShopParams {
        users: args.users,
        items: args.items,
        events: args.events,
        ratings: args.ratings,
        ..ShopParams::default()
    })
}
