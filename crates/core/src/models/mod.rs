//! Every model aisle trains, each behind [`crate::ModelParams`] and [`crate::Recommender`].

pub mod baseline;
pub mod factors;
pub mod knn;
pub mod linalg;
pub mod popularity;
pub mod registry;
pub mod svd;
pub mod svdpp;
