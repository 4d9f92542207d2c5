//! A/A simulations: with no true difference, the tests must rarely claim one.

use aisle_core::rng::stream;
use aisle_impact::stats::{DiffOptions, Sums, difference};

use super::population::Population;

const EXPERIMENTS: u64 = 400;
const USERS_PER_ARM: usize = 2_000;
const LOOKS: usize = 10;

/// False-positive counts of one metric over the A/A experiments.
#[derive(Default)]
struct Counts {
    /// Fixed-horizon p < 0.05 at the final look, CUPED on.
    final_cuped: u32,
    /// Fixed-horizon p < 0.05 at the final look, CUPED off.
    final_plain: u32,
    /// Fixed-horizon p < 0.05 at any of the looks (peeking), CUPED on.
    peeking_fixed: u32,
    /// The always-valid interval excludes 0 at any of the looks, CUPED on.
    peeking_sequential: u32,
    /// Sum of CUPED variance reductions at the final look.
    variance_reduction: f64,
}

impl Counts {
    fn look(&mut self, control: &Sums, treatment: &Sums, last: bool, state: &mut (bool, bool)) {
        let cuped = difference(control, treatment, &DiffOptions::default()).expect("valid arms");
        let plain = difference(control, treatment, &DiffOptions { cuped: false, ..DiffOptions::default() })
            .expect("valid arms");
        state.0 |= cuped.p_value < 0.05;
        state.1 |= cuped.seq_ci_low > 0.0 || cuped.seq_ci_high < 0.0;
        if last {
            self.final_cuped += u32::from(cuped.p_value < 0.05);
            self.final_plain += u32::from(plain.p_value < 0.05);
            self.peeking_fixed += u32::from(state.0);
            self.peeking_sequential += u32::from(state.1);
            self.variance_reduction += cuped.variance_reduction;
        }
    }

    fn rate(count: u32) -> f64 {
        f64::from(count) / EXPERIMENTS as f64
    }

    fn check(&self, metric: &str) {
        let report = format!(
            "{metric}: final-look false positives CUPED {:.3}, plain {:.3}; under {LOOKS} peeks fixed-horizon \
             {:.3}, always-valid {:.3}; mean CUPED variance reduction {:.3}",
            Self::rate(self.final_cuped),
            Self::rate(self.final_plain),
            Self::rate(self.peeking_fixed),
            Self::rate(self.peeking_sequential),
            self.variance_reduction / EXPERIMENTS as f64,
        );
        report_line(&report);
        assert!(Self::rate(self.final_cuped) <= 0.07, "{report}");
        assert!(Self::rate(self.final_plain) <= 0.07, "{report}");
        assert!(Self::rate(self.peeking_sequential) <= 0.05, "{report}");
        // Peeking can only add false positives to the fixed-horizon test; the rate is reported above.
        assert!(self.peeking_fixed >= self.final_cuped, "{report}");
        assert!(self.variance_reduction / EXPERIMENTS as f64 > 0.0, "{report}");
    }
}

#[expect(clippy::print_stderr, reason = "the simulation's rates are the test's report (--nocapture)")]
pub fn report_line(line: &str) {
    eprintln!("{line}");
}

#[test]
fn aa_false_positive_rates_hold_with_and_without_cuped_and_under_peeking() {
    let population = Population::new();
    let (mut ctr, mut revenue) = (Counts::default(), Counts::default());
    for experiment in 0..EXPERIMENTS {
        let mut rng = stream(20_240_601, experiment);
        let (mut ctr_arms, mut revenue_arms) = ([Sums::default(); 2], [Sums::default(); 2]);
        let (mut ctr_state, mut revenue_state) = ((false, false), (false, false));
        for user in 0..USERS_PER_ARM {
            for arm in 0..2 {
                let u = population.user(&mut rng, 1.0, 1.0);
                ctr_arms[arm].add(&u.ctr);
                revenue_arms[arm].add(&u.revenue);
            }
            if (user + 1) % (USERS_PER_ARM / LOOKS) == 0 {
                let last = user + 1 == USERS_PER_ARM;
                ctr.look(&ctr_arms[0], &ctr_arms[1], last, &mut ctr_state);
                revenue.look(&revenue_arms[0], &revenue_arms[1], last, &mut revenue_state);
            }
        }
    }
    ctr.check("A/A CTR (ratio metric)");
    revenue.check("A/A revenue per user (mean metric)");
}
