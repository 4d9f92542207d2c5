//! Bootstrap intervals of the estimators, resampling rounds (bias-corrected and accelerated
//! percentiles).
//!
//! obp's `estimate_interval` resamples rows; here whole rounds are resampled (all rows of a round
//! together), because the rows of one shown list share a context and, with cascade propensities,
//! a prefix: they are not independent, and row resampling would understate the variance. Each
//! resample draws as many rounds as the log has, with replacement; the interval is the BCa
//! percentiles (Efron 1987; Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 14:
//! the `α/2` and `1 − α/2` levels moved by a bias correction and an acceleration, so that the
//! skew importance weights give the estimators does not make the interval cover less than it
//! claims), with linear interpolation between order statistics (numpy's default). Per-row terms are computed once and summed per round, so a resample costs one
//! pass over the rounds.

use rand::Rng;

use super::model::ItemPositionMean;
use super::{Logged, OpeError, RewardModel, RowTerms, Target, row_terms};

/// Which estimator to bootstrap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimator {
    /// [`super::ips`].
    Ips,
    /// [`super::snips`].
    Snips,
    /// [`super::dr`].
    Dr,
}

/// A point estimate with a percentile bootstrap interval.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Interval {
    /// The estimate on the whole log.
    pub estimate: f64,
    /// The `α/2` percentile of the resampled estimates.
    pub low: f64,
    /// The `1 − α/2` percentile of the resampled estimates.
    pub high: f64,
}

/// One round's sums of per-row terms.
#[derive(Clone, Copy, Debug, Default)]
struct RoundTotals {
    rows: f64,
    weight: f64,
    weighted_reward: f64,
    dr: f64,
}

impl RoundTotals {
    fn add(&mut self, other: &RoundTotals) {
        self.rows += other.rows;
        self.weight += other.weight;
        self.weighted_reward += other.weighted_reward;
        self.dr += other.dr;
    }

    /// The estimator on these totals; SNIPS of a sample with zero total weight is 0.
    fn estimate(&self, estimator: Estimator) -> f64 {
        match estimator {
            Estimator::Ips => self.weighted_reward / self.rows,
            Estimator::Snips if self.weight > 0.0 => self.weighted_reward / self.weight,
            Estimator::Snips => 0.0,
            Estimator::Dr => self.dr / self.rows,
        }
    }
}

/// The interval of one estimator (see [`bootstrap_many`], which this calls).
pub fn bootstrap(
    log: &[Logged],
    target: &Target,
    estimator: Estimator,
    resamples: usize,
    alpha: f64,
    seed: u64,
    model: Option<&dyn RewardModel>,
) -> Result<Interval, OpeError> {
    let mut all = bootstrap_many(log, target, &[estimator], resamples, alpha, seed, model)?;
    all.pop().ok_or(OpeError::EmptyLog)
}

/// Percentile bootstrap intervals of several estimators from the same resampled rounds (one
/// draw per resample serves them all), with their full-sample estimates, in the order asked.
///
/// Resample `b` draws its rounds from `rng::stream(seed, b)`, so the result is the same on any
/// number of threads (resamples run in parallel). DR uses `model`, or the mean reward per
/// (item, position) fitted on `log` when it is `None`.
///
/// Errors: no resamples, `alpha` not in (0, 1), a row the estimators refuse, or — for SNIPS — no
/// weight at all (`NoOverlap`).
pub fn bootstrap_many(
    log: &[Logged],
    target: &Target,
    estimators: &[Estimator],
    resamples: usize,
    alpha: f64,
    seed: u64,
    model: Option<&dyn RewardModel>,
) -> Result<Vec<Interval>, OpeError> {
    use rayon::prelude::*;
    if resamples == 0 {
        return Err(OpeError::NoResamples);
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(OpeError::InvalidAlpha(alpha));
    }
    let fitted;
    let model = match (estimators.contains(&Estimator::Dr), model) {
        (true, Some(model)) => Some(model),
        (true, None) => {
            fitted = ItemPositionMean::fit(log);
            Some(&fitted as &dyn RewardModel)
        }
        (false, _) => None,
    };
    let terms = row_terms(log, target, model, None)?;
    let rounds = round_totals(terms);
    let mut all = RoundTotals::default();
    rounds.iter().for_each(|r| all.add(r));
    if estimators.contains(&Estimator::Snips) && (all.weight.is_nan() || all.weight <= 0.0) {
        return Err(OpeError::NoOverlap);
    }
    let samples: Vec<RoundTotals> = (0..resamples as u64)
        .into_par_iter()
        .map(|b| {
            let mut rng = aisle_core::rng::stream(seed, b);
            let mut sample = RoundTotals::default();
            for _ in 0..rounds.len() {
                sample.add(&rounds[rng.random_range(0..rounds.len())]);
            }
            sample
        })
        .collect();
    Ok(estimators
        .iter()
        .map(|&estimator| {
            let mut estimates: Vec<f64> = samples.iter().map(|s| s.estimate(estimator)).collect();
            estimates.sort_unstable_by(f64::total_cmp);
            let estimate = all.estimate(estimator);
            let (lo, hi) = bca_levels(&estimates, estimate, acceleration(&rounds, &all, estimator), alpha);
            Interval { estimate, low: percentile(&estimates, lo), high: percentile(&estimates, hi) }
        })
        .collect())
}

/// The BCa percentile levels (Efron 1987, "Better bootstrap confidence intervals"): the bias
/// correction `z₀ = Φ⁻¹(share of resampled estimates below the estimate)` and the acceleration
/// `a` move the plain percentiles `α/2`, `1 − α/2` to `Φ(z₀ + (z₀ + z)/(1 − a(z₀ + z)))`. Importance
/// weights make these estimators skewed, and plain percentiles then cover less than they claim.
/// Falls back to the plain percentiles when a correction is not finite.
fn bca_levels(sorted: &[f64], estimate: f64, a: f64, alpha: f64) -> (f64, f64) {
    use crate::stats::{normal_cdf, normal_quantile};
    let plain = (alpha / 2.0, 1.0 - alpha / 2.0);
    let below = sorted.partition_point(|x| *x < estimate) as f64;
    let ties = sorted.partition_point(|x| *x <= estimate) as f64 - below;
    let share = (below + ties / 2.0) / sorted.len() as f64;
    if !(share > 0.0 && share < 1.0 && a.is_finite()) {
        return plain;
    }
    let z0 = normal_quantile(share);
    let level = |q: f64| {
        let z = z0 + normal_quantile(q);
        normal_cdf(z0 + z / (1.0 - a * z))
    };
    let (lo, hi) = (level(plain.0), level(plain.1));
    if lo.is_finite() && hi.is_finite() && lo < hi { (lo, hi) } else { plain }
}

/// BCa's acceleration from each round's influence on the estimator (its linearisation, the
/// infinitesimal jackknife): `a = Σu³ / (6·(Σu²)^{3/2})`, with `u_j` the round's numerator minus
/// the estimate times its denominator (rows for IPS and DR, weight for SNIPS).
fn acceleration(rounds: &[RoundTotals], all: &RoundTotals, estimator: Estimator) -> f64 {
    let theta = all.estimate(estimator);
    let (mut s2, mut s3) = (0.0, 0.0);
    for r in rounds {
        let u = match estimator {
            Estimator::Ips => r.weighted_reward - theta * r.rows,
            Estimator::Snips => r.weighted_reward - theta * r.weight,
            Estimator::Dr => r.dr - theta * r.rows,
        };
        s2 += u * u;
        s3 += u * u * u;
    }
    if s2 > 0.0 { s3 / (6.0 * s2.powf(1.5)) } else { 0.0 }
}

fn round_totals(mut terms: Vec<RowTerms>) -> Vec<RoundTotals> {
    terms.sort_by_key(|t| t.round);
    terms
        .chunk_by(|a, b| a.round == b.round)
        .map(|rows| {
            let mut totals = RoundTotals::default();
            for row in rows {
                totals.add(&RoundTotals {
                    rows: 1.0,
                    weight: row.weight,
                    weighted_reward: row.weighted_reward,
                    dr: row.dr,
                });
            }
            totals
        })
        .collect()
}

/// The `q` quantile of sorted values, interpolating linearly between order statistics.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let position = q * last as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(last);
    let fraction = position - below as f64;
    sorted[below] + fraction * (sorted[above] - sorted[below])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&values, 0.0), 1.0);
        assert_eq!(percentile(&values, 1.0), 5.0);
        assert_eq!(percentile(&values, 0.5), 3.0);
        assert!((percentile(&values, 0.125) - 1.5).abs() < 1e-12);
        assert_eq!(percentile(&[7.0], 0.3), 7.0);
    }
}
