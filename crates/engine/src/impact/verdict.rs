//! An experiment's report from its units' counters: per variant the units, lists, CTR (clicks per
//! list, a ratio metric: delta method), conversion (share of units that bought) and revenue per
//! unit; each treatment against the control with a CUPED-adjusted difference, its 95% interval
//! and p-value, and the always-valid (mixture SPRT) interval the verdict rests on, so that
//! looking at the report every day does not inflate false wins; the fixed-horizon sample size
//! for the experiment's minimum effect; a sample-ratio-mismatch check; and, for interleaving,
//! the preference with its interval and sign test. The statistics are `aisle_impact::stats`.

use std::collections::HashMap;

use aisle_impact::stats::{self, DiffOptions, Sums, Unit};
use aisle_store::{InterleaveOutcome, UnitCounters};
use serde::{Deserialize, Serialize};

use super::experiments::{Experiment, Mode};

/// A treatment's difference from the control.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DifferenceOut {
    /// Treatment − control (CUPED-adjusted when `cuped`).
    pub absolute: f64,
    /// The absolute difference over the control (0 when the control is 0).
    pub relative: f64,
    /// Standard error of the difference.
    pub se: f64,
    /// 95% interval (fixed horizon: valid only if looked at once).
    pub ci_low: f64,
    /// 95% interval, upper bound.
    pub ci_high: f64,
    /// Two-sided p-value (fixed horizon).
    pub p_value: f64,
    /// Always-valid 95% interval (valid however often it is looked at).
    pub seq_ci_low: f64,
    /// Always-valid 95% interval, upper bound.
    pub seq_ci_high: f64,
    /// Whether CUPED adjusted it.
    pub cuped: bool,
    /// Share of the variance CUPED removed.
    pub variance_reduction: f64,
    /// `better`, `worse` or `inconclusive`, by the always-valid interval.
    pub verdict: String,
}

/// One metric of one variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetricReport {
    /// The estimate.
    pub value: f64,
    /// Its standard error.
    pub se: f64,
    /// Against the control (treatments only).
    pub difference: Option<DifferenceOut>,
}

/// One variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VariantReport {
    /// Its name.
    pub name: String,
    /// Units assigned (that were shown a list).
    pub units: u64,
    /// Lists served.
    pub impressions: u64,
    /// Attributed clicks.
    pub clicks: u64,
    /// Attributed purchases.
    pub purchases: u64,
    /// Attributed revenue.
    pub revenue: f64,
    /// Clicks per list.
    pub ctr: MetricReport,
    /// Share of units with a purchase.
    pub conversion: MetricReport,
    /// Revenue per unit.
    pub revenue_per_unit: MetricReport,
}

/// The sample-ratio-mismatch check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SrmOut {
    /// Pearson's χ² of units per variant against the weights.
    pub chi2: f64,
    /// Its p-value.
    pub p_value: f64,
    /// p < 0.001: the assignment or logging is broken, do not trust the differences.
    pub mismatch: bool,
}

/// The interleaving preference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InterleavingReport {
    /// Lists where A's items got more clicks.
    pub wins_a: u64,
    /// Lists where B's items got more clicks.
    pub wins_b: u64,
    /// Lists with clicks on both equally.
    pub ties: u64,
    /// Δ = (wins_a + ties/2)/(lists with clicks) − 0.5 (> 0: A preferred), per list.
    pub delta: f64,
    /// 95% interval of Δ.
    pub ci_low: f64,
    /// 95% interval of Δ, upper bound.
    pub ci_high: f64,
    /// Sign test of wins_a against wins_b.
    pub p_value: f64,
    /// The same by unit (each unit one vote: the team that won more of its lists); the verdict
    /// rests on it, as units, not lists, are independent.
    pub by_unit_delta: f64,
    /// Its 95% interval.
    pub by_unit_ci_low: f64,
    /// Its 95% interval, upper bound.
    pub by_unit_ci_high: f64,
    /// Its sign test.
    pub by_unit_p_value: f64,
    /// Units with a preference.
    pub units: u64,
}

/// The report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExperimentReport {
    /// The experiment.
    pub experiment: Experiment,
    /// Per variant, the control first (A/B), or the interleaved units (interleaving).
    pub variants: Vec<VariantReport>,
    /// Sample ratio mismatch (A/B).
    pub srm: Option<SrmOut>,
    /// The preference (interleaving).
    pub interleaving: Option<InterleavingReport>,
    /// Units per variant a fixed-horizon test needs to detect the minimum effect on revenue per
    /// unit at α = 0.05 with 80% power (from the control's variance so far).
    pub required_units_per_variant: Option<f64>,
    /// In words.
    pub verdict: String,
    /// Impressions dropped by this replica since it started (queue full): the counts may be
    /// short by about this many lists.
    pub dropped_impressions: u64,
}

fn verdict_of(d: &stats::Difference) -> &'static str {
    if d.seq_ci_low > 0.0 {
        "better"
    } else if d.seq_ci_high < 0.0 {
        "worse"
    } else {
        "inconclusive"
    }
}

fn difference_out(d: &stats::Difference) -> DifferenceOut {
    DifferenceOut {
        absolute: d.absolute,
        relative: d.relative,
        se: d.se,
        ci_low: d.ci_low,
        ci_high: d.ci_high,
        p_value: d.p_value,
        seq_ci_low: d.seq_ci_low,
        seq_ci_high: d.seq_ci_high,
        cuped: d.cuped,
        variance_reduction: d.variance_reduction,
        verdict: verdict_of(d).to_owned(),
    }
}

/// The three metrics' sums of one variant.
#[derive(Default, Clone)]
struct Arm {
    units: u64,
    impressions: u64,
    clicks: u64,
    purchases: u64,
    revenue: f64,
    ctr: Sums,
    conversion: Sums,
    revenue_per_unit: Sums,
}

impl Arm {
    fn add(&mut self, u: &UnitCounters) {
        self.units += 1;
        self.impressions += u.impressions;
        self.clicks += u.clicks;
        self.purchases += u.purchases;
        self.revenue += u.revenue;
        let c = u.covariate;
        self.ctr.add(&Unit { numerator: u.clicks as f64, denominator: u.impressions as f64, covariate: c });
        self.conversion.add(&Unit { numerator: f64::from(u.purchases > 0), denominator: 1.0, covariate: c });
        self.revenue_per_unit.add(&Unit { numerator: u.revenue, denominator: 1.0, covariate: c });
    }
}

fn metric(s: &Sums, control: Option<&Sums>) -> MetricReport {
    let e = stats::estimate(s);
    let difference =
        control.and_then(|c| stats::difference(c, s, &DiffOptions::default())).map(|d| difference_out(&d));
    MetricReport { value: e.map_or(0.0, |e| e.value), se: e.map_or(0.0, |e| e.se), difference }
}

/// The report of experiment `e` from its units and (interleaving) outcomes.
pub(crate) fn report(
    e: &Experiment,
    units: &[UnitCounters],
    outcomes: &[InterleaveOutcome],
    dropped: u64,
) -> ExperimentReport {
    let names: Vec<&str> = match e.config.mode {
        Mode::Ab => e.config.variants.iter().map(|v| v.name.as_str()).collect(),
        Mode::Interleaving => vec![super::INTERLEAVED],
    };
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(k, n)| (*n, k)).collect();
    let mut arms = vec![Arm::default(); names.len()];
    for u in units {
        // A unit under a variant the experiment no longer has cannot be (variants are fixed).
        if let Some(&k) = index.get(u.variant.as_str()) {
            arms[k].add(u);
        }
    }
    let control = arms.first().cloned().unwrap_or_default();
    let variants: Vec<VariantReport> = arms
        .iter()
        .zip(&names)
        .enumerate()
        .map(|(k, (a, name))| {
            let c = |s: fn(&Arm) -> &Sums| (k > 0).then(|| *s(&control));
            VariantReport {
                name: (*name).to_owned(),
                units: a.units,
                impressions: a.impressions,
                clicks: a.clicks,
                purchases: a.purchases,
                revenue: a.revenue,
                ctr: metric(&a.ctr, c(|a| &a.ctr).as_ref()),
                conversion: metric(&a.conversion, c(|a| &a.conversion).as_ref()),
                revenue_per_unit: metric(&a.revenue_per_unit, c(|a| &a.revenue_per_unit).as_ref()),
            }
        })
        .collect();
    let srm = match e.config.mode {
        Mode::Ab => {
            let observed: Vec<u64> = arms.iter().map(|a| a.units).collect();
            let weights: Vec<f64> = e.config.variants.iter().map(|v| v.weight).collect();
            stats::srm(&observed, &weights).map(|s| SrmOut {
                chi2: s.chi2,
                p_value: s.p_value,
                mismatch: s.mismatch,
            })
        }
        Mode::Interleaving => None,
    };
    let interleaving = (e.config.mode == Mode::Interleaving).then(|| interleaving(outcomes));
    let required = stats::estimate(&control.revenue_per_unit).and_then(|est| {
        let var = est.se * est.se * control.units as f64;
        let n = stats::required_units(var, e.config.minimum_effect * est.value.abs(), 0.05, 0.8);
        n.is_finite().then_some(n.ceil())
    });
    let verdict = verdict_text(e, &variants, srm.as_ref(), interleaving.as_ref());
    ExperimentReport {
        experiment: e.clone(),
        variants,
        srm,
        interleaving,
        required_units_per_variant: required,
        verdict,
        dropped_impressions: dropped,
    }
}

fn interleaving(outcomes: &[InterleaveOutcome]) -> InterleavingReport {
    let (mut a, mut b, mut t) = (0, 0, 0);
    let mut per_unit: HashMap<&str, (u64, u64)> = HashMap::new();
    for o in outcomes {
        let w = per_unit.entry(o.unit.as_str()).or_default();
        match o.clicks_a.cmp(&o.clicks_b) {
            std::cmp::Ordering::Greater => {
                a += 1;
                w.0 += 1;
            }
            std::cmp::Ordering::Less => {
                b += 1;
                w.1 += 1;
            }
            std::cmp::Ordering::Equal => t += 1,
        }
    }
    let p = aisle_impact::interleave::preference(a, b, t, 0.05);
    let units: Vec<(u64, u64)> = per_unit.into_values().collect();
    let u = aisle_impact::interleave::preference_by_unit(&units, 0.05);
    InterleavingReport {
        wins_a: a,
        wins_b: b,
        ties: t,
        delta: p.delta,
        ci_low: p.ci_low,
        ci_high: p.ci_high,
        p_value: p.p_value,
        by_unit_delta: u.delta,
        by_unit_ci_low: u.ci_low,
        by_unit_ci_high: u.ci_high,
        by_unit_p_value: u.p_value,
        units: u.wins_a + u.wins_b + u.ties,
    }
}

fn verdict_text(
    e: &Experiment,
    variants: &[VariantReport],
    srm: Option<&SrmOut>,
    interleaving: Option<&InterleavingReport>,
) -> String {
    if srm.is_some_and(|s| s.mismatch) {
        return "sample ratio mismatch (p < 0.001): units do not follow the weights; the differences \
                cannot be trusted until the cause is found"
            .to_owned();
    }
    if let Some(i) = interleaving {
        let (va, vb) = (&e.config.variants[0].name, &e.config.variants[1].name);
        return if i.by_unit_p_value < 0.05 && i.by_unit_delta > 0.0 {
            format!(
                "{va} preferred over {vb} (Δ = {:.3}, p = {:.2e} by unit)",
                i.by_unit_delta, i.by_unit_p_value
            )
        } else if i.by_unit_p_value < 0.05 {
            format!(
                "{vb} preferred over {va} (Δ = {:.3}, p = {:.2e} by unit)",
                i.by_unit_delta, i.by_unit_p_value
            )
        } else {
            format!("no preference yet ({} units with clicks, p = {:.2} by unit)", i.units, i.by_unit_p_value)
        };
    }
    let parts: Vec<String> = variants
        .iter()
        .skip(1)
        .map(|v| {
            let say =
                |m: &MetricReport| m.difference.as_ref().map_or("no data", |d| d.verdict.as_str()).to_owned();
            format!(
                "{}: CTR {}, conversion {}, revenue per unit {}",
                v.name,
                say(&v.ctr),
                say(&v.conversion),
                say(&v.revenue_per_unit)
            )
        })
        .collect();
    format!(
        "{} (against {}; always-valid 95% intervals)",
        parts.join("; "),
        variants.first().map_or("", |v| &v.name)
    )
}
