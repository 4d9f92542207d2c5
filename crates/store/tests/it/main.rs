//! Store integration tests.

mod conformance;
mod impact;
mod postgres;
mod sqlite;
