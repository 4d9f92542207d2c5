//! Shopping sessions: who browses what, when, and how far down the funnel they go.

use aisle_core::EventKind;
use aisle_core::rng::SeededRng;
use rand::Rng;
use rand_distr::{Distribution, Geometric, Normal};
use rayon::prelude::*;

use super::Shop;
use super::shop::ShopEvent;

/// Draws indexes with probability proportional to their weights (cumulative sums, binary search).
struct Sampler {
    cum: Vec<f64>,
}

impl Sampler {
    fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cum = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        Self { cum }
    }

    fn is_empty(&self) -> bool {
        self.cum.is_empty()
    }

    fn sample(&self, rng: &mut SeededRng) -> usize {
        let total = self.cum.last().copied().unwrap_or(0.0);
        let r = rng.random::<f64>() * total;
        self.cum.partition_point(|&c| c <= r).min(self.cum.len().saturating_sub(1))
    }
}

/// Items of each category with a popularity sampler, and one over the whole catalog.
struct Catalog {
    by_cat: Vec<(Vec<u32>, Sampler)>,
    all: Sampler,
}

impl Catalog {
    fn new(shop: &Shop) -> Self {
        let mut members = vec![Vec::new(); shop.categories.len()];
        for (i, item) in shop.items.iter().enumerate() {
            members[item.category as usize].push(i as u32);
        }
        let by_cat = members
            .into_iter()
            .map(|ids| {
                let s = Sampler::new(ids.iter().map(|&i| shop.items[i as usize].popularity));
                (ids, s)
            })
            .collect();
        Self { by_cat, all: Sampler::new(shop.items.iter().map(|i| i.popularity)) }
    }

    /// A popularity-weighted item of `cat` (of the whole catalog when the category is empty).
    fn draw(&self, cat: usize, rng: &mut SeededRng) -> usize {
        let (ids, s) = &self.by_cat[cat];
        if s.is_empty() { self.all.sample(rng) } else { ids[s.sample(rng)] as usize }
    }
}

/// Events per user: proportional to activity, remainders drawn by activity.
fn budgets(shop: &Shop, rng: &mut SeededRng) -> Vec<usize> {
    let total: f64 = shop.users.iter().map(|u| u.activity).sum();
    let n = shop.params.events;
    let mut b: Vec<usize> =
        shop.users.iter().map(|u| (n as f64 * u.activity / total).floor() as usize).collect();
    let rest = n.saturating_sub(b.iter().sum());
    let s = Sampler::new(shop.users.iter().map(|u| u.activity));
    for _ in 0..rest {
        b[s.sample(rng)] += 1;
    }
    b
}

/// The simulation state of one user.
struct UserSim<'a> {
    shop: &'a Shop,
    catalog: &'a Catalog,
    user: usize,
    favourites: Sampler,
    views: Geometric,
    noise: Normal<f32>,
}

impl UserSim<'_> {
    fn session_category(&self, rng: &mut SeededRng) -> usize {
        let fav = &self.shop.users[self.user].favourites;
        if rng.random_bool(self.shop.params.focus) {
            fav[self.favourites.sample(rng)].0 as usize
        } else {
            rng.random_range(0..self.shop.categories.len())
        }
    }

    /// The more-affine of two popular items with probability 0.75, the other otherwise.
    fn choose_item(&self, cat: usize, rng: &mut SeededRng) -> (usize, f32) {
        let (a, b) = (self.catalog.draw(cat, rng), self.catalog.draw(cat, rng));
        let (fa, fb) = (self.shop.affinity(self.user, a), self.shop.affinity(self.user, b));
        let (best, other) = if fa >= fb { ((a, fa), (b, fb)) } else { ((b, fb), (a, fa)) };
        if rng.random_bool(0.75) { best } else { other }
    }

    fn rating(&self, affinity: f32, rng: &mut SeededRng) -> f32 {
        (1.0 + 4.0 * affinity + self.noise.sample(rng)).round().clamp(1.0, 5.0)
    }

    /// One session's events with offsets in seconds from its start; at most `budget` events.
    fn session(&self, budget: usize, session: u32, rng: &mut SeededRng, out: &mut Vec<ShopEvent>) {
        let p = &self.shop.params;
        let cat = self.session_category(rng);
        let views = 1 + self.views.sample(rng) as usize;
        let end = out.len() + budget;
        let mut t = 0i64;
        let mut push = |out: &mut Vec<ShopEvent>, item: usize, kind, value, dt: i64| {
            t += dt;
            let ev = ShopEvent { user: self.user as u32, item: item as u32, session, kind, value, ts: t };
            (out.len() < end).then(|| out.push(ev)).is_some()
        };
        for _ in 0..views {
            let (item, a) = self.choose_item(cat, rng);
            if !push(out, item, EventKind::View, 0.0, rng.random_range(10..120)) {
                return;
            }
            let it = &self.shop.items[item];
            if it.in_stock && rng.random_bool(f64::from(0.02 + 0.3 * a * a * a)) {
                push(out, item, EventKind::AddToCart, 0.0, rng.random_range(5..60));
                if rng.random_bool(f64::from(0.1 + 0.5 * a)) {
                    push(out, item, EventKind::Purchase, it.price as f32, rng.random_range(30..300));
                    if p.ratings && rng.random_bool(0.7) {
                        push(out, item, EventKind::Rating, self.rating(a, rng), rng.random_range(60..600));
                    }
                    continue;
                }
            }
            if p.ratings && rng.random_bool(0.1) {
                push(out, item, EventKind::Rating, self.rating(a, rng), rng.random_range(20..200));
            }
        }
    }
}

/// Minimum time between the end of a session and the start of the next, in seconds.
const SESSION_GAP_S: i64 = 1800;

/// Spreads the user's sessions (`starts[k]` = first event of session k in `events`) over the
/// log window: uniform sorted start times, pushed apart to keep the gap.
fn place_sessions(shop: &Shop, events: &mut [ShopEvent], starts: &[usize], rng: &mut SeededRng) {
    let window = i64::from(shop.params.days) * 86_400;
    let mut at: Vec<i64> = starts.iter().map(|_| rng.random_range(0..window)).collect();
    at.sort_unstable();
    let mut free_from = i64::MIN;
    for (k, &first) in starts.iter().enumerate() {
        let last = starts.get(k + 1).copied().unwrap_or(events.len());
        let start = at[k].max(free_from);
        for e in &mut events[first..last] {
            e.ts += shop.params.start_ts + start;
        }
        let duration = events[last - 1].ts - (shop.params.start_ts + start);
        free_from = start + duration + SESSION_GAP_S;
    }
}

/// Users simulated from one random stream: the unit of parallel work. Fixed, so that the log
/// depends on the seed only, never on the number of threads.
const CHUNK_USERS: usize = 4096;
/// The random stream of chunk `c` is `CHUNK_STREAMS + c` (streams below are the shop's own).
const CHUNK_STREAMS: u64 = 1 << 32;

/// The whole event log, in time order (ties by user), simulated in parallel: users in chunks of
/// [`CHUNK_USERS`], each chunk from a random stream of its own, so the same seed gives the same
/// log on any number of cores. Sessions are numbered in user order. `progress` is called with the
/// number of users simulated so far, after every two chunks per thread, ending with all of them.
pub(crate) fn simulate(shop: &Shop, seed: u64, progress: &mut dyn FnMut(usize)) -> Vec<ShopEvent> {
    let catalog = Catalog::new(shop);
    let budgets = budgets(shop, &mut aisle_core::rng::stream(seed, 3));
    let chunks: Vec<&[usize]> = budgets.chunks(CHUNK_USERS).collect();
    let mut events = Vec::with_capacity(shop.params.events);
    let mut sessions = 0u32;
    let wave_chunks = 2 * rayon::current_num_threads().max(1);
    if budgets.is_empty() {
        progress(0);
    }
    for (w, wave) in chunks.chunks(wave_chunks).enumerate() {
        let simulated: Vec<(Vec<ShopEvent>, u32)> = wave
            .par_iter()
            .enumerate()
            .map(|(k, budgets)| {
                let c = w * wave_chunks + k;
                let mut rng = aisle_core::rng::stream(seed, CHUNK_STREAMS + c as u64);
                simulate_users(shop, &catalog, c * CHUNK_USERS, budgets, &mut rng)
            })
            .collect();
        for (mut chunk, n) in simulated {
            for e in &mut chunk {
                e.session += sessions;
            }
            sessions += n;
            events.append(&mut chunk);
        }
        progress(((w + 1) * wave_chunks * CHUNK_USERS).min(budgets.len()));
    }
    // Users never share a (time, user) key, and one user's events have distinct times: an
    // unstable sort is deterministic here.
    events.par_sort_unstable_by_key(|e| (e.ts, e.user));
    events
}

/// The events of users `first..first + budgets.len()`, with sessions numbered from 0; answers
/// them and how many sessions they took.
fn simulate_users(
    shop: &Shop,
    catalog: &Catalog,
    first: usize,
    budgets: &[usize],
    rng: &mut SeededRng,
) -> (Vec<ShopEvent>, u32) {
    let mut events = Vec::with_capacity(budgets.iter().sum());
    let mut session = 0u32;
    let views = Geometric::new(0.35).expect("0.35 is a probability");
    let noise = Normal::new(0.0f32, 0.5).expect("0.5 is a valid standard deviation");
    for (k, &budget) in budgets.iter().enumerate() {
        let user = first + k;
        let favourites = Sampler::new(shop.users[user].favourites.iter().map(|f| f64::from(f.1)));
        let sim = UserSim { shop, catalog, user, favourites, views, noise };
        let start = events.len();
        let mut starts = Vec::new();
        while events.len() - start < budget {
            starts.push(events.len() - start);
            let left = budget - (events.len() - start);
            sim.session(left, session, rng, &mut events);
            session += 1;
        }
        place_sessions(shop, &mut events[start..], &starts, rng);
    }
    (events, session)
}
