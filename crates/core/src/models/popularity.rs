//! Popularity
