//! Delimited event files (CSV, TSV, MovieLens 100k / 1M / latest): the first byte picks the
//! format, the rest is the file. Imported leniently and strictly; see `aisle_fuzz::import_events`
//! for what is asserted.
#![no_main]

use aisle_ingest::EventFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else { return };
    let format = match selector % 5 {
        0 => EventFormat::csv(),
        1 => EventFormat::tsv(),
        2 => EventFormat::Ml100k,
        3 => EventFormat::Ml1m,
        _ => EventFormat::MlLatest,
    };
    aisle_fuzz::import_events_both_ways(aisle_fuzz::Input::Bytes(file), &format);
});
