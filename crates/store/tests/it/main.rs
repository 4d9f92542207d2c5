//! Store integration tests.

mod conformance;
mod postgres;
mod sqlite;
