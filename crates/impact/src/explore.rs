//! Exploration policies that report the exact propensity of every pick.
//!
//! A policy fills `n` slots from a candidate pool one slot at a time, without replacement, and
//! reports for each pick its conditional probability given the earlier picks — the logging
//! propensity off-policy estimators divide by (Li, Chu, Langford, Schapire, "A contextual-bandit
//! approach to personalized news article recommendation", WWW 2010; Swaminathan et al.,
//! "Off-policy evaluation for slate recommendation", NeurIPS 2017). The probability of a whole
//! ordered list is the product of its picks' propensities.
//!
//! - **Greedy**: the best remaining candidate, probability 1.
//! - **ε-greedy** (Sutton & Barto, *Reinforcement Learning*, 2nd ed., §2.2): with probability
//!   1 − ε the best remaining candidate, otherwise one uniformly from the `m` remaining (possibly
//!   the best again): `P(i) = (1 − ε)·[i is best] + ε/m`.
//! - **Plackett–Luce** (Plackett 1975; Luce 1959): softmax sampling without replacement,
//!   `P(i) = exp(sᵢ/T) / Σ_{j remaining} exp(sⱼ/T)`, computed after subtracting the remaining
//!   maximum so no exponential overflows.
//!
//! "Best" is the highest score, ties to the lower index; the free functions [`greedy`] and
//! [`epsilon`] take the pool as already ranked (index 0 best), which is the same thing for scores
//! sorted in descending order.

/// One filled slot: the candidate's index and its conditional probability given earlier slots.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Pick {
    /// Index of the candidate in the pool.
    pub index: usize,
    /// `P(this pick | earlier picks)` under the policy, in (0, 1].
    pub propensity: f64,
}

/// An invalid policy parameter or pool.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExploreError {
    /// ε outside [0, 1] (or NaN).
    #[error("epsilon must be in [0, 1], got {0}")]
    InvalidEpsilon(f64),
    /// A temperature that is not finite and positive.
    #[error("temperature must be finite and positive, got {0}")]
    InvalidTemperature(f64),
    /// A score that is NaN or infinite.
    #[error("score at index {index} is not finite")]
    NonFiniteScore {
        /// Index of the offending score.
        index: usize,
    },
}

/// An exploration policy over a scored pool.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Policy {
    /// Always the best remaining candidate.
    Greedy,
    /// ε-greedy: the best remaining with probability 1 − ε, else uniform over the remaining.
    Epsilon {
        /// Exploration probability ε in [0, 1].
        eps: f64,
    },
    /// Plackett–Luce sampling from softmax(score / temperature).
    PlackettLuce {
        /// Softmax temperature, finite and positive; small is nearly greedy, large nearly uniform.
        temperature: f64,
    },
}

impl Policy {
    /// Checks the policy's parameter.
    pub fn validate(&self) -> Result<(), ExploreError> {
        match *self {
            Policy::Greedy => Ok(()),
            Policy::Epsilon { eps } => check_eps(eps),
            Policy::PlackettLuce { temperature } => check_temperature(temperature),
        }
    }

    /// Fills `min(n, scores.len())` slots and reports each pick's propensity.
    pub fn sample(
        &self,
        scores: &[f64],
        n: usize,
        rng: &mut impl rand::Rng,
    ) -> Result<Vec<Pick>, ExploreError> {
        self.validate()?;
        check_scores(scores)?;
        let mut taken = vec![false; scores.len()];
        let mut picks = Vec::with_capacity(n.min(scores.len()));
        for _ in 0..n.min(scores.len()) {
            let pick = match *self {
                Policy::Greedy => greedy_step(scores, &taken),
                Policy::Epsilon { eps } => epsilon_step(&taken, eps, best_by_score(scores, &taken), rng),
                Policy::PlackettLuce { temperature } => plackett_luce_step(scores, &taken, temperature, rng),
            };
            let Some(pick) = pick else { break };
            taken[pick.index] = true;
            picks.push(pick);
        }
        Ok(picks)
    }

    /// `P(index | the candidates in taken were picked before)`: what this policy would have given
    /// the next slot after the logged prefix `taken`. Equals the propensity [`Policy::sample`]
    /// reports for the same prefix and pick.
    ///
    /// Returns 0 when `index` is out of range or already taken, when a score is not finite or when
    /// the policy's parameter is invalid (an invalid policy picks nothing).
    pub fn conditional(&self, scores: &[f64], taken: &[usize], index: usize) -> f64 {
        if self.validate().is_err() || check_scores(scores).is_err() {
            return 0.0;
        }
        let mut mask = vec![false; scores.len()];
        for &t in taken {
            if let Some(slot) = mask.get_mut(t) {
                *slot = true;
            }
        }
        if mask.get(index).is_none_or(|t| *t) {
            return 0.0;
        }
        match *self {
            Policy::Greedy => {
                if best_by_score(scores, &mask) == Some(index) {
                    1.0
                } else {
                    0.0
                }
            }
            Policy::Epsilon { eps } => {
                let remaining = mask.iter().filter(|t| !**t).count();
                epsilon_probability(eps, remaining, best_by_score(scores, &mask) == Some(index))
            }
            Policy::PlackettLuce { temperature } => {
                let (weights, total) = softmax_weights(scores, &mask, temperature);
                weights[index] / total
            }
        }
    }
}

/// The top `min(n, len)` of a pool ranked best first, each with propensity 1.
pub fn greedy(len: usize, n: usize) -> Vec<Pick> {
    (0..n.min(len)).map(|index| Pick { index, propensity: 1.0 }).collect()
}

/// ε-greedy over a pool of `scores_len` candidates ranked best first (index 0 best).
pub fn epsilon(
    scores_len: usize,
    n: usize,
    eps: f64,
    rng: &mut impl rand::Rng,
) -> Result<Vec<Pick>, ExploreError> {
    check_eps(eps)?;
    let mut taken = vec![false; scores_len];
    let mut picks = Vec::with_capacity(n.min(scores_len));
    for _ in 0..n.min(scores_len) {
        let best = taken.iter().position(|t| !*t);
        let Some(pick) = epsilon_step(&taken, eps, best, rng) else { break };
        taken[pick.index] = true;
        picks.push(pick);
    }
    Ok(picks)
}

/// Plackett–Luce sampling of `min(n, scores.len())` slots from softmax(score / temperature).
pub fn plackett_luce(
    scores: &[f64],
    n: usize,
    temperature: f64,
    rng: &mut impl rand::Rng,
) -> Result<Vec<Pick>, ExploreError> {
    Policy::PlackettLuce { temperature }.sample(scores, n, rng)
}

fn check_eps(eps: f64) -> Result<(), ExploreError> {
    if (0.0..=1.0).contains(&eps) { Ok(()) } else { Err(ExploreError::InvalidEpsilon(eps)) }
}

fn check_temperature(temperature: f64) -> Result<(), ExploreError> {
    if temperature.is_finite() && temperature > 0.0 {
        Ok(())
    } else {
        Err(ExploreError::InvalidTemperature(temperature))
    }
}

fn check_scores(scores: &[f64]) -> Result<(), ExploreError> {
    match scores.iter().position(|s| !s.is_finite()) {
        Some(index) => Err(ExploreError::NonFiniteScore { index }),
        None => Ok(()),
    }
}

/// The highest-scoring candidate not taken, ties to the lower index.
fn best_by_score(scores: &[f64], taken: &[bool]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, s) in scores.iter().enumerate() {
        if !taken[i] && best.is_none_or(|b| *s > scores[b]) {
            best = Some(i);
        }
    }
    best
}

fn greedy_step(scores: &[f64], taken: &[bool]) -> Option<Pick> {
    best_by_score(scores, taken).map(|index| Pick { index, propensity: 1.0 })
}

/// `(1 − ε)·[best] + ε/m`.
fn epsilon_probability(eps: f64, remaining: usize, is_best: bool) -> f64 {
    let uniform = eps / remaining as f64;
    if is_best { (1.0 - eps) + uniform } else { uniform }
}

fn epsilon_step(taken: &[bool], eps: f64, best: Option<usize>, rng: &mut impl rand::Rng) -> Option<Pick> {
    let best = best?;
    let remaining = taken.iter().filter(|t| !**t).count();
    let index = if rng.random::<f64>() < eps {
        let k = rng.random_range(0..remaining);
        taken.iter().enumerate().filter(|(_, t)| !**t).nth(k).map_or(best, |(i, _)| i)
    } else {
        best
    };
    Some(Pick { index, propensity: epsilon_probability(eps, remaining, index == best) })
}

/// Unnormalised softmax weights `exp((sᵢ − max)/T)` of the candidates not taken (0 for taken ones)
/// and their sum, in index order (so sampling and [`Policy::conditional`] agree to the bit).
fn softmax_weights(scores: &[f64], taken: &[bool], temperature: f64) -> (Vec<f64>, f64) {
    let max =
        scores.iter().zip(taken).filter(|(_, t)| !**t).map(|(s, _)| *s).fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = scores
        .iter()
        .zip(taken)
        .map(|(s, t)| if *t { 0.0 } else { ((s - max) / temperature).exp() })
        .collect();
    let total = weights.iter().sum();
    (weights, total)
}

fn plackett_luce_step(
    scores: &[f64],
    taken: &[bool],
    temperature: f64,
    rng: &mut impl rand::Rng,
) -> Option<Pick> {
    let (weights, total) = softmax_weights(scores, taken, temperature);
    // The remaining maximum has weight 1, so total ≥ 1 whenever a candidate remains.
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    let target = rng.random::<f64>() * total;
    let mut cumulative = 0.0;
    let mut chosen = None;
    for (i, w) in weights.iter().enumerate() {
        if *w > 0.0 {
            cumulative += w;
            chosen = Some(i);
            if target < cumulative {
                break;
            }
        }
    }
    chosen.map(|index| Pick { index, propensity: weights[index] / total })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aisle_core::rng::seeded;

    use super::*;

    const SCORES: [f64; 4] = [2.0, 1.0, 0.5, 0.0];

    #[test]
    fn greedy_is_the_top_n() {
        assert_eq!(greedy(5, 3).iter().map(|p| p.index).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(greedy(2, 3).len(), 2);
        let picks = Policy::Greedy.sample(&[0.1, 0.9, 0.5, 0.9], 3, &mut seeded(1)).expect("valid");
        assert_eq!(picks.iter().map(|p| p.index).collect::<Vec<_>>(), vec![1, 3, 2]);
        assert!(picks.iter().all(|p| p.propensity == 1.0));
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        let mut rng = seeded(1);
        assert_eq!(epsilon(3, 2, 1.5, &mut rng), Err(ExploreError::InvalidEpsilon(1.5)));
        assert!(epsilon(3, 2, f64::NAN, &mut rng).is_err());
        assert_eq!(plackett_luce(&SCORES, 2, 0.0, &mut rng), Err(ExploreError::InvalidTemperature(0.0)));
        assert!(plackett_luce(&SCORES, 2, f64::INFINITY, &mut rng).is_err());
        assert_eq!(
            Policy::Greedy.sample(&[1.0, f64::NAN], 1, &mut rng),
            Err(ExploreError::NonFiniteScore { index: 1 })
        );
        assert_eq!(Policy::Epsilon { eps: -0.1 }.conditional(&SCORES, &[], 0), 0.0);
    }

    #[test]
    fn conditional_matches_sampled_propensities() {
        let scores = [0.3, 1.2, -0.5, 0.9, 0.9, 2.0];
        let policies =
            [Policy::Greedy, Policy::Epsilon { eps: 0.2 }, Policy::PlackettLuce { temperature: 0.7 }];
        for policy in policies {
            for seed in 0..50 {
                let picks = policy.sample(&scores, 4, &mut seeded(seed)).expect("valid");
                assert_eq!(picks.len(), 4);
                let indices: Vec<usize> = picks.iter().map(|p| p.index).collect();
                for (k, pick) in picks.iter().enumerate() {
                    assert!(pick.propensity > 0.0 && pick.propensity <= 1.0);
                    assert_eq!(policy.conditional(&scores, &indices[..k], pick.index), pick.propensity);
                }
            }
        }
    }

    #[test]
    fn conditionals_sum_to_one() {
        let policies =
            [Policy::Greedy, Policy::Epsilon { eps: 0.3 }, Policy::PlackettLuce { temperature: 2.0 }];
        for policy in policies {
            for taken in [vec![], vec![0], vec![2, 0]] {
                let total: f64 = (0..SCORES.len()).map(|i| policy.conditional(&SCORES, &taken, i)).sum();
                assert!((total - 1.0).abs() < 1e-12, "{policy:?} after {taken:?}: {total}");
                for t in &taken {
                    assert_eq!(policy.conditional(&SCORES, &taken, *t), 0.0);
                }
            }
            assert_eq!(policy.conditional(&SCORES, &[], 9), 0.0);
        }
    }

    #[test]
    fn epsilon_free_function_matches_policy_on_sorted_scores() {
        for seed in 0..20 {
            let free = epsilon(SCORES.len(), 3, 0.4, &mut seeded(seed)).expect("valid");
            let policy = Policy::Epsilon { eps: 0.4 }.sample(&SCORES, 3, &mut seeded(seed)).expect("valid");
            assert_eq!(free, policy);
        }
        let greedy_like = epsilon(4, 4, 0.0, &mut seeded(3)).expect("valid");
        assert_eq!(greedy_like, greedy(4, 4));
    }

    /// Frequencies of each ordered pair over many samples against the product of propensities.
    fn check_list_probabilities(policy: Policy) {
        let draws = 40_000;
        let mut rng = seeded(2024);
        let mut counts: HashMap<(usize, usize), u32> = HashMap::new();
        let mut probability: HashMap<(usize, usize), f64> = HashMap::new();
        for _ in 0..draws {
            let picks = policy.sample(&SCORES, 2, &mut rng).expect("valid");
            let key = (picks[0].index, picks[1].index);
            *counts.entry(key).or_default() += 1;
            probability.insert(key, picks[0].propensity * picks[1].propensity);
        }
        let total: f64 = probability.values().sum();
        assert!((total - 1.0).abs() < 1e-12, "{policy:?}: seen lists cover probability {total}");
        for (key, p) in probability {
            let freq = f64::from(counts[&key]) / f64::from(draws);
            let tolerance = 5.0 * (p * (1.0 - p) / f64::from(draws)).sqrt() + 1e-3;
            assert!((freq - p).abs() < tolerance, "{policy:?} {key:?}: frequency {freq}, product {p}");
        }
    }

    #[test]
    fn list_probability_is_the_product_of_propensities() {
        check_list_probabilities(Policy::Epsilon { eps: 0.3 });
        check_list_probabilities(Policy::PlackettLuce { temperature: 1.0 });
    }

    #[test]
    fn softmax_is_stable_for_huge_scores() {
        let scores = [1e300, 1e300 - 1e284, -1e300];
        let picks = plackett_luce(&scores, 3, 1.0, &mut seeded(5)).expect("valid");
        assert_eq!(picks.len(), 3);
        assert!(picks.iter().all(|p| p.propensity > 0.0 && p.propensity <= 1.0));
    }
}
