//! Store integration tests.

mod conformance;
mod sqlite;
