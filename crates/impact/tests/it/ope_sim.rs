//! Off-policy evaluation simulations: the bootstrap interval of IPS and SNIPS must cover the
//! target policy's true value in at least 90% of seeds, for one slot and for ranked lists.
//!
//! Each seed draws a world of `CONTEXTS` contexts with true click probabilities per item, logs
//! `ROUNDS` rounds of an exploring policy (from [`aisle_impact::explore`], on scores = truth +
//! fresh noise), and evaluates a different, deterministic target ranking (truth + a fixed
//! perturbation). The true value is exact: the mean over contexts (drawn uniformly) of the
//! target's click probability (one slot) or expected clicks per list under a position-based model.

use aisle_core::rng::{SeededRng, stream};
use aisle_impact::explore::Policy;
use aisle_impact::ope::{Estimator, Logged, Target, bootstrap, rows_per_round};
use rand::Rng;

use super::aa::report_line;

const ITEMS: usize = 8;
const CONTEXTS: usize = 20;
const ROUNDS: u64 = 2_000;
const SEEDS: u64 = 300;
const RESAMPLES: usize = 200;
/// Examination probability per position of the position-based click model.
const EXAMINE: [f64; 3] = [1.0, 0.6, 0.4];

struct World {
    /// True click probability per context and item.
    click: Vec<[f64; ITEMS]>,
    /// The target's deterministic ranking per context.
    target: Vec<Vec<usize>>,
}

impl World {
    fn new(rng: &mut SeededRng) -> World {
        let click: Vec<[f64; ITEMS]> =
            (0..CONTEXTS).map(|_| std::array::from_fn(|_| 0.02 + 0.28 * rng.random::<f64>())).collect();
        let target = click.iter().map(|p| ranking(&noisy(p, rng))).collect();
        World { click, target }
    }

    /// Exact expected clicks per list of the target's top `slots`, averaged over contexts.
    fn target_value(&self, slots: usize) -> f64 {
        let per_context = self.click.iter().zip(&self.target).map(|(p, ranked)| {
            ranked.iter().take(slots).zip(EXAMINE).map(|(item, examine)| examine * p[*item]).sum::<f64>()
        });
        per_context.sum::<f64>() / CONTEXTS as f64
    }
}

/// Scores = truth + uniform noise of width 0.1.
fn noisy(p: &[f64; ITEMS], rng: &mut SeededRng) -> Vec<f64> {
    p.iter().map(|x| x + 0.1 * (rng.random::<f64>() - 0.5)).collect()
}

/// Indexes by descending score.
fn ranking(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    order
}

/// Logs `ROUNDS` rounds of `policy` filling `slots` positions, with cascade propensities, and
/// builds the deterministic target: probability 1 on the target's item at a position iff the
/// logged prefix above it equals the target's (reward-interaction IPS).
fn simulate(world: &World, policy: Policy, slots: usize, rng: &mut SeededRng) -> (Vec<Logged>, Target) {
    let mut log = Vec::new();
    let mut target_rows = Vec::new();
    for round in 0..ROUNDS {
        let context = rng.random_range(0..CONTEXTS);
        let p = &world.click[context];
        let picks = policy.sample(&noisy(p, rng), slots, rng).expect("valid policy");
        let target = &world.target[context];
        let mut cascade = 1.0;
        let mut prefix_matches = true;
        for (position, pick) in picks.iter().enumerate() {
            cascade *= pick.propensity;
            let position_u32 = u32::try_from(position).expect("few slots");
            if prefix_matches {
                let item = u32::try_from(target[position]).expect("few items");
                target_rows.push((round, position_u32, item, 1.0));
            }
            prefix_matches &= pick.index == target[position];
            let reward = f64::from(u8::from(rng.random::<f64>() < EXAMINE[position] * p[pick.index]));
            let item = u32::try_from(pick.index).expect("few items");
            log.push(Logged { round, position: position_u32, item, reward, propensity: cascade });
        }
    }
    (log, Target::new(target_rows).expect("valid target"))
}

/// Coverage of the IPS and SNIPS 95% intervals over the seeds.
fn coverage(policy: Policy, slots: usize, label: &str) -> (f64, f64) {
    let (mut ips_covered, mut snips_covered) = (0u32, 0u32);
    let mut width = 0.0;
    for seed in 0..SEEDS {
        let mut rng = stream(31_337, seed);
        let world = World::new(&mut rng);
        let truth = world.target_value(slots);
        let (log, target) = simulate(&world, policy, slots, &mut rng);
        let per_list = rows_per_round(&log);
        for (estimator, covered) in
            [(Estimator::Ips, &mut ips_covered), (Estimator::Snips, &mut snips_covered)]
        {
            let interval =
                bootstrap(&log, &target, estimator, RESAMPLES, 0.05, seed, None).expect("valid log");
            *covered += u32::from(interval.low * per_list <= truth && truth <= interval.high * per_list);
            width += (interval.high - interval.low) * per_list / truth;
        }
    }
    let rate = |c: u32| f64::from(c) / SEEDS as f64;
    report_line(&format!(
        "OPE {label}: 95% bootstrap coverage of the true target value over {SEEDS} seeds: IPS {:.3}, SNIPS {:.3} \
         (mean relative width {:.3})",
        rate(ips_covered),
        rate(snips_covered),
        width / (2 * SEEDS) as f64,
    ));
    (rate(ips_covered), rate(snips_covered))
}

#[test]
fn one_slot_epsilon_greedy_log_covers_the_target_value() {
    let (ips, snips) = coverage(Policy::Epsilon { eps: 0.3 }, 1, "one slot, ε-greedy 0.3");
    assert!(ips >= 0.90, "IPS coverage {ips}");
    assert!(snips >= 0.90, "SNIPS coverage {snips}");
}

#[test]
fn ranked_list_plackett_luce_log_covers_the_target_value() {
    let (ips, snips) =
        coverage(Policy::PlackettLuce { temperature: 0.05 }, 3, "3-slot list, Plackett–Luce T=0.05");
    assert!(ips >= 0.90, "IPS coverage {ips}");
    assert!(snips >= 0.90, "SNIPS coverage {snips}");
}
