//! Integration tests of aisle-core: the model conformance suite, corrupt artifacts, metric
//! properties, tuning.

mod cold;
mod conformance;
mod corrupt_artifacts;
mod eval_props;
mod topk_props;
mod tune;
