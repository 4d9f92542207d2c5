//! A/B simulations with a known effect: the 95% interval must cover the true difference.

use aisle_core::rng::stream;
use aisle_impact::stats::{DiffOptions, Sums, difference};

use super::aa::report_line;
use super::population::{MEAN_CTR, Population, mean_revenue};

const EXPERIMENTS: u64 = 500;
const USERS_PER_ARM: usize = 2_000;
const LIFT: f64 = 1.1;

#[test]
fn ab_interval_covers_the_true_effect_with_cuped() {
    // With impressions independent of p_u, the population CTR is E[p_u]; the lift multiplies it:
    // Δ = 0.1·E[p_u] = 0.005, less the clipping of 1.1·p_u at 1, whose effect is
    // E[(1.1·p_u − 1)⁺] < P(p_u > 0.909)·0.1 < 1e-9 under Beta(0.5, 9.5).
    // Revenue per user scales by the lift too: Δ = 0.1·E[revenue].
    let true_ctr = (LIFT - 1.0) * MEAN_CTR;
    let true_revenue = (LIFT - 1.0) * mean_revenue();
    let population = Population::new();
    let (mut covered_ctr, mut covered_revenue) = (0u32, 0u32);
    let (mut significant_ctr, mut significant_revenue) = (0u32, 0u32);
    let mut covered_ctr_plain = 0u32;
    for experiment in 0..EXPERIMENTS {
        let mut rng = stream(7_771, experiment);
        let (mut ctr, mut revenue) = ([Sums::default(); 2], [Sums::default(); 2]);
        for _ in 0..USERS_PER_ARM {
            for (arm, lift) in [(0, 1.0), (1, LIFT)] {
                let u = population.user(&mut rng, lift, lift);
                ctr[arm].add(&u.ctr);
                revenue[arm].add(&u.revenue);
            }
        }
        let d = difference(&ctr[0], &ctr[1], &DiffOptions::default()).expect("valid arms");
        assert!(d.cuped);
        covered_ctr += u32::from(d.ci_low <= true_ctr && true_ctr <= d.ci_high);
        significant_ctr += u32::from(d.p_value < 0.05);
        let plain = DiffOptions { cuped: false, ..DiffOptions::default() };
        let d = difference(&ctr[0], &ctr[1], &plain).expect("valid arms");
        covered_ctr_plain += u32::from(d.ci_low <= true_ctr && true_ctr <= d.ci_high);
        let d = difference(&revenue[0], &revenue[1], &DiffOptions::default()).expect("valid arms");
        covered_revenue += u32::from(d.ci_low <= true_revenue && true_revenue <= d.ci_high);
        significant_revenue += u32::from(d.p_value < 0.05);
    }
    let rate = |c: u32| f64::from(c) / EXPERIMENTS as f64;
    let report = format!(
        "A/B (lift {LIFT}, CUPED): 95% interval coverage CTR {:.3} (true Δ {true_ctr:.5}), revenue {:.3} \
         (true Δ {true_revenue:.3}); without CUPED CTR {:.3}; power CTR {:.3}, revenue {:.3}",
        rate(covered_ctr),
        rate(covered_revenue),
        rate(covered_ctr_plain),
        rate(significant_ctr),
        rate(significant_revenue),
    );
    report_line(&report);
    assert!(rate(covered_ctr) >= 0.92, "{report}");
    assert!(rate(covered_revenue) >= 0.92, "{report}");
    assert!(rate(covered_ctr_plain) >= 0.92, "{report}");
}
