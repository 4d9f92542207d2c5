//! The shop overview: the exploration step a data scientist runs before any model. Events per
//! UTC day by kind, the view → cart → purchase funnel over distinct shoppers, how concentrated
//! popularity is (top shares, Gini, a Lorenz-style curve) and how active shoppers are.
//!
//! [`overview`] reads the events once, in any order, keeping one counter per user, one per item
//! and one row per day of the newest [`MAX_DAYS`] days: memory is O(users + items + days), never
//! O(events), so it summarises a log of tens of millions of events.
//!
//! Times are Unix **milliseconds** (what the API and the store use). Importers that keep seconds
//! (`aisle_ingest::Event::ts`, 0 when unknown) convert with `ts * 1000` and pass `None` for an
//! unknown time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::DataError;
use crate::event::EventKind;
use crate::ids::{ItemIdx, UserIdx};

/// Milliseconds in a UTC day.
pub const DAY_MS: i64 = 86_400_000;
/// Longest daily series [`Overview::per_day`] holds: the newest this many days.
pub const MAX_DAYS: usize = 400;
/// The Lorenz curve has a point every 1/`CURVE_STEPS` of the catalog (or every item when the
/// catalog is smaller).
const CURVE_STEPS: u64 = 100;

/// One event as the overview reads it: who, what, which kind and when.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The shopper (below the `users` given to [`overview`]).
    pub user: UserIdx,
    /// The item (below the `items` given to [`overview`]).
    pub item: ItemIdx,
    /// What happened.
    pub kind: EventKind,
    /// Unix time in milliseconds; `None` when unknown (such events count everywhere except in
    /// [`Overview::first_ms`], [`Overview::last_ms`] and [`Overview::per_day`]).
    pub ts_ms: Option<i64>,
}

/// What a shop's event log looks like.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// Events read, of every kind.
    pub events: u64,
    /// Users in the id space (the count given, shoppers without events included).
    pub users: u64,
    /// Items in the id space (the count given: the catalog, touched or not).
    pub items: u64,
    /// Time of the oldest event with a known time (Unix ms); `None` when no event has one.
    pub first_ms: Option<i64>,
    /// Time of the newest event with a known time (Unix ms); `None` when no event has one.
    pub last_ms: Option<i64>,
    /// Events per UTC day by kind, oldest first, one row for every day from the day of
    /// `first_ms` to the day of `last_ms` (days without events included, as zeros), but at most
    /// the newest [`MAX_DAYS`] days: older events are in every other figure, not in this series.
    pub per_day: Vec<DayCounts>,
    /// Views, carts and purchases, as events and as distinct shoppers.
    pub funnel: Funnel,
    /// How concentrated item popularity (events of any kind per item) is.
    pub long_tail: LongTail,
    /// Shoppers by their number of events, in power-of-two buckets (1, 2–3, 4–7, ...), from the
    /// first bucket to the highest non-empty one (empty buckets in between included); shoppers
    /// without events are in no bucket.
    pub activity: Vec<ActivityBucket>,
}

/// The events of one UTC day, by kind.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCounts {
    /// The day's start, 00:00 UTC (Unix ms, a multiple of [`DAY_MS`]).
    pub day_ms: i64,
    /// [`EventKind::View`] events.
    pub view: u64,
    /// [`EventKind::Click`] events.
    pub click: u64,
    /// [`EventKind::AddToCart`] events.
    pub add_to_cart: u64,
    /// [`EventKind::Purchase`] events.
    pub purchase: u64,
    /// Every other kind: ratings, likes, dislikes, impressions.
    pub other: u64,
}

/// The view → cart → purchase funnel.
///
/// The rates are over distinct shoppers, not events: `view_to_cart = carters / viewers`,
/// `cart_to_purchase = buyers / carters`, `view_to_purchase = buyers / viewers`, each 0 when its
/// denominator is 0. A rate can exceed 1 when shoppers cart or buy without a logged view.
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Funnel {
    /// [`EventKind::View`] events.
    pub views: u64,
    /// [`EventKind::AddToCart`] events.
    pub carts: u64,
    /// [`EventKind::Purchase`] events.
    pub purchases: u64,
    /// Shoppers with at least one view.
    pub viewers: u64,
    /// Shoppers with at least one add-to-cart.
    pub carters: u64,
    /// Shoppers with at least one purchase.
    pub buyers: u64,
    /// `carters / viewers`.
    pub view_to_cart: f64,
    /// `buyers / carters`.
    pub cart_to_purchase: f64,
    /// `buyers / viewers`.
    pub view_to_purchase: f64,
}

/// How concentrated item popularity is. Popularity is the number of events of any kind on an
/// item; items are the whole id space (`items`), so untouched catalog items count as zeros.
/// Every share is 0 (and the curve the diagonal) when there are no events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LongTail {
    /// Items with at least one event.
    pub items_with_events: u64,
    /// Share of all events on the ⌈1% · items⌉ most popular items.
    pub top_1pct_share: f64,
    /// Share of all events on the ⌈10% · items⌉ most popular items.
    pub top_10pct_share: f64,
    /// Share of all events on the ⌈20% · items⌉ most popular items.
    pub top_20pct_share: f64,
    /// Gini coefficient of the items' popularity, `Σᵢ (2i − n − 1) xᵢ / (n Σᵢ xᵢ)` over the `n`
    /// items sorted ascending (`i` from 1): 0 when every item is equally popular, `(n − 1) / n`
    /// when one item has every event.
    pub gini: f64,
    /// Lorenz-style curve: points `[x, y]` where `x` is the share of items taken most popular
    /// first and `y` the share of events they hold; from `[0, 0]` to `[1, 1]`, at most 101
    /// points (every item when there are at most 100, else `k = ⌈j · items / 100⌉` items for
    /// `j = 0..=100`, with `x = k / items` exactly). Empty when there are no items.
    pub curve: Vec<[f64; 2]>,
}

/// The shoppers whose number of events lies in `min_events..=max_events`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityBucket {
    /// Fewest events in the bucket (a power of two).
    pub min_events: u64,
    /// Most events in the bucket (twice `min_events`, minus one).
    pub max_events: u64,
    /// Shoppers in it.
    pub users: u64,
}

/// Per-user flags of the funnel stages reached.
const VIEWED: u8 = 1;
const CARTED: u8 = 2;
const BOUGHT: u8 = 4;

/// The running counts of one pass over the events.
struct Tally {
    events: u64,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
    /// Day index (`ts_ms / DAY_MS`, floored) → counts, for the newest [`MAX_DAYS`] days seen.
    days: BTreeMap<i64, DayCounts>,
    views: u64,
    carts: u64,
    purchases: u64,
    user_events: Vec<u64>,
    user_stages: Vec<u8>,
    item_events: Vec<u64>,
}

impl Tally {
    fn new(users: usize, items: usize) -> Self {
        Tally {
            events: 0,
            first_ms: None,
            last_ms: None,
            days: BTreeMap::new(),
            views: 0,
            carts: 0,
            purchases: 0,
            user_events: vec![0; users],
            user_stages: vec![0; users],
            item_events: vec![0; items],
        }
    }

    fn add(&mut self, e: &Observed) -> Result<(), DataError> {
        let (u, i) = (e.user.index(), e.item.index());
        if u >= self.user_events.len() {
            return Err(DataError::UserOutOfRange { index: e.user.0, n: self.user_events.len() });
        }
        if i >= self.item_events.len() {
            return Err(DataError::ItemOutOfRange { index: e.item.0, n: self.item_events.len() });
        }
        self.events += 1;
        self.user_events[u] += 1;
        self.item_events[i] += 1;
        let stage = match e.kind {
            EventKind::View => {
                self.views += 1;
                VIEWED
            }
            EventKind::AddToCart => {
                self.carts += 1;
                CARTED
            }
            EventKind::Purchase => {
                self.purchases += 1;
                BOUGHT
            }
            EventKind::Click
            | EventKind::Rating
            | EventKind::Like
            | EventKind::Dislike
            | EventKind::Impression => 0,
        };
        self.user_stages[u] |= stage;
        if let Some(ts) = e.ts_ms {
            self.add_timed(ts, e.kind);
        }
        Ok(())
    }

    /// Counts an event at `ts` in its day, keeping only the newest [`MAX_DAYS`] days.
    fn add_timed(&mut self, ts: i64, kind: EventKind) {
        self.first_ms = Some(self.first_ms.map_or(ts, |f| f.min(ts)));
        let last = self.last_ms.map_or(ts, |l| l.max(ts));
        self.last_ms = Some(last);
        let oldest_kept = last.div_euclid(DAY_MS) - (MAX_DAYS as i64 - 1);
        let day = ts.div_euclid(DAY_MS);
        if day < oldest_kept {
            return;
        }
        if self.days.first_key_value().is_some_and(|(&d, _)| d < oldest_kept) {
            self.days = self.days.split_off(&oldest_kept);
        }
        let c = self.days.entry(day).or_default();
        match kind {
            EventKind::View => c.view += 1,
            EventKind::Click => c.click += 1,
            EventKind::AddToCart => c.add_to_cart += 1,
            EventKind::Purchase => c.purchase += 1,
            EventKind::Rating | EventKind::Like | EventKind::Dislike | EventKind::Impression => c.other += 1,
        }
    }

    /// Every day from the first kept one (or the first event's) to the last, zeros filled in.
    fn per_day(&self) -> Vec<DayCounts> {
        let (Some(first), Some(last)) = (self.first_ms, self.last_ms) else { return Vec::new() };
        let last_day = last.div_euclid(DAY_MS);
        let first_day = first.div_euclid(DAY_MS).max(last_day - (MAX_DAYS as i64 - 1));
        (first_day..=last_day)
            .map(|d| {
                let counts = self.days.get(&d).copied().unwrap_or_default();
                DayCounts { day_ms: d * DAY_MS, ..counts }
            })
            .collect()
    }

    fn funnel(&self) -> Funnel {
        let reached = |flag: u8| self.user_stages.iter().filter(|&&s| s & flag != 0).count() as u64;
        let (viewers, carters, buyers) = (reached(VIEWED), reached(CARTED), reached(BOUGHT));
        Funnel {
            views: self.views,
            carts: self.carts,
            purchases: self.purchases,
            viewers,
            carters,
            buyers,
            view_to_cart: ratio(carters, viewers),
            cart_to_purchase: ratio(buyers, carters),
            view_to_purchase: ratio(buyers, viewers),
        }
    }

    fn activity(&self) -> Vec<ActivityBucket> {
        let mut buckets = [0u64; 64];
        for &n in self.user_events.iter().filter(|&&n| n > 0) {
            buckets[n.ilog2() as usize] += 1;
        }
        let Some(top) = buckets.iter().rposition(|&n| n > 0) else { return Vec::new() };
        buckets[..=top]
            .iter()
            .enumerate()
            .map(|(b, &users)| ActivityBucket {
                min_events: 1 << b,
                max_events: 1u64.checked_shl(b as u32 + 1).map_or(u64::MAX, |x| x - 1),
                users,
            })
            .collect()
    }
}

/// `a / b`, or 0 when `b` is 0.
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The long-tail figures of per-item event counts.
fn long_tail(item_events: &[u64]) -> LongTail {
    let mut counts = item_events.to_vec();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let n = counts.len() as u64;
    let total: u64 = counts.iter().sum();
    // prefix[k]: events on the k most popular items.
    let mut prefix = Vec::with_capacity(counts.len() + 1);
    prefix.push(0u64);
    for &c in &counts {
        prefix.push(prefix[prefix.len() - 1] + c);
    }
    let top = |pct: u64| ratio(prefix[(pct * n).div_ceil(100) as usize], total);
    LongTail {
        items_with_events: counts.iter().filter(|&&c| c > 0).count() as u64,
        top_1pct_share: top(1),
        top_10pct_share: top(10),
        top_20pct_share: top(20),
        gini: gini(&counts, total),
        curve: curve(&prefix, total),
    }
}

/// Gini of counts sorted descending: `Σⱼ (n + 1 − 2j) xⱼ / (n · total)` with `j` from 1, the
/// ascending formula with `i = n + 1 − j`; exact in integers until the final division.
fn gini(desc: &[u64], total: u64) -> f64 {
    let n = desc.len() as i128;
    if n == 0 || total == 0 {
        return 0.0;
    }
    let num: i128 = desc.iter().zip(1i128..).map(|(&x, j)| (n + 1 - 2 * j) * i128::from(x)).sum();
    num as f64 / (n as f64 * total as f64)
}

/// The Lorenz-style curve from the prefix sums of the descending counts.
fn curve(prefix: &[u64], total: u64) -> Vec<[f64; 2]> {
    let n = (prefix.len() - 1) as u64;
    if n == 0 {
        return Vec::new();
    }
    let mut ks: Vec<u64> = (0..=CURVE_STEPS).map(|j| (j * n).div_ceil(CURVE_STEPS)).collect();
    ks.dedup();
    ks.into_iter()
        .map(|k| {
            let x = k as f64 / n as f64;
            // Without events every item holds an equal (zero) share: the diagonal.
            let y = if total == 0 { x } else { prefix[k as usize] as f64 / total as f64 };
            [x, y]
        })
        .collect()
}

/// The overview of `events` over `users` users and `items` items.
///
/// One pass, in any order; memory O(users + items + [`MAX_DAYS`]). Fails on the first event
/// whose user is not below `users` or item not below `items` (pass the importer's
/// `users().len()` and `items().len()`).
pub fn overview(
    events: impl IntoIterator<Item = Observed>,
    users: usize,
    items: usize,
) -> Result<Overview, DataError> {
    let mut tally = Tally::new(users, items);
    for e in events {
        tally.add(&e)?;
    }
    Ok(Overview {
        events: tally.events,
        users: users as u64,
        items: items as u64,
        first_ms: tally.first_ms,
        last_ms: tally.last_ms,
        per_day: tally.per_day(),
        funnel: tally.funnel(),
        long_tail: long_tail(&tally.item_events),
        activity: tally.activity(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;
    /// 2023-11-14 00:00 UTC.
    const D: i64 = 19_675 * DAY_MS;

    fn ev(u: u32, i: u32, kind: EventKind, ts_ms: Option<i64>) -> Observed {
        Observed { user: UserIdx(u), item: ItemIdx(i), kind, ts_ms }
    }

    /// Four shoppers, five items, nine events over days 0 and 2 (day 1 empty), one without a
    /// time. Item popularity: i0 6, i1 2, i2 1, i3 0, i4 0.
    fn shop() -> Vec<Observed> {
        use EventKind::*;
        vec![
            ev(0, 0, View, Some(D + HOUR_MS)),
            ev(0, 0, Click, Some(D + 2 * HOUR_MS)),
            ev(0, 0, AddToCart, Some(D + 3 * HOUR_MS)),
            ev(0, 0, Purchase, Some(D + 4 * HOUR_MS)),
            ev(1, 0, View, Some(D + 5 * HOUR_MS)),
            ev(1, 1, View, Some(D + 2 * DAY_MS + HOUR_MS)),
            ev(1, 1, AddToCart, Some(D + 2 * DAY_MS + 2 * HOUR_MS)),
            ev(2, 0, View, None),
            ev(2, 2, Rating, Some(D + 2 * DAY_MS + 3 * HOUR_MS)),
        ]
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn a_hand_checked_shop_gives_every_field() {
        let o = overview(shop(), 4, 5).unwrap();
        assert_eq!((o.events, o.users, o.items), (9, 4, 5));
        assert_eq!((o.first_ms, o.last_ms), (Some(D + HOUR_MS), Some(D + 2 * DAY_MS + 3 * HOUR_MS)));
        let day = |k: i64, view, click, add_to_cart, purchase, other| DayCounts {
            day_ms: D + k * DAY_MS,
            view,
            click,
            add_to_cart,
            purchase,
            other,
        };
        // The untimed view is in no day; day 1 has no events and is still listed.
        assert_eq!(o.per_day, [day(0, 2, 1, 1, 1, 0), day(1, 0, 0, 0, 0, 0), day(2, 1, 0, 1, 0, 1)]);
        let f = o.funnel;
        assert_eq!((f.views, f.carts, f.purchases), (4, 2, 1));
        assert_eq!((f.viewers, f.carters, f.buyers), (3, 2, 1));
        assert!(close(f.view_to_cart, 2.0 / 3.0) && close(f.cart_to_purchase, 0.5));
        assert!(close(f.view_to_purchase, 1.0 / 3.0));
        let t = &o.long_tail;
        assert_eq!(t.items_with_events, 3);
        // ⌈1% · 5⌉ = ⌈10% · 5⌉ = ⌈20% · 5⌉ = 1 item: i0, with 6 of 9 events.
        for share in [t.top_1pct_share, t.top_10pct_share, t.top_20pct_share] {
            assert!(close(share, 6.0 / 9.0), "{share}");
        }
        // Ascending [0, 0, 1, 2, 6]: (−4·0 − 2·0 + 0·1 + 2·2 + 4·6) / (5 · 9) = 28 / 45.
        assert!(close(t.gini, 28.0 / 45.0), "{}", t.gini);
        let expected = [[0.0, 0.0], [0.2, 6.0 / 9.0], [0.4, 8.0 / 9.0], [0.6, 1.0], [0.8, 1.0], [1.0, 1.0]];
        assert_eq!(t.curve.len(), expected.len());
        for (p, q) in t.curve.iter().zip(expected) {
            assert!(close(p[0], q[0]) && close(p[1], q[1]), "{p:?} vs {q:?}");
        }
        // u0 has 4 events, u1 3, u2 2, u3 none.
        let bucket = |min_events, max_events, users| ActivityBucket { min_events, max_events, users };
        assert_eq!(o.activity, [bucket(1, 1, 0), bucket(2, 3, 2), bucket(4, 7, 1)]);
    }

    #[test]
    fn the_order_of_events_does_not_matter() {
        let mut reversed = shop();
        reversed.reverse();
        assert_eq!(overview(reversed, 4, 5).unwrap(), overview(shop(), 4, 5).unwrap());
    }

    #[test]
    fn equal_popularity_has_gini_zero_and_one_item_has_n_minus_one_over_n() {
        let equal = (0..8).flat_map(|i| [ev(0, i, EventKind::View, None), ev(1, i, EventKind::Click, None)]);
        let t = overview(equal, 2, 8).unwrap().long_tail;
        assert_eq!(t.gini, 0.0);
        assert_eq!(t.items_with_events, 8);
        // ⌈20% · 8⌉ = 2 of 8 equally popular items hold a quarter.
        assert!(close(t.top_20pct_share, 0.25));
        assert!(t.curve.iter().all(|[x, y]| close(*x, *y)), "{:?}", t.curve);

        let one = (0..10).map(|_| ev(0, 3, EventKind::View, None));
        let t = overview(one, 1, 4).unwrap().long_tail;
        assert!(close(t.gini, 3.0 / 4.0), "{}", t.gini);
        assert_eq!((t.items_with_events, t.top_1pct_share), (1, 1.0));
    }

    #[test]
    fn a_large_catalog_gets_101_curve_points_and_integer_top_shares() {
        // Item i has i + 1 events, 250 items: the top 1% is ⌈2.5⌉ = 3 items.
        let events = (0..250u32).flat_map(|i| (0..=i).map(move |_| ev(0, i, EventKind::View, None)));
        let t = overview(events, 1, 250).unwrap().long_tail;
        let total = 250.0 * 251.0 / 2.0;
        assert!(close(t.top_1pct_share, (250.0 + 249.0 + 248.0) / total));
        // ⌈10% · 250⌉ = 25 items: 250 + ... + 226.
        assert!(close(t.top_10pct_share, (226..=250).sum::<u32>() as f64 / total));
        assert_eq!(t.curve.len(), 101);
        assert_eq!((t.curve[0], t.curve[100]), ([0.0, 0.0], [1.0, 1.0]));
        // Point j = 1 is k = ⌈250 / 100⌉ = 3 items, at x = 3 / 250 exactly.
        assert_eq!(t.curve[1], [3.0 / 250.0, (250.0 + 249.0 + 248.0) / total]);
        assert!(t.curve.windows(2).all(|w| w[0][0] < w[1][0] && w[0][1] <= w[1][1]));
        assert!(t.gini > 0.0 && t.gini < 0.5, "{}", t.gini);
    }

    #[test]
    fn the_daily_series_keeps_the_newest_400_days() {
        let events = [
            ev(0, 0, EventKind::View, Some(D - 1000 * DAY_MS)),
            ev(0, 0, EventKind::Purchase, Some(D + 5)),
            ev(0, 0, EventKind::View, Some(D - 399 * DAY_MS)),
            ev(0, 0, EventKind::View, Some(D - 400 * DAY_MS)),
        ];
        let o = overview(events, 1, 1).unwrap();
        assert_eq!(o.events, 4);
        assert_eq!(o.first_ms, Some(D - 1000 * DAY_MS));
        assert_eq!(o.per_day.len(), MAX_DAYS);
        assert_eq!(o.per_day[0].day_ms, D - 399 * DAY_MS);
        assert_eq!((o.per_day[0].view, o.per_day[MAX_DAYS - 1].purchase), (1, 1));
        assert_eq!(o.per_day.iter().map(|d| d.view + d.purchase).sum::<u64>(), 2);
        assert_eq!(o.funnel.views, 3);
    }

    #[test]
    fn times_before_1970_fall_in_their_utc_day() {
        let o = overview([ev(0, 0, EventKind::Like, Some(-1))], 1, 1).unwrap();
        assert_eq!(o.per_day, [DayCounts { day_ms: -DAY_MS, other: 1, ..DayCounts::default() }]);
    }

    #[test]
    fn no_events_give_zeros_and_an_out_of_range_index_is_refused() {
        let o = overview([], 3, 2).unwrap();
        assert_eq!((o.events, o.first_ms, o.per_day.len(), o.activity.len()), (0, None, 0, 0));
        assert_eq!(o.funnel, Funnel::default());
        assert_eq!(o.long_tail.curve, [[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]);
        assert_eq!(o.long_tail.gini, 0.0);
        let err = overview([ev(3, 0, EventKind::View, None)], 3, 2).unwrap_err();
        assert_eq!(err, DataError::UserOutOfRange { index: 3, n: 3 });
        let err = overview([ev(0, 2, EventKind::View, None)], 3, 2).unwrap_err();
        assert_eq!(err, DataError::ItemOutOfRange { index: 2, n: 2 });
    }

    #[test]
    fn the_overview_round_trips_through_json() {
        let o = overview(shop(), 4, 5).unwrap();
        let json = serde_json::to_string(&o).unwrap();
        assert!(json.contains(r#""top_1pct_share""#) && json.contains(r#""day_ms""#));
        let back: Overview = serde_json::from_str(&json).unwrap();
        // Floats may come back one ulp off (serde_json without `float_roundtrip`).
        assert_eq!(
            (back.events, back.last_ms, &back.per_day, &back.activity),
            (o.events, o.last_ms, &o.per_day, &o.activity)
        );
        assert!(
            close(back.long_tail.gini, o.long_tail.gini)
                && close(back.funnel.view_to_cart, o.funnel.view_to_cart)
        );
    }
}
