//! Popular lists over fixed time windows, updated by every ingested event.
//!
//! Events are counted (weighted by their kind's weight) in hourly buckets for the last 30 days,
//! and each window keeps a running total per item: an event adds to every window it falls in, and
//! when time moves on, the buckets that leave a window are subtracted from its total. A query
//! sorts one window's totals, and the sorted list is reused for `popular.cache_ttl_ms`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A window of the popular list.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Window {
    /// The last hour.
    #[serde(rename = "1h")]
    Hour,
    /// The last 24 hours.
    #[serde(rename = "24h")]
    Day,
    /// The last 7 days.
    #[serde(rename = "7d")]
    Week,
    /// The last 30 days.
    #[serde(rename = "30d")]
    Month,
    /// Everything ever ingested.
    #[serde(rename = "all")]
    All,
}

impl Window {
    /// Every window, shortest first.
    pub const ALL: [Window; 5] = [Window::Hour, Window::Day, Window::Week, Window::Month, Window::All];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Hour => "1h",
            Window::Day => "24h",
            Window::Week => "7d",
            Window::Month => "30d",
            Window::All => "all",
        }
    }

    /// The window from its wire name.
    pub fn parse(s: &str) -> Option<Window> {
        Window::ALL.into_iter().find(|w| w.as_str() == s)
    }

    fn hours(self) -> Option<i64> {
        match self {
            Window::Hour => Some(1),
            Window::Day => Some(24),
            Window::Week => Some(24 * 7),
            Window::Month => Some(24 * 30),
            Window::All => None,
        }
    }
}

const BUCKET_MS: i64 = 3_600_000;
const KEPT_HOURS: i64 = 24 * 30;

#[derive(Debug, Default)]
struct Totals {
    /// The oldest hour the window includes (ignored for `All`).
    start: i64,
    by_item: HashMap<Arc<str>, f64>,
}

#[derive(Debug, Default)]
struct Counts {
    buckets: BTreeMap<i64, HashMap<Arc<str>, f64>>,
    windows: Vec<(Window, Totals)>,
    now_hour: i64,
}

type Sorted = Arc<Vec<(Arc<str>, f64)>>;

/// [`Popularity`]'s counters as kept in the store: item ids once each, then `(code, weight)`
/// pairs per hourly bucket and for all time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PopularState {
    now_hour: i64,
    items: Vec<String>,
    buckets: Vec<(i64, Vec<(u32, f64)>)>,
    all: Vec<(u32, f64)>,
}

impl Counts {
    /// How many distinct items are counted, were `item` to be counted too: the all-time window
    /// holds every counted item.
    fn distinct(&self, item: &Arc<str>) -> usize {
        let all = self.windows.iter().find(|(w, _)| *w == Window::All).map(|(_, t)| &t.by_item);
        all.map_or(0, |m| if m.contains_key(item) { 0 } else { m.len() })
    }
}

/// The popularity counters and the short-lived cache of sorted lists.
#[derive(Debug)]
pub struct Popularity {
    counts: Mutex<Counts>,
    cache: Mutex<HashMap<Window, (Instant, Sorted)>>,
    /// Trending lists by half-life (its bits).
    trending: Mutex<HashMap<u64, (Instant, Sorted)>>,
    ttl: Duration,
}

fn add(map: &mut HashMap<Arc<str>, f64>, item: &Arc<str>, w: f64) {
    let slot = map.entry(item.clone()).or_insert(0.0);
    *slot += w;
    if *slot <= 1e-9 {
        map.remove(item);
    }
}

impl Popularity {
    /// Empty counters at `now_ms`, with sorted lists reused for `ttl_ms`.
    pub fn new(now_ms: i64, ttl_ms: u64) -> Self {
        let now_hour = now_ms.div_euclid(BUCKET_MS);
        let windows = Window::ALL
            .into_iter()
            .map(|w| {
                (w, Totals { start: w.hours().map_or(i64::MIN, |h| now_hour - h + 1), ..Totals::default() })
            })
            .collect();
        Self {
            counts: Mutex::new(Counts { buckets: BTreeMap::new(), windows, now_hour }),
            cache: Mutex::new(HashMap::new()),
            trending: Mutex::new(HashMap::new()),
            ttl: Duration::from_millis(ttl_ms),
        }
    }

    /// Counts an event on `item` at `ts_ms` with weight `w` (zero weights are ignored).
    pub fn record(&self, item: &Arc<str>, ts_ms: i64, w: f32) {
        self.record_many([(item, ts_ms, w)], None);
    }

    /// Adds many events `(item, ts_ms, weight)` under one lock (an ingest batch). With a `cap`,
    /// at most that many distinct items are ever counted: an event on an item beyond it is
    /// dropped (and counted in `aisle_popular_dropped_total`), so that made-up item ids cannot
    /// grow the counters without bound.
    pub fn record_many<'a>(
        &self,
        events: impl IntoIterator<Item = (&'a Arc<str>, i64, f32)>,
        cap: Option<usize>,
    ) {
        let mut c = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = &mut *c;
        let mut dropped = 0u64;
        for (item, ts_ms, w) in events {
            if w == 0.0 || !w.is_finite() {
                continue;
            }
            if let Some(cap) = cap
                && c.distinct(item) >= cap
            {
                dropped += 1;
                continue;
            }
            let w = f64::from(w);
            let hour = ts_ms.div_euclid(BUCKET_MS);
            if hour > c.now_hour - KEPT_HOURS {
                add(c.buckets.entry(hour).or_default(), item, w);
            }
            for (win, totals) in &mut c.windows {
                if win.hours().is_none() || hour >= totals.start {
                    add(&mut totals.by_item, item, w);
                }
            }
        }
        if dropped > 0 {
            metrics::counter!("aisle_popular_dropped_total").increment(dropped);
        }
    }

    /// Moves the windows to `now_ms`: buckets that left a window are subtracted from it.
    pub fn advance(&self, now_ms: i64) {
        let now_hour = now_ms.div_euclid(BUCKET_MS);
        let mut guard = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = &mut *guard;
        if now_hour <= c.now_hour {
            return;
        }
        c.now_hour = now_hour;
        for (win, totals) in &mut c.windows {
            let Some(h) = win.hours() else { continue };
            let new_start = now_hour - h + 1;
            for (_, bucket) in c.buckets.range(totals.start..new_start) {
                for (item, &w) in bucket {
                    add(&mut totals.by_item, item, -w);
                }
            }
            totals.start = new_start.max(totals.start);
        }
        let keep_from = now_hour - KEPT_HOURS + 1;
        c.buckets = c.buckets.split_off(&keep_from);
    }

    /// Items by exponentially decayed weight ("trending"): an event `age` hours old counts
    /// `2^(−age / half_life_hours)` of its weight, over the 30 days of hourly buckets kept. Best
    /// first; recomputed at most once per TTL for each half-life.
    pub fn trending(&self, half_life_hours: f64, now_ms: i64) -> Sorted {
        self.advance(now_ms);
        let key = half_life_hours.to_bits();
        {
            let cache = self.trending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((at, list)) = cache.get(&key)
                && at.elapsed() < self.ttl
            {
                return list.clone();
            }
        }
        let mut scores: HashMap<Arc<str>, f64> = HashMap::new();
        {
            let c = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (hour, bucket) in &c.buckets {
                let age = (c.now_hour - hour).max(0) as f64;
                let decay = (-age * std::f64::consts::LN_2 / half_life_hours).exp();
                for (item, w) in bucket {
                    *scores.entry(item.clone()).or_insert(0.0) += w * decay;
                }
            }
        }
        let mut list: Vec<(Arc<str>, f64)> = scores.into_iter().filter(|(_, s)| *s > 1e-12).collect();
        list.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let list = Arc::new(list);
        let mut cache = self.trending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() > 16 {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), list.clone()));
        list
    }

    /// The counters, to be kept in the store ([`crate::state`]): the hourly buckets and the
    /// all-time totals, with item ids written once each. The windows are sums of buckets, so
    /// they are not kept but summed again by [`Popularity::restore`].
    pub(crate) fn export(&self) -> PopularState {
        let c = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut index: HashMap<Arc<str>, u32> = HashMap::new();
        let mut items: Vec<String> = Vec::new();
        let mut code = |item: &Arc<str>| -> u32 {
            let next = items.len() as u32;
            *index.entry(item.clone()).or_insert_with(|| {
                items.push(item.to_string());
                next
            })
        };
        let all = c
            .windows
            .iter()
            .find(|(w, _)| *w == Window::All)
            .map(|(_, t)| t.by_item.iter().map(|(k, &w)| (code(k), w)).collect())
            .unwrap_or_default();
        let buckets = c
            .buckets
            .iter()
            .map(|(&hour, bucket)| (hour, bucket.iter().map(|(k, &w)| (code(k), w)).collect()))
            .collect();
        PopularState { now_hour: c.now_hour, items, buckets, all }
    }

    /// Replaces the counters by `state` ([`Popularity::export`]), summing each window again from
    /// the buckets. A state that does not hold together (an item code out of range, a weight
    /// that is not finite, a bucket older than 30 days before its own hour, an hour more than a
    /// day after these counters' own) is refused whole and changes nothing.
    pub(crate) fn restore(&self, state: PopularState) -> Result<(), String> {
        let own_hour = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).now_hour;
        if state.now_hour > own_hour.saturating_add(24) {
            return Err(format!("counters of hour {}, after this clock's {own_hour}", state.now_hour));
        }
        let items: Vec<Arc<str>> = state.items.iter().map(|s| Arc::from(s.as_str())).collect();
        let pairs = |list: &[(u32, f64)]| -> Result<HashMap<Arc<str>, f64>, String> {
            list.iter()
                .map(|&(code, w)| match items.get(code as usize) {
                    Some(item) if w.is_finite() => Ok((item.clone(), w)),
                    Some(_) => Err(format!("a weight of {w}")),
                    None => Err(format!("item code {code} of {}", items.len())),
                })
                .collect()
        };
        let now_hour = state.now_hour;
        let mut buckets = BTreeMap::new();
        for (hour, list) in &state.buckets {
            if *hour <= now_hour.saturating_sub(KEPT_HOURS) {
                return Err(format!("a bucket of hour {hour}, more than 30 days before {now_hour}"));
            }
            buckets.insert(*hour, pairs(list)?);
        }
        let all = pairs(&state.all)?;
        let windows = Window::ALL
            .into_iter()
            .map(|w| {
                let Some(h) = w.hours() else {
                    return (w, Totals { start: i64::MIN, by_item: all.clone() });
                };
                let start = now_hour.saturating_sub(h - 1);
                let mut by_item = HashMap::new();
                for bucket in buckets.range(start..).map(|(_, b)| b) {
                    for (item, &weight) in bucket {
                        add(&mut by_item, item, weight);
                    }
                }
                (w, Totals { start, by_item })
            })
            .collect();
        *self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Counts { buckets, windows, now_hour };
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        self.trending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        Ok(())
    }

    /// Items of `window` by total weight, best first (shared; recomputed at most once per TTL).
    pub fn ranked(&self, window: Window, now_ms: i64) -> Sorted {
        {
            let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((at, list)) = cache.get(&window)
                && at.elapsed() < self.ttl
            {
                return list.clone();
            }
        }
        self.advance(now_ms);
        let mut list: Vec<(Arc<str>, f64)> = {
            let c = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let totals = c.windows.iter().find(|(w, _)| *w == window).map(|(_, t)| &t.by_item);
            totals.map(|t| t.iter().map(|(k, &v)| (k.clone(), v)).collect()).unwrap_or_default()
        };
        // A total is a sum of bounded weights, so finite; a non-finite one would be shown as null.
        list.retain(|(_, w)| w.is_finite());
        list.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let list = Arc::new(list);
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.insert(window, (Instant::now(), list.clone()));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = BUCKET_MS;

    #[test]
    fn windows_count_what_falls_in_them_and_forget_what_leaves() {
        let now = 1000 * H;
        let p = Popularity::new(now, 0);
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        p.record(&a, now - 2 * H, 1.0); // in 24h, not in 1h
        p.record(&b, now, 1.0);
        p.record(&b, now - 40 * 24 * H, 5.0); // only in all
        let top = |w| p.ranked(w, now).iter().map(|(k, v)| (k.to_string(), *v)).collect::<Vec<_>>();
        assert_eq!(top(Window::Hour), vec![("b".to_owned(), 1.0)]);
        assert_eq!(top(Window::Day), vec![("a".to_owned(), 1.0), ("b".to_owned(), 1.0)]);
        assert_eq!(top(Window::All), vec![("b".to_owned(), 6.0), ("a".to_owned(), 1.0)]);
        // Two hours later, b's event has left the 1h window and a's is still in 24h.
        assert!(p.ranked(Window::Hour, now + 2 * H).is_empty());
        assert_eq!(p.ranked(Window::Day, now + 2 * H).len(), 2);
        // 23 hours later a's event (now − 2h) has left the 24h window.
        let day: Vec<String> =
            p.ranked(Window::Day, now + 23 * H).iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(day, vec!["b".to_owned()]);
    }

    #[test]
    fn a_cap_bounds_the_distinct_items_counted() {
        let now = 1000 * H;
        let p = Popularity::new(now, 0);
        let items: Vec<Arc<str>> = (0..10).map(|k| Arc::from(format!("i{k}").as_str())).collect();
        p.record_many(items.iter().map(|i| (i, now, 1.0)), Some(4));
        assert_eq!(p.ranked(Window::All, now).len(), 4);
        // Items already counted keep counting; new ones stay out.
        p.record_many([(&items[0], now, 2.0), (&items[9], now, 5.0)], Some(4));
        let all = p.ranked(Window::All, now);
        assert_eq!((all.len(), all[0].0.as_ref(), all[0].1), (4, "i0", 3.0));
    }

    /// Everything a query can ask of the counters, over a range of times.
    fn answers(p: &Popularity, now: i64) -> Vec<Vec<(String, f64)>> {
        let mut out = Vec::new();
        for at in [now, now + 3 * H, now + 30 * H, now + 200 * H] {
            for w in Window::ALL {
                out.push(p.ranked(w, at).iter().map(|(k, v)| (k.to_string(), (v * 1e9).round())).collect());
            }
            out.push(p.trending(24.0, at).iter().map(|(k, v)| (k.to_string(), (v * 1e9).round())).collect());
        }
        out
    }

    #[test]
    fn restored_counters_answer_as_the_ones_exported() {
        let now = 5_000 * H;
        let p = Popularity::new(now, 0);
        let items: Vec<Arc<str>> = (0..40).map(|k| Arc::from(format!("i{k}").as_str())).collect();
        for k in 0..2_000i64 {
            let item = &items[(k * k % 40) as usize];
            p.record(item, now - (k * 7919 % (60 * 24)) * H + k % 5, 0.5 + (k % 3) as f32);
        }
        let state = p.export();
        assert!(state.items.len() <= 40 && state.buckets.len() <= 720, "each item once, 30 days of hours");
        let q = Popularity::new(now, 0);
        q.restore(state.clone()).unwrap();
        assert_eq!(answers(&q, now), answers(&p, now));
        assert_eq!(q.export().all.len(), state.all.len());

        // Refused states change nothing.
        let (r, fresh) = (Popularity::new(now, 0), Popularity::new(now, 0));
        r.restore(state.clone()).unwrap();
        fresh.restore(state.clone()).unwrap();
        let mut bad = state.clone();
        bad.all.push((99, 1.0));
        assert!(r.restore(bad).unwrap_err().contains("item code 99"));
        let mut bad = state.clone();
        bad.buckets[0].1.push((0, f64::NAN));
        assert!(r.restore(bad).is_err());
        let mut bad = state.clone();
        bad.buckets.push((bad.now_hour - KEPT_HOURS, vec![]));
        assert!(r.restore(bad).is_err());
        for hour in [now / H + 25, i64::MAX] {
            assert!(r.restore(PopularState { now_hour: hour, ..state.clone() }).is_err(), "hour {hour}");
        }
        assert_eq!(answers(&r, now), answers(&fresh, now));
        // An absurdly old hour is only old: no overflow.
        let old = Popularity::new(now, 0);
        old.restore(PopularState { now_hour: i64::MIN, buckets: vec![], ..state }).unwrap();
        assert_eq!(answers(&old, now)[4], answers(&fresh, now)[4], "all-time totals kept");
    }

    #[test]
    fn trending_decays_by_age() {
        let now = 1_000 * BUCKET_MS;
        let p = Popularity::new(now, 0);
        let (old, new): (Arc<str>, Arc<str>) = (Arc::from("old"), Arc::from("new"));
        // 3 events 48 hours ago against 1 now: with a 24 h half-life, 3/4 < 1.
        for _ in 0..3 {
            p.record(&old, now - 48 * BUCKET_MS, 1.0);
        }
        p.record(&new, now, 1.0);
        let t = p.trending(24.0, now);
        assert_eq!(t[0].0.as_ref(), "new");
        assert!((t[0].1 - 1.0).abs() < 1e-12 && (t[1].1 - 0.75).abs() < 1e-12, "{t:?}");
        // With a week's half-life the older burst wins; the fixed all-time window agrees.
        assert_eq!(p.trending(168.0, now)[0].0.as_ref(), "old");
    }
}
