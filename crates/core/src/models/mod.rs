//! Every model aisle trains, each behind [`crate::ModelParams`] and [`crate::Recommender`].

pub mod baseline;
pub mod blend;
pub mod bpr;
pub mod clustered;
pub mod content;
pub mod ease;
pub mod factors;
mod features;
mod floats;
pub mod hybrid;
pub mod ials;
pub(crate) mod invariant;
pub mod knn;
pub mod latent;
pub mod linalg;
mod neighbours;
pub mod popularity;
pub(crate) mod quantized;
pub mod registry;
pub mod sasrec;
pub mod session;
mod shards;
mod simd;
pub(crate) mod sparse;
pub mod svd;
pub mod svdpp;
