//! Integration tests of aisle-core: the model conformance suite and metric properties.

mod eval_props;
