//! Scoring with business rules: candidates (a category's items or the whole catalog), scores from
//! the model (the user's vector, or a fold-in of their history), boosts, exclusions, then the best
//! `n` that pass the live catalog's filters, with reasons on request.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

use aisle_core::recommender::Recommender;
use aisle_core::{Block, Bounded, EventKind, ItemIdx, ModelError, Scored, UserIdx, top_bounded, top_k};
use aisle_store::ItemRecord;

use crate::catalog::CatalogRead;
use crate::published::{Published, strongest_kind};
use crate::query::{Boost, Filters, Reason, RecommendedItem};

/// What is known about the shopper at request time, in model indexes.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// Their model vector, when the model was trained on them and nothing happened since.
    pub user: Option<UserIdx>,
    /// Their whole history (training and since), summed per item, in the order of each item's
    /// last touch, oldest first: what fold-in scores (the models that read order read it).
    pub history: Vec<(ItemIdx, f32)>,
    /// Kinds mask per history item, parallel to `history`.
    pub kinds: Vec<u8>,
    /// Items they bought.
    pub purchased: HashSet<ItemIdx>,
}

/// Live filters over catalog records.
pub struct Rules<'a> {
    /// The catalog, read-locked for the request.
    pub catalog: &'a CatalogRead<'a>,
    /// The filters.
    pub filters: &'a Filters,
    /// Excluded ids (request `exclude` plus the subject item for item lists).
    pub exclude: HashSet<&'a str>,
}

impl<'a> Rules<'a> {
    /// Rules for `filters` over `catalog`.
    pub fn new(catalog: &'a CatalogRead<'a>, filters: &'a Filters) -> Self {
        Self { catalog, filters, exclude: filters.exclude.iter().map(String::as_str).collect() }
    }

    /// The record of `id` if it passes every rule. With an empty catalog (a data set of events
    /// only) every id passes, without a record.
    pub fn admit(&self, id: &str) -> Option<Option<&'a Arc<ItemRecord>>> {
        if self.exclude.contains(id) {
            return None;
        }
        if self.catalog.is_empty() {
            return Some(None);
        }
        let r = self.catalog.get(id)?;
        let f = self.filters;
        if f.in_stock.is_some_and(|s| s != r.in_stock)
            || f.category.as_ref().is_some_and(|c| !r.categories.iter().any(|rc| rc == c))
            || f.min_price.is_some_and(|p| r.price.is_none_or(|x| x < p))
            || f.max_price.is_some_and(|p| r.price.is_none_or(|x| x > p))
        {
            return None;
        }
        Some(Some(r))
    }
}

/// An item row of a response (a score is always finite; JSON would show another as null).
pub fn item_row(id: &str, score: f32, record: Option<&Arc<ItemRecord>>) -> RecommendedItem {
    let score = if score.is_finite() { score } else { 0.0 };
    RecommendedItem {
        id: id.to_owned(),
        score,
        title: record.map(|r| r.title.clone()).filter(|t| !t.is_empty()),
        price: record.and_then(|r| r.price),
        reasons: None,
    }
}

/// Personalised scores for the candidates (`None` = every model item), or `None` when the
/// profile is empty.
pub fn score(
    p: &Published,
    profile: &Profile,
    candidates: Option<&[ItemIdx]>,
) -> Result<Option<Vec<f32>>, ModelError> {
    let model = p.model();
    let mut out = vec![0f32; candidates.map_or(model.n_items(), <[ItemIdx]>::len)];
    match (profile.user, candidates) {
        (Some(u), Some(c)) => model.score_user_items(u, c, &mut out)?,
        (Some(u), None) => model.score_user(u, &mut out)?,
        (None, _) if profile.history.is_empty() => return Ok(None),
        (None, Some(c)) => model.score_history_items(&profile.history, c, &mut out)?,
        (None, None) => model.score_history(&profile.history, &mut out)?,
    }
    Ok(Some(out))
}

/// The most one item's scores are multiplied (or divided) by, however many boosts match it.
pub const MAX_BOOST: f32 = 100.0;

/// Applies `boosts` to `scores` over `candidates`: an item's factor is the product of the weights
/// of the boosts that match it, clamped to [1/[`MAX_BOOST`], [`MAX_BOOST`]], and applied once
/// (positive scores are multiplied, negative ones divided), so scores stay finite and many
/// boosts of one item cannot push it out of the list.
pub fn boost(p: &Published, scores: &mut [f32], candidates: Option<&[ItemIdx]>, boosts: &[Boost]) {
    if boosts.is_empty() {
        return;
    }
    let mut factor = vec![1f32; scores.len()];
    for b in boosts {
        let mut hit: Vec<ItemIdx> = b.item_ids.iter().filter_map(|id| p.item(id)).collect();
        if let Some(c) = &b.category {
            hit.extend(p.category_items(c));
        }
        hit.sort_unstable();
        hit.dedup();
        match candidates {
            None => {
                for i in &hit {
                    if let Some(f) = factor.get_mut(i.index()) {
                        *f *= b.weight;
                    }
                }
            }
            Some(c) => {
                for (pos, item) in c.iter().enumerate() {
                    if hit.binary_search(item).is_ok() {
                        factor[pos] *= b.weight;
                    }
                }
            }
        }
    }
    for (s, f) in scores.iter_mut().zip(factor) {
        if f != 1.0 {
            let f = f.clamp(1.0 / MAX_BOOST, MAX_BOOST);
            *s = if *s >= 0.0 { *s * f } else { *s / f };
        }
    }
}

/// A picked item: model index, score, catalog record.
pub type Picked<'a> = (ItemIdx, f32, Option<&'a Arc<ItemRecord>>);

/// The best `n` candidates that pass `rules` and are not `masked`, as (model item, score, record).
pub fn pick<'a>(
    p: &Published,
    scores: &mut [f32],
    candidates: Option<&[ItemIdx]>,
    masked: &HashSet<ItemIdx>,
    rules: &Rules<'a>,
    n: usize,
) -> Vec<Picked<'a>> {
    let at = |pos: usize| candidates.map_or(ItemIdx(pos as u32), |c| c[pos]);
    mask(scores, candidates, masked);
    let len = scores.len();
    let mut m = (n * 2 + 16).min(len);
    loop {
        let top = top_k(scores, m);
        let picked: Vec<_> = top
            .iter()
            .filter(|s| s.score.is_finite())
            .filter_map(|s| {
                let item = at(s.item.index());
                rules.admit(p.item_id(item)).map(|r| (item, s.score, r))
            })
            .take(n)
            .collect();
        if picked.len() >= n || m >= len || top.last().is_none_or(|s| !s.score.is_finite()) {
            return picked;
        }
        m = (m * 4).min(len);
    }
}

/// A [`Bounded`] scorer's upper bounds for every candidate, boosted and masked as [`pick`]
/// treats scores: a boost never lowers a score's rank, so a boosted bound still bounds the
/// boosted score.
pub struct Bounds<'m> {
    scorer: Box<dyn Bounded + 'm>,
    upper: Vec<f32>,
}

thread_local! {
    /// The bounds buffer of each thread that ranks, reused from request to request: a fresh one
    /// per request (80 KB for 20,000 candidates) made the allocator return pages and fault them
    /// in again, which with transparent huge pages is a 2 MiB page zeroed by the kernel each time.
    static UPPER: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

impl<'m> Bounds<'m> {
    /// The bounds of `scorer` over `candidates` (`None`: the catalog), read from `block` when
    /// given (its items are then the candidates).
    pub fn new(
        p: &Published,
        scorer: Box<dyn Bounded + 'm>,
        block: Option<&Block>,
        candidates: Option<&[ItemIdx]>,
        boosts: &[Boost],
        masked: &HashSet<ItemIdx>,
    ) -> Result<Self, ModelError> {
        let mut upper = UPPER
            .try_with(|u| u.try_borrow_mut().map(|mut b| std::mem::take(&mut *b)).ok())
            .ok()
            .flatten()
            .unwrap_or_default();
        upper.clear();
        upper.resize(candidates.map_or(p.model().n_items(), <[ItemIdx]>::len), 0.0);
        match block {
            Some(block)
                if candidates.is_some_and(|c| std::ptr::eq(c, block.items()) || c == block.items()) =>
            {
                scorer.upper_block(block, &mut upper)?;
            }
            _ => scorer.upper(candidates, &mut upper)?,
        }
        boost(p, &mut upper, candidates, boosts);
        mask(&mut upper, candidates, masked);
        Ok(Self { scorer, upper })
    }
}

impl Drop for Bounds<'_> {
    fn drop(&mut self) {
        let upper = std::mem::take(&mut self.upper);
        // `try_with`: a thread that is ending has no buffer to keep.
        let _ = UPPER.try_with(|u| {
            if let Ok(mut kept) = u.try_borrow_mut()
                && upper.capacity() > kept.capacity()
            {
                *kept = upper;
            }
        });
    }
}

/// [`pick`] by bounds: exact scores only for the candidates whose bound can still make the list
/// ([`top_bounded`]), boosted alike (a masked candidate's bound is `-∞`, so it is never scored).
/// The same list as scoring every candidate exactly, boosting and [`pick`].
pub fn pick_bounded<'a>(
    p: &Published,
    bounds: &Bounds<'_>,
    candidates: Option<&[ItemIdx]>,
    boosts: &[Boost],
    rules: &Rules<'a>,
    n: usize,
) -> Result<Vec<Picked<'a>>, ModelError> {
    let at = |pos: ItemIdx| candidates.map_or(pos, |c| c[pos.index()]);
    let exact = |positions: &[ItemIdx], out: &mut [f32]| {
        let items: Vec<ItemIdx> = positions.iter().map(|&pos| at(pos)).collect();
        bounds.scorer.exact(&items, out)?;
        boost(p, out, Some(&items), boosts);
        Ok(())
    };
    let admit = |pos: ItemIdx, score: f32| {
        let item = at(pos);
        rules.admit(p.item_id(item)).map(|r| (item, score, r))
    };
    Ok(top_bounded(&bounds.upper, n, exact, admit)?.0)
}

/// Sets the scores of `masked` items to `-∞` (`scores` per candidate, or per item without
/// candidates). Candidates in increasing order (a category's) are searched for each masked item,
/// rather than each candidate looked up among the masked: a shopper's history is short, a
/// category long.
fn mask(scores: &mut [f32], candidates: Option<&[ItemIdx]>, masked: &HashSet<ItemIdx>) {
    match candidates {
        Some(c) if c.is_sorted() => {
            for i in masked {
                if let Ok(pos) = c.binary_search(i) {
                    scores[pos] = f32::NEG_INFINITY;
                }
            }
        }
        Some(c) => c.iter().zip(scores.iter_mut()).filter(|(i, _)| masked.contains(i)).for_each(|(_, s)| {
            *s = f32::NEG_INFINITY;
        }),
        None => {
            for i in masked {
                if let Some(s) = scores.get_mut(i.index()) {
                    *s = f32::NEG_INFINITY;
                }
            }
        }
    }
}

/// Items of a ranked list (`Scored` in model indexes) that pass `rules`, at most `n`.
pub fn admit_list<'a>(
    p: &Published,
    list: &[Scored],
    rules: &Rules<'a>,
    n: usize,
) -> Vec<(ItemIdx, f32, Option<&'a Arc<ItemRecord>>)> {
    list.iter().filter_map(|s| rules.admit(p.item_id(s.item)).map(|r| (s.item, s.score, r))).take(n).collect()
}

fn verb(kind: Option<EventKind>) -> &'static str {
    match kind {
        Some(EventKind::Purchase) => "bought",
        Some(EventKind::AddToCart) => "added to your cart",
        Some(EventKind::Like) => "liked",
        Some(EventKind::Rating) => "rated",
        Some(EventKind::Click) => "clicked",
        Some(EventKind::View | EventKind::Impression | EventKind::Dislike) | None => "viewed",
    }
}

/// Up to two "because you viewed X" reasons for `item`: the history items most similar to it by
/// the model (positive affinity only); otherwise a taste reason.
pub fn explain(p: &Published, profile: &Profile, catalog: &CatalogRead<'_>, item: ItemIdx) -> Vec<Reason> {
    let model = p.model();
    let mut best: Vec<(f32, usize)> = profile
        .history
        .iter()
        .enumerate()
        .rev()
        .take(50)
        .filter(|(_, (h, w))| *w > 0.0 && *h != item)
        .filter_map(|(k, &(h, _))| model.item_affinity(h, item).filter(|a| *a > 0.0).map(|a| (a, k)))
        .collect();
    best.sort_by(|a, b| b.0.total_cmp(&a.0));
    let reasons: Vec<Reason> = best
        .into_iter()
        .take(2)
        .map(|(_, k)| {
            let h = profile.history[k].0;
            let id = p.item_id(h);
            let title = catalog
                .get(id)
                .map(|r| r.title.clone())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| id.to_owned());
            Reason {
                kind: "similar_to".to_owned(),
                item_id: Some(id.to_owned()),
                text: format!("because you {} {title}", verb(strongest_kind(profile.kinds[k]))),
            }
        })
        .collect();
    if reasons.is_empty() {
        return vec![Reason {
            kind: "taste".to_owned(),
            item_id: None,
            text: "matches your taste".to_owned(),
        }];
    }
    reasons
}
