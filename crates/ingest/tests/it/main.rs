//! Integration tests of aisle-ingest.
