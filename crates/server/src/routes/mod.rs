//! One module per resource; handlers are thin: parse and validate, call the engine, shape JSON.

pub mod analytics;
pub mod events;
pub mod experiments;
pub mod items;
pub mod models;
pub mod ops;
pub mod placements;
pub mod recs;
pub mod users;
