//! aisle-ingest (in progress)
