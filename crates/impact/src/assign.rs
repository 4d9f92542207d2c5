//! Deterministic, sticky, salted assignment of units to variants.
//!
//! A unit (a user or session id) is hashed together with an experiment salt:
//! `h = first 8 bytes, big-endian, of SHA-256(salt ‖ 0x1F ‖ unit)`. The bucket is the top 53 bits
//! of `h` as a fraction, `b = (h >> 11) / 2^53 ∈ [0, 1)`, and the variant is the one whose share
//! of the cumulative weights contains `b`. This is the salted-hash scheme of Kohavi, Tang and Xu,
//! *Trustworthy Online Controlled Experiments* (2020), ch. 14: the same (salt, unit) always gets
//! the same variant (sticky), and different salts give independent assignments (no carry-over
//! between experiments). SHA-256 makes it stable across platforms, versions and languages.

use sha2::{Digest, Sha256};

/// The byte that separates salt and unit, so `("ab", "c")` and `("a", "bc")` hash differently.
const SEPARATOR: u8 = 0x1F;

/// The first 8 bytes (big-endian) of `SHA-256(salt ‖ 0x1F ‖ unit)`.
pub fn unit_hash(salt: &str, unit: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update([SEPARATOR]);
    hasher.update(unit.as_bytes());
    let digest = hasher.finalize();
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(head)
}

/// The unit's bucket in `[0, 1)`: `(unit_hash >> 11) / 2^53`, exact in an `f64`.
pub fn bucket(salt: &str, unit: &str) -> f64 {
    const TWO_POW_53: f64 = 9_007_199_254_740_992.0;
    (unit_hash(salt, unit) >> 11) as f64 / TWO_POW_53
}

/// The variant whose cumulative weight share contains the unit's [`bucket`].
///
/// Variant `i` gets the buckets `[W_{i−1}/W, W_i/W)` where `W_i` is the sum of the first `i + 1`
/// weights and `W` their total; a zero weight gets no buckets. Returns `None` when `weights` is
/// empty, any weight is not finite or is negative, or all weights are zero.
pub fn pick(salt: &str, unit: &str, weights: &[f64]) -> Option<usize> {
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
        return None;
    }
    let total: f64 = weights.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    let target = bucket(salt, unit) * total;
    let mut cumulative = 0.0;
    for (index, weight) in weights.iter().enumerate() {
        cumulative += weight;
        if *weight > 0.0 && target < cumulative {
            return Some(index);
        }
    }
    // Rounding can leave `target` a hair above the last partial sum: the last variant with weight.
    weights.iter().rposition(|w| *w > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_output() {
        assert_eq!(unit_hash("exp-1", "user-42"), unit_hash("exp-1", "user-42"));
        assert_eq!(pick("exp-1", "user-42", &[1.0, 1.0]), pick("exp-1", "user-42", &[1.0, 1.0]));
        let b = bucket("exp-1", "user-42");
        assert!((0.0..1.0).contains(&b));
    }

    #[test]
    fn golden_value_pins_the_hash() {
        // SHA-256("exp-1" 0x1F "user-42") computed once; a change of hashing breaks assignments.
        assert_eq!(unit_hash("exp-1", "user-42"), GOLDEN_HASH);
        assert_eq!(unit_hash("", ""), GOLDEN_EMPTY);
    }

    // Cross-checked with Python: int.from_bytes(sha256(b"exp-1\x1fuser-42").digest()[:8], "big").
    const GOLDEN_HASH: u64 = 0xdbae_7c34_4da3_d192;
    const GOLDEN_EMPTY: u64 = 0xffe6_79bb_831c_95b6;

    #[test]
    fn separator_matters() {
        assert_ne!(unit_hash("ab", "c"), unit_hash("a", "bc"));
    }

    #[test]
    fn halves_are_even() {
        let n = 100_000;
        let first = (0..n).filter(|i| pick("salt", &format!("u{i}"), &[1.0, 1.0]) == Some(0)).count();
        let share = first as f64 / n as f64;
        assert!((share - 0.5).abs() < 0.01, "share of variant 0 = {share}");
    }

    #[test]
    fn one_to_three_split() {
        let n = 100_000;
        let first = (0..n).filter(|i| pick("salt", &format!("u{i}"), &[1.0, 3.0]) == Some(0)).count();
        let share = first as f64 / n as f64;
        assert!((share - 0.25).abs() < 0.01, "share of variant 0 = {share}");
    }

    #[test]
    fn salts_decorrelate() {
        // Under independence the two assignments agree on half of the units.
        let n = 20_000;
        let same = (0..n)
            .filter(|i| {
                let unit = format!("u{i}");
                pick("salt-a", &unit, &[1.0, 1.0]) == pick("salt-b", &unit, &[1.0, 1.0])
            })
            .count();
        let share = same as f64 / n as f64;
        assert!((share - 0.5).abs() < 0.02, "agreement between salts = {share}");
    }

    #[test]
    fn invalid_weights_give_none() {
        assert_eq!(pick("s", "u", &[]), None);
        assert_eq!(pick("s", "u", &[0.0, 0.0]), None);
        assert_eq!(pick("s", "u", &[1.0, -1.0]), None);
        assert_eq!(pick("s", "u", &[1.0, f64::NAN]), None);
        assert_eq!(pick("s", "u", &[1.0, f64::INFINITY]), None);
        assert_eq!(pick("s", "u", &[f64::MAX, f64::MAX]), None);
    }

    #[test]
    fn zero_weight_variants_get_nobody() {
        for i in 0..1000 {
            let got = pick("s", &format!("u{i}"), &[0.0, 2.0, 0.0]);
            assert_eq!(got, Some(1));
        }
    }
}
