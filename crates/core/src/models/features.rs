//! Item and user features from side information, shared by the content and hybrid models.
//!
//! An item's attributes become tokens, each tagged with its field: words of the title and the
//! description (lower-cased, split at anything not alphanumeric, one-letter words, pure numbers of
//! one or two digits and English stop words dropped), tags, categories and the brand as whole
//! values, and the price as one of `price_buckets` quantile buckets over the priced items. A
//! [`Vocabulary`] numbers the tokens that pass a document-frequency filter; each model then
//! weighs them its own way (TF-IDF for content, normalised indicators for the hybrid). User
//! features are the user's `key=value` attribute tokens.
//!
//! The vocabulary is built once at fit time (a hash map from token to column); nothing here
//! runs in a scoring loop.

use std::collections::HashMap;

use crate::side::{ItemAttributes, SideInfo};

/// Where a token comes from; models weigh fields separately.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Field {
    Title,
    Description,
    Tag,
    Category,
    Brand,
    Price,
}

impl Field {
    pub(crate) const ALL: [Field; 6] =
        [Field::Title, Field::Description, Field::Tag, Field::Category, Field::Brand, Field::Price];

    fn prefix(self) -> &'static str {
        match self {
            Field::Title => "title:",
            Field::Description => "text:",
            Field::Tag => "tag:",
            Field::Category => "category:",
            Field::Brand => "brand:",
            Field::Price => "price:",
        }
    }

    /// The field's position in [`Field::ALL`], for per-field arrays. (A word in a title and the
    /// same word in a description are different tokens: different evidence.)
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Common English words that say nothing about an item.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "in", "is", "it",
    "its", "of", "on", "or", "our", "that", "the", "this", "to", "was", "were", "will", "with", "you",
    "your",
];

/// The words of a text (see the module doc).
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
        .filter(|w| !(w.len() <= 2 && w.bytes().all(|b| b.is_ascii_digit())))
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
}

/// Quantile edges of the prices of the described items: `buckets − 1` ascending cut points.
pub(crate) fn price_edges(side: &SideInfo, buckets: usize) -> Vec<f64> {
    let mut prices: Vec<f64> =
        side.items.iter().flatten().filter_map(|a| a.price).filter(|p| p.is_finite()).collect();
    if prices.is_empty() || buckets < 2 {
        return Vec::new();
    }
    prices.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..buckets).map(|b| prices[b * prices.len() / buckets]).collect();
    edges.dedup();
    edges
}

/// Every token of one item with its field, repeats kept (term counts matter to TF-IDF).
pub(crate) fn item_tokens(a: &ItemAttributes, edges: &[f64]) -> Vec<(Field, String)> {
    let mut out: Vec<(Field, String)> = Vec::new();
    out.extend(words(&a.title).map(|w| (Field::Title, w)));
    out.extend(words(&a.description).map(|w| (Field::Description, w)));
    let whole = |s: &str| s.trim().to_lowercase();
    out.extend(a.tags.iter().map(|t| whole(t)).filter(|t| !t.is_empty()).map(|t| (Field::Tag, t)));
    out.extend(a.categories.iter().map(|c| whole(c)).filter(|c| !c.is_empty()).map(|c| (Field::Category, c)));
    if let Some(b) = a.brand.as_deref().map(whole).filter(|b| !b.is_empty()) {
        out.push((Field::Brand, b));
    }
    if let Some(p) = a.price.filter(|p| p.is_finite())
        && !edges.is_empty()
    {
        out.push((Field::Price, edges.partition_point(|&e| e <= p).to_string()));
    }
    out
}

/// Numbered tokens with their document frequency.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Vocabulary {
    index: HashMap<(Field, String), u32>,
    /// `field:token` per column, for explanations and tests.
    pub(crate) names: Vec<String>,
    pub(crate) fields: Vec<Field>,
    /// Documents (items) holding each column's token.
    pub(crate) df: Vec<u32>,
}

impl Vocabulary {
    /// The tokens of `docs` held by at least `min_df` documents and at most `max_df` of them
    /// (a share in (0, 1]); categorical fields (tags, categories, brand, price) skip the upper
    /// cut, since a category every item shares is still a category.
    pub(crate) fn build(docs: &[Vec<(Field, String)>], min_df: usize, max_df: f32) -> Self {
        let mut df: HashMap<(Field, &str), u32> = HashMap::new();
        for doc in docs {
            let mut seen: Vec<(Field, &str)> = doc.iter().map(|(f, t)| (*f, t.as_str())).collect();
            seen.sort_unstable();
            seen.dedup();
            for key in seen {
                *df.entry(key).or_default() += 1;
            }
        }
        let n_docs = docs.iter().filter(|d| !d.is_empty()).count().max(1);
        let cap = (f64::from(max_df) * n_docs as f64).ceil() as u32;
        let mut kept: Vec<((Field, &str), u32)> = df
            .into_iter()
            .filter(|&((field, _), d)| {
                let text = matches!(field, Field::Title | Field::Description);
                d as usize >= min_df && (!text || d <= cap)
            })
            .collect();
        // A stable column order: by field, then token.
        kept.sort_unstable();
        let mut vocab = Vocabulary::default();
        for ((field, token), d) in kept {
            vocab.index.insert((field, token.to_owned()), vocab.names.len() as u32);
            vocab.names.push(format!("{}{token}", field.prefix()));
            vocab.fields.push(field);
            vocab.df.push(d);
        }
        vocab
    }

    /// The column of a token, if kept.
    pub(crate) fn get(&self, field: Field, token: &str) -> Option<u32> {
        self.index.get(&(field, token.to_owned())).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}

/// The tokens of every item (empty for undescribed items), and the price edges used.
pub(crate) fn all_item_tokens(side: &SideInfo, n_items: usize, buckets: usize) -> Vec<Vec<(Field, String)>> {
    let edges = price_edges(side, buckets);
    (0..n_items).map(|i| side.item(i).map(|a| item_tokens(a, &edges)).unwrap_or_default()).collect()
}

/// `(column, count)` of an item's tokens, counting repeats.
pub(crate) fn counts(vocab: &Vocabulary, tokens: &[(Field, String)]) -> Vec<(u32, f32)> {
    let mut cols: Vec<u32> = tokens.iter().filter_map(|(f, t)| vocab.get(*f, t)).collect();
    cols.sort_unstable();
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(cols.len());
    for c in cols {
        match out.last_mut() {
            Some((last, n)) if *last == c => *n += 1.0,
            _ => out.push((c, 1.0)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(title: &str, cats: &[&str], brand: Option<&str>, price: Option<f64>) -> ItemAttributes {
        ItemAttributes {
            title: title.into(),
            categories: cats.iter().map(|c| (*c).to_owned()).collect(),
            brand: brand.map(str::to_owned),
            price,
            ..ItemAttributes::default()
        }
    }

    #[test]
    fn words_drop_noise_and_keep_meaning() {
        let w: Vec<String> = words("The Red-Wool SCARF, 2 pack (for 1999) x").collect();
        assert_eq!(w, ["red", "wool", "scarf", "pack", "1999"]);
    }

    #[test]
    fn tokens_fields_and_price_buckets() {
        let side = SideInfo {
            items: vec![
                Some(item("Red scarf", &["Winter"], Some("Acme"), Some(10.0))),
                Some(item("Blue scarf", &["Winter"], None, Some(50.0))),
                None,
                Some(item("Sun hat", &["Summer"], Some("acme "), Some(90.0))),
            ],
            users: vec![],
        };
        let edges = price_edges(&side, 3);
        assert_eq!(edges, vec![50.0, 90.0]);
        let docs = all_item_tokens(&side, 4, 3);
        assert!(docs[2].is_empty());
        assert!(docs[0].contains(&(Field::Price, "0".into())));
        assert!(docs[3].contains(&(Field::Price, "2".into())));
        assert!(docs[3].contains(&(Field::Brand, "acme".into())));
        // min_df 2: "scarf", "winter", "acme" survive; single-use words do not.
        let v = Vocabulary::build(&docs, 2, 1.0);
        assert_eq!(v.names, ["title:scarf", "category:winter", "brand:acme"]);
        assert_eq!(v.df, [2, 2, 2]);
        assert_eq!(counts(&v, &docs[0]), vec![(0, 1.0), (1, 1.0), (2, 1.0)]);
        // max_df 0.3 of 3 described items caps words at 1 item: "scarf" (2) goes, "red" (1)
        // stays, and the category in 2 items stays (categories are not capped).
        let v = Vocabulary::build(&docs, 1, 0.3);
        assert!(!v.names.contains(&"title:scarf".to_owned()));
        assert!(v.names.contains(&"title:red".to_owned()));
        assert!(v.names.contains(&"category:winter".to_owned()));
    }
}
