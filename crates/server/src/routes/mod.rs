//! One module per resource; handlers are thin: parse and validate, call the engine, shape JSON.

pub mod events;
pub mod items;
pub mod models;
pub mod ops;
pub mod recs;
pub mod users;
