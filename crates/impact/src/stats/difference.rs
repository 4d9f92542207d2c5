//! The treatment-versus-control report: difference, CUPED, fixed-horizon and always-valid intervals.
//!
//! - **Difference.** `Δ = R_t − R_c` with `se = √(se_t² + se_c²)` (independent arms), the normal
//!   (Welch, large-sample) two-sided p-value `2·Φ(−|Δ|/se)` and interval `Δ ± z_{1−α/2}·se`.
//! - **CUPED.** Deng, Xu, Kohavi, Walker, "Improving the sensitivity of online controlled
//!   experiments by utilizing pre-experiment data", WSDM 2013. On the linearised unit value
//!   `lᵢ = (yᵢ − R·xᵢ)/x̄` (delta method) and the pre-period covariate `cᵢ`, one coefficient for
//!   both arms, the within-arm pooled regression slope
//!   `θ = Σ_arms (n−1)·cov(l, c) / Σ_arms (n−1)·var(c)`
//!   (centring within arms keeps the treatment effect out of θ). Each arm's metric becomes
//!   `R − θ·(c̄_arm − c̄_pooled)` and the variance of its mean `var(l − θc)/n =
//!   (var(l) − 2θ·cov(l, c) + θ²·var(c))/n`.
//! - **Always-valid interval.** The mixture sequential probability ratio test of Johari, Koomen,
//!   Pekelis, Walsh, "Always valid inference: continuous monitoring of A/B tests", Operations
//!   Research 70(3), 2022, with a normal mixture N(0, τ²) over the effect: with `V = se²`,
//!   `Λ = √(V/(V + τ²))·exp(τ²Δ²/(2V(V + τ²)))`, the always-valid p-value is `min(1, 1/Λ)` and
//!   the interval is `Δ ± √((V(V + τ²)/τ²)·(2·ln(1/α) + ln((V + τ²)/V)))`. Validity across looks
//!   comes from keeping the running minimum of the p-value (equivalently the running intersection
//!   of the intervals); that state is the caller's, since this crate holds none.
//! - **Sample size.** `n per arm = 2·(z_{1−α/2} + z_power)²·σ²/mde²` (two-sided test, equal arms).

use super::dist::{normal_cdf, normal_quantile};
use super::sums::{Arm, Sums};

/// Options of [`difference`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct DiffOptions {
    /// Significance level of the two-sided test and of both intervals, in (0, 1). Default 0.05.
    pub alpha: f64,
    /// Apply CUPED when the covariate varies. Default true.
    pub cuped: bool,
    /// The mSPRT mixture standard deviation τ: the effect size one expects (in metric units).
    ///
    /// `None` (the default) mixes over a grid of effect sizes, [`TAU_GRID`] times the control
    /// metric `|R_c|` (or times the standard error when the control is 0): from a 1% to a 1000%
    /// lift, as one cannot know in advance whether a change moves a metric by 2% (a ranking
    /// tweak) or tenfold (a recommender against popular items). An average of test martingales
    /// is a test martingale, so the interval stays always valid; it costs at most a factor
    /// `ln(len)` in the threshold against the best single τ in hindsight.
    pub msprt_tau: Option<f64>,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions { alpha: 0.05, cuped: true, msprt_tau: None }
    }
}

/// A treatment-versus-control comparison of one metric.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Difference {
    /// The control metric (CUPED-adjusted when `cuped`).
    pub control: f64,
    /// The treatment metric (CUPED-adjusted when `cuped`).
    pub treatment: f64,
    /// `treatment − control`.
    pub absolute: f64,
    /// `absolute / control`; 0 when the control is 0 (no meaningful relative change).
    pub relative: f64,
    /// Standard error of `absolute`.
    pub se: f64,
    /// Lower end of the fixed-horizon (1 − α) interval of `absolute`.
    pub ci_low: f64,
    /// Upper end of the fixed-horizon (1 − α) interval of `absolute`.
    pub ci_high: f64,
    /// Two-sided fixed-horizon p-value.
    pub p_value: f64,
    /// Whether CUPED was applied (requested and the covariate varies).
    pub cuped: bool,
    /// `1 − adjusted variance / unadjusted variance`; 0 when CUPED was not applied.
    pub variance_reduction: f64,
    /// Lower end of the always-valid (mSPRT) (1 − α) interval at this look.
    pub seq_ci_low: f64,
    /// Upper end of the always-valid (mSPRT) (1 − α) interval at this look.
    pub seq_ci_high: f64,
}

/// Compares treatment with control (see the module docs for every formula).
///
/// Returns `None` when either arm has fewer than 2 units, Σden = 0 or a non-finite sum, when
/// `alpha` is not in (0, 1), or when `msprt_tau` is given but not finite and positive. When the
/// standard error is 0 (constant data) the p-value is 1 if the difference is 0 and 0 otherwise,
/// and both intervals collapse onto the difference.
pub fn difference(control: &Sums, treatment: &Sums, opts: &DiffOptions) -> Option<Difference> {
    if !(opts.alpha > 0.0 && opts.alpha < 1.0) {
        return None;
    }
    if let Some(tau) = opts.msprt_tau
        && !(tau.is_finite() && tau > 0.0)
    {
        return None;
    }
    let c = Arm::new(control)?;
    let t = Arm::new(treatment)?;
    let unadjusted_var = c.var_l / c.n + t.var_l / t.n;
    let adjusted = if opts.cuped { cuped(control, treatment, &c, &t) } else { None };
    let (control_value, treatment_value, var) = match adjusted {
        Some(a) => (a.control, a.treatment, a.var),
        None => (c.ratio, t.ratio, unadjusted_var),
    };
    let variance_reduction = match adjusted {
        Some(a) if unadjusted_var > 0.0 => 1.0 - a.var / unadjusted_var,
        _ => 0.0,
    };
    let absolute = treatment_value - control_value;
    let se = var.sqrt();
    let z = normal_quantile(1.0 - opts.alpha / 2.0);
    let p_value = if se > 0.0 {
        2.0 * normal_cdf(-(absolute / se).abs())
    } else if absolute == 0.0 {
        1.0
    } else {
        0.0
    };
    let seq_half = match opts.msprt_tau {
        Some(tau) => msprt_half_width(se, tau, opts.alpha),
        None => {
            let scale = if control_value != 0.0 { control_value.abs() } else { se };
            let taus: Vec<f64> = TAU_GRID.iter().map(|k| k * scale).collect();
            msprt_mixture_half_width(se, &taus, opts.alpha)
        }
    };
    Some(Difference {
        control: control_value,
        treatment: treatment_value,
        absolute,
        relative: if control_value != 0.0 { absolute / control_value } else { 0.0 },
        se,
        ci_low: absolute - z * se,
        ci_high: absolute + z * se,
        p_value,
        cuped: adjusted.is_some(),
        variance_reduction,
        seq_ci_low: absolute - seq_half,
        seq_ci_high: absolute + seq_half,
    })
}

/// CUPED-adjusted arm metrics and the variance of their difference.
#[derive(Clone, Copy, Debug)]
struct Adjusted {
    control: f64,
    treatment: f64,
    var: f64,
}

/// CUPED with one pooled θ, or `None` when the covariate does not vary (θ undefined).
fn cuped(control: &Sums, treatment: &Sums, c: &Arm, t: &Arm) -> Option<Adjusted> {
    let dof = c.n + t.n - 2.0;
    let var_c = ((c.n - 1.0) * c.var_c + (t.n - 1.0) * t.var_c) / dof;
    let cov_lc = ((c.n - 1.0) * c.cov_lc + (t.n - 1.0) * t.cov_lc) / dof;
    // A variance at rounding level of the covariate's square means the covariate is constant.
    let mean_sq = (control.sum_cov_sq + treatment.sum_cov_sq) / (c.n + t.n);
    if var_c.is_nan() || var_c <= 1e-12 * mean_sq {
        return None;
    }
    let theta = cov_lc / var_c;
    let pooled_mean = (control.sum_cov + treatment.sum_cov) / (c.n + t.n);
    let arm_var = |a: &Arm| (a.var_l - 2.0 * theta * a.cov_lc + theta * theta * a.var_c).max(0.0) / a.n;
    let adjusted = Adjusted {
        control: c.ratio - theta * (c.mean_cov - pooled_mean),
        treatment: t.ratio - theta * (t.mean_cov - pooled_mean),
        var: arm_var(c) + arm_var(t),
    };
    [adjusted.control, adjusted.treatment, adjusted.var].iter().all(|v| v.is_finite()).then_some(adjusted)
}

/// Half-width of the mSPRT always-valid interval:
/// `√((V(V + τ²)/τ²)·(2·ln(1/α) + ln((V + τ²)/V)))` with `V = se²`.
///
/// Returns 0 when `se` is 0 (no uncertainty) and +∞ when `tau` is not positive or any argument is
/// not finite or `alpha` is not in (0, 1) (no evidence can be claimed).
pub fn msprt_half_width(se: f64, tau: f64, alpha: f64) -> f64 {
    if se == 0.0 {
        return 0.0;
    }
    if !(se.is_finite() && se > 0.0 && tau.is_finite() && tau > 0.0 && alpha > 0.0 && alpha < 1.0) {
        return f64::INFINITY;
    }
    let v = se * se;
    let t2 = tau * tau;
    ((v * (v + t2) / t2) * (2.0 * (1.0 / alpha).ln() + (t2 / v).ln_1p())).sqrt()
}

/// The effect sizes, relative to the control metric, the default mSPRT mixes over (equal
/// weights).
pub const TAU_GRID: [f64; 10] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];

/// `ln Λ_τ(h)` of the normal-mixture SPRT at distance `h` from the estimate.
fn log_lambda(h: f64, v: f64, tau: f64) -> f64 {
    let t2 = tau * tau;
    -0.5 * (t2 / v).ln_1p() + t2 * h * h / (2.0 * v * (v + t2))
}

/// Half-width of the always-valid interval of an equal-weight mixture of normal-mixture SPRTs
/// over `taus`: the `h` where `mean_τ Λ_τ(h) = 1/α` (the mean is increasing in `h`, found by
/// bisection to 1e-12 relative). Same degenerate cases as [`msprt_half_width`]; a `tau` that is
/// not finite and positive is left out (none left: +∞).
pub fn msprt_mixture_half_width(se: f64, taus: &[f64], alpha: f64) -> f64 {
    if se == 0.0 {
        return 0.0;
    }
    let taus: Vec<f64> = taus.iter().copied().filter(|t| t.is_finite() && *t > 0.0).collect();
    if !(se.is_finite() && se > 0.0 && alpha > 0.0 && alpha < 1.0) || taus.is_empty() {
        return f64::INFINITY;
    }
    let v = se * se;
    let target = (1.0 / alpha).ln();
    let log_mean = |h: f64| {
        let logs: Vec<f64> = taus.iter().map(|&t| log_lambda(h, v, t)).collect();
        let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        top + (logs.iter().map(|l| (l - top).exp()).sum::<f64>() / taus.len() as f64).ln()
    };
    // mean ≥ Λ_τ/len for each τ, so the single-τ half-width at α/len bounds h from above.
    let k = taus.len() as f64;
    let mut hi = taus.iter().map(|&t| msprt_half_width(se, t, alpha / k)).fold(f64::INFINITY, f64::min);
    if !hi.is_finite() {
        return f64::INFINITY;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if log_mean(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
    }
    hi
}

/// The mSPRT p-value at one look: `min(1, 1/Λ)` with
/// `Λ = √(V/(V + τ²))·exp(τ²·estimate²/(2V(V + τ²)))`, `V = se²`.
///
/// The always-valid p-value of a running experiment is the minimum of this over all looks so far.
/// Returns 1 (no evidence) when `se` or `tau` is not finite and positive or `estimate` is not finite.
pub fn msprt_p_value(estimate: f64, se: f64, tau: f64) -> f64 {
    if !(estimate.is_finite() && se.is_finite() && se > 0.0 && tau.is_finite() && tau > 0.0) {
        return 1.0;
    }
    let v = se * se;
    let t2 = tau * tau;
    let log_lambda = -0.5 * (t2 / v).ln_1p() + t2 * estimate * estimate / (2.0 * v * (v + t2));
    (-log_lambda).exp().min(1.0)
}

/// Units per arm to detect an absolute effect `mde` with a two-sided level-`alpha` test at the
/// given `power`: `2·(z_{1−α/2} + z_power)²·σ²/mde²`, with `σ²` the per-unit variance of the
/// metric (for a ratio metric, the variance of the linearised value `(y − R·x)/x̄`).
///
/// Not rounded (take the ceiling). Returns +∞ when `mde` is 0, and NaN when `alpha` or `power` is
/// not in (0, 1) or the variance is negative or not finite.
pub fn required_units(baseline_var_per_unit: f64, mde: f64, alpha: f64, power: f64) -> f64 {
    let valid = alpha > 0.0
        && alpha < 1.0
        && power > 0.0
        && power < 1.0
        && baseline_var_per_unit.is_finite()
        && baseline_var_per_unit >= 0.0
        && mde.is_finite();
    if !valid {
        return f64::NAN;
    }
    if mde == 0.0 {
        return f64::INFINITY;
    }
    let z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power);
    2.0 * z * z * baseline_var_per_unit / (mde * mde)
}

#[cfg(test)]
mod tests {
    use super::super::sums::Unit;
    use super::*;

    fn sums(units: &[(f64, f64, f64)]) -> Sums {
        let mut s = Sums::default();
        for &(numerator, denominator, covariate) in units {
            s.add(&Unit { numerator, denominator, covariate });
        }
        s
    }

    fn control() -> Sums {
        sums(&[(1.0, 2.0, 1.0), (0.0, 1.0, 0.0), (2.0, 4.0, 1.0), (1.0, 3.0, 2.0)])
    }

    fn treatment() -> Sums {
        sums(&[(2.0, 2.0, 1.0), (1.0, 2.0, 1.0), (1.0, 3.0, 1.0), (2.0, 3.0, 3.0)])
    }

    #[test]
    fn hand_computed_difference_without_cuped() {
        // Control: R = 4/10 = 0.4, Var(R) = 2/375 (see sums.rs).
        // Treatment (y, x): (2,2), (1,2), (1,3), (2,3): Σy = 6, Σx = 10, R = 0.6, x̄ = 2.5.
        // l = (y − 0.6x)/2.5 = 0.32, −0.08, −0.32, 0.08; var(l) = 0.2176/3; Var(R) = 0.2176/12.
        let opts = DiffOptions { cuped: false, ..DiffOptions::default() };
        let d = difference(&control(), &treatment(), &opts).expect("valid arms");
        let var: f64 = 2.0 / 375.0 + 0.2176 / 12.0;
        assert!((d.absolute - 0.2).abs() < 1e-12);
        assert!((d.relative - 0.5).abs() < 1e-12);
        assert!((d.se - var.sqrt()).abs() < 1e-12);
        assert!((d.ci_low - (0.2 - 1.959_963_984_540_054 * var.sqrt())).abs() < 1e-12);
        assert!((d.p_value - 2.0 * normal_cdf(-0.2 / var.sqrt())).abs() < 1e-12);
        assert!(!d.cuped);
        assert_eq!(d.variance_reduction, 0.0);
    }

    #[test]
    fn hand_computed_cuped() {
        // Control l = (y − 0.4x)/2.5 = 0.08, −0.16, 0.16, −0.08; c = 1, 0, 1, 2, c̄ = 1:
        //   var(l) = 0.064/3, cov(l, c) = ((−0.16)(−1) + (−0.08)(1))/3 = 0.08/3, var(c) = 2/3.
        // Treatment l = 0.32, −0.08, −0.32, 0.08; c = 1, 1, 1, 3, c̄ = 1.5, c − c̄ = −.5, −.5, −.5, 1.5:
        //   var(l) = 0.2176/3, cov(l, c) = (−0.16 + 0.04 + 0.16 + 0.12)/3 = 0.16/3, var(c) = 3/3 = 1.
        // θ = (3·0.08/3 + 3·0.16/3)/(3·2/3 + 3·1) = 0.24/5 = 0.048; pooled c̄ = 10/8 = 1.25.
        // R_c' = 0.4 − 0.048·(1 − 1.25) = 0.412; R_t' = 0.6 − 0.048·(1.5 − 1.25) = 0.588.
        // var(l − θc): control (0.064 − 2·0.048·0.08 + 0.048²·2)/3 = 0.060928/3,
        //              treatment (0.2176 − 2·0.048·0.16 + 0.048²·3)/3 = 0.209152/3.
        // se² = (0.060928 + 0.209152)/(3·4) = 0.27008/12; unadjusted se² = (0.064 + 0.2176)/12.
        let d = difference(&control(), &treatment(), &DiffOptions::default()).expect("valid arms");
        assert!(d.cuped);
        assert!((d.control - 0.412).abs() < 1e-12);
        assert!((d.treatment - 0.588).abs() < 1e-12);
        assert!((d.absolute - 0.176).abs() < 1e-12);
        assert!((d.se - (0.27008 / 12.0_f64).sqrt()).abs() < 1e-12);
        assert!((d.variance_reduction - (1.0 - 0.27008 / 0.2816)).abs() < 1e-12);
        assert!((d.relative - 0.176 / 0.412).abs() < 1e-12);
    }

    #[test]
    fn sequential_interval_matches_formula_and_is_wider() {
        let one = DiffOptions { msprt_tau: Some(0.0412), ..DiffOptions::default() };
        let d = difference(&control(), &treatment(), &one).expect("valid arms");
        // τ = 0.0412 (10% of the unadjusted control).
        let v = d.se * d.se;
        let t2 = 0.0412_f64 * 0.0412;
        let half = ((v * (v + t2) / t2) * (2.0 * 20.0_f64.ln() + ((v + t2) / v).ln())).sqrt();
        assert!((d.seq_ci_high - d.absolute - half).abs() < 1e-12);
        assert!((d.absolute - d.seq_ci_low - half).abs() < 1e-12);
        assert!(d.seq_ci_high > d.ci_high && d.seq_ci_low < d.ci_low);
        // The default mixes over TAU_GRID × |control|.
        let mixed = difference(&control(), &treatment(), &DiffOptions::default()).expect("valid arms");
        let taus: Vec<f64> = TAU_GRID.iter().map(|k| k * mixed.control.abs()).collect();
        let half = msprt_mixture_half_width(mixed.se, &taus, 0.05);
        assert!((mixed.seq_ci_high - mixed.absolute - half).abs() < 1e-12);
        assert!(mixed.seq_ci_high > mixed.ci_high);
    }

    #[test]
    fn msprt_p_value_and_interval_agree() {
        // The interval excludes 0 exactly when the mSPRT p-value is at most α.
        let (se, tau, alpha) = (0.01, 0.02, 0.05);
        let half = msprt_half_width(se, tau, alpha);
        assert!((msprt_p_value(half, se, tau) - alpha).abs() < 1e-12);
        assert!(msprt_p_value(half * 1.01, se, tau) < alpha);
        assert!(msprt_p_value(half * 0.99, se, tau) > alpha);
        // At estimate 0, Λ = √(V/(V + τ²)) < 1, so p = 1.
        assert_eq!(msprt_p_value(0.0, se, tau), 1.0);
        assert_eq!(msprt_p_value(1.0, 0.0, tau), 1.0);
        assert_eq!(msprt_half_width(0.0, tau, alpha), 0.0);
        assert_eq!(msprt_half_width(se, 0.0, alpha), f64::INFINITY);
    }

    #[test]
    fn required_units_hand_value() {
        // σ² = 1, mde = 0.1, α = 0.05, power = 0.8: 2·(1.959963984540054 + 0.8416212335729143)²/0.01
        // = 200·2.8015852181129683² = 1569.7759...
        let want = 200.0 * (1.959_963_984_540_054_f64 + 0.841_621_233_572_914_3).powi(2);
        assert!((required_units(1.0, 0.1, 0.05, 0.8) - want).abs() < 1e-8);
        assert!((want - 1_569.775_9).abs() < 1e-3);
        assert_eq!(required_units(1.0, 0.0, 0.05, 0.8), f64::INFINITY);
        assert!(required_units(1.0, 0.1, 0.0, 0.8).is_nan());
        assert!(required_units(-1.0, 0.1, 0.05, 0.8).is_nan());
    }

    #[test]
    fn constant_covariate_skips_cuped() {
        let c = sums(&[(1.0, 1.0, 3.0), (2.0, 1.0, 3.0), (0.0, 1.0, 3.0)]);
        let t = sums(&[(1.0, 1.0, 3.0), (3.0, 1.0, 3.0), (2.0, 1.0, 3.0)]);
        let d = difference(&c, &t, &DiffOptions::default()).expect("valid arms");
        assert!(!d.cuped);
        assert_eq!(d.variance_reduction, 0.0);
        assert!((d.absolute - 1.0).abs() < 1e-12);
    }

    #[test]
    fn invalid_inputs_give_none() {
        let bad_alpha = DiffOptions { alpha: 1.0, ..DiffOptions::default() };
        assert_eq!(difference(&control(), &treatment(), &bad_alpha), None);
        let bad_tau = DiffOptions { msprt_tau: Some(-1.0), ..DiffOptions::default() };
        assert_eq!(difference(&control(), &treatment(), &bad_tau), None);
        assert_eq!(difference(&Sums::default(), &treatment(), &DiffOptions::default()), None);
    }

    #[test]
    fn zero_control_and_zero_variance_are_safe() {
        let zero = sums(&[(0.0, 1.0, 0.0), (0.0, 1.0, 0.0)]);
        let d = difference(&zero, &zero, &DiffOptions::default()).expect("valid arms");
        assert_eq!(d.relative, 0.0);
        assert_eq!(d.p_value, 1.0);
        assert_eq!((d.ci_low, d.ci_high, d.seq_ci_low, d.seq_ci_high), (0.0, 0.0, 0.0, 0.0));
        let one = sums(&[(1.0, 1.0, 0.0), (1.0, 1.0, 0.0)]);
        let d = difference(&zero, &one, &DiffOptions::default()).expect("valid arms");
        assert_eq!((d.relative, d.p_value), (0.0, 0.0));
    }

    #[test]
    fn the_mixture_interval_is_the_single_one_for_one_tau_and_adapts_to_the_effect_scale() {
        let (se, alpha) = (0.01, 0.05);
        for tau in [0.001, 0.02, 1.0] {
            let one = msprt_half_width(se, tau, alpha);
            let mixed = msprt_mixture_half_width(se, &[tau], alpha);
            assert!((one - mixed).abs() < 1e-9 * one, "{tau}: {one} vs {mixed}");
        }
        // A grid is never much wider than its best member, and far narrower than its worst.
        let taus = [0.001, 0.01, 0.1, 1.0];
        let mixed = msprt_mixture_half_width(se, &taus, alpha);
        let each: Vec<f64> = taus.iter().map(|&t| msprt_half_width(se, t, alpha)).collect();
        let best = each.iter().copied().fold(f64::INFINITY, f64::min);
        let worst = each.iter().copied().fold(0.0, f64::max);
        let bound = taus.iter().map(|&t| msprt_half_width(se, t, alpha / 4.0)).fold(f64::INFINITY, f64::min);
        assert!(mixed >= best && mixed <= bound && mixed < worst / 2.0, "{mixed} {best} {bound} {worst}");
        // At the half-width the mixture's likelihood ratio is exactly 1/α.
        let mean: f64 = taus.iter().map(|&t| log_lambda(mixed, se * se, t).exp()).sum::<f64>() / 4.0;
        assert!((mean * alpha - 1.0).abs() < 1e-9, "{mean}");
        assert_eq!(msprt_mixture_half_width(0.0, &taus, alpha), 0.0);
        assert_eq!(msprt_mixture_half_width(se, &[], alpha), f64::INFINITY);
    }
}
