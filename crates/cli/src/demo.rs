//! `aisle demo`: the demo shop end to end: generate it, import it through
//! the same importer users run, and evaluate the models suited to shop events on a per-user time split.

use std::path::PathBuf;

use aisle_ingest::synth::{ShopParams, write_shop};
use anyhow::Context;
use clap::Args;

use crate::eval::{self, EvalArgs};
use crate::load::{DataArgs, FeedbackArg, FormatArg, ItemsFormatArg};
use crate::report::{self, OutputArg};

/// The models that fit a shop's implicit events (views, carts, purchases), including those that
/// learn from the catalog and the shoppers' attributes; the rating models (baseline, SVD, SVD++)
/// are for explicit ratings and are evaluated with `aisle eval`.
const DEMO_MODELS: &str = "pop,trending,user-knn,item-knn,ials,bpr,ease,content,hybrid,blend";

/// Arguments of `aisle demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo shop's files go.
    #[arg(long, default_value = "aisle-demo")]
    pub dir: PathBuf,
    /// Seed of the shop and the models.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of shoppers.
    #[arg(long, default_value_t = 2_000)]
    pub users: usize,
    /// Number of catalog items.
    #[arg(long, default_value_t = 3_000)]
    pub items: usize,
    /// Number of events.
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
}

/// Generates the shop, then evaluates the event models on the last 2 interactions of each shopper.
pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let params =
        ShopParams { users: args.users, items: args.items, events: args.events, ..ShopParams::default() };
    report::note(&format!(
        "generating a shop of {} users, {} items, {} events",
        args.users, args.items, args.events
    ));
    let shop = crate::generate::generate_reporting(&params, args.seed)?;
    let files = write_shop(&shop, &args.dir).with_context(|| format!("writing {}", args.dir.display()))?;
    report::note(&crate::generate::describe(&shop, &files));
    let eval_args = EvalArgs {
        input: DataArgs {
            data: Some(files.events.clone()),
            train: None,
            test: None,
            format: FormatArg::Csv,
            items: Some(files.items.clone()),
            items_format: ItemsFormatArg::Catalog,
            users: Some(files.users.clone()),
            feedback: FeedbackArg::Implicit,
            strict: false,
        },
        models: DEMO_MODELS.split(',').map(str::to_owned).collect(),
        params: Vec::new(),
        config: None,
        cv: None,
        split: Some("last-k:2".to_owned()),
        k: 10,
        seed: args.seed,
        relevance_threshold: None,
        sampled_negatives: None,
        output: OutputArg::Table,
        no_progress: false,
    };
    eval::run(&eval_args)
}
