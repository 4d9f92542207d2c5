//! Checks shared by the fuzz targets (see `README.md`): the invariants of an import's report and
//! of what it accepted, asserted through the importer's public API only.

use aisle_ingest::{EventBatch, EventFormat, ImportError, ImportOptions, ImportReport, Importer};
use aisle_records::EventLimits;
use aisle_records::validate::validate_item;

/// The counts of a report add up: every data row is exactly one of accepted, rejected or
/// duplicate (`report.rs`), the reasons count the rejections, and at most `max_examples` bad
/// rows are kept, in line order.
pub fn check_report(report: &ImportReport, opts: &ImportOptions) {
    assert_eq!(
        report.rows,
        report.accepted + report.rejected + report.duplicates,
        "rows != accepted + rejected + duplicates: {report:?}"
    );
    assert_eq!(
        report.by_reason.values().sum::<u64>(),
        report.rejected,
        "reasons do not count the rejections: {report:?}"
    );
    let kept = usize::try_from(report.rejected).unwrap_or(usize::MAX).min(opts.max_examples);
    assert_eq!(report.examples.len(), kept, "examples kept: {report:?}");
    assert!(
        report.examples.windows(2).all(|w| w[0].line <= w[1].line),
        "examples out of line order: {report:?}"
    );
    if opts.strict {
        assert_eq!(report.rejected, 0, "a strict import returned Ok with rejected rows: {report:?}");
    }
}

/// Every item the importer's catalog holds passes the one validator of items, under the id the
/// importer gave it.
pub fn check_catalog(importer: &Importer) {
    for (idx, item) in importer.catalog().iter() {
        if let Err(e) = validate_item(item) {
            panic!("catalog item {idx:?} fails validate_item ({e}): {item:?}");
        }
        assert_eq!(
            importer.items().id(idx.0),
            Some(item.id.as_str()),
            "catalog item {idx:?} under another id"
        );
    }
}

/// Where an import reads from: bytes in memory (the text formats), or a file (Parquet, whose
/// index is at the end).
#[derive(Copy, Clone)]
pub enum Input<'a> {
    /// The file's bytes.
    Bytes(&'a [u8]),
    /// A file holding them.
    File(&'a std::path::Path),
}

impl Input<'_> {
    /// The name reports carry.
    fn source(&self) -> String {
        match self {
            Input::Bytes(_) => "fuzz".to_owned(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

/// What one event import gave, and the options it ran with.
pub struct EventRun {
    pub opts: ImportOptions,
    pub result: Result<EventBatch, ImportError>,
}

/// Imports `data` as `format` with `opts` into a fresh importer and checks the outcome: a
/// non-strict import never fails on a row; an Ok batch has a consistent report, one event per
/// accepted row, dense ids inside the importer's id maps, and only events whose value and time
/// pass the API's limits (`EventLimits::check_value` / `check_time`); items described on the way
/// (a joined MovieLens file) pass `validate_item`.
pub fn import_events(input: Input<'_>, format: &EventFormat, opts: ImportOptions) -> EventRun {
    let mut importer = Importer::new(opts);
    let result = match input {
        Input::Bytes(data) => importer.read_events_from_reader(data, "fuzz", format),
        Input::File(path) => importer.read_events(path, format),
    };
    match &result {
        Ok(batch) => {
            let report = &batch.report;
            check_report(report, &opts);
            assert_eq!(batch.events.len() as u64, report.accepted, "events != accepted: {report:?}");
            assert_eq!(report.source, input.source());
            let limits: &EventLimits = &opts.limits;
            let (n_users, n_items) = (importer.users().len(), importer.items().len());
            for e in &batch.events {
                assert!(
                    e.user.index() < n_users && e.item.index() < n_items,
                    "index outside the id maps: {e:?}"
                );
                if let Err(bad) = limits.check_value(e.kind, Some(e.value)) {
                    panic!("accepted event fails check_value ({bad}): {e:?}");
                }
                // `Event::ts` is in seconds; the limits judge milliseconds.
                if let Err(bad) = limits.check_time(e.ts.saturating_mul(1000), opts.now_ms) {
                    panic!("accepted event fails check_time ({bad}): {e:?}");
                }
            }
            check_catalog(&importer);
        }
        Err(ImportError::BadRow { .. }) => {
            assert!(opts.strict, "a non-strict import failed on a row: {result:?}")
        }
        Err(_) => {}
    }
    EventRun { opts, result }
}

/// [`import_events`] leniently and strictly, and the two agree: strict mode succeeds exactly when
/// the lenient import rejected nothing (then with the same counts), and otherwise fails on the
/// first row the lenient import rejected.
pub fn import_events_both_ways(input: Input<'_>, format: &EventFormat) {
    let lenient = import_events(input, format, ImportOptions::default());
    let strict = import_events(input, format, ImportOptions { strict: true, ..ImportOptions::default() });
    let Ok(lenient_batch) = &lenient.result else {
        // The file could not be read at all (no usable header...): strict mode must fail too.
        assert!(strict.result.is_err(), "lenient import failed ({:?}) but strict succeeded", lenient.result);
        return;
    };
    let l = &lenient_batch.report;
    match &strict.result {
        Ok(s) => {
            assert_eq!(l.rejected, 0, "strict import succeeded but the lenient one rejected rows: {l:?}");
            assert_eq!(
                (s.report.rows, s.report.accepted, s.report.duplicates),
                (l.rows, l.accepted, l.duplicates),
                "strict and lenient imports of a clean file differ"
            );
            assert_eq!(s.events, lenient_batch.events, "strict and lenient imports of a clean file differ");
        }
        Err(ImportError::BadRow { line, .. }) => {
            let first = l.examples.first().unwrap_or_else(|| {
                panic!("strict import failed on line {line} but the lenient one rejected nothing: {l:?}")
            });
            assert_eq!(first.line, *line, "strict and lenient imports disagree on the first bad row");
        }
        Err(e) => panic!("lenient import succeeded but the strict one failed otherwise: {e}"),
    }
}
