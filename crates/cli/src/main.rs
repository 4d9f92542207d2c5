//! The aisle command.
fn main() {}
