//! The sample-ratio-mismatch check.
//!
//! Pearson's χ² goodness-of-fit test of the observed unit counts per arm against the configured
//! weights: `χ² = Σᵢ (oᵢ − eᵢ)²/eᵢ` with `eᵢ = N·wᵢ/Σw`, on `k − 1` degrees of freedom for the `k`
//! arms with positive weight. A mismatch is flagged at p < 0.001, the threshold of Fabijan et al.,
//! "Diagnosing sample ratio mismatch in online controlled experiments", KDD 2019: an experiment
//! fails the check only when its assignment or logging is very likely broken.

use super::dist::chi2_sf;

/// The p-value below which [`srm`] reports a mismatch.
pub const SRM_THRESHOLD: f64 = 0.001;

/// The result of a sample-ratio-mismatch check.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Srm {
    /// Pearson's χ² statistic.
    pub chi2: f64,
    /// `P(χ²_{k−1} > chi2)`.
    pub p_value: f64,
    /// `p_value < 0.001`.
    pub mismatch: bool,
}

/// Checks the observed counts per arm against the assignment weights.
///
/// Returns `None` when the slices differ in length, fewer than two arms have positive weight, a
/// weight is negative or not finite, or no unit was observed. Units observed in an arm of weight 0
/// make χ² infinite (p = 0, a mismatch).
pub fn srm(observed: &[u64], weights: &[f64]) -> Option<Srm> {
    if observed.len() != weights.len() || weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
        return None;
    }
    let total_weight: f64 = weights.iter().sum();
    let arms = weights.iter().filter(|w| **w > 0.0).count();
    let total: u64 = observed.iter().try_fold(0u64, |acc, o| acc.checked_add(*o))?;
    if arms < 2 || total == 0 || !total_weight.is_finite() {
        return None;
    }
    let n = total as f64;
    let mut chi2 = 0.0;
    for (&o, &w) in observed.iter().zip(weights) {
        let expected = n * w / total_weight;
        if expected > 0.0 {
            let gap = o as f64 - expected;
            chi2 += gap * gap / expected;
        } else if o > 0 {
            chi2 = f64::INFINITY;
        }
    }
    let df = u32::try_from(arms - 1).unwrap_or(u32::MAX);
    let p_value = chi2_sf(chi2, df);
    Some(Srm { chi2, p_value, mismatch: p_value < SRM_THRESHOLD })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_balanced_case() {
        // 5000 vs 5200 at 1:1: N = 10200, e = 5100 each; χ² = 100²/5100 + 100²/5100 = 20000/5100
        // = 3.9216; p = P(χ²₁ > 3.9216) = 2·Φ(−√3.9216) ≈ 0.0477: suspicious, not a mismatch.
        let s = srm(&[5000, 5200], &[1.0, 1.0]).expect("valid counts");
        assert!((s.chi2 - 20000.0 / 5100.0).abs() < 1e-12);
        let want = 2.0 * crate::stats::normal_cdf(-(20000.0_f64 / 5100.0).sqrt());
        assert!((s.p_value - want).abs() < 1e-12);
        assert!((s.p_value - 0.0477).abs() < 1e-4);
        assert!(!s.mismatch);
    }

    #[test]
    fn hand_computed_mismatch() {
        // 5000 vs 5500 at 1:1: e = 5250; χ² = 2·250²/5250 = 23.81; p ≈ 1.1e-6 < 0.001.
        let s = srm(&[5000, 5500], &[1.0, 1.0]).expect("valid counts");
        assert!((s.chi2 - 125_000.0 / 5250.0).abs() < 1e-12);
        assert!(s.p_value < 2e-6 && s.p_value > 5e-7);
        assert!(s.mismatch);
    }

    #[test]
    fn uneven_weights_and_three_arms() {
        // 1:3 split with 250/750 observed is a perfect fit.
        let s = srm(&[250, 750], &[1.0, 3.0]).expect("valid counts");
        assert_eq!((s.chi2, s.p_value, s.mismatch), (0.0, 1.0, false));
        // 3 arms, e = 100 each: χ² = (10² + 0 + 10²)/100 = 2; df = 2 so p = exp(−1).
        let s = srm(&[110, 100, 90], &[1.0, 1.0, 1.0]).expect("valid counts");
        assert!((s.chi2 - 2.0).abs() < 1e-12);
        assert!((s.p_value - (-1.0_f64).exp()).abs() < 1e-12);
    }

    #[test]
    fn invalid_inputs() {
        assert_eq!(srm(&[1, 2], &[1.0]), None);
        assert_eq!(srm(&[0, 0], &[1.0, 1.0]), None);
        assert_eq!(srm(&[5, 5], &[1.0, 0.0]), None);
        assert_eq!(srm(&[5, 5], &[1.0, f64::NAN]), None);
        assert_eq!(srm(&[u64::MAX, 1], &[1.0, 1.0]), None);
        let s = srm(&[5, 5, 1], &[1.0, 1.0, 0.0]).expect("valid counts");
        assert!(s.mismatch && s.chi2.is_infinite());
    }
}
