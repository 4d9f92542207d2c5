//! The synthetic demo shop: a seeded catalog, shoppers and their event log, plus the ground truth
//! that produced them.
//!
//! Model (a latent-factor shop in the spirit of the simulators used to test recommenders, e.g.
//! RecSim, Ie et al. 2019, reduced to what a recommender can learn from logs):
//!
//! - Items have a leaf category (uniform), a brand, a log-normal price around their category's
//!   median (σ = 0.5), a unit latent vector `q_i` in `dims` dimensions, and a popularity weight
//!   `1 / rank^item_zipf` over a random ranking (Zipf's law).
//! - Users have `favourites` distinct favourite categories with Dirichlet(1, ..., 1) weights
//!   `m_u`, a unit latent vector `p_u`, and an activity weight `1 / rank^user_zipf`; user u gets
//!   `events · activity_u / Σ activity` events (remainders spread by activity).
//! - True preference: `affinity(u, i) = 0.5 · m_u[c(i)] / max_c m_u[c] + 0.5 · σ(4 ⟨p_u, q_i⟩)`,
//!   in [0, 1]: the category part says what a shopper browses, the latent part which items of a
//!   category they like.
//! - Sessions: a category (a favourite with probability `focus`, by weight; otherwise uniform),
//!   1 + Geometric(0.35) views, each of the more-affine of two popularity-drawn items of that
//!   category with probability 0.75 (the other otherwise). After a view of an in-stock item, an
//!   add-to-cart with probability `0.02 + 0.3 a³`; after a cart, a purchase with probability
//!   `0.1 + 0.5 a` (with the defaults about 12% of views are carted and 6% bought). With `ratings`, a purchase is rated with probability 0.7 and a plain view with
//!   probability 0.1, the rating being `round(1 + 4a + N(0, 0.5²))` clipped to 1..5.
//! - Time: a user's sessions start at uniform times over `days` days from `start_ts`, at least
//!   30 minutes apart; events within a session are seconds to minutes apart. Every user's
//!   timestamps are strictly increasing, so no two events are identical.
//!
//! Same seed ⇒ identical shop. Items, users and events use separate random streams, so changing
//! the number of events leaves the catalog and the users unchanged.

mod sessions;
mod shop;
mod vocab;
mod write;

pub use shop::{Category, ShopEvent, ShopItem, ShopUser};
pub use write::{ShopFiles, write_shop};

use aisle_core::rng;

/// Parameters of the synthetic shop. Defaults: 1,000 users, 2,000 items, 100,000 events, 20
/// categories, 40 brands, 3 favourite categories, 8 latent dimensions, no ratings, start
/// 2023-11-14 (unix 1,700,000,000) over 90 days, item Zipf exponent 1.0, user Zipf exponent 0.6,
/// focus 0.85, 5% out of stock.
#[derive(Clone, Debug, PartialEq)]
pub struct ShopParams {
    /// Number of users.
    pub users: usize,
    /// Number of items.
    pub items: usize,
    /// Number of events.
    pub events: usize,
    /// Number of leaf categories (24 have their own vocabulary; more reuse it with a number).
    pub categories: usize,
    /// Number of brands.
    pub brands: usize,
    /// Favourite categories per user.
    pub favourites: usize,
    /// Dimensions of the latent taste vectors.
    pub dims: usize,
    /// Whether shoppers also rate items (1–5).
    pub ratings: bool,
    /// Unix time (seconds) of the start of the log.
    pub start_ts: i64,
    /// Days the sessions spread over.
    pub days: u32,
    /// Zipf exponent of item popularity.
    pub item_zipf: f64,
    /// Zipf exponent of user activity.
    pub user_zipf: f64,
    /// Probability that a session browses a favourite category.
    pub focus: f64,
    /// Fraction of items out of stock (viewed but never carted).
    pub out_of_stock: f64,
}

impl Default for ShopParams {
    fn default() -> Self {
        Self {
            users: 1_000,
            items: 2_000,
            events: 100_000,
            categories: 20,
            brands: 40,
            favourites: 3,
            dims: 8,
            ratings: false,
            start_ts: 1_700_000_000,
            days: 90,
            item_zipf: 1.0,
            user_zipf: 0.6,
            focus: 0.85,
            out_of_stock: 0.05,
        }
    }
}

/// A parameter the generator cannot work with.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("invalid shop parameter {field}: {reason}")]
pub struct SynthError {
    /// The parameter.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl ShopParams {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<(), SynthError> {
        let bad = |field, reason: &str| Err(SynthError { field, reason: reason.to_owned() });
        let counts = [("users", self.users), ("items", self.items), ("categories", self.categories)];
        for (field, n) in counts.into_iter().chain([("brands", self.brands), ("favourites", self.favourites)])
        {
            if n == 0 {
                return bad(field, "must be at least 1");
            }
        }
        if self.users > u32::MAX as usize || self.items > u32::MAX as usize {
            return bad("users", "users and items must fit in u32");
        }
        if self.dims == 0 {
            return bad("dims", "must be at least 1");
        }
        if self.days == 0 {
            return bad("days", "must be at least 1");
        }
        for (field, z) in [("item_zipf", self.item_zipf), ("user_zipf", self.user_zipf)] {
            if !(0.0..=5.0).contains(&z) {
                return bad(field, "must be in 0..=5");
            }
        }
        for (field, p) in [("focus", self.focus), ("out_of_stock", self.out_of_stock)] {
            if !(0.0..=1.0).contains(&p) {
                return bad(field, "must be a probability in 0..=1");
            }
        }
        Ok(())
    }
}

/// A generated shop: catalog, users, chronological events and the latent truth.
#[derive(Clone, Debug, PartialEq)]
pub struct Shop {
    /// The parameters it was generated with.
    pub params: ShopParams,
    /// The seed it was generated with.
    pub seed: u64,
    /// Leaf categories.
    pub categories: Vec<Category>,
    /// Brand names.
    pub brands: Vec<String>,
    /// Items, by generator index (external id `i{index + 1}`).
    pub items: Vec<ShopItem>,
    /// Users, by generator index (external id `u{index + 1}`).
    pub users: Vec<ShopUser>,
    /// Events in time order.
    pub events: Vec<ShopEvent>,
    user_latent: Vec<f32>,
    item_latent: Vec<f32>,
}

/// Generates a shop; pure and deterministic per seed.
pub fn generate(params: &ShopParams, seed: u64) -> Result<Shop, SynthError> {
    generate_with_progress(params, seed, &mut |_| {})
}

/// [`generate`], calling `progress` with the number of users whose events are simulated so far
/// (every few thousand users, and once at the end with `params.users`).
pub fn generate_with_progress(
    params: &ShopParams,
    seed: u64,
    progress: &mut dyn FnMut(usize),
) -> Result<Shop, SynthError> {
    params.validate()?;
    let categories = shop::categories(params.categories);
    let brands = (0..params.brands).map(vocab::brand_name).collect();
    let (items, item_latent) = shop::items(params, &categories, &mut rng::stream(seed, 1));
    let (users, user_latent) = shop::users(params, &categories, &mut rng::stream(seed, 2));
    let mut shop = Shop {
        params: params.clone(),
        seed,
        categories,
        brands,
        items,
        users,
        events: Vec::new(),
        user_latent,
        item_latent,
    };
    shop.events = sessions::simulate(&shop, seed, progress);
    Ok(shop)
}

/// Steepness of the latent part of the affinity.
const LATENT_SCALE: f32 = 4.0;

impl Shop {
    /// The external id of user `u`.
    pub fn user_id(u: usize) -> String {
        format!("u{}", u + 1)
    }

    /// The external id of item `i`.
    pub fn item_id(i: usize) -> String {
        format!("i{}", i + 1)
    }

    /// User `u`'s unit latent taste vector.
    pub fn user_latent(&self, u: usize) -> &[f32] {
        let d = self.params.dims;
        &self.user_latent[u * d..(u + 1) * d]
    }

    /// Item `i`'s unit latent vector.
    pub fn item_latent(&self, i: usize) -> &[f32] {
        let d = self.params.dims;
        &self.item_latent[i * d..(i + 1) * d]
    }

    /// The true preference of user `u` for item `i` (generator indexes), in [0, 1]: what a
    /// model should recover. See the module docs for the formula.
    ///
    /// # Panics
    /// When `u` or `i` is out of range.
    pub fn affinity(&self, u: usize, i: usize) -> f32 {
        let user = &self.users[u];
        let cat = self.items[i].category;
        let top = user.favourites.iter().map(|f| f.1).fold(0.0f32, f32::max);
        let mix = user.favourites.iter().find(|f| f.0 == cat).map_or(0.0, |f| f.1);
        let dot: f32 = self.user_latent(u).iter().zip(self.item_latent(i)).map(|(a, b)| a * b).sum();
        let latent = 1.0 / (1.0 + (-LATENT_SCALE * dot).exp());
        let category = if top > 0.0 { mix / top } else { 0.0 };
        0.5 * category + 0.5 * latent
    }
}
