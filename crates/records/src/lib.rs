//! aisle-records: the records every layer shares, and their one validator.
//!
//! Owns the catalog item, the user and the event as aisle imports, stores, serves and generates
//! them ([`ItemRecord`], [`UserRecord`], [`EventRecord`]), and the checks every way in applies to
//! them — `POST /v1/events` and the catalog routes, a Kafka topic, `aisle import` and the demo
//! seed alike ([`validate`]): ids, text, attribute maps, event values per kind, timestamps
//! ([`EventLimits`]). One record type and one validator, so that what one door refuses no other
//! door lets in.
//!
//! Does not own: storage (aisle-store), dense indexes and models (aisle-core), the wire shapes
//! that truly differ from a record (the API's `ItemIn` with its optional id, the event JSON with
//! its type name and RFC 3339 time), or what an event is worth to a model (the engine's weights).

mod records;
pub mod validate;

pub use records::{EventRecord, ItemRecord, UserRecord};
pub use validate::{EventLimits, Invalid};
