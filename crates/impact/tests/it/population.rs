//! A simulated shop population: per-user CTR and spend with pre-experiment covariates.
//!
//! CTR: p_u ~ Beta(0.5, 9.5) (mean 0.05); impressions 1 + Geometric(0.1) (mean 10, independent of
//! p_u); clicks ~ Binomial(impressions, lift·p_u); the covariate is the user's pre-period CTR from
//! a longer, independent pre-period (1 + Geometric(0.03) impressions) with the same p_u.
//! Revenue: purchase propensity q_u ~ Beta(0.5, 4.5), spend level s_u ~ LogNormal(0, 1);
//! orders ~ Binomial(5, q_u), each worth s_u·LogNormal(3, 0.8) (heavy-tailed), times the lift;
//! the covariate is the pre-period revenue of the same user.

use aisle_core::rng::SeededRng;
use aisle_impact::stats::Unit;
use rand_distr::{Beta, Binomial, Distribution, Geometric, LogNormal};

/// Mean of Beta(0.5, 9.5): the population CTR when impressions do not depend on p_u.
pub const MEAN_CTR: f64 = 0.5 / 10.0;
/// μ and σ of the log order value.
const ORDER_MU: f64 = 3.0;
const ORDER_SIGMA: f64 = 0.8;
/// σ of the log spend level.
const SPEND_SIGMA: f64 = 1.0;

/// E[revenue per user] = E[orders]·E[s_u]·E[order value] = 5·0.1·e^{σ_s²/2}·e^{μ + σ²/2}.
pub fn mean_revenue() -> f64 {
    5.0 * 0.1 * (SPEND_SIGMA * SPEND_SIGMA / 2.0).exp() * (ORDER_MU + ORDER_SIGMA * ORDER_SIGMA / 2.0).exp()
}

/// One simulated user's CTR unit and revenue unit.
pub struct User {
    pub ctr: Unit,
    pub revenue: Unit,
}

/// The population's distributions.
pub struct Population {
    ctr: Beta<f64>,
    impressions: Geometric,
    pre_impressions: Geometric,
    buy: Beta<f64>,
    spend: LogNormal<f64>,
    order: LogNormal<f64>,
}

impl Population {
    pub fn new() -> Population {
        Population {
            ctr: Beta::new(0.5, 9.5).expect("valid beta"),
            impressions: Geometric::new(0.1).expect("valid geometric"),
            pre_impressions: Geometric::new(0.03).expect("valid geometric"),
            buy: Beta::new(0.5, 4.5).expect("valid beta"),
            spend: LogNormal::new(0.0, SPEND_SIGMA).expect("valid lognormal"),
            order: LogNormal::new(ORDER_MU, ORDER_SIGMA).expect("valid lognormal"),
        }
    }

    /// A user whose CTR is multiplied by `ctr_lift` and revenue by `revenue_lift` in the experiment.
    pub fn user(&self, rng: &mut SeededRng, ctr_lift: f64, revenue_lift: f64) -> User {
        let p = self.ctr.sample(rng);
        let impressions = 1 + self.impressions.sample(rng);
        let pre_impressions = 1 + self.pre_impressions.sample(rng);
        let clicks = binomial(rng, impressions, (p * ctr_lift).min(1.0));
        let pre_clicks = binomial(rng, pre_impressions, p);
        let q = self.buy.sample(rng);
        let level = self.spend.sample(rng);
        let revenue = self.revenue(rng, q, level) * revenue_lift;
        let pre_revenue = self.revenue(rng, q, level);
        User {
            ctr: Unit {
                numerator: clicks as f64,
                denominator: impressions as f64,
                covariate: pre_clicks as f64 / pre_impressions as f64,
            },
            revenue: Unit { numerator: revenue, denominator: 1.0, covariate: pre_revenue },
        }
    }

    fn revenue(&self, rng: &mut SeededRng, q: f64, level: f64) -> f64 {
        let orders = binomial(rng, 5, q);
        (0..orders).map(|_| level * self.order.sample(rng)).sum()
    }
}

fn binomial(rng: &mut SeededRng, n: u64, p: f64) -> u64 {
    Binomial::new(n, p).expect("valid binomial").sample(rng)
}
