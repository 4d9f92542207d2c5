//! Off-policy estimators: the value of a target policy from logs of another (logging) policy.
//!
//! Definitions follow the Open Bandit Pipeline (Saito et al., "Open Bandit Dataset and Pipeline",
//! NeurIPS 2021 Datasets track; `obp.ope.InverseProbabilityWeighting`,
//! `SelfNormalizedInverseProbabilityWeighting`, `DoublyRobust`). A log row i is one
//! (round, position) of a shown list with its context `xᵢ` (the round), position `kᵢ`, item
//! `aᵢ`, reward `rᵢ` and logging propensity `π₀ᵢ`; `wᵢ = π_e(aᵢ | xᵢ, kᵢ)/π₀ᵢ`.
//!
//! - IPS (Horvitz & Thompson 1952; Precup et al. 2000): `V̂ = (1/N)·Σᵢ rᵢ·wᵢ`, optionally with
//!   `wᵢ` clipped at λ (obp's `lambda_`, Strehl et al. 2010).
//! - SNIPS (Swaminathan & Joachims, "The self-normalized estimator for counterfactual learning",
//!   NeurIPS 2015): `V̂ = Σᵢ rᵢ·wᵢ / Σᵢ wᵢ`.
//! - DR (Dudík, Langford, Li, "Doubly robust policy evaluation and learning", ICML 2011):
//!   `V̂ = (1/N)·Σᵢ [Σ_a π_e(a | xᵢ, kᵢ)·q̂(xᵢ, kᵢ, a) + wᵢ·(rᵢ − q̂(xᵢ, kᵢ, aᵢ))]`.
//!
//! Values are **per row**, i.e. per (round, position). A list-level value (expected clicks per
//! list) is the per-row value × [`rows_per_round`].
//!
//! **Lists.** For a ranked list, log each position with the cascade propensity — the product of
//! the logging policy's conditionals of the picks up to and including that position (see
//! [`crate::explore`]) — and give the target probability of the logged item at position k as the
//! target's probability of the logged prefix up to k (1 or 0 for a deterministic target: 1 iff its
//! first k + 1 items equal the logged ones). IPS over these rows is the reward-interaction IPS of
//! McInerney et al., "Counterfactual evaluation of slate recommendations with sequential reward
//! interactions", KDD 2020 (obp's `SlateRewardInteractionIPS`), unbiased when a position's reward
//! depends only on the items at or above it (cascade and position-based click models).

mod bootstrap;
mod model;
mod target;

pub use bootstrap::{Estimator, Interval, bootstrap, bootstrap_many};
pub use model::{Given, ItemPositionMean, RewardModel};
pub use target::Target;

/// One logged (round, position) of a shown list.
#[derive(Clone, Debug, PartialEq)]
pub struct Logged {
    /// The round (request, context) the list was shown in.
    pub round: u64,
    /// The position in the list, 0 = top.
    pub position: u32,
    /// The item shown.
    pub item: u32,
    /// The observed reward (e.g. 1 for a click).
    pub reward: f64,
    /// π₀: the logging policy's probability of this item at this position as logged, in (0, 1].
    pub propensity: f64,
}

/// Invalid input to an off-policy estimator, naming the offending round and position.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OpeError {
    /// The log has no rows.
    #[error("the log is empty")]
    EmptyLog,
    /// A logging propensity outside (0, 1].
    #[error("round {round} position {position}: propensity {propensity} is not in (0, 1]")]
    InvalidPropensity {
        /// Round of the row.
        round: u64,
        /// Position of the row.
        position: u32,
        /// The propensity given.
        propensity: f64,
    },
    /// A reward that is NaN or infinite.
    #[error("round {round} position {position}: reward {reward} is not finite")]
    NonFiniteReward {
        /// Round of the row.
        round: u64,
        /// Position of the row.
        position: u32,
        /// The reward given.
        reward: f64,
    },
    /// A target probability outside [0, 1].
    #[error("round {round} position {position} item {item}: target probability {prob} is not in [0, 1]")]
    InvalidProbability {
        /// Round of the row.
        round: u64,
        /// Position of the row.
        position: u32,
        /// Item of the row.
        item: u32,
        /// The probability given.
        prob: f64,
    },
    /// A target distribution of one (round, position) summing to more than 1 + 1e-6.
    #[error("round {round} position {position}: target probabilities sum to {total} > 1")]
    DistributionOverOne {
        /// Round of the distribution.
        round: u64,
        /// Position of the distribution.
        position: u32,
        /// The sum of its probabilities.
        total: f64,
    },
    /// The same (round, position, item) given twice.
    #[error("round {round} position {position} item {item}: given more than once")]
    DuplicateRow {
        /// Round of the row.
        round: u64,
        /// Position of the row.
        position: u32,
        /// Item of the row.
        item: u32,
    },
    /// A reward-model value that is NaN or infinite.
    #[error("round {round} position {position} item {item}: reward-model value {value} is not finite")]
    NonFiniteModelValue {
        /// Round of the value.
        round: u64,
        /// Position of the value.
        position: u32,
        /// Item of the value.
        item: u32,
        /// The value.
        value: f64,
    },
    /// A clipping threshold that is NaN or negative.
    #[error("clipping threshold {0} must be ≥ 0")]
    InvalidClip(f64),
    /// Every importance weight is 0: the target never agrees with the log (SNIPS undefined).
    #[error("every importance weight is 0: the target policy never chose a logged item")]
    NoOverlap,
    /// Zero bootstrap resamples.
    #[error("the bootstrap needs at least one resample")]
    NoResamples,
    /// A significance level outside (0, 1).
    #[error("alpha {0} is not in (0, 1)")]
    InvalidAlpha(f64),
}

/// The per-row quantities every estimator is a mean or ratio of.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowTerms {
    /// The row's round.
    pub round: u64,
    /// `wᵢ` (clipped if asked).
    pub weight: f64,
    /// `rᵢ·wᵢ`.
    pub weighted_reward: f64,
    /// The DR term `Σ_a π_e(a)·q̂(a) + wᵢ·(rᵢ − q̂(aᵢ))` (0 without a model).
    pub dr: f64,
}

/// Validates the log and computes each row's terms.
pub(crate) fn row_terms(
    log: &[Logged],
    target: &Target,
    model: Option<&dyn RewardModel>,
    clip: Option<f64>,
) -> Result<Vec<RowTerms>, OpeError> {
    if log.is_empty() {
        return Err(OpeError::EmptyLog);
    }
    if let Some(lambda) = clip
        && (lambda.is_nan() || lambda < 0.0)
    {
        return Err(OpeError::InvalidClip(lambda));
    }
    log.iter()
        .map(|row| {
            let (round, position) = (row.round, row.position);
            if !(row.propensity > 0.0 && row.propensity <= 1.0) {
                return Err(OpeError::InvalidPropensity { round, position, propensity: row.propensity });
            }
            if !row.reward.is_finite() {
                return Err(OpeError::NonFiniteReward { round, position, reward: row.reward });
            }
            let mut weight = target.prob(round, position, row.item) / row.propensity;
            if let Some(lambda) = clip {
                weight = weight.min(lambda);
            }
            let dr = match model {
                Some(model) => dr_term(row, target, model, weight)?,
                None => 0.0,
            };
            Ok(RowTerms { round, weight, weighted_reward: row.reward * weight, dr })
        })
        .collect()
}

fn dr_term(row: &Logged, target: &Target, model: &dyn RewardModel, weight: f64) -> Result<f64, OpeError> {
    let (round, position) = (row.round, row.position);
    let q = |item: u32| {
        let value = model.q(round, position, item);
        if value.is_finite() {
            Ok(value)
        } else {
            Err(OpeError::NonFiniteModelValue { round, position, item, value })
        }
    };
    let mut direct = 0.0;
    for (item, prob) in target.distribution(round, position) {
        if prob > 0.0 {
            direct += prob * q(item)?;
        }
    }
    Ok(direct + weight * (row.reward - q(row.item)?))
}

/// Inverse propensity scoring, exactly obp's IPW without clipping: `(1/N)·Σᵢ rᵢ·wᵢ`.
pub fn ips(log: &[Logged], target: &Target) -> Result<f64, OpeError> {
    let terms = row_terms(log, target, None, None)?;
    Ok(mean(terms.iter().map(|t| t.weighted_reward)))
}

/// IPS with the weights clipped at `lambda` (obp's `lambda_`): `(1/N)·Σᵢ rᵢ·min(wᵢ, λ)`.
pub fn ips_clipped(log: &[Logged], target: &Target, lambda: f64) -> Result<f64, OpeError> {
    let terms = row_terms(log, target, None, Some(lambda))?;
    Ok(mean(terms.iter().map(|t| t.weighted_reward)))
}

/// Self-normalised IPS (obp's SNIPW): `Σᵢ rᵢ·wᵢ / Σᵢ wᵢ`.
///
/// Fails with [`OpeError::NoOverlap`] when every weight is 0.
pub fn snips(log: &[Logged], target: &Target) -> Result<f64, OpeError> {
    let terms = row_terms(log, target, None, None)?;
    let total_weight: f64 = terms.iter().map(|t| t.weight).sum();
    if total_weight > 0.0 {
        Ok(terms.iter().map(|t| t.weighted_reward).sum::<f64>() / total_weight)
    } else {
        Err(OpeError::NoOverlap)
    }
}

/// Doubly robust (obp's DoublyRobust without clipping):
/// `(1/N)·Σᵢ [Σ_a π_e(a | xᵢ, kᵢ)·q̂(xᵢ, kᵢ, a) + wᵢ·(rᵢ − q̂(xᵢ, kᵢ, aᵢ))]`.
pub fn dr(log: &[Logged], target: &Target, model: &impl RewardModel) -> Result<f64, OpeError> {
    let terms = row_terms(log, target, Some(model), None)?;
    Ok(mean(terms.iter().map(|t| t.dr)))
}

/// Rows per round (the mean list length): multiply a per-row value by this for a per-list value.
/// Returns 0 for an empty log.
pub fn rows_per_round(log: &[Logged]) -> f64 {
    if log.is_empty() {
        return 0.0;
    }
    let mut rounds: Vec<u64> = log.iter().map(|row| row.round).collect();
    rounds.sort_unstable();
    rounds.dedup();
    log.len() as f64 / rounds.len() as f64
}

fn mean(values: impl ExactSizeIterator<Item = f64>) -> f64 {
    let n = values.len();
    if n == 0 { 0.0 } else { values.sum::<f64>() / n as f64 }
}

#[cfg(test)]
mod tests;
