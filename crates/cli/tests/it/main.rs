//! Integration tests of the `aisle` binary: real processes, real files in a temporary folder.

mod commands;
mod models;
mod replicas;
mod server;
mod trust;
