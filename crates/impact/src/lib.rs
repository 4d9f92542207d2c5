//! aisle-impact: the pure statistics of proving a recommender's value.
//!
//! This crate owns the math behind placements, experiments and offline evaluation of policies:
//!
//! - [`assign`]: deterministic, sticky, salted assignment of units (users, sessions) to variants.
//! - [`stats`]: experiment reports from streaming per-arm sums — ratio metrics with delta-method
//!   standard errors, CUPED variance reduction, fixed-horizon and always-valid (mSPRT) intervals,
//!   sample-size planning and the sample-ratio-mismatch check.
//! - [`interleave`]: team-draft interleaving and its preference statistics.
//! - [`explore`]: exploration policies that report the exact propensity of every pick.
//! - [`diversify`]: maximal marginal relevance over categories with a per-category cap.
//! - [`ope`]: off-policy estimators (IPS, SNIPS, DR) with a round-level bootstrap.
//!
//! It does not own storage, HTTP, configuration or time: the engine keeps the per-unit counters
//! and logs, passes them in, and renders the reports. Everything here is a pure function of its
//! inputs — no I/O, no clock, no environment, no threads — and randomness comes only from a
//! seeded [`aisle_core::rng::SeededRng`] or a caller-supplied [`rand::Rng`], so the same inputs
//! always give the same outputs.

pub mod assign;
pub mod diversify;
pub mod explore;
pub mod interleave;
pub mod ope;
pub mod stats;
