//! Streaming sufficient statistics of an experiment arm and the delta-method estimate.
//!
//! A metric is a ratio of sums over units, `R = Σyᵢ / Σxᵢ = ȳ/x̄` (y = numerator, x = denominator;
//! x = 1 for per-unit means). Its variance by the delta method (Deng, Knoblich, Lu, "Applying the
//! delta method in metric analytics", KDD 2018, eq. 4):
//!
//! `Var(R) ≈ (1/n)·(s_yy − 2R·s_xy + R²·s_xx) / x̄²`
//!
//! with sample (co)variances `s_ab = (Σab − n·ā·b̄)/(n − 1)`. Everything is computed from running
//! sums, so the engine can aggregate units one by one and merge partial aggregates. Raw sums lose
//! precision when a metric's mean is huge relative to its spread (about `mean²/var · 1e-16`
//! relative); for counts, CTRs and revenues of realistic scale this is far below the noise.

/// One unit's (user's, session's) values of a metric.
///
/// For a ratio metric such as CTR, `numerator` = clicks and `denominator` = impressions; for a
/// per-unit mean (revenue per user, conversion) `denominator` = 1. `covariate` is the unit's
/// pre-experiment value of the same metric, used by CUPED (0 when the unit has none).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Unit {
    /// The unit's numerator (e.g. clicks, revenue).
    pub numerator: f64,
    /// The unit's denominator (e.g. impressions; 1 for per-unit means).
    pub denominator: f64,
    /// The unit's pre-experiment value of the metric (0 if none).
    pub covariate: f64,
}

/// Running sums of an arm's units: everything a report needs, mergeable across shards.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sums {
    /// Number of units.
    pub n: u64,
    /// Σ numerator.
    pub sum_num: f64,
    /// Σ denominator.
    pub sum_den: f64,
    /// Σ numerator².
    pub sum_num_sq: f64,
    /// Σ denominator².
    pub sum_den_sq: f64,
    /// Σ numerator·denominator.
    pub sum_num_den: f64,
    /// Σ covariate.
    pub sum_cov: f64,
    /// Σ covariate².
    pub sum_cov_sq: f64,
    /// Σ covariate·numerator.
    pub sum_cov_num: f64,
    /// Σ covariate·denominator.
    pub sum_cov_den: f64,
}

impl Sums {
    /// Adds one unit.
    pub fn add(&mut self, u: &Unit) {
        let (y, x, c) = (u.numerator, u.denominator, u.covariate);
        self.n += 1;
        self.sum_num += y;
        self.sum_den += x;
        self.sum_num_sq += y * y;
        self.sum_den_sq += x * x;
        self.sum_num_den += y * x;
        self.sum_cov += c;
        self.sum_cov_sq += c * c;
        self.sum_cov_num += c * y;
        self.sum_cov_den += c * x;
    }

    /// Adds another aggregate (e.g. another shard's) to this one.
    pub fn merge(&mut self, other: &Sums) {
        self.n += other.n;
        self.sum_num += other.sum_num;
        self.sum_den += other.sum_den;
        self.sum_num_sq += other.sum_num_sq;
        self.sum_den_sq += other.sum_den_sq;
        self.sum_num_den += other.sum_num_den;
        self.sum_cov += other.sum_cov;
        self.sum_cov_sq += other.sum_cov_sq;
        self.sum_cov_num += other.sum_cov_num;
        self.sum_cov_den += other.sum_cov_den;
    }

    /// The numerator/denominator pair as [`Moments`] (y = numerator, x = denominator).
    pub fn ratio_moments(&self) -> Moments {
        Moments {
            n: self.n as f64,
            sum_y: self.sum_num,
            sum_yy: self.sum_num_sq,
            sum_x: self.sum_den,
            sum_xx: self.sum_den_sq,
            sum_xy: self.sum_num_den,
        }
    }

    /// Whether every sum is finite (NaN or infinite inputs poison a report).
    pub(crate) fn is_finite(&self) -> bool {
        [
            self.sum_num,
            self.sum_den,
            self.sum_num_sq,
            self.sum_den_sq,
            self.sum_num_den,
            self.sum_cov,
            self.sum_cov_sq,
            self.sum_cov_num,
            self.sum_cov_den,
        ]
        .iter()
        .all(|v| v.is_finite())
    }
}

/// The sufficient statistics of n pairs (yᵢ, xᵢ): counts, sums, sums of squares and cross products.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Moments {
    /// Number of pairs.
    pub n: f64,
    /// Σy.
    pub sum_y: f64,
    /// Σy².
    pub sum_yy: f64,
    /// Σx.
    pub sum_x: f64,
    /// Σx².
    pub sum_xx: f64,
    /// Σxy.
    pub sum_xy: f64,
}

impl Moments {
    /// ȳ = Σy/n (0 when n = 0).
    pub fn mean_y(&self) -> f64 {
        if self.n > 0.0 { self.sum_y / self.n } else { 0.0 }
    }

    /// x̄ = Σx/n (0 when n = 0).
    pub fn mean_x(&self) -> f64 {
        if self.n > 0.0 { self.sum_x / self.n } else { 0.0 }
    }

    /// s_yy = (Σy² − n·ȳ²)/(n − 1) (0 when n < 2).
    pub fn var_y(&self) -> f64 {
        sample_cov(self.n, self.sum_y, self.sum_y, self.sum_yy).max(0.0)
    }

    /// s_xx = (Σx² − n·x̄²)/(n − 1) (0 when n < 2).
    pub fn var_x(&self) -> f64 {
        sample_cov(self.n, self.sum_x, self.sum_x, self.sum_xx).max(0.0)
    }

    /// s_xy = (Σxy − n·x̄·ȳ)/(n − 1) (0 when n < 2).
    pub fn cov_xy(&self) -> f64 {
        sample_cov(self.n, self.sum_x, self.sum_y, self.sum_xy)
    }
}

/// The sample covariance `(Σab − Σa·Σb/n)/(n − 1)` from sums; 0 when n < 2.
pub(crate) fn sample_cov(n: f64, sum_a: f64, sum_b: f64, sum_ab: f64) -> f64 {
    if n < 2.0 {
        return 0.0;
    }
    (sum_ab - sum_a * sum_b / n) / (n - 1.0)
}

/// A metric's value and its standard error.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// The ratio of means `R = Σnum/Σden`.
    pub value: f64,
    /// The delta-method standard error of `R`.
    pub se: f64,
}

/// The arm's metric `R = Σnum/Σden` and its delta-method standard error
/// `√((s_yy − 2R·s_xy + R²·s_xx) / (n·x̄²))`.
///
/// Returns `None` when n < 2, Σden = 0 or any sum is not finite.
pub fn estimate(s: &Sums) -> Option<Estimate> {
    let arm = Arm::new(s)?;
    Some(Estimate { value: arm.ratio, se: (arm.var_l / arm.n).sqrt() })
}

/// One arm's derived quantities, in terms of the linearised unit value
/// `lᵢ = (yᵢ − R·xᵢ)/x̄` whose mean is zero and whose variance over n is Var(R).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arm {
    /// Units, as a float.
    pub n: f64,
    /// R = Σy/Σx.
    pub ratio: f64,
    /// c̄, the covariate mean.
    pub mean_cov: f64,
    /// Var(l) = (s_yy − 2R·s_xy + R²·s_xx)/x̄².
    pub var_l: f64,
    /// Cov(l, c) = (s_yc − R·s_xc)/x̄.
    pub cov_lc: f64,
    /// Var(c) = s_cc.
    pub var_c: f64,
}

impl Arm {
    /// The arm's quantities, or `None` when n < 2, Σden = 0 or any sum is not finite.
    pub fn new(s: &Sums) -> Option<Arm> {
        if s.n < 2 || s.sum_den == 0.0 || !s.is_finite() {
            return None;
        }
        let n = s.n as f64;
        let ratio = s.sum_num / s.sum_den;
        let mean_x = s.sum_den / n;
        let s_yy = sample_cov(n, s.sum_num, s.sum_num, s.sum_num_sq);
        let s_xx = sample_cov(n, s.sum_den, s.sum_den, s.sum_den_sq);
        let s_xy = sample_cov(n, s.sum_num, s.sum_den, s.sum_num_den);
        let s_yc = sample_cov(n, s.sum_num, s.sum_cov, s.sum_cov_num);
        let s_xc = sample_cov(n, s.sum_den, s.sum_cov, s.sum_cov_den);
        let s_cc = sample_cov(n, s.sum_cov, s.sum_cov, s.sum_cov_sq);
        // Rounding can push a variance of near-constant data a hair below zero.
        let var_l = ((s_yy - 2.0 * ratio * s_xy + ratio * ratio * s_xx) / (mean_x * mean_x)).max(0.0);
        let arm = Arm {
            n,
            ratio,
            mean_cov: s.sum_cov / n,
            var_l,
            cov_lc: (s_yc - ratio * s_xc) / mean_x,
            var_c: s_cc.max(0.0),
        };
        let values = [arm.ratio, arm.mean_cov, arm.var_l, arm.cov_lc, arm.var_c];
        values.iter().all(|v| v.is_finite()).then_some(arm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(units: &[(f64, f64, f64)]) -> Sums {
        let mut s = Sums::default();
        for &(numerator, denominator, covariate) in units {
            s.add(&Unit { numerator, denominator, covariate });
        }
        s
    }

    #[test]
    fn hand_computed_ratio_estimate() {
        // Units (y, x): (1,2), (0,1), (2,4), (1,3). n = 4, Σy = 4, Σx = 10: ȳ = 1, x̄ = 2.5, R = 0.4.
        // s_yy = (6 − 4·1²)/3 = 2/3; s_xx = (30 − 4·2.5²)/3 = 5/3; s_xy = (13 − 4·2.5·1)/3 = 1.
        // s_yy − 2R·s_xy + R²·s_xx = 2/3 − 0.8 + 0.16·5/3 = 2/15; Var(R) = (2/15)/(4·6.25) = 2/375.
        let s = sums(&[(1.0, 2.0, 1.0), (0.0, 1.0, 0.0), (2.0, 4.0, 1.0), (1.0, 3.0, 2.0)]);
        let e = estimate(&s).expect("valid arm");
        assert!((e.value - 0.4).abs() < 1e-12);
        assert!((e.se - (2.0_f64 / 375.0).sqrt()).abs() < 1e-12);
        let m = s.ratio_moments();
        assert!((m.mean_y() - 1.0).abs() < 1e-12);
        assert!((m.mean_x() - 2.5).abs() < 1e-12);
        assert!((m.var_y() - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.var_x() - 5.0 / 3.0).abs() < 1e-12);
        assert!((m.cov_xy() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn mean_metric_se_is_sd_over_root_n() {
        // y = 1, 2, 3, 4 with x = 1: mean 2.5, s² = (30 − 4·6.25)/3 = 5/3, se = √(5/12).
        let s = sums(&[(1.0, 1.0, 0.0), (2.0, 1.0, 0.0), (3.0, 1.0, 0.0), (4.0, 1.0, 0.0)]);
        let e = estimate(&s).expect("valid arm");
        assert!((e.value - 2.5).abs() < 1e-12);
        assert!((e.se - (5.0_f64 / 12.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn merge_equals_adding_one_by_one() {
        let units = [(1.0, 2.0, 0.5), (0.0, 1.0, 0.0), (2.0, 4.0, 1.0), (1.0, 3.0, 2.0), (5.0, 6.0, 1.0)];
        let all = sums(&units);
        let mut left = sums(&units[..2]);
        left.merge(&sums(&units[2..]));
        assert_eq!(left, all);
    }

    #[test]
    fn degenerate_arms_have_no_estimate() {
        assert_eq!(estimate(&Sums::default()), None);
        assert_eq!(estimate(&sums(&[(1.0, 1.0, 0.0)])), None);
        assert_eq!(estimate(&sums(&[(1.0, 0.0, 0.0), (1.0, 0.0, 0.0)])), None);
        assert_eq!(estimate(&sums(&[(f64::NAN, 1.0, 0.0), (1.0, 1.0, 0.0)])), None);
        let constant = estimate(&sums(&[(1.0, 1.0, 0.0), (1.0, 1.0, 0.0)])).expect("valid arm");
        assert_eq!(constant, Estimate { value: 1.0, se: 0.0 });
    }
}
