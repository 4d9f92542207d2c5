//! Integration tests of aisle-impact: simulations that hold the statistics to their promises.

mod aa;
mod ab;
mod interleave_sim;
mod ope_sim;
mod population;
