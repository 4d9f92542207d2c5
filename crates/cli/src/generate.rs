//! `aisle generate`: the synthetic shop.

use std::path::PathBuf;

use aisle_ingest::synth::{Shop, ShopFiles, ShopParams, generate_with_progress, write_shop};
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
    let params = ShopParams {
        users: args.users,
        items: args.items,
        events: args.events,
        ratings: args.ratings,
        ..ShopParams::default()
    };
    let shop = generate_reporting(&params, args.seed)?;
    let files = write_shop(&shop, &args.out).with_context(|| format!("writing {}", args.out.display()))?;
    crate::report::note(&describe(&shop, &files));
    Ok(())
}

/// Generates a shop with a progress bar of the users simulated (on a terminal).
pub fn generate_reporting(params: &ShopParams, seed: u64) -> anyhow::Result<Shop> {
    let bar = crate::report::progress_bar(false, params.users as u64);
    bar.set_message("shoppers simulated");
    let shop = generate_with_progress(params, seed, &mut |users| bar.set_position(users as u64))?;
    bar.finish_and_clear();
    Ok(shop)
}

/// One line per file written, with what it holds.
pub fn describe(shop: &Shop, files: &ShopFiles) -> String {
    format!(
        "wrote a shop of {} users, {} items, {} events (seed {}):\n  {}\n  {}\n  {}\n  {}",
        shop.users.len(),
        shop.items.len(),
        shop.events.len(),
        shop.seed,
        files.items.display(),
        files.users.display(),
        files.events.display(),
        files.truth.display()
    )
}
