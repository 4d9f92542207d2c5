//! Server integration tests: every route in-process (`oneshot`) over a real SQLite store file.

mod auth;
mod browser;
mod common;
mod data;
mod hostile;
mod impact;
mod openapi;
mod recs;
mod validation;
