//! Import throughput on 1,000,000-row files: GroupLens `u.data` layout and a CSV event log with
//! string ids and event types. Prints the median and minimum of 5 runs per format.
//!
//! Run with `cargo bench -p aisle-ingest --bench import`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use aisle_core::rng;
use aisle_ingest::{EventFormat, ImportOptions, Importer};
use rand::Rng;

const ROWS: usize = 1_000_000;
const RUNS: usize = 5;

/// `user \t item \t rating \t ts` with ML-1M-like id ranges.
fn write_ml100k(path: &Path) -> std::io::Result<()> {
    let mut rng = rng::seeded(1);
    let mut w = BufWriter::new(File::create(path)?);
    for _ in 0..ROWS {
        let (u, i) = (rng.random_range(1..6_041), rng.random_range(1..3_707));
        let (r, ts) = (rng.random_range(1..6), rng.random_range(956_703_932..1_046_454_590));
        writeln!(w, "{u}\t{i}\t{r}\t{ts}")?;
    }
    w.flush()
}

/// `user_id,item_id,type,value,timestamp` with string ids and a mix of event types.
fn write_events_csv(path: &Path) -> std::io::Result<()> {
    const KINDS: [&str; 4] = ["view", "view", "add_to_cart", "purchase"];
    let mut rng = rng::seeded(2);
    let mut w = BufWriter::new(File::create(path)?);
    writeln!(w, "user_id,item_id,type,value,timestamp")?;
    for _ in 0..ROWS {
        let (u, i) = (rng.random_range(1..100_001), rng.random_range(1..50_001));
        let kind = KINDS[rng.random_range(0..KINDS.len())];
        let ts = rng.random_range(1_700_000_000..1_707_776_000);
        if kind == "purchase" {
            writeln!(w, "u{u},sku-{i},{kind},{:.2},{ts}", rng.random_range(1.0..500.0))?;
        } else {
            writeln!(w, "u{u},sku-{i},{kind},,{ts}")?;
        }
    }
    w.flush()
}

/// Seconds of each of `RUNS` imports, sorted.
fn time_imports(path: &Path, format: &EventFormat) -> Vec<f64> {
    let mut secs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let mut imp = Importer::new(ImportOptions::default());
            let t = Instant::now();
            let batch = imp.read_events(path, format).expect("the generated file is readable");
            let s = t.elapsed().as_secs_f64();
            assert_eq!(batch.report.accepted + batch.report.duplicates, ROWS as u64, "{}", batch.report);
            s
        })
        .collect();
    secs.sort_by(f64::total_cmp);
    secs
}

#[expect(clippy::print_stdout, reason = "a benchmark binary reports on stdout")]
fn main() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    let ml = dir.path().join("u.data");
    let csv = dir.path().join("events.csv");
    write_ml100k(&ml)?;
    write_events_csv(&csv)?;
    for (name, path, format) in
        [("ml-100k", &ml, EventFormat::Ml100k), ("csv+type", &csv, EventFormat::csv())]
    {
        let secs = time_imports(path, &format);
        let (median, min) = (secs[RUNS / 2], secs[0]);
        println!(
            "{name:>9}: {ROWS} rows  median {median:.3} s  min {min:.3} s  {:.2} M rows/s (median)",
            ROWS as f64 / median / 1e6
        );
    }
    Ok(())
}
