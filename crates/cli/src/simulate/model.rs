//! The pure part of `aisle simulate`: the shoppers' choice model, the ground truth of what was
//! shown, the events a list leads to, and the tallies and reports (unit-tested below).

use aisle_core::EventKind;
use aisle_core::rng::{self, SeededRng};
use aisle_ingest::synth::Shop;
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// How shoppers choose from a list (a cascade-free position-based model: each position is
/// examined independently).
///
/// - Examination: position `k` (0-based) is looked at with probability `1 / (1 + k)^decay`
///   (decay 0.8: position 2 is seen 58% as often as the first, position 10 16%).
/// - Click: an examined item is clicked with probability `scale · affinity^exponent`. The
///   exponent (2) makes clicks fall off quickly away from a shopper's taste; the scale (0.08)
///   is there because the affinities of a shopper's favourites are near 1 whatever the
///   exponent, and a list of ten of them would otherwise draw 3.6 clicks. With it, a list of a
///   shopper's ten truly best items (affinity ≈ 0.93 on the demo shop) draws about 0.25 clicks,
///   an average model's (≈ 0.7) about 0.14, ten random items (≈ 0.35) about 0.04: per-list
///   CTRs in the usual 5–30% band, ordered by how well the list fits.
/// - After a click: an add-to-cart with probability `0.1 + 0.4 a` (never for an out-of-stock
///   item, as in the generator), and after it a purchase with probability `0.2 + 0.5 a`,
///   whose revenue is the item's catalog price.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ChoiceModel {
    /// Examination decay over positions.
    pub decay: f64,
    /// Click probability of an examined item of affinity 1.
    pub scale: f64,
    /// Exponent of the affinity in the click probability.
    pub exponent: f64,
}

impl Default for ChoiceModel {
    fn default() -> Self {
        ChoiceModel { decay: 0.8, scale: 0.08, exponent: 2.0 }
    }
}

/// What a shopper did with one shown item; each step implies the ones before.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Not clicked.
    Ignored,
    /// Clicked only.
    Clicked,
    /// Clicked and carted.
    Carted,
    /// Clicked, carted and bought.
    Bought,
}

/// The ground truth of one shown item, when the shop has it.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Truth {
    /// The item's generator index.
    pub item: usize,
    /// The shopper's true affinity for it, in [0, 1].
    pub affinity: f64,
    /// Whether it can be carted.
    pub in_stock: bool,
    /// Its catalog price (a purchase's revenue).
    pub price: f64,
}

impl ChoiceModel {
    /// Probability that position `k` (0-based) is examined.
    pub fn examined(&self, k: usize) -> f64 {
        (1.0 + k as f64).powf(-self.decay)
    }

    /// Probability that the item at position `k` with affinity `a` is clicked.
    pub fn click(&self, k: usize, a: f64) -> f64 {
        self.examined(k) * self.scale * a.clamp(0.0, 1.0).powf(self.exponent)
    }

    /// Probability of an add-to-cart after a click.
    pub fn cart(a: f64) -> f64 {
        0.1 + 0.4 * a.clamp(0.0, 1.0)
    }

    /// Probability of a purchase after an add-to-cart.
    pub fn purchase(a: f64) -> f64 {
        0.2 + 0.5 * a.clamp(0.0, 1.0)
    }

    /// The shopper's reaction to each position of a list (`None`: an item the shop does not
    /// have, never clicked). Draws one number per known position, one more after a click of an
    /// in-stock item, one more after a cart.
    pub fn choose(&self, shown: &[Option<Truth>], rng: &mut SeededRng) -> Vec<Outcome> {
        shown
            .iter()
            .enumerate()
            .map(|(k, t)| {
                let Some(t) = t else { return Outcome::Ignored };
                if rng.random::<f64>() >= self.click(k, t.affinity) {
                    Outcome::Ignored
                } else if !t.in_stock || rng.random::<f64>() >= Self::cart(t.affinity) {
                    Outcome::Clicked
                } else if rng.random::<f64>() >= Self::purchase(t.affinity) {
                    Outcome::Carted
                } else {
                    Outcome::Bought
                }
            })
            .collect()
    }
}

/// Shoppers' user indexes: a shuffle of the shop's users by `seed` (on a stream no shopper
/// uses), taken in order and repeated when `n` exceeds `users`.
pub fn pick_shoppers(seed: u64, users: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..users).collect();
    order.shuffle(&mut rng::stream(seed, u64::MAX));
    (0..n).map(|k| order[k % users.max(1)]).collect()
}

/// The generator index of an item id the demo shop names (`i1` is item 0; see
/// `aisle_engine::shop_records`), if it is one of its `items`.
pub fn shop_item(id: &str, items: usize) -> Option<usize> {
    let n: usize = id.strip_prefix('i')?.parse().ok()?;
    let i = n.checked_sub(1)?;
    (i < items && Shop::item_id(i) == id).then_some(i)
}

/// The truth of each item of a list for `user`.
pub fn truths(shop: &Shop, user: usize, ids: &[String]) -> Vec<Option<Truth>> {
    ids.iter()
        .map(|id| {
            let item = shop_item(id, shop.items.len())?;
            let it = &shop.items[item];
            let affinity = f64::from(shop.affinity(user, item));
            Some(Truth { item, affinity, in_stock: it.in_stock, price: it.price })
        })
        .collect()
}

/// One event as `POST /v1/events` takes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventOut {
    /// `sim-{recommendation_id}-{position}-{type}`: unique per list, so a re-sent batch is not
    /// stored twice.
    pub event_id: String,
    /// The shopper.
    pub user_id: String,
    /// The item.
    pub item_id: String,
    /// `click`, `add_to_cart` or `purchase`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The list the event follows from.
    pub recommendation_id: String,
    /// A purchase's price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// The events of a list's outcomes, in position order (click, cart, purchase per item).
pub fn list_events(
    user_id: &str,
    list: &ServedList,
    shown: &[Option<Truth>],
    outcomes: &[Outcome],
) -> Vec<EventOut> {
    let mut out = Vec::new();
    for (k, ((item, t), &o)) in list.items.iter().zip(shown).zip(outcomes).enumerate() {
        let steps = [
            (Outcome::Clicked, EventKind::Click),
            (Outcome::Carted, EventKind::AddToCart),
            (Outcome::Bought, EventKind::Purchase),
        ];
        for (reached, kind) in steps.into_iter().filter(|(reached, _)| o >= *reached) {
            let value = (reached == Outcome::Bought).then(|| t.map_or(0.0, |t| t.price));
            out.push(EventOut {
                event_id: format!("sim-{}-{k}-{}", list.recommendation_id, kind.as_str()),
                user_id: user_id.to_owned(),
                item_id: item.id.clone(),
                kind: kind.as_str(),
                recommendation_id: list.recommendation_id.clone(),
                value,
            });
        }
    }
    out
}

/// A list as the server answers it (the fields the simulator reads).
#[derive(Clone, Debug, Deserialize)]
pub struct ServedList {
    /// Sent back with the events.
    pub recommendation_id: String,
    /// Whether popular items were served instead of personal ones.
    #[serde(default)]
    pub fallback: bool,
    /// Best first.
    pub items: Vec<ServedItem>,
}

/// An item of a served list.
#[derive(Clone, Debug, Deserialize)]
pub struct ServedItem {
    /// Its id.
    pub id: String,
}

/// What one placement's lists showed and drew.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    lists: u64,
    fallback_lists: u64,
    shown: u64,
    unknown_items: u64,
    affinity_sum: f64,
    clicks: u64,
    carts: u64,
    purchases: u64,
    revenue: f64,
}

impl Tally {
    /// Counts one list, what it showed and what the shopper did.
    pub fn add(&mut self, list: &ServedList, shown: &[Option<Truth>], outcomes: &[Outcome]) {
        self.lists += 1;
        self.fallback_lists += u64::from(list.fallback);
        self.shown += shown.len() as u64;
        for (t, &o) in shown.iter().zip(outcomes) {
            let Some(t) = t else {
                self.unknown_items += 1;
                continue;
            };
            self.affinity_sum += t.affinity;
            self.clicks += u64::from(o >= Outcome::Clicked);
            self.carts += u64::from(o >= Outcome::Carted);
            self.purchases += u64::from(o == Outcome::Bought);
            if o == Outcome::Bought {
                self.revenue += t.price;
            }
        }
    }

    /// Adds another tally (in a fixed order, so float sums are reproducible).
    pub fn merge(&mut self, o: &Tally) {
        self.lists += o.lists;
        self.fallback_lists += o.fallback_lists;
        self.shown += o.shown;
        self.unknown_items += o.unknown_items;
        self.affinity_sum += o.affinity_sum;
        self.clicks += o.clicks;
        self.carts += o.carts;
        self.purchases += o.purchases;
        self.revenue += o.revenue;
    }

    /// The reported figures under `placement`.
    pub fn report(&self, placement: &str) -> PlacementReport {
        let per_list = |x: u64| if self.lists == 0 { 0.0 } else { x as f64 / self.lists as f64 };
        let known = self.shown - self.unknown_items;
        PlacementReport {
            placement: placement.to_owned(),
            lists: self.lists,
            fallback_lists: self.fallback_lists,
            shown: self.shown,
            unknown_items: self.unknown_items,
            clicks: self.clicks,
            carts: self.carts,
            purchases: self.purchases,
            revenue: self.revenue,
            ctr: per_list(self.clicks),
            conversion: per_list(self.purchases),
            mean_affinity: if known == 0 { 0.0 } else { self.affinity_sum / known as f64 },
        }
    }
}

/// The figures of one placement (or of all of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlacementReport {
    /// The placement (`none`: lists without one; `all`: every list).
    pub placement: String,
    /// Lists served and acted on.
    pub lists: u64,
    /// Of them, popular fallbacks.
    pub fallback_lists: u64,
    /// Items shown.
    pub shown: u64,
    /// Shown items the shop does not have (no truth; never clicked).
    pub unknown_items: u64,
    /// Clicks posted.
    pub clicks: u64,
    /// Add-to-carts posted.
    pub carts: u64,
    /// Purchases posted.
    pub purchases: u64,
    /// Their revenue (catalog prices).
    pub revenue: f64,
    /// Clicks per list.
    pub ctr: f64,
    /// Purchases per list.
    pub conversion: f64,
    /// The ground truth: mean true affinity of the shown items the shop has.
    pub mean_affinity: f64,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimulationReport {
    /// The server.
    pub url: String,
    /// The choices' seed.
    pub seed: u64,
    /// The shop's seed.
    pub shop_seed: u64,
    /// Shoppers who visited.
    pub shoppers: u64,
    /// Lists each asked for.
    pub lists_per_shopper: u64,
    /// HTTP requests made (lists and event batches).
    pub requests: u64,
    /// Requests that failed (no answer, or not 2xx); their lists are not counted.
    pub failed_requests: u64,
    /// Events in the batches the server acknowledged.
    pub events_sent: u64,
    /// Of them, stored now.
    pub events_inserted: u64,
    /// Of them, already stored (same event id).
    pub events_duplicate: u64,
    /// Every list together.
    pub total: PlacementReport,
    /// By placement, in the order given.
    pub placements: Vec<PlacementReport>,
    /// The ceiling: mean true affinity of each shopper's own best `n` items.
    pub best_affinity: f64,
    /// The floor: mean true affinity over the whole catalog (what random lists show).
    pub catalog_affinity: f64,
    /// The first failures (at most 5).
    pub errors: Vec<String>,
}

#[cfg(test)]
mod tests {
    use aisle_ingest::synth::{ShopParams, generate};

    use super::*;

    fn truth(affinity: f64, in_stock: bool) -> Option<Truth> {
        Some(Truth { item: 0, affinity, in_stock, price: 12.5 })
    }

    fn served(ids: &[&str]) -> ServedList {
        ServedList {
            recommendation_id: "rec_1".to_owned(),
            fallback: false,
            items: ids.iter().map(|i| ServedItem { id: (*i).to_owned() }).collect(),
        }
    }

    #[test]
    fn examination_decays_with_position_and_clicks_follow_affinity() {
        let m = ChoiceModel::default();
        assert_eq!(m.examined(0), 1.0);
        assert!((m.examined(1) - 2f64.powf(-0.8)).abs() < 1e-15);
        assert!((m.click(0, 1.0) - 0.08).abs() < 1e-15);
        assert!((m.click(3, 0.5) - 4f64.powf(-0.8) * 0.08 * 0.25).abs() < 1e-15);
        assert_eq!(m.click(0, 0.0), 0.0);
        assert_eq!((ChoiceModel::cart(1.0), ChoiceModel::purchase(0.0)), (0.5, 0.2));
    }

    #[test]
    fn choices_are_seeded_and_follow_the_model() {
        let m = ChoiceModel::default();
        let list = vec![truth(1.0, true), None, truth(0.0, true), truth(1.0, false)];
        let runs: Vec<Vec<Outcome>> = (0..20_000).map(|s| m.choose(&list, &mut rng::stream(7, s))).collect();
        let again: Vec<Vec<Outcome>> = (0..20_000).map(|s| m.choose(&list, &mut rng::stream(7, s))).collect();
        assert_eq!(runs, again);
        // Unknown and zero-affinity items are never clicked; out-of-stock ones never carted.
        assert!(runs.iter().all(|o| o[1] == Outcome::Ignored && o[2] == Outcome::Ignored));
        assert!(runs.iter().all(|o| o[3] <= Outcome::Clicked));
        let rate = |pos: usize, at_least: Outcome| {
            runs.iter().filter(|o| o[pos] >= at_least).count() as f64 / runs.len() as f64
        };
        // Position 0, affinity 1: click 0.08, cart 0.08 · 0.5, purchase 0.08 · 0.5 · 0.7.
        assert!((rate(0, Outcome::Clicked) - 0.08).abs() < 0.006, "{}", rate(0, Outcome::Clicked));
        assert!((rate(0, Outcome::Carted) - 0.04).abs() < 0.004, "{}", rate(0, Outcome::Carted));
        assert!((rate(0, Outcome::Bought) - 0.028).abs() < 0.004, "{}", rate(0, Outcome::Bought));
        // Position 3 is examined 4^-0.8 ≈ 0.33 as often.
        let expected = 0.08 * 4f64.powf(-0.8);
        assert!((rate(3, Outcome::Clicked) - expected).abs() < 0.004, "{}", rate(3, Outcome::Clicked));
    }

    #[test]
    fn on_the_demo_shop_ctr_per_list_is_in_the_usual_band_and_ordered_by_fit() {
        // The demo shop's catalog and 100 of its shoppers (users do not depend on the count).
        let params = ShopParams { users: 100, items: 3_000, events: 0, ..ShopParams::default() };
        let shop = generate(&params, 42).unwrap();
        let m = ChoiceModel::default();
        // Expected clicks per list: Σₖ click(k, aₖ) over the ten positions.
        let ctr = |a: &[f64]| a.iter().enumerate().map(|(k, &a)| m.click(k, a)).sum::<f64>();
        let (mut best, mut typical, mut random) = (0.0, 0.0, 0.0);
        for u in 0..100 {
            let mut a: Vec<f64> = (0..shop.items.len()).map(|i| f64::from(shop.affinity(u, i))).collect();
            random += ctr(&a[..10]) / 100.0; // the catalog's order is random
            a.sort_unstable_by(|x, y| y.total_cmp(x));
            best += ctr(&a[..10]) / 100.0;
            // A fair model: the shopper's 100th to 110th best items.
            typical += ctr(&a[100..110]) / 100.0;
        }
        assert!((0.05..=0.30).contains(&best), "CTR of the best lists {best}");
        assert!((0.05..best).contains(&typical), "CTR of typical lists {typical}");
        assert!(random < best / 3.0, "random {random} vs best {best}");
    }

    #[test]
    fn shoppers_are_a_seeded_shuffle_that_repeats_past_the_users() {
        let a = pick_shoppers(5, 10, 25);
        assert_eq!(a, pick_shoppers(5, 10, 25));
        assert_ne!(a[..10], pick_shoppers(6, 10, 10)[..]);
        let mut first: Vec<usize> = a[..10].to_vec();
        first.sort_unstable();
        assert_eq!(first, (0..10).collect::<Vec<_>>());
        assert_eq!(a[10..20], a[..10]);
    }

    #[test]
    fn only_the_shops_own_item_ids_have_a_truth() {
        assert_eq!(shop_item("i1", 5), Some(0));
        assert_eq!(shop_item("i5", 5), Some(4));
        for bad in ["i6", "i0", "i01", "x1", "i", "i-1", "1"] {
            assert_eq!(shop_item(bad, 5), None, "{bad}");
        }
    }

    #[test]
    fn a_bought_item_posts_click_cart_and_purchase_with_its_price() {
        let list = served(&["i3", "i9", "i4"]);
        let shown = [truth(0.9, true), None, truth(0.5, true)];
        let outcomes = [Outcome::Bought, Outcome::Ignored, Outcome::Clicked];
        let events = list_events("u7", &list, &shown, &outcomes);
        let json = serde_json::to_value(&events).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"event_id": "sim-rec_1-0-click", "user_id": "u7", "item_id": "i3", "type": "click", "recommendation_id": "rec_1"},
                {"event_id": "sim-rec_1-0-add_to_cart", "user_id": "u7", "item_id": "i3", "type": "add_to_cart", "recommendation_id": "rec_1"},
                {"event_id": "sim-rec_1-0-purchase", "user_id": "u7", "item_id": "i3", "type": "purchase", "recommendation_id": "rec_1", "value": 12.5},
                {"event_id": "sim-rec_1-2-click", "user_id": "u7", "item_id": "i4", "type": "click", "recommendation_id": "rec_1"},
            ])
        );
    }

    #[test]
    fn tallies_give_ctr_per_list_and_the_mean_true_affinity() {
        let mut t = Tally::default();
        let list = served(&["i1", "i2", "x"]);
        t.add(
            &list,
            &[truth(0.9, true), truth(0.3, true), None],
            &[Outcome::Bought, Outcome::Ignored, Outcome::Ignored],
        );
        t.add(&served(&["i1"]), &[truth(0.6, true)], &[Outcome::Carted]);
        let mut sum = Tally::default();
        sum.merge(&t);
        let r = sum.report("home");
        assert_eq!((r.lists, r.shown, r.unknown_items), (2, 4, 1));
        assert_eq!((r.clicks, r.carts, r.purchases), (2, 2, 1));
        assert_eq!((r.ctr, r.conversion, r.revenue), (1.0, 0.5, 12.5));
        assert!((r.mean_affinity - 0.6).abs() < 1e-12, "{}", r.mean_affinity);
        assert_eq!(Tally::default().report("none").ctr, 0.0);
    }
}
