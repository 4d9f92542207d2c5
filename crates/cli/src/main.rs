//! The `aisle` command: argument parsing and wiring only. Every capability lives in a library
//! crate (aisle-core for models and evaluation, aisle-ingest for files and the synthetic shop).

mod demo;
mod eval;
mod generate;
mod load;
mod report;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => generate::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Demo(args) => demo::run(&args),
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
