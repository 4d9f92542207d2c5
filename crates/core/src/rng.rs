//! The one seeded random number generator every model and split uses.
//!
//! ChaCha8 is portable and stable across platforms and crate versions, so the same seed gives the
//! same model everywhere.

use rand::SeedableRng;

/// The seeded RNG type used throughout aisle.
pub type SeededRng = rand_chacha::ChaCha8Rng;

/// A generator for `seed`.
pub fn seeded(seed: u64) -> SeededRng {
    SeededRng::seed_from_u64(seed)
}

/// A generator for `seed` on a separate, reproducible stream (e.g. one per worker or per fold).
pub fn stream(seed: u64, stream: u64) -> SeededRng {
    let mut rng = SeededRng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}
