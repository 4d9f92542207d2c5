//! Integration tests of aisle-core: the model conformance suite and metric properties.

mod conformance;
mod eval_props;
mod topk_props;
