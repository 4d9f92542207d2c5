//! Offline evaluation: splits, rating and ranking metrics.
