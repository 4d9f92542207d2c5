//! The recommendation queries: personalised (known user, fold-in, anonymous session), similar
//! items, bought together and popular, each with business rules and a recommendation id.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aisle_core::recommender::Recommender;
use aisle_core::{EventKind, ItemIdx, ModelError, Query, Scored};
use aisle_store::{ItemRecord, Store};

use crate::catalog::CatalogRead;
use crate::history::{Recent, RecentEvent};
use crate::published::{Published, kind_bit};
use crate::query::{
    Filters, PopularRequest, Reason, RecommendRequest, Recommendations, RecommendedItem, Source, Subject,
};
use crate::serve::{Bounds, Profile, Rules, admit_list, boost, explain, item_row, pick, pick_bounded, score};
use crate::{Engine, EngineError, Window, now_ms};

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A unique, unguessable-enough id for one response (`rec_` and 16 hex digits).
fn recommendation_id() -> String {
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let h = RandomState::new().hash_one((n, now_ms()));
    format!("rec_{h:016x}")
}

fn response(source: Source, p: Option<&Published>, items: Vec<RecommendedItem>) -> Recommendations {
    Recommendations {
        recommendation_id: recommendation_id(),
        fallback: source == Source::Popular,
        source,
        model_version: p.map(Published::version),
        items,
    }
}

impl Engine {
    /// The user's events since the serving model, from the cache or the store.
    async fn recent(&self, user: &str, after: u64) -> Result<Arc<Recent>, EngineError> {
        if let Some(r) = self.log.history.get(user, after) {
            return Ok(r);
        }
        if self.log.history.known_empty(user, after) {
            return Ok(Arc::new(Recent { after, events: Vec::new() }));
        }
        let ticket = self.log.history.begin_load();
        let cap = self.config.cache.history_events_per_user;
        let stored = self.store.user_events_after(user.to_owned(), after, cap).await?;
        let events = stored
            .into_iter()
            .map(|s| RecentEvent {
                seq: s.seq,
                weight: self.config.weights.weight(s.event.kind, s.event.value.unwrap_or(1.0)),
                kind: s.event.kind,
                item: Arc::from(s.event.item_id.as_str()),
            })
            .collect();
        Ok(self.log.history.finish_load(ticket, user, Recent { after, events }))
    }

    /// The subject's history, summed per item, in the order of each item's last touch (oldest
    /// first), which is what a model that reads order scores: a session's items as given, a
    /// known user's steps as the model kept them, then their events since in the order they
    /// were stored.
    async fn profile(&self, p: &Published, subject: &Subject) -> Result<Profile, EngineError> {
        // (summed weight, kinds, last touch)
        let mut acc: HashMap<ItemIdx, (f32, u8, usize)> = HashMap::new();
        let mut touches = 0usize;
        let mut add = |item: ItemIdx, w: f32, kind: u8| {
            let slot = acc.entry(item).or_insert((0.0, 0, 0));
            slot.0 += w;
            slot.1 |= kind;
            slot.2 = touches;
            touches += 1;
        };
        let mut user = None;
        let mut fresh = false;
        match subject {
            Subject::User(id) => {
                // A version trained while a since-deleted user existed serves them as unknown.
                if !self.log.forgotten.hides(id, p.trained_on_seq()) {
                    user = p.user(id);
                }
                if let Some(u) = user {
                    for (i, w, k) in p.artifact.history.row(u.index()) {
                        add(ItemIdx(i), w, k);
                    }
                    // The stored history is by item; the model's own steps give the order.
                    for &i in p.model().user_steps(u).unwrap_or_default() {
                        if (i as usize) < p.model().n_items() {
                            add(ItemIdx(i), 0.0, 0);
                        }
                    }
                }
                let recent = self.recent(id, p.trained_on_seq()).await?;
                for e in recent.events.iter().filter(|e| e.seq > p.trained_on_seq()) {
                    if let Some(i) = p.item(&e.item)
                        && (e.weight != 0.0 || e.kind == EventKind::Purchase)
                    {
                        add(i, e.weight, kind_bit(e.kind));
                        fresh = true;
                    }
                }
            }
            Subject::Session(items) => {
                let w = self.config.weights.weight(EventKind::View, 1.0);
                for id in items {
                    if let Some(i) = p.item(id) {
                        add(i, w, kind_bit(EventKind::View));
                    }
                }
            }
        }
        let mut order: Vec<(ItemIdx, (f32, u8, usize))> = acc.into_iter().collect();
        order.sort_unstable_by_key(|&(_, (_, _, last))| last);
        let purchased =
            order.iter().filter(|(_, a)| a.1 & kind_bit(EventKind::Purchase) != 0).map(|(i, _)| *i).collect();
        let (history, kinds) =
            order.iter().filter(|(_, a)| a.0 != 0.0).map(|&(i, a)| ((i, a.0), a.1)).unzip();
        // A known user with new events is scored by fold-in of their whole history.
        Ok(Profile { user: user.filter(|_| !fresh), history, kinds, purchased })
    }

    /// Personalised recommendations; popular items, marked as a fallback, when nothing is known
    /// (or nothing personalised passes the rules). The scoring runs on the CPU pool.
    pub async fn recommend(self: &Arc<Self>, req: &RecommendRequest) -> Result<Recommendations, EngineError> {
        self.recommend_with(self.serving(), req).await
    }

    /// [`Engine::recommend`] by the version `p` (an experiment's pinned version), not
    /// necessarily the serving one.
    pub async fn recommend_with(
        self: &Arc<Self>,
        p: Option<Arc<Published>>,
        req: &RecommendRequest,
    ) -> Result<Recommendations, EngineError> {
        let Some(p) = p else {
            return self.popular_fallback(None, req.n, &req.filters);
        };
        let profile = self.profile(&p, &req.subject).await?;
        let (engine, req) = (Arc::clone(self), req.clone());
        self.cpu(move || engine.rank(&p, &profile, &req)).await?
    }

    /// Scores, boosts, masks and picks the best `n` items that pass the rules.
    fn rank(
        &self,
        p: &Arc<Published>,
        profile: &Profile,
        req: &RecommendRequest,
    ) -> Result<Recommendations, EngineError> {
        let min = self.config.cache.quantized_min_items;
        let block = req.filters.category.as_deref().and_then(|c| p.category_block(c, min));
        let listed =
            if block.is_none() { req.filters.category.as_ref().map(|c| p.category_items(c)) } else { None };
        let candidates = block.as_ref().map(|b| b.items()).or(listed.as_deref());
        let query = match profile.user {
            Some(u) => Query::User(u),
            None if profile.history.is_empty() => return self.popular_fallback(Some(p), req.n, &req.filters),
            None => Query::History(&profile.history),
        };
        let mut masked: HashSet<ItemIdx> = HashSet::new();
        if req.exclude_seen {
            masked.extend(profile.history.iter().map(|(i, _)| *i));
        }
        if !req.include_purchased {
            masked.extend(profile.purchased.iter().copied());
        }
        let invalid = |e: ModelError| EngineError::Invalid(e.to_string());
        let n_candidates = candidates.map_or(p.model().n_items(), <[ItemIdx]>::len);
        let scorer = if n_candidates >= min { p.model().bounded(query).map_err(invalid)? } else { None };
        // The scan runs before the catalog is locked; picking reads the catalog.
        let scores = match scorer {
            Some(scorer) => {
                let bounds = Bounds::new(p, scorer, block.as_deref(), candidates, &req.boosts, &masked)
                    .map_err(invalid)?;
                Scores::Bounded(bounds)
            }
            None => {
                let Some(mut scores) = score(p, profile, candidates).map_err(invalid)? else {
                    return self.popular_fallback(Some(p), req.n, &req.filters);
                };
                boost(p, &mut scores, candidates, &req.boosts);
                Scores::Exact(scores)
            }
        };
        let catalog = self.catalog.read();
        let rules = Rules::new(&catalog, &req.filters);
        let c = candidates;
        let picked = match scores {
            Scores::Exact(mut scores) => pick(p, &mut scores, c, &masked, &rules, req.n),
            Scores::Bounded(bounds) => {
                pick_bounded(p, &bounds, c, &req.boosts, &rules, req.n).map_err(invalid)?
            }
        };
        if picked.is_empty() {
            drop(catalog);
            return self.popular_fallback(Some(p), req.n, &req.filters);
        }
        let source = if profile.user.is_some() { Source::Model } else { Source::FoldIn };
        let items = picked
            .into_iter()
            .map(|(i, s, r)| {
                let mut row = item_row(p.item_id(i), s, r);
                if req.explain {
                    row.reasons = Some(explain(p, profile, &catalog, i));
                }
                row
            })
            .collect();
        Ok(response(source, Some(p), items))
    }

    fn popular_fallback(
        &self,
        p: Option<&Published>,
        n: usize,
        filters: &Filters,
    ) -> Result<Recommendations, EngineError> {
        let mut out =
            self.popular_items(&PopularRequest { window: Window::Month, n, filters: filters.clone() });
        if out.len() < n {
            let seen: HashSet<String> = out.iter().map(|r| r.id.clone()).collect();
            let more = self.popular_items(&PopularRequest {
                window: Window::All,
                n: n + seen.len(),
                filters: filters.clone(),
            });
            out.extend(more.into_iter().filter(|r| !seen.contains(&r.id)).take(n - out.len()));
        }
        for r in &mut out {
            r.reasons = Some(vec![Reason {
                kind: "popular".to_owned(),
                item_id: None,
                text: "popular right now".to_owned(),
            }]);
        }
        Ok(response(Source::Popular, p, out))
    }

    fn popular_items(&self, req: &PopularRequest) -> Vec<RecommendedItem> {
        self.admitted_rows(&self.log.popular.ranked(req.window, now_ms()), req.n, &req.filters)
    }

    /// The first `n` items of a ranked popularity list that pass the rules, as rows.
    fn admitted_rows(&self, list: &[(Arc<str>, f64)], n: usize, filters: &Filters) -> Vec<RecommendedItem> {
        let catalog = self.catalog.read();
        let rules = Rules::new(&catalog, filters);
        list.iter()
            .filter(|(_, w)| (*w as f32).is_finite())
            .filter_map(|(id, w)| rules.admit(id).map(|r| item_row(id, *w as f32, r)))
            .take(n)
            .collect()
    }

    /// Trending items: popularity with exponential time decay (half-life in hours), with
    /// business rules.
    pub fn trending(&self, half_life_hours: f64, n: usize, filters: &Filters) -> Recommendations {
        let items = self.admitted_rows(&self.log.popular.trending(half_life_hours, now_ms()), n, filters);
        response(Source::Popular, self.serving().as_deref(), items).with_fallback(false)
    }

    /// The most popular items of a window.
    pub fn popular(&self, req: &PopularRequest) -> Recommendations {
        response(Source::Popular, self.serving().as_deref(), self.popular_items(req)).with_fallback(false)
    }

    fn model_item(&self, p: &Published, id: &str) -> Result<ItemIdx, EngineError> {
        p.item(id).ok_or_else(|| EngineError::NotFound { what: "item", id: id.to_owned() })
    }

    /// Items similar to `id` by the serving model (cached per version), with business rules.
    /// Ranking runs on the CPU pool: a cached list is the usual case; when the rules leave fewer
    /// than `n` of it, the catalog is ranked deeper, uncached.
    pub async fn similar(
        self: &Arc<Self>,
        id: &str,
        n: usize,
        filters: &Filters,
        explain: bool,
    ) -> Result<Recommendations, EngineError> {
        self.similar_with(self.serving(), id, n, filters, explain).await
    }

    /// [`Engine::similar`] by the version `p`.
    pub async fn similar_with(
        self: &Arc<Self>,
        p: Option<Arc<Published>>,
        id: &str,
        n: usize,
        filters: &Filters,
        explain: bool,
    ) -> Result<Recommendations, EngineError> {
        let Some(p) = p else {
            return Err(EngineError::NotFound { what: "model", id: "serving".to_owned() });
        };
        let item = self.model_item(&p, id)?;
        if let Some(answer) = self.similar_precomputed(&p, item, id, n, filters, explain) {
            return Ok(answer);
        }
        let depth = self.config.cache.similar_depth.max(n);
        let cached = self.serving.similar_cached(p.version(), item.0);
        let list = match cached.filter(|l| l.len() >= depth || l.len() + 1 >= p.model().n_items()) {
            Some(l) => l,
            None => {
                let pp = Arc::clone(&p);
                let l = Arc::new(self.cpu(move || similar_list(&pp, item, depth)).await??);
                self.serving.cache_similar(p.version(), item.0, l.clone());
                l
            }
        };
        let engine = Arc::clone(self);
        let ask = SimilarAsk { item, id: id.to_owned(), n, depth, filters: filters.clone(), explain };
        self.cpu(move || engine.similar_rows(&p, &ask, &list)).await?
    }

    /// The answer from the list computed when the version was trained, on the calling thread (a
    /// lookup and the rules); `None` when the version has no lists, or when the request needs
    /// more than the list holds: then it is ranked on demand.
    fn similar_precomputed(
        &self,
        p: &Published,
        item: ItemIdx,
        id: &str,
        n: usize,
        filters: &Filters,
        explain: bool,
    ) -> Option<Recommendations> {
        let list = p.similar_list(item)?;
        // A list shorter than the depth holds every similar item there is.
        let cut = list.len() >= p.similar_depth();
        if cut && list.len() < n {
            return None;
        }
        let catalog = self.catalog.read();
        let mut rules = Rules::new(&catalog, filters);
        rules.exclude.insert(id);
        let picked = admit_list(p, &list, &rules, n);
        if cut && picked.len() < n {
            return None;
        }
        Some(similar_answer(p, &catalog, id, picked, explain))
    }

    /// The rows of a similar-items answer from a ranked `list` (deeper when the rules need it).
    fn similar_rows(
        &self,
        p: &Arc<Published>,
        ask: &SimilarAsk,
        list: &[Scored],
    ) -> Result<Recommendations, EngineError> {
        let SimilarAsk { item, ref id, n, depth, ref filters, explain } = *ask;
        let catalog = self.catalog.read();
        let mut rules = Rules::new(&catalog, filters);
        rules.exclude.insert(id.as_str());
        let mut picked = admit_list(p, list, &rules, n);
        if picked.len() < n && list.len() >= depth {
            // The rules removed too much of the cached list: rank deeper, uncached.
            let deep = similar_list(p, item, p.model().n_items())?;
            picked = admit_list(p, &deep, &rules, n);
        }
        Ok(similar_answer(p, &catalog, id, picked, explain))
    }

    /// Items most often bought in the same basket as `id`, with business rules.
    pub fn bought_together(
        &self,
        id: &str,
        n: usize,
        filters: &Filters,
    ) -> Result<Recommendations, EngineError> {
        self.bought_together_with(self.serving(), id, n, filters)
    }

    /// [`Engine::bought_together`] by the version `p`.
    pub fn bought_together_with(
        &self,
        p: Option<Arc<Published>>,
        id: &str,
        n: usize,
        filters: &Filters,
    ) -> Result<Recommendations, EngineError> {
        let Some(p) = p else {
            return Err(EngineError::NotFound { what: "model", id: "serving".to_owned() });
        };
        let item = self.model_item(&p, id)?;
        let list: Vec<Scored> = p
            .artifact
            .bought_together
            .row(item.index())
            .map(|(i, c, _)| Scored { item: ItemIdx(i), score: c })
            .collect();
        let catalog = self.catalog.read();
        let mut rules = Rules::new(&catalog, filters);
        rules.exclude.insert(id);
        let items = admit_list(&p, &list, &rules, n)
            .into_iter()
            .map(|(i, s, r)| item_row(p.item_id(i), s, r))
            .collect();
        Ok(response(Source::Item, Some(&p), items))
    }
}

/// One similar-items request, as the CPU pool gets it.
struct SimilarAsk {
    item: ItemIdx,
    id: String,
    n: usize,
    /// How deep the cached list is ranked.
    depth: usize,
    filters: Filters,
    explain: bool,
}

/// A similar-items answer of the `picked` items, explained by `id` when asked.
fn similar_answer(
    p: &Published,
    catalog: &CatalogRead<'_>,
    id: &str,
    picked: Vec<(ItemIdx, f32, Option<&Arc<ItemRecord>>)>,
    explain: bool,
) -> Recommendations {
    let title = catalog.get(id).map(|r| r.title.as_str()).filter(|t| !t.is_empty()).unwrap_or(id);
    let items = picked
        .into_iter()
        .map(|(i, s, r)| {
            let mut row = item_row(p.item_id(i), s, r);
            if explain {
                row.reasons = Some(vec![Reason {
                    kind: "similar_to".to_owned(),
                    item_id: Some(id.to_owned()),
                    text: format!("similar to {title}"),
                }]);
            }
            row
        })
        .collect();
    response(Source::Item, Some(p), items)
}

fn similar_list(p: &Published, item: ItemIdx, n: usize) -> Result<Vec<Scored>, EngineError> {
    p.model().similar_items(item, n, &[]).map_err(|e| EngineError::Invalid(e.to_string()))
}

impl Recommendations {
    fn with_fallback(mut self, fallback: bool) -> Self {
        self.fallback = fallback;
        self
    }
}

/// A request's scores before picking: every candidate's, or bounds and a scorer of the rest.
enum Scores<'m> {
    Exact(Vec<f32>),
    Bounded(Bounds<'m>),
}
