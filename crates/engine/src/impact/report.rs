//! The impact report: impressions, clicks, CTR, carts, purchases, conversion, attributed revenue
//! and revenue per 1,000 impressions by placement and variant, over time, each with a 95%
//! interval — computed from the hourly rollups, never from a scan of the log.
//!
//! Intervals: CTR and conversion are per served list; when the count is at most the lists it is
//! a proportion and gets the Wilson score interval (Wilson 1927), else (several clicks per list)
//! a Poisson rate with the normal interval `x/n ± z·√x/n`. Revenue is a compound Poisson sum of
//! purchase values, whose variance is estimated by the sum of squared values (`Σr²`), so
//! revenue ± z·√Σr², and revenue per mille is that over the lists × 1,000.

use std::collections::BTreeMap;

use aisle_store::{Rollup, RollupQuery};
use serde::{Deserialize, Serialize};

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Rows per hour or per day (UTC).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One row per hour.
    Hour,
    /// One row per UTC day.
    #[default]
    Day,
}

impl Granularity {
    fn bucket(self, ms: i64) -> i64 {
        let size = match self {
            Granularity::Hour => 3_600_000,
            Granularity::Day => 86_400_000,
        };
        ms.div_euclid(size) * size
    }
}

/// What the report covers.
#[derive(Clone, Debug, PartialEq)]
pub struct ImpactQuery {
    /// From (inclusive, Unix ms).
    pub from_ms: i64,
    /// To (exclusive).
    pub to_ms: i64,
    /// Only this placement.
    pub placement: Option<String>,
    /// Only this experiment.
    pub experiment: Option<String>,
    /// Only this variant.
    pub variant: Option<String>,
    /// Row size.
    pub granularity: Granularity,
}

impl ImpactQuery {
    pub(crate) fn rollup_query(&self) -> RollupQuery {
        RollupQuery {
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            placement: self.placement.clone(),
            experiment: self.experiment.clone(),
            variant: self.variant.clone(),
        }
    }
}

/// A value with its 95% interval.
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Measure {
    /// The estimate.
    pub value: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// The figures of one row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Metrics {
    /// Lists served.
    pub impressions: u64,
    /// Items shown.
    pub shown: u64,
    /// Attributed clicks.
    pub clicks: u64,
    /// Attributed cart adds.
    pub carts: u64,
    /// Attributed purchases.
    pub purchases: u64,
    /// Clicks per list.
    pub ctr: Measure,
    /// Purchases per list.
    pub conversion: Measure,
    /// Attributed revenue.
    pub revenue: Measure,
    /// Revenue per 1,000 lists.
    pub revenue_per_mille: Measure,
}

/// One row: a time bucket (or the whole range) of one placement × experiment × variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImpactRow {
    /// The bucket's start (Unix ms); none in totals.
    pub bucket_ms: Option<i64>,
    /// The placement (`""`: lists served without one).
    pub placement: String,
    /// The experiment (`""`: none).
    pub experiment: String,
    /// The variant (`""`: none).
    pub variant: String,
    /// The figures.
    pub metrics: Metrics,
}

/// The report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImpactReport {
    /// From (Unix ms).
    pub from_ms: i64,
    /// To (Unix ms).
    pub to_ms: i64,
    /// Row size.
    pub granularity: Granularity,
    /// Impressions this replica dropped since it started (queue full or store down): the
    /// figures undercount by about this many lists.
    pub dropped_impressions: u64,
    /// Rows by bucket, placement, experiment and variant.
    pub series: Vec<ImpactRow>,
    /// The whole range by placement, experiment and variant.
    pub totals: Vec<ImpactRow>,
}

#[derive(Default, Clone, Copy)]
struct Sums {
    impressions: u64,
    shown: u64,
    clicks: u64,
    carts: u64,
    purchases: u64,
    revenue: f64,
    revenue_sq: f64,
}

impl Sums {
    fn add(&mut self, r: &Rollup) {
        self.impressions += r.impressions;
        self.shown += r.shown;
        self.clicks += r.clicks;
        self.carts += r.carts;
        self.purchases += r.purchases;
        self.revenue += r.revenue;
        self.revenue_sq += r.revenue_sq;
    }

    fn metrics(&self) -> Metrics {
        let n = self.impressions;
        let spread = Z95 * self.revenue_sq.max(0.0).sqrt();
        let per_mille = |x: f64| if n == 0 { 0.0 } else { 1000.0 * x / n as f64 };
        Metrics {
            impressions: n,
            shown: self.shown,
            clicks: self.clicks,
            carts: self.carts,
            purchases: self.purchases,
            ctr: rate(self.clicks, n),
            conversion: rate(self.purchases, n),
            revenue: Measure {
                value: self.revenue,
                low: (self.revenue - spread).max(0.0),
                high: self.revenue + spread,
            },
            revenue_per_mille: Measure {
                value: per_mille(self.revenue),
                low: per_mille((self.revenue - spread).max(0.0)),
                high: per_mille(self.revenue + spread),
            },
        }
    }
}

/// `x` per `n` with its 95% interval: Wilson when `x ≤ n`, else a Poisson rate; zeros when
/// `n` is 0.
pub(crate) fn rate(x: u64, n: u64) -> Measure {
    if n == 0 {
        return Measure::default();
    }
    let (xf, nf) = (x as f64, n as f64);
    let p = xf / nf;
    if x <= n {
        let z2 = Z95 * Z95;
        let centre = (p + z2 / (2.0 * nf)) / (1.0 + z2 / nf);
        let half = Z95 * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / (1.0 + z2 / nf);
        Measure { value: p, low: (centre - half).max(0.0), high: (centre + half).min(1.0) }
    } else {
        let half = Z95 * xf.sqrt() / nf;
        Measure { value: p, low: (p - half).max(0.0), high: p + half }
    }
}

type Key = (Option<i64>, String, String, String);

/// The report from rollup rows.
pub(crate) fn build(q: &ImpactQuery, rows: &[Rollup], dropped: u64) -> ImpactReport {
    let mut series: BTreeMap<Key, Sums> = BTreeMap::new();
    let mut totals: BTreeMap<Key, Sums> = BTreeMap::new();
    for r in rows {
        let names = (r.placement.clone(), r.experiment.clone(), r.variant.clone());
        series
            .entry((
                Some(q.granularity.bucket(r.bucket_ms)),
                names.0.clone(),
                names.1.clone(),
                names.2.clone(),
            ))
            .or_default()
            .add(r);
        totals.entry((None, names.0, names.1, names.2)).or_default().add(r);
    }
    let rows = |m: BTreeMap<Key, Sums>| {
        m.into_iter()
            .map(|((bucket_ms, placement, experiment, variant), s)| ImpactRow {
                bucket_ms,
                placement,
                experiment,
                variant,
                metrics: s.metrics(),
            })
            .collect()
    };
    ImpactReport {
        from_ms: q.from_ms,
        to_ms: q.to_ms,
        granularity: q.granularity,
        dropped_impressions: dropped,
        series: rows(series),
        totals: rows(totals),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_and_poisson_intervals_by_hand() {
        // Wilson for 10 of 100: centre (0.1 + 1.9208/100)/(1.038415) = 0.114799...,
        // half = 1.96·√(0.0009 + 0.00009604)/1.038415 = 0.059448... → [0.0553, 0.1742].
        let m = rate(10, 100);
        assert!((m.value - 0.1).abs() < 1e-12);
        assert!((m.low - 0.055_222_3).abs() < 1e-5, "{m:?}");
        assert!((m.high - 0.174_366_4).abs() < 1e-5, "{m:?}");
        // 300 clicks on 100 lists: Poisson, 3 ± 1.96·√300/100.
        let m = rate(300, 100);
        assert!((m.high - (3.0 + Z95 * 300f64.sqrt() / 100.0)).abs() < 1e-12);
        assert_eq!(rate(5, 0), Measure::default(), "no lists, no rate");
    }

    #[test]
    fn rows_sum_by_day_and_in_totals() {
        let hour = 3_600_000;
        let row = |bucket_ms, variant: &str, impressions, clicks, revenue: f64| Rollup {
            bucket_ms,
            placement: "home".into(),
            experiment: "e".into(),
            variant: variant.into(),
            impressions,
            shown: impressions * 10,
            clicks,
            carts: 0,
            purchases: u64::from(revenue > 0.0),
            revenue,
            revenue_sq: revenue * revenue,
        };
        let rows = [row(0, "a", 100, 5, 30.0), row(hour, "a", 100, 7, 40.0), row(25 * hour, "a", 50, 1, 0.0)];
        let q = ImpactQuery {
            from_ms: 0,
            to_ms: 48 * hour,
            placement: None,
            experiment: None,
            variant: None,
            granularity: Granularity::Day,
        };
        let r = build(&q, &rows, 3);
        assert_eq!(r.series.len(), 2, "two days");
        assert_eq!((r.series[0].metrics.impressions, r.series[0].metrics.clicks), (200, 12));
        assert_eq!(r.series[1].bucket_ms, Some(24 * hour));
        let t = &r.totals[0].metrics;
        assert_eq!((t.impressions, t.clicks, t.purchases, r.dropped_impressions), (250, 13, 2, 3));
        assert!((t.revenue.value - 70.0).abs() < 1e-12);
        // √(30² + 40²) = 50: revenue 70 ± 1.96·50, floored at 0.
        assert!((t.revenue.high - (70.0 + Z95 * 50.0)).abs() < 1e-9);
        assert_eq!(t.revenue.low, 0.0);
        assert!((t.revenue_per_mille.value - 280.0).abs() < 1e-9);
    }
}
