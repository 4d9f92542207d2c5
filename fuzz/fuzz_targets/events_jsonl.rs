//! JSON-lines event files (`EventFormat::Jsonl`): the input is the file. Imported leniently and
//! strictly; see `aisle_fuzz::import_events` for what is asserted.
#![no_main]

use aisle_ingest::EventFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    aisle_fuzz::import_events_both_ways(aisle_fuzz::Input::Bytes(data), &EventFormat::Jsonl);
});
