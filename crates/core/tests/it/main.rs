//! Integration tests of aisle-core: the model conformance suite, metric properties, tuning.

mod cold;
mod conformance;
mod eval_props;
mod topk_props;
mod tune;
