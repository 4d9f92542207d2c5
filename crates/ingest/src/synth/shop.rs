//! The shop's catalog and shoppers.

use aisle_core::EventKind;
use aisle_core::rng::SeededRng;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Gamma, LogNormal, StandardNormal};

use super::ShopParams;
use super::vocab::{self, COLOURS, GENERAL_TAGS, LEAVES, REGIONS};

/// A leaf category.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Category {
    /// Parent category name, e.g. `home`.
    pub parent: String,
    /// Leaf name, e.g. `kitchen` (numbered when the vocabulary is reused: `kitchen 2`).
    pub name: String,
    /// `parent/leaf`.
    pub path: String,
}

/// A catalog item.
#[derive(Clone, Debug, PartialEq)]
pub struct ShopItem {
    /// Display title, from the category's vocabulary and the brand.
    pub title: String,
    /// A two-sentence description.
    pub description: String,
    /// Index into [`super::Shop::categories`].
    pub category: u32,
    /// Index into [`super::Shop::brands`].
    pub brand: u32,
    /// Price, rounded to cents.
    pub price: f64,
    /// Whether it can be carted and bought.
    pub in_stock: bool,
    /// Tags from the category's vocabulary, sometimes a general one.
    pub tags: Vec<String>,
    /// A colour attribute (carries no preference signal).
    pub colour: &'static str,
    /// Relative popularity weight (Zipf).
    pub popularity: f64,
}

/// A shopper and their latent taste.
#[derive(Clone, Debug, PartialEq)]
pub struct ShopUser {
    /// Parent category of the top favourite (an informative user attribute).
    pub segment: String,
    /// Region (an uninformative user attribute).
    pub region: &'static str,
    /// Favourite categories and their weights (summing to 1), strongest first.
    pub favourites: Vec<(u32, f32)>,
    /// Relative activity weight (Zipf).
    pub activity: f64,
}

/// One event of the log, with generator indexes.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ShopEvent {
    /// User index.
    pub user: u32,
    /// Item index.
    pub item: u32,
    /// Session index (external id `s{index + 1}`).
    pub session: u32,
    /// View, add-to-cart, purchase or rating.
    pub kind: EventKind,
    /// The price for a purchase, the rating for a rating, 0 otherwise.
    pub value: f32,
    /// Unix time in seconds.
    pub ts: i64,
}

/// `n` leaf categories from the vocabulary, numbered once it repeats.
pub(crate) fn categories(n: usize) -> Vec<Category> {
    (0..n)
        .map(|k| {
            let leaf = &LEAVES[k % LEAVES.len()];
            let round = k / LEAVES.len();
            let name = if round == 0 { leaf.name.to_owned() } else { format!("{} {}", leaf.name, round + 1) };
            Category { parent: leaf.parent.to_owned(), path: format!("{}/{name}", leaf.parent), name }
        })
        .collect()
}

/// A uniformly random unit vector.
fn unit_vector(rng: &mut SeededRng, d: usize, out: &mut Vec<f32>) {
    let start = out.len();
    out.extend((0..d).map(|_| -> f32 { StandardNormal.sample(rng) }));
    let norm = out[start..].iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    out[start..].iter_mut().for_each(|x| *x /= norm);
}

/// Zipf weights `1 / rank^s` over a random ranking of `n` entries.
fn zipf_weights(n: usize, s: f64, rng: &mut SeededRng) -> Vec<f64> {
    let mut rank: Vec<usize> = (1..=n).collect();
    rank.shuffle(rng);
    rank.into_iter().map(|r| (r as f64).powf(-s)).collect()
}

fn pick<'a>(rng: &mut SeededRng, words: &[&'a str]) -> &'a str {
    words[rng.random_range(0..words.len())]
}

/// Title, description and tags of an item of `leaf` by `brand`.
fn item_text(rng: &mut SeededRng, leaf: &vocab::Leaf, brand: &str) -> (String, String, Vec<String>) {
    let (adj, noun) = (pick(rng, leaf.adjectives), pick(rng, leaf.nouns));
    let model = format!("{}{}", char::from(b'A' + rng.random_range(0..26u8)), rng.random_range(100..1000));
    let title = format!("{brand} {adj} {noun} {model}");
    let (f1, f2) = (pick(rng, leaf.features), pick(rng, leaf.features));
    let with = if f1 == f2 { f1.to_owned() } else { format!("{f1} and {f2}") };
    let description = format!(
        "A {adj} {noun} from {brand} with {with}. Part of our {} range, made for everyday {}.",
        leaf.name,
        pick(rng, leaf.tags)
    );
    let mut tags: Vec<String> =
        leaf.tags.iter().filter(|_| rng.random_bool(0.6)).map(|t| (*t).to_owned()).collect();
    tags.push(adj.to_owned());
    if rng.random_bool(0.2) {
        tags.push(pick(rng, GENERAL_TAGS).to_owned());
    }
    (title, description, tags)
}

/// The catalog and the items' latent vectors (row-major, `dims` per item).
pub(crate) fn items(p: &ShopParams, cats: &[Category], rng: &mut SeededRng) -> (Vec<ShopItem>, Vec<f32>) {
    let popularity = zipf_weights(p.items, p.item_zipf, rng);
    let mut latent = Vec::with_capacity(p.items * p.dims);
    let items = popularity
        .into_iter()
        .map(|pop| {
            let category = rng.random_range(0..cats.len());
            let leaf = &LEAVES[category % LEAVES.len()];
            let brand = rng.random_range(0..p.brands);
            let price =
                LogNormal::new(leaf.median_price.ln(), 0.5).map_or(leaf.median_price, |d| d.sample(rng));
            let (title, description, tags) = item_text(rng, leaf, &vocab::brand_name(brand));
            unit_vector(rng, p.dims, &mut latent);
            ShopItem {
                title,
                description,
                category: category as u32,
                brand: brand as u32,
                price: (price.max(0.5) * 100.0).round() / 100.0,
                in_stock: !rng.random_bool(p.out_of_stock),
                tags,
                colour: pick(rng, COLOURS),
                popularity: pop,
            }
        })
        .collect();
    (items, latent)
}

/// `k` distinct favourite categories with Dirichlet(1) weights, strongest first.
fn favourites(rng: &mut SeededRng, n_cats: usize, k: usize) -> Vec<(u32, f32)> {
    let k = k.min(n_cats);
    let cats = rand::seq::index::sample(rng, n_cats, k);
    let gamma = Gamma::new(1.0f32, 1.0).ok();
    let raw: Vec<f32> = (0..k).map(|_| gamma.map_or(1.0, |g| g.sample(rng)).max(1e-6)).collect();
    let total: f32 = raw.iter().sum();
    let mut fav: Vec<(u32, f32)> = cats.iter().zip(raw).map(|(c, w)| (c as u32, w / total)).collect();
    fav.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fav
}

/// The shoppers and their latent vectors (row-major, `dims` per user).
pub(crate) fn users(p: &ShopParams, cats: &[Category], rng: &mut SeededRng) -> (Vec<ShopUser>, Vec<f32>) {
    let activity = zipf_weights(p.users, p.user_zipf, rng);
    let mut latent = Vec::with_capacity(p.users * p.dims);
    let users = activity
        .into_iter()
        .map(|activity| {
            let favourites = favourites(rng, cats.len(), p.favourites);
            unit_vector(rng, p.dims, &mut latent);
            ShopUser {
                segment: cats[favourites[0].0 as usize].parent.clone(),
                region: pick(rng, REGIONS),
                favourites,
                activity,
            }
        })
        .collect();
    (users, latent)
}
