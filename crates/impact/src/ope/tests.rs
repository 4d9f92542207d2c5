//! Hand-computed estimator values on a three-round toy log.

use super::*;

fn row(round: u64, position: u32, item: u32, reward: f64, propensity: f64) -> Logged {
    Logged { round, position, item, reward, propensity }
}

/// Round 0 shows items 1, 2; round 1 shows 2, 1; round 2 shows item 1 alone.
fn toy_log() -> Vec<Logged> {
    vec![
        row(0, 0, 1, 1.0, 0.5),
        row(0, 1, 2, 0.0, 0.25),
        row(1, 0, 2, 0.0, 0.5),
        row(1, 1, 1, 1.0, 0.5),
        row(2, 0, 1, 1.0, 0.8),
    ]
}

/// Weights of the logged items: 0.5/0.5 = 1, 1/0.25 = 4, 0/0.5 = 0, 0.4/0.5 = 0.8, 0.2/0.8 = 0.25.
fn toy_target() -> Target {
    Target::new([
        (0, 0, 1, 0.5),
        (0, 0, 3, 0.5),
        (0, 1, 2, 1.0),
        (1, 0, 1, 1.0),
        (1, 1, 1, 0.4),
        (1, 1, 2, 0.6),
        (2, 0, 1, 0.2),
        (2, 0, 3, 0.8),
    ])
    .expect("valid target")
}

#[test]
fn hand_computed_ips_and_snips() {
    // r·w = 1·1, 0·4, 0·0, 1·0.8, 1·0.25: Σ = 2.05 over N = 5 rows; Σw = 6.05.
    let log = toy_log();
    let target = toy_target();
    assert!((ips(&log, &target).expect("valid") - 0.41).abs() < 1e-12);
    assert!((snips(&log, &target).expect("valid") - 2.05 / 6.05).abs() < 1e-12);
    // Clipped at 0.5: w = 0.5, 0.5, 0, 0.5, 0.25; r·w = 0.5 + 0 + 0 + 0.5 + 0.25 = 1.25; / 5.
    assert!((ips_clipped(&log, &target, 0.5).expect("valid") - 0.25).abs() < 1e-12);
    assert!((ips_clipped(&log, &target, f64::INFINITY).expect("valid") - 0.41).abs() < 1e-12);
    assert!((rows_per_round(&log) - 5.0 / 3.0).abs() < 1e-12);
}

#[test]
fn hand_computed_dr() {
    let model = Given::new([
        (0, 0, 1, 0.6),
        (0, 0, 3, 0.2),
        (0, 1, 2, 0.1),
        (1, 0, 1, 0.5),
        (1, 0, 2, 0.3),
        (1, 1, 1, 0.7),
        (1, 1, 2, 0.2),
        (2, 0, 1, 0.9),
        (2, 0, 3, 0.4),
    ])
    .expect("valid model");
    // Row (0,0): 0.5·0.6 + 0.5·0.2 + 1·(1 − 0.6) = 0.8
    // Row (0,1): 1·0.1 + 4·(0 − 0.1) = −0.3
    // Row (1,0): 1·0.5 + 0·(0 − 0.3) = 0.5
    // Row (1,1): 0.4·0.7 + 0.6·0.2 + 0.8·(1 − 0.7) = 0.64
    // Row (2,0): 0.2·0.9 + 0.8·0.4 + 0.25·(1 − 0.9) = 0.525
    // Σ = 2.165 over 5 rows.
    let value = dr(&toy_log(), &toy_target(), &model).expect("valid");
    assert!((value - 0.433).abs() < 1e-12);
}

#[test]
fn dr_with_a_perfect_weightless_model_is_the_direct_method() {
    // With q̂ = r on the logged items and π_e putting no mass on them, DR is Σ π_e·q̂.
    let log = vec![row(0, 0, 1, 1.0, 0.5)];
    let target = Target::deterministic([(0, 0, 7)]).expect("valid target");
    let model = Given::new([(0, 0, 1, 1.0), (0, 0, 7, 0.3)]).expect("valid model");
    assert!((dr(&log, &target, &model).expect("valid") - 0.3).abs() < 1e-12);
}

#[test]
fn item_position_mean_falls_back() {
    // (item 1, pos 0): rewards 1, 1 → 1; position 0: (1 + 0 + 1)/3; position 1: (0 + 1)/2; all: 3/5.
    let model = ItemPositionMean::fit(&toy_log());
    assert!((model.q(9, 0, 1) - 1.0).abs() < 1e-12);
    assert!((model.q(9, 1, 2) - 0.0).abs() < 1e-12);
    assert!((model.q(9, 0, 3) - 2.0 / 3.0).abs() < 1e-12);
    assert!((model.q(9, 1, 3) - 0.5).abs() < 1e-12);
    assert!((model.q(9, 5, 3) - 0.6).abs() < 1e-12);
    assert_eq!(ItemPositionMean::fit(&[]).q(0, 0, 0), 0.0);
}

#[test]
fn target_lookup_and_distribution() {
    let target = toy_target();
    assert_eq!(target.len(), 8);
    assert_eq!(target.prob(1, 1, 2), 0.6);
    assert_eq!(target.prob(1, 1, 3), 0.0);
    assert_eq!(target.prob(7, 0, 1), 0.0);
    assert_eq!(target.distribution(0, 0).collect::<Vec<_>>(), vec![(1, 0.5), (3, 0.5)]);
    assert_eq!(target.distribution(5, 0).count(), 0);
}

#[test]
fn target_handles_a_million_rows() {
    // 250,000 rounds × 4 positions, one item each, inserted in reverse order.
    let rows = (0..1_000_000u64).rev().map(|i| (i / 4, (i % 4) as u32, (i % 97) as u32, 1.0));
    let target = Target::new(rows).expect("valid target");
    assert_eq!(target.len(), 1_000_000);
    assert_eq!(target.prob(123_456, 2, ((123_456 * 4 + 2) % 97) as u32), 1.0);
    assert_eq!(target.prob(123_456, 2, 200), 0.0);
}

#[test]
fn invalid_inputs_are_named() {
    let target = toy_target();
    assert_eq!(ips(&[], &target), Err(OpeError::EmptyLog));
    assert_eq!(
        ips(&[row(3, 1, 1, 1.0, 0.0)], &target),
        Err(OpeError::InvalidPropensity { round: 3, position: 1, propensity: 0.0 })
    );
    assert!(matches!(ips(&[row(3, 1, 1, 1.0, 1.5)], &target), Err(OpeError::InvalidPropensity { .. })));
    assert!(matches!(ips(&[row(3, 1, 1, f64::NAN, 0.5)], &target), Err(OpeError::NonFiniteReward { .. })));
    assert_eq!(
        Target::new([(4, 2, 1, 1.5)]),
        Err(OpeError::InvalidProbability { round: 4, position: 2, item: 1, prob: 1.5 })
    );
    assert!(matches!(Target::new([(4, 2, 1, f64::NAN)]), Err(OpeError::InvalidProbability { .. })));
    assert_eq!(
        Target::new([(4, 2, 1, 0.6), (4, 2, 2, 0.6)]),
        Err(OpeError::DistributionOverOne { round: 4, position: 2, total: 1.2 })
    );
    assert_eq!(
        Target::new([(4, 2, 1, 0.1), (4, 2, 1, 0.1)]),
        Err(OpeError::DuplicateRow { round: 4, position: 2, item: 1 })
    );
    assert!(Target::new([(4, 2, 1, 0.5), (4, 2, 2, 0.500_000_1)]).is_ok());
    assert!(matches!(Given::new([(0, 0, 0, f64::INFINITY)]), Err(OpeError::NonFiniteModelValue { .. })));
    assert_eq!(ips_clipped(&toy_log(), &target, -1.0), Err(OpeError::InvalidClip(-1.0)));
    let nowhere = Target::deterministic([(0, 0, 9)]).expect("valid target");
    assert_eq!(snips(&toy_log(), &nowhere), Err(OpeError::NoOverlap));
    assert_eq!(rows_per_round(&[]), 0.0);
}

#[test]
fn bootstrap_is_seeded_and_brackets_the_estimate() {
    let log = toy_log();
    let target = toy_target();
    let first = bootstrap(&log, &target, Estimator::Ips, 500, 0.1, 7, None).expect("valid");
    let second = bootstrap(&log, &target, Estimator::Ips, 500, 0.1, 7, None).expect("valid");
    assert_eq!(first, second);
    assert!((first.estimate - 0.41).abs() < 1e-12);
    assert!(first.low <= first.estimate && first.estimate <= first.high);
    let snips_interval = bootstrap(&log, &target, Estimator::Snips, 500, 0.1, 7, None).expect("valid");
    assert!((snips_interval.estimate - 2.05 / 6.05).abs() < 1e-12);
    let fitted = ItemPositionMean::fit(&log);
    let with_model = bootstrap(&log, &target, Estimator::Dr, 50, 0.1, 7, Some(&fitted)).expect("valid");
    let without = bootstrap(&log, &target, Estimator::Dr, 50, 0.1, 7, None).expect("valid");
    assert_eq!(with_model, without);
    assert!((with_model.estimate - dr(&log, &target, &fitted).expect("valid")).abs() < 1e-12);
    assert_eq!(bootstrap(&log, &target, Estimator::Ips, 0, 0.1, 7, None), Err(OpeError::NoResamples));
    assert_eq!(bootstrap(&log, &target, Estimator::Ips, 10, 1.0, 7, None), Err(OpeError::InvalidAlpha(1.0)));
}
