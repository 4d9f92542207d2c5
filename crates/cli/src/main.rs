//! The `aisle` command: argument parsing and wiring only. Every capability lives in a library
//! crate (aisle-core for models, evaluation and tuning, aisle-ingest for files and the synthetic
//! shop, aisle-engine and aisle-server for the service).

mod bench;
mod bench_impact;
mod demo;
mod eval;
mod eval_next;
mod export;
mod generate;
mod import;
mod load;
mod ope;
mod report;
mod serve;
mod simulate;
mod stats;
mod tune;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// aisle: a recommendation engine for online shops.
#[derive(Debug, Parser)]
#[command(name = "aisle", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a synthetic shop (catalog, users, events, ground truth) into a folder.
    Generate(generate::GenerateArgs),
    /// Evaluate models offline on a dataset: cross-validation or a train/test pair.
    Eval(eval::EvalArgs),
    /// The demo shop end to end: generate it, import it, evaluate the event models on it.
    Demo(demo::DemoArgs),
    /// Search a model's parameters on a validation split; write the best as config.
    Tune(tune::TuneArgs),
    /// Speed measurements: fits on large matrices, top-k selection.
    Bench(bench::BenchArgs),
    /// Run the API server (`--demo`: generate a demo shop, import it, train, serve).
    Serve(serve::ServeArgs),
    /// Load catalog, user and event files into the store.
    Import(import::ImportArgs),
    /// Write the event log, catalog, users, model vectors and similar-item lists as Parquet.
    Export(export::ExportArgs),
    /// Train the configured model into the store.
    Train(serve::TrainArgs),
    /// Recommendations for a user from the store's serving model.
    Recommend(serve::RecommendArgs),
    /// The shop overview of an event file: events per day, funnel, long tail, shopper activity.
    Stats(stats::StatsArgs),
    /// Simulated shoppers of the demo shop, whose true tastes are known, shopping from a running
    /// server's lists: clicks, carts and purchases posted back, and the truth of what was shown.
    Simulate(simulate::SimulateArgs),
    /// Off-policy evaluation: estimate a candidate policy's click or purchase rate from logged data (IPS, SNIPS, doubly robust)
    Ope(ope::OpeArgs),
}

/// mimalloc instead of glibc's allocator: glibc keeps the pages a training snapshot frees (tens
/// to hundreds of MB, in up to 8 arenas per core) and RSS ratchets up with every larger one;
/// mimalloc returns freed pages to the OS (see the soak figures in docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => generate::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Tune(args) => tune::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Import(args) => import::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Train(args) => serve::train(&args),
        Command::Recommend(args) => serve::recommend(&args),
        Command::Stats(args) => stats::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Ope(args) => ope::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            #[expect(clippy::print_stderr, reason = "the binary reports its own fatal error")]
            {
                eprintln!("error: {err:#}");
            }
            ExitCode::from(2)
        }
    }
}
