//! aisle-ingest: getting data into aisle.
//!
//! Owns decoding and validation of event and catalog files — MovieLens 100k / 1M / latest,
//! GroupLens and RecBole item files, general CSV/TSV and JSONL events, the shop's JSONL catalog —
//! through one [`Importer`] that maps external string ids to dense indexes shared across files
//! and reports every row it rejects or drops ([`ImportReport`]). Also owns the synthetic demo
//! shop ([`synth`]): a seeded generator of a catalog, shoppers and their event log, with the
//! ground-truth preferences that produced them. And, with the `kafka` feature, the Kafka event
//! source (`kafka`): a consumer group that hands decoded batches to a `kafka::Sink` and commits
//! offsets only after the sink's durable write (at-least-once, malformed messages as dead
//! letters). Without it the parsers and the generator build with no rdkafka and no tokio.
//!
//! Does not own: models, evaluation or splits (aisle-core), storage or what an event means to the
//! engine (the engine implements the sink), the REST API, or argument parsing (the CLI). It never
//! prints; callers show the reports.

mod catalog;
mod columnar;
mod delimited;
mod dense;
mod events;
mod fields;
mod format;
mod importer;
mod items;
mod jsonl;
#[cfg(feature = "kafka")]
pub mod kafka;
mod lines;
mod report;
pub mod synth;
mod users;

pub use aisle_records::ItemRecord;
pub use catalog::Catalog;
pub use columnar::{ColumnKind, ParquetWriter, Put};
pub use dense::read_dense_matrix;
pub use events::{Event, EventBatch, Origin, to_interactions, to_sequences};
pub use fields::MAX_ID_BYTES;
pub use format::{Column, ColumnMap, DelimitedOptions, EventFormat, Header, ImportOptions, ItemFormat};
pub use importer::{Chunk, Importer, rows_in};
pub use lines::MAX_LINE_BYTES;
pub use report::{ImportError, ImportReport, RowError};
