//! Import benchmark (in progress).
fn main() {}
