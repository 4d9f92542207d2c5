//! What an import did: counts, reasons and the first few bad rows, plus the fatal errors.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// Why an import could not run at all (as opposed to a bad row, which is counted and skipped).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}", path = path.display())]
    Io {
        /// The file (or the reader's name).
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Strict mode: the first bad row.
    #[error("{input}, line {line}, field {field}: {reason}")]
    BadRow {
        /// The file (or the reader's name).
        input: String,
        /// 1-based line number.
        line: u64,
        /// The field at fault (`user`, `value`, `row`, ...).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The header lacks a column the format needs.
    #[error("{input}: no {column} column in header {header:?}")]
    MissingColumn {
        /// The file (or the reader's name).
        input: String,
        /// The column that is missing (`user`, `item`, `rating`, ...).
        column: &'static str,
        /// The header as read.
        header: String,
    },
    /// A columnar (Parquet) file that cannot be decoded, or a column of a shape that cannot be
    /// read (a struct or a map where a field is needed).
    #[error("cannot read {input} as Parquet: {reason}")]
    Unreadable {
        /// The file.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// A streamed read's consumer stopped taking its events (its own error says why).
    #[error("{input}: the read stopped: its events could not be taken in")]
    Stopped {
        /// The file.
        input: String,
    },
    /// The format options cannot work (e.g. a column named when the file has no header).
    #[error("invalid import options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: String,
    },
}

pub(crate) fn io_error(path: impl Into<PathBuf>, source: std::io::Error) -> ImportError {
    ImportError::Io { path: path.into(), source }
}

/// One rejected row, kept as an example.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// 1-based line number in the file.
    pub line: u64,
    /// The field at fault (`user`, `item`, `value`, `timestamp`, `type`, `event_id`, `row`, `json`, ...).
    pub field: &'static str,
    /// What is wrong, with the offending text.
    pub reason: String,
}

/// Counts of what an import accepted, rejected and dropped.
///
/// Every data row (blank lines and the header excluded) is exactly one of accepted, rejected or
/// duplicate: `rows == accepted + rejected + duplicates`. `unknown_items` counts accepted events
/// whose item is not in a loaded catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The file (or the reader's name).
    pub source: String,
    /// Data rows read.
    pub rows: u64,
    /// Rows turned into events (or catalog items).
    pub accepted: u64,
    /// Rows rejected as invalid.
    pub rejected: u64,
    /// Rows dropped as exact duplicates or repeated event ids.
    pub duplicates: u64,
    /// Accepted events on items a loaded catalog does not describe.
    pub unknown_items: u64,
    /// Rejections per reason (`wrong field count`, `bad number`, ...).
    pub by_reason: BTreeMap<&'static str, u64>,
    /// The first rejected rows (at most `ImportOptions::max_examples`).
    pub examples: Vec<RowError>,
}

/// A row's defect, before it is counted: the field, the reason class and the detail.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Bad {
    pub field: &'static str,
    pub kind: &'static str,
    pub detail: String,
}

impl Bad {
    pub(crate) fn new(field: &'static str, kind: &'static str, detail: impl Into<String>) -> Self {
        Self { field, kind, detail: detail.into() }
    }
}

/// Rejection reason classes, the keys of [`ImportReport::by_reason`].
pub(crate) mod reason {
    pub const FIELD_COUNT: &str = "wrong field count";
    pub const EMPTY_ID: &str = "empty id";
    pub const LONG_ID: &str = "id too long";
    pub const BAD_ID: &str = "invalid id";
    pub const BAD_ITEM: &str = "invalid item";
    pub const OUT_OF_RANGE: &str = "value out of range";
    pub const NUMBER: &str = "bad number";
    pub const NON_FINITE: &str = "non-finite value";
    pub const TIMESTAMP: &str = "bad timestamp";
    pub const EVENT_TYPE: &str = "unknown event type";
    pub const MISSING: &str = "missing field";
    pub const JSON: &str = "invalid JSON";
    pub const UTF8: &str = "invalid UTF-8";
    pub const LONG_LINE: &str = "line too long";
    pub const QUOTE: &str = "unterminated quote";
    pub const TYPE: &str = "wrong column type";
}

impl ImportReport {
    pub(crate) fn new(source: &str) -> Self {
        Self { source: source.to_owned(), ..Self::default() }
    }

    /// Counts a bad row; in strict mode it becomes the fatal error instead.
    pub(crate) fn reject(
        &mut self,
        line: u64,
        bad: Bad,
        opts: &crate::ImportOptions,
    ) -> Result<(), ImportError> {
        if opts.strict {
            return Err(ImportError::BadRow {
                input: self.source.clone(),
                line,
                field: bad.field,
                reason: format!("{}: {}", bad.kind, bad.detail),
            });
        }
        self.rejected += 1;
        *self.by_reason.entry(bad.kind).or_insert(0) += 1;
        if self.examples.len() < opts.max_examples {
            self.examples.push(RowError {
                line,
                field: bad.field,
                reason: format!("{}: {}", bad.kind, bad.detail),
            });
        }
        Ok(())
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} rows, {} accepted", self.source, self.rows, self.accepted)?;
        if self.rejected > 0 {
            let reasons: Vec<String> = self.by_reason.iter().map(|(r, n)| format!("{n} {r}")).collect();
            write!(f, ", {} rejected ({})", self.rejected, reasons.join(", "))?;
        }
        if self.duplicates > 0 {
            write!(f, ", {} duplicates", self.duplicates)?;
        }
        if self.unknown_items > 0 {
            write!(f, ", {} on items not in the catalog", self.unknown_items)?;
        }
        for e in &self.examples {
            write!(f, "\n  line {} ({}): {}", e.line, e.field, e.reason)?;
        }
        if self.rejected > self.examples.len() as u64 && !self.examples.is_empty() {
            write!(f, "\n  ... and {} more", self.rejected - self.examples.len() as u64)?;
        }
        Ok(())
    }
}
