//! Integration tests of the `aisle` binary: real processes, real files in a temporary folder.

mod commands;
mod export;
mod models;
mod ope;
mod replicas;
mod server;
mod simulate;
mod trust;
