//! Catalog files of every `ItemFormat` (the first byte picks it, the rest is the file): the
//! report's counts add up and every item the importer keeps passes `validate_item`.
#![no_main]

use aisle_ingest::{ImportError, ImportOptions, Importer, ItemFormat};
use libfuzzer_sys::fuzz_target;

const FORMATS: [ItemFormat; 5] = [
    ItemFormat::Ml100kItem,
    ItemFormat::RecBoleItem,
    ItemFormat::Ml1mMovies,
    ItemFormat::MlLatestMovies,
    ItemFormat::CatalogJsonl,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else { return };
    let format = FORMATS[usize::from(selector) % FORMATS.len()];
    let mut outcomes = Vec::new();
    for strict in [false, true] {
        let opts = ImportOptions { strict, ..ImportOptions::default() };
        let mut importer = Importer::new(opts);
        let result = importer.read_items_from_reader(file, "fuzz", &format);
        match &result {
            Ok(report) => {
                aisle_fuzz::check_report(report, &opts);
                // A fresh importer: every accepted row describes one new item.
                assert_eq!(
                    importer.catalog().len() as u64,
                    report.accepted,
                    "catalog size != accepted: {report:?}"
                );
            }
            Err(ImportError::BadRow { .. }) => {
                assert!(strict, "a non-strict import failed on a row: {result:?}")
            }
            Err(_) => {}
        }
        // Whatever happened, nothing invalid is in the catalog (a strict import keeps the rows
        // before its first bad one).
        aisle_fuzz::check_catalog(&importer);
        outcomes.push(result);
    }
    match (&outcomes[0], &outcomes[1]) {
        (Ok(l), Ok(s)) => {
            assert_eq!(l.rejected, 0, "strict import succeeded but the lenient one rejected rows: {l:?}");
            assert_eq!((s.rows, s.accepted, s.duplicates), (l.rows, l.accepted, l.duplicates));
        }
        (Ok(l), Err(ImportError::BadRow { line, .. })) => {
            let first = l.examples.first().expect("strict failed on a row the lenient import did not reject");
            assert_eq!(first.line, *line, "strict and lenient imports disagree on the first bad row");
        }
        (Ok(_), Err(e)) => panic!("lenient import succeeded but the strict one failed otherwise: {e}"),
        (Err(l), Ok(_)) => panic!("lenient import failed ({l}) but the strict one succeeded"),
        (Err(_), Err(_)) => {}
    }
});
