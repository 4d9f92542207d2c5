//! Experiment statistics: distributions, streaming sums, the difference report, sample size, SRM.
//!
//! Each submodule cites its source and states its formulas; everything is re-exported here.

mod difference;
mod dist;
mod srm;
mod sums;

pub use difference::{
    DiffOptions, Difference, TAU_GRID, difference, msprt_half_width, msprt_mixture_half_width, msprt_p_value,
    required_units,
};
pub use dist::{chi2_sf, normal_cdf, normal_pdf, normal_quantile};
pub use srm::{SRM_THRESHOLD, Srm, srm};
pub use sums::{Estimate, Moments, Sums, Unit, estimate};
