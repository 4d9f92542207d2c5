//! Percentile bootstrap intervals of the estimators, resampling rounds.
//!
//! obp's `estimate_interval` resamples rows; here whole rounds are resampled (all rows of a round
//! together), because the rows of one shown list share a context and, with cascade propensities,
//! a prefix: they are not independent, and row resampling would understate the variance. Each
//! resample draws as many rounds as the log has, with replacement; the interval is the
//! `α/2` and `1 − α/2` percentiles (linear interpolation between order statistics, numpy's
//! default) of the resampled estimates (Efron & Tibshirani, *An Introduction to the Bootstrap*,
//! 1993, ch. 13). Per-row terms are computed once and summed per round, so a resample costs one
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

/// The estimate and its `(1 − alpha)` percentile bootstrap interval over `resamples` resamples of
/// rounds, seeded by `seed`.
///
/// DR uses `model`, or an [`ItemPositionMean`] fitted on the log when `None`; IPS and SNIPS
/// ignore it. Fails on an invalid log (see [`OpeError`]), zero resamples, `alpha` outside (0, 1),
/// and for SNIPS when every weight of the whole log is 0.
pub fn bootstrap(
    log: &[Logged],
    target: &Target,
    estimator: Estimator,
    resamples: usize,
    alpha: f64,
    seed: u64,
    model: Option<&dyn RewardModel>,
) -> Result<Interval, OpeError> {
    if resamples == 0 {
        return Err(OpeError::NoResamples);
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(OpeError::InvalidAlpha(alpha));
    }
    let fitted;
    let model = match (estimator, model) {
        (Estimator::Dr, Some(model)) => Some(model),
        (Estimator::Dr, None) => {
            fitted = ItemPositionMean::fit(log);
            Some(&fitted as &dyn RewardModel)
        }
        (Estimator::Ips | Estimator::Snips, _) => None,
    };
    let terms = row_terms(log, target, model, None)?;
    let rounds = round_totals(terms);
    let mut all = RoundTotals::default();
    rounds.iter().for_each(|r| all.add(r));
    if estimator == Estimator::Snips && (all.weight.is_nan() || all.weight <= 0.0) {
        return Err(OpeError::NoOverlap);
    }
    let mut rng = aisle_core::rng::seeded(seed);
    let mut estimates: Vec<f64> = (0..resamples)
        .map(|_| {
            let mut sample = RoundTotals::default();
            for _ in 0..rounds.len() {
                sample.add(&rounds[rng.random_range(0..rounds.len())]);
            }
            sample.estimate(estimator)
        })
        .collect();
    estimates.sort_unstable_by(f64::total_cmp);
    Ok(Interval {
        estimate: all.estimate(estimator),
        low: percentile(&estimates, alpha / 2.0),
        high: percentile(&estimates, 1.0 - alpha / 2.0),
    })
}

/// Sums the row terms per round (rows need not be grouped or ordered in the log).
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
