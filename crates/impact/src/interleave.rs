//! Team-draft interleaving and its preference statistics.
//!
//! **Team draft** (Radlinski, Kurup, Joachims, "How does clickthrough data reflect retrieval
//! quality?", CIKM 2008, Algorithm 2): the two rankers pick like captains choosing teams. The team
//! with fewer picks goes next; when both have as many, a fair coin decides. The picking team adds
//! its highest-ranked item not yet in the list. When one ranking is exhausted the other keeps
//! picking. Clicks are credited to the team that contributed the clicked item.
//!
//! **Preference** (Chapelle, Joachims, Radlinski, Yue, "Large-scale validation and analysis of
//! interleaved search evaluation", TOIS 2012, §4): over impressions scored 1 (A wins), ½ (tie) and
//! 0 (B wins), `Δ_AB = (wins_A + ties/2)/(wins_A + wins_B + ties) − ½`, with the Wilson score
//! interval (Wilson 1927) of the mean score `m = Δ + ½` over N observations, shifted by −½ (the
//! scores lie in [0, 1], so `m(1 − m)` bounds their variance: conservative with ties, and never of
//! zero width when every observation agrees, as a normal interval of the scores would be). Its p-value is the
//! two-sided sign (binomial) test of wins_A against wins_B with ties dropped: exact for
//! `wins_A + wins_B ≤ 1000`, normal with continuity correction above.

use std::collections::HashSet;
use std::hash::Hash;

use crate::stats::{normal_cdf, normal_quantile};

/// Which ranker contributed an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Team {
    /// Ranker A.
    A,
    /// Ranker B.
    B,
}

/// The result of one interleaved impression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// More clicks on A's items.
    A,
    /// More clicks on B's items.
    B,
    /// As many clicks on each (including none).
    Tie,
}

/// Interleaves rankings `a` and `b` into at most `n` items by team draft, labelling each item with
/// the team that picked it.
///
/// Stops at `n` items or when both rankings are exhausted. Items repeated within one ranking are
/// taken once.
pub fn team_draft<T: Clone + Eq + Hash>(
    a: &[T],
    b: &[T],
    n: usize,
    rng: &mut impl rand::Rng,
) -> Vec<(T, Team)> {
    let mut list: Vec<(T, Team)> = Vec::with_capacity(n.min(a.len() + b.len()));
    let mut taken: HashSet<T> = HashSet::with_capacity(list.capacity());
    let (mut next_a, mut next_b) = (0usize, 0usize);
    let (mut picks_a, mut picks_b) = (0usize, 0usize);
    while list.len() < n {
        skip_taken(a, &mut next_a, &taken);
        skip_taken(b, &mut next_b, &taken);
        let a_left = next_a < a.len();
        let b_left = next_b < b.len();
        let team = match (a_left, b_left) {
            (false, false) => break,
            (true, false) => Team::A,
            (false, true) => Team::B,
            (true, true) => {
                if picks_a < picks_b || (picks_a == picks_b && rng.random::<bool>()) {
                    Team::A
                } else {
                    Team::B
                }
            }
        };
        let item = match team {
            Team::A => {
                picks_a += 1;
                a[next_a].clone()
            }
            Team::B => {
                picks_b += 1;
                b[next_b].clone()
            }
        };
        taken.insert(item.clone());
        list.push((item, team));
    }
    list
}

/// Advances `next` past the items of `ranking` already in the list.
fn skip_taken<T: Eq + Hash>(ranking: &[T], next: &mut usize, taken: &HashSet<T>) {
    while *next < ranking.len() && taken.contains(&ranking[*next]) {
        *next += 1;
    }
}

/// Credits the clicks of one impression: the team with more clicked items wins.
///
/// `list` holds each shown position's team; positions outside it are ignored and a position listed
/// twice counts once.
pub fn credit(list: &[Team], clicked_positions: &[usize]) -> Outcome {
    let mut positions: Vec<usize> = clicked_positions.iter().copied().filter(|p| *p < list.len()).collect();
    positions.sort_unstable();
    positions.dedup();
    let clicks_a = positions.iter().filter(|p| list[**p] == Team::A).count();
    let clicks_b = positions.len() - clicks_a;
    match clicks_a.cmp(&clicks_b) {
        std::cmp::Ordering::Greater => Outcome::A,
        std::cmp::Ordering::Less => Outcome::B,
        std::cmp::Ordering::Equal => Outcome::Tie,
    }
}

/// The preference between two interleaved rankers.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Preference {
    /// Observations won by A.
    pub wins_a: u64,
    /// Observations won by B.
    pub wins_b: u64,
    /// Tied observations.
    pub ties: u64,
    /// `Δ_AB = (wins_a + ties/2)/(wins_a + wins_b + ties) − ½`, in [−½, ½]; positive favours A.
    pub delta: f64,
    /// Lower end of the (1 − α) Wilson score interval of Δ, in [−½, ½].
    pub ci_low: f64,
    /// Upper end of the (1 − α) Wilson score interval of Δ, in [−½, ½].
    pub ci_high: f64,
    /// Two-sided sign-test p-value of wins_a against wins_b (ties dropped).
    pub p_value: f64,
}

/// Above this many decisive observations the sign test uses the normal approximation.
const EXACT_SIGN_TEST_MAX: u64 = 1000;

/// The preference from per-impression outcomes (see the module docs for the formulas).
///
/// With no observation, Δ = 0, the interval is the whole range [−½, ½] and p = 1; so is the
/// interval when `alpha` is not in (0, 1).
pub fn preference(wins_a: u64, wins_b: u64, ties: u64, alpha: f64) -> Preference {
    let (a, b, t) = (wins_a as f64, wins_b as f64, ties as f64);
    let total = a + b + t;
    let delta = if total > 0.0 { (a + t / 2.0) / total - 0.5 } else { 0.0 };
    let (mut ci_low, mut ci_high) = (-0.5, 0.5);
    if total >= 1.0 && alpha > 0.0 && alpha < 1.0 {
        // The Wilson score interval of the mean score m = Δ + ½ (scores 1, ½, 0 in [0, 1], so
        // their variance is at most m(1 − m): conservative with ties, and never of zero width
        // when every observation agrees, as the normal interval of the scores would be).
        let (m, z) = (delta + 0.5, normal_quantile(1.0 - alpha / 2.0));
        let z2 = z * z;
        let centre = (m + z2 / (2.0 * total)) / (1.0 + z2 / total);
        let half = z * (m * (1.0 - m) / total + z2 / (4.0 * total * total)).sqrt() / (1.0 + z2 / total);
        ci_low = (centre - half - 0.5).max(-0.5);
        ci_high = (centre + half - 0.5).min(0.5);
    }
    Preference { wins_a, wins_b, ties, delta, ci_low, ci_high, p_value: sign_test(wins_a, wins_b) }
}

/// The preference when each unit (user) is one observation: a unit with more wins for A than for
/// B counts as one A win, fewer as one B win, equal as one tie. Units, not impressions, are then
/// the independent observations, so a heavy user cannot dominate the verdict.
pub fn preference_by_unit(per_unit: &[(u64, u64)], alpha: f64) -> Preference {
    let (mut wins_a, mut wins_b, mut ties) = (0u64, 0u64, 0u64);
    for &(a, b) in per_unit {
        match a.cmp(&b) {
            std::cmp::Ordering::Greater => wins_a += 1,
            std::cmp::Ordering::Less => wins_b += 1,
            std::cmp::Ordering::Equal => ties += 1,
        }
    }
    preference(wins_a, wins_b, ties, alpha)
}

/// Two-sided sign test: `min(1, 2·P(X ≤ min(a, b)))` for X ~ Binomial(a + b, ½).
fn sign_test(wins_a: u64, wins_b: u64) -> f64 {
    let Some(n) = wins_a.checked_add(wins_b) else {
        return sign_test_normal(wins_a as f64, wins_b as f64);
    };
    if n == 0 {
        return 1.0;
    }
    if n > EXACT_SIGN_TEST_MAX {
        return sign_test_normal(wins_a as f64, wins_b as f64);
    }
    let k = wins_a.min(wins_b);
    let n_f = n as f64;
    // ln C(n, i) built up term by term; the tail is summed relative to its largest (last) term.
    let mut log_choose = 0.0;
    let mut log_terms = Vec::with_capacity(usize::try_from(k + 1).unwrap_or(0));
    for i in 0..=k {
        if i > 0 {
            let i_f = i as f64;
            log_choose += (n_f - i_f + 1.0).ln() - i_f.ln();
        }
        log_terms.push(log_choose - n_f * std::f64::consts::LN_2);
    }
    let max = log_terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = max.exp() * log_terms.iter().map(|l| (l - max).exp()).sum::<f64>();
    (2.0 * tail).min(1.0)
}

/// The sign test's normal approximation with continuity correction:
/// `2·Φ(−max(0, |a − b| − 1)/√(a + b))`.
fn sign_test_normal(a: f64, b: f64) -> f64 {
    let z = ((a - b).abs() - 1.0).max(0.0) / (a + b).sqrt();
    (2.0 * normal_cdf(-z)).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_core::rng::seeded;

    #[test]
    fn disjoint_long_lists_split_evenly() {
        let a: Vec<u32> = (0..50).collect();
        let b: Vec<u32> = (100..150).collect();
        let mut rng = seeded(7);
        for n in [1, 2, 5, 10, 11] {
            let list = team_draft(&a, &b, n, &mut rng);
            assert_eq!(list.len(), n);
            let from_a = list.iter().filter(|(_, t)| *t == Team::A).count();
            assert!(from_a == n / 2 || from_a == n.div_ceil(2), "n = {n}, from A = {from_a}");
            // Each team's items appear in that team's own order.
            let items_a: Vec<u32> = list.iter().filter(|(_, t)| *t == Team::A).map(|(i, _)| *i).collect();
            assert_eq!(items_a, a[..items_a.len()].to_vec());
        }
    }

    #[test]
    fn identical_lists_give_the_list() {
        let a = vec!["x", "y", "z", "w"];
        let mut rng = seeded(3);
        let list = team_draft(&a, &a, 10, &mut rng);
        let items: Vec<&str> = list.iter().map(|(i, _)| *i).collect();
        assert_eq!(items, a);
    }

    #[test]
    fn exhausted_list_lets_the_other_continue() {
        let a = vec![1, 2];
        let b = vec![3, 4, 5, 6];
        let list = team_draft(&a, &b, 10, &mut seeded(1));
        assert_eq!(list.len(), 6);
        assert_eq!(list.iter().filter(|(_, t)| *t == Team::B).count(), 4);
        assert!(team_draft::<u8>(&[], &[], 3, &mut seeded(1)).is_empty());
    }

    #[test]
    fn seeded_draft_is_deterministic() {
        let a: Vec<u32> = (0..20).collect();
        let b: Vec<u32> = (0..20).rev().collect();
        let first = team_draft(&a, &b, 10, &mut seeded(42));
        let second = team_draft(&a, &b, 10, &mut seeded(42));
        assert_eq!(first, second);
    }

    #[test]
    fn credit_counts_clicks_per_team() {
        let list = [Team::A, Team::B, Team::A, Team::B];
        assert_eq!(credit(&list, &[0, 2, 3]), Outcome::A);
        assert_eq!(credit(&list, &[1]), Outcome::B);
        assert_eq!(credit(&list, &[0, 1]), Outcome::Tie);
        assert_eq!(credit(&list, &[]), Outcome::Tie);
        // Out of range ignored, duplicates once: A has {0}, B has {1}.
        assert_eq!(credit(&list, &[0, 1, 1, 9]), Outcome::Tie);
    }

    #[test]
    fn hand_computed_preference() {
        // 6 A wins, 2 B wins, 2 ties: Δ = (6 + 1)/10 − 0.5 = 0.2.
        // Wilson for m = 0.7, N = 10, z² = 3.841459: centre (0.7 + 0.192073)/1.384146 = 0.644493,
        // half = z·√(0.021 + 0.009604)/1.384146 = 0.247716 → Δ in [−0.103223, 0.392209].
        // Sign test: n = 8, k = 2: P(X ≤ 2) = (1 + 8 + 28)/256 = 37/256; p = 74/256.
        let p = preference(6, 2, 2, 0.05);
        assert!((p.delta - 0.2).abs() < 1e-12);
        let z: f64 = 1.959_963_984_540_054;
        let (z2, n, m) = (z * z, 10.0, 0.7);
        let centre = (m + z2 / (2.0 * n)) / (1.0 + z2 / n);
        let half = z * (m * (1.0 - m) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
        assert!((p.ci_low - (centre - half - 0.5)).abs() < 1e-12);
        assert!((p.ci_high - (centre + half - 0.5)).abs() < 1e-12);
        assert!((p.ci_low + 0.103_223).abs() < 1e-5 && (p.ci_high - 0.392_209).abs() < 1e-5, "{p:?}");
        assert!((p.p_value - 74.0 / 256.0).abs() < 1e-12);
    }

    #[test]
    fn preference_edge_cases() {
        let none = preference(0, 0, 0, 0.05);
        assert_eq!((none.delta, none.ci_low, none.ci_high, none.p_value), (0.0, -0.5, 0.5, 1.0));
        let even = preference(5, 5, 0, 0.05);
        assert_eq!((even.delta, even.p_value), (0.0, 1.0));
        let all_a = preference(10, 0, 0, 0.05);
        // 2·(½)¹⁰ = 1/512.
        assert!((all_a.p_value - 1.0 / 512.0).abs() < 1e-15);
        // All ten for A: Wilson keeps a width (the normal interval of constant scores would not).
        assert!(
            (all_a.ci_high - 0.5).abs() < 1e-12 && all_a.ci_low > 0.0 && all_a.ci_low < 0.25,
            "{all_a:?}"
        );
        // Large counts use the normal approximation: |a − b| − 1 = 99, √(a + b) = √2100.
        let big = preference(1100, 1000, 0, 0.05);
        assert!((big.p_value - 2.0 * normal_cdf(-99.0 / 2100.0_f64.sqrt())).abs() < 1e-12);
        // The exact and normal tails agree closely at the boundary.
        let exact = sign_test(520, 480);
        assert!((exact - sign_test_normal(520.0, 480.0)).abs() < 2e-3);
        let huge = preference(u64::MAX, u64::MAX, 0, 0.05);
        assert!(huge.p_value.is_finite());
    }

    #[test]
    fn preference_by_unit_counts_units() {
        // Units: A ahead, B ahead, tie, A ahead → 2 A wins, 1 B win, 1 tie.
        let p = preference_by_unit(&[(3, 1), (0, 2), (1, 1), (5, 0)], 0.05);
        assert_eq!((p.wins_a, p.wins_b, p.ties), (2, 1, 1));
        assert!((p.delta - 0.125).abs() < 1e-12);
    }
}
