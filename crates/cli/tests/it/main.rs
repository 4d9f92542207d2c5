//! Integration tests of the aisle binary.
