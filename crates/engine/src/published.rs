//! A published model version: the trained model, the id spaces it was trained in, each training
//! user's history, frequently-bought-together lists, and a category index over its items. One
//! `Published` is immutable except for its category index, which follows catalog edits.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aisle_core::models::registry::Model;
use aisle_core::{Block, EventKind, ItemIdx, Recommender, Scored, UserIdx};
use aisle_store::{ItemRecord, ModelRecord};
use serde::{Deserialize, Serialize};

use crate::EngineError;

/// The artifact format this build writes; it reads this one and format 1 (which had no
/// precomputed similar-item lists: such a version ranks similar items on demand).
pub const ARTIFACT_FORMAT: u32 = 2;

/// Compressed rows: row `r` is `offsets[r]..offsets[r + 1]` of the parallel value vectors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rows {
    offsets: Vec<u64>,
    cols: Vec<u32>,
    values: Vec<f32>,
    /// Per entry, a bitmask over [`EventKind::ALL`] of what happened (empty for neighbour lists).
    kinds: Vec<u8>,
}

impl Rows {
    /// Rows from `(col, value, kinds)` lists per row, rows in order (taken one row at a time: a
    /// caller can stream them without holding a second copy).
    pub fn from_rows<R: IntoIterator<Item = (u32, f32, u8)>>(rows: impl IntoIterator<Item = R>) -> Self {
        let rows = rows.into_iter();
        let mut out = Rows { offsets: Vec::with_capacity(rows.size_hint().0 + 1), ..Rows::default() };
        out.offsets.push(0);
        for row in rows {
            for (c, v, k) in row {
                out.cols.push(c);
                out.values.push(v);
                out.kinds.push(k);
            }
            out.offsets.push(out.cols.len() as u64);
        }
        out
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// At most `max_rows` rows of columns below `n_cols`, offsets in order and in range (a
    /// stored artifact is outside data: [`Rows::row`] indexes by these).
    pub fn check(&self, max_rows: usize, n_cols: usize) -> Result<(), String> {
        let n = self.cols.len();
        let offsets = self.offsets.is_empty()
            || (self.offsets.first() == Some(&0)
                && self.offsets.windows(2).all(|w| w[0] <= w[1])
                && self.offsets.last().is_some_and(|&l| l as usize == n));
        if !offsets || self.values.len() != n || self.kinds.len() != n {
            return Err("offsets do not match the entries".to_owned());
        }
        if let Some(v) = self.values.iter().find(|v| !v.is_finite()) {
            return Err(format!("a value of {v}"));
        }
        if self.len() > max_rows {
            return Err(format!("{} rows, more than {max_rows}", self.len()));
        }
        match self.cols.iter().max() {
            Some(&c) if c as usize >= n_cols => Err(format!("column {c} of {n_cols}")),
            _ => Ok(()),
        }
    }

    /// The entries of row `r`, `offsets[r]..offsets[r + 1]`; empty past the end.
    fn bounds(&self, r: usize) -> std::ops::Range<usize> {
        match (self.offsets.get(r), self.offsets.get(r + 1)) {
            (Some(&a), Some(&b)) => a as usize..b as usize,
            _ => 0..0,
        }
    }

    /// The length of row `r` (0 past the end).
    pub fn row_len(&self, r: usize) -> usize {
        self.bounds(r).len()
    }

    /// Row `r` as ranked items: its columns and values.
    pub fn scored(&self, r: usize) -> Vec<Scored> {
        self.row(r).map(|(i, score, _)| Scored { item: ItemIdx(i), score }).collect()
    }

    /// Row `r` as `(col, value, kinds)`; empty past the end.
    pub fn row(&self, r: usize) -> impl Iterator<Item = (u32, f32, u8)> + '_ {
        self.bounds(r).map(move |k| (self.cols[k], self.values[k], self.kinds[k]))
    }
}

/// The bit of `kind` in a kinds mask.
pub fn kind_bit(kind: EventKind) -> u8 {
    let pos = EventKind::ALL.iter().position(|&k| k == kind).unwrap_or(0);
    1 << pos
}

/// The strongest thing a kinds mask says a shopper did, for explanations.
pub fn strongest_kind(mask: u8) -> Option<EventKind> {
    const ORDER: [EventKind; 7] = [
        EventKind::Purchase,
        EventKind::AddToCart,
        EventKind::Like,
        EventKind::Rating,
        EventKind::Click,
        EventKind::View,
        EventKind::Impression,
    ];
    ORDER.into_iter().find(|&k| mask & kind_bit(k) != 0)
}

/// What is stored per model version (encoded with postcard).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Artifact {
    /// [`ARTIFACT_FORMAT`] when written.
    pub format: u32,
    /// The trained model.
    pub model: Model,
    /// External user ids by model user index.
    pub users: Vec<String>,
    /// External item ids by model item index.
    pub items: Vec<String>,
    /// Each training user's summed weight and kinds per item.
    pub history: Rows,
    /// Per item, the items most often bought in the same basket, with their counts.
    pub bought_together: Rows,
    /// Per item, the model's most similar items with their scores (`similar_items`, computed at
    /// training, `training.similar_depth` deep); no rows when none were computed.
    pub similar: Rows,
}

/// Format 1: an [`Artifact`] without `similar` (postcard encodes fields in order, no names).
#[derive(Deserialize)]
struct ArtifactV1 {
    format: u32,
    model: Model,
    users: Vec<String>,
    items: Vec<String>,
    history: Rows,
    bought_together: Rows,
}

impl Artifact {
    /// Builds what the model ranks large catalogs by ([`Recommender::prepare`]) when it has at
    /// least `min_items` items (`cache.quantized_min_items`), so the first request does not.
    pub fn prepare(&self, min_items: usize) {
        if self.model.n_items() >= min_items {
            self.model.prepare();
        }
    }

    /// The artifact as bytes.
    pub fn encode(&self) -> Result<Vec<u8>, EngineError> {
        postcard::to_allocvec(self)
            .map_err(|e| EngineError::Training(format!("cannot encode the model: {e}")))
    }

    /// The artifact of `version` from bytes: decoded, then checked as outside data (the model's
    /// shapes, ids for every model user and item, history and bought-together lists inside
    /// them), so that nothing it holds can panic serving.
    pub fn decode(version: u64, bytes: &[u8]) -> Result<Self, EngineError> {
        let bad = |reason: String| EngineError::Artifact { version, reason };
        let (format, _) = postcard::take_from_bytes::<u32>(bytes).map_err(|e| bad(e.to_string()))?;
        let a: Artifact = match format {
            ARTIFACT_FORMAT => postcard::from_bytes(bytes).map_err(|e| bad(e.to_string()))?,
            1 => {
                let v1: ArtifactV1 = postcard::from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
                Artifact {
                    format: v1.format,
                    model: v1.model,
                    users: v1.users,
                    items: v1.items,
                    history: v1.history,
                    bought_together: v1.bought_together,
                    similar: Rows::default(),
                }
            }
            f => return Err(bad(format!("format {f} but this build reads formats 1 and {ARTIFACT_FORMAT}"))),
        };
        a.check().map_err(bad)?;
        Ok(a)
    }

    /// What [`Artifact::decode`] checks after decoding.
    fn check(&self) -> Result<(), String> {
        use aisle_core::Recommender;
        self.model.check().map_err(|e| format!("model {}: {e}", self.model.name()))?;
        let (n_users, n_items) = (self.model.n_users(), self.model.n_items());
        if self.users.len() != n_users || self.items.len() != n_items {
            return Err(format!(
                "{} user ids and {} item ids for a model of {n_users} users and {n_items} items",
                self.users.len(),
                self.items.len()
            ));
        }
        self.history.check(n_users, n_items).map_err(|e| format!("histories: {e}"))?;
        self.bought_together.check(n_items, n_items).map_err(|e| format!("bought together: {e}"))?;
        self.similar.check(n_items, n_items).map_err(|e| format!("similar items: {e}"))
    }
}

/// A model version ready to serve.
#[derive(Debug)]
pub struct Published {
    /// Its store record (version, metrics, trained-on sequence number).
    pub record: ModelRecord,
    /// The artifact.
    pub artifact: Artifact,
    user_index: HashMap<String, u32>,
    item_index: HashMap<String, u32>,
    categories: RwLock<HashMap<String, Vec<ItemIdx>>>,
    /// The large categories' bound data side by side ([`Published::category_block`]), built on
    /// first use and dropped when a catalog edit changes the category's items. Lock order:
    /// `categories`, then `blocks`.
    blocks: RwLock<HashMap<String, Arc<Block>>>,
    /// The longest precomputed similar-item list: the depth they were computed to.
    similar_depth: usize,
}

impl Published {
    /// Indexes `artifact` against the current catalog (`items`, in any order).
    pub fn new<'a>(
        record: ModelRecord,
        artifact: Artifact,
        items: impl Iterator<Item = &'a ItemRecord>,
    ) -> Self {
        let user_index = artifact.users.iter().enumerate().map(|(i, id)| (id.clone(), i as u32)).collect();
        let item_index: HashMap<String, u32> =
            artifact.items.iter().enumerate().map(|(i, id)| (id.clone(), i as u32)).collect();
        let mut categories: HashMap<String, Vec<ItemIdx>> = HashMap::new();
        for r in items {
            if let Some(&idx) = item_index.get(&r.id) {
                for c in &r.categories {
                    categories.entry(c.clone()).or_default().push(ItemIdx(idx));
                }
            }
        }
        for list in categories.values_mut() {
            list.sort_unstable();
            list.dedup();
        }
        let similar_depth =
            (0..artifact.similar.len()).map(|i| artifact.similar.row_len(i)).max().unwrap_or(0);
        Self {
            record,
            artifact,
            user_index,
            item_index,
            categories: RwLock::new(categories),
            blocks: RwLock::default(),
            similar_depth,
        }
    }

    /// The items similar to `item` computed at training, best first; `None` when this version
    /// has no precomputed lists (see [`Published::similar_depth`] for whether one is cut short).
    pub fn similar_list(&self, item: ItemIdx) -> Option<Vec<Scored>> {
        (item.index() < self.artifact.similar.len()).then(|| self.artifact.similar.scored(item.index()))
    }

    /// The depth of the precomputed similar-item lists: a list this long may have been cut;
    /// a shorter one holds every similar item there is.
    pub fn similar_depth(&self) -> usize {
        self.similar_depth
    }

    /// The version number.
    pub fn version(&self) -> u64 {
        self.record.version
    }

    /// The highest event sequence number the model was trained on.
    pub fn trained_on_seq(&self) -> u64 {
        self.record.model.trained_on_seq
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.artifact.model
    }

    /// The model index of user `id`.
    pub fn user(&self, id: &str) -> Option<UserIdx> {
        self.user_index.get(id).map(|&u| UserIdx(u))
    }

    /// The model index of item `id`.
    pub fn item(&self, id: &str) -> Option<ItemIdx> {
        self.item_index.get(id).map(|&i| ItemIdx(i))
    }

    /// The external id of model item `i`.
    pub fn item_id(&self, i: ItemIdx) -> &str {
        self.artifact.items.get(i.index()).map_or("", String::as_str)
    }

    /// The model items in `category` (sorted), if any.
    pub fn category_items(&self, category: &str) -> Vec<ItemIdx> {
        let cats = self.categories.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        cats.get(category).cloned().unwrap_or_default()
    }

    /// The block of `category` ([`Recommender::block`]: its items' bound data side by side, its
    /// items in the order of [`Published::category_items`]) when it has at least `min_items`
    /// items and the model ranks by bounds; built on the first call (on the caller's thread).
    pub fn category_block(&self, category: &str, min_items: usize) -> Option<Arc<Block>> {
        let cats = self.categories.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let items = cats.get(category).filter(|l| l.len() >= min_items)?;
        let built =
            self.blocks.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(category).cloned();
        if built.is_some() {
            return built;
        }
        let block = Arc::new(self.model().block(items).ok()??);
        let mut blocks = self.blocks.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        Some(Arc::clone(blocks.entry(category.to_owned()).or_insert(block)))
    }

    /// Bytes held by the model's bound data and the categories' blocks built so far.
    pub fn prepared_bytes(&self) -> usize {
        let blocks = self.blocks.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.model().prepared_bytes() + blocks.values().map(|b| b.bytes()).sum::<usize>()
    }

    /// Follows a catalog edit of item `id`: it leaves `old` categories and joins `new` ones (and
    /// the blocks of the categories it changed are dropped).
    pub fn recategorise(&self, id: &str, old: &[String], new: &[String]) {
        let Some(idx) = self.item(id) else { return };
        let mut cats = self.categories.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut changed = Vec::new();
        for c in old {
            if let Some(list) = cats.get_mut(c)
                && let Ok(pos) = list.binary_search(&idx)
            {
                list.remove(pos);
                changed.push(c);
            }
        }
        for c in new {
            let list = cats.entry(c.clone()).or_default();
            if let Err(pos) = list.binary_search(&idx) {
                list.insert(pos, idx);
                changed.push(c);
            }
        }
        if !changed.is_empty() {
            let mut blocks = self.blocks.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            for c in changed {
                blocks.remove(c);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use aisle_core::models::registry::ModelSpec;
    use aisle_core::{FitContext, Interaction, Interactions};
    use aisle_store::NewModel;

    use super::*;

    /// Version `version` of a popularity model of two users and two items (`u0`, `u1`; `i0`,
    /// `i1`), for the parts' tests.
    pub(crate) fn published(version: u64) -> Published {
        let e = |u, i| Interaction { user: UserIdx(u), item: ItemIdx(i), value: 1.0, ts: 0 };
        let data =
            Interactions::new(2, 2, aisle_core::Feedback::Implicit, vec![e(0, 0), e(1, 0), e(1, 1)]).unwrap();
        let spec: ModelSpec = "pop".parse().unwrap();
        let model = spec.fit(&data, &FitContext::seeded(1)).unwrap();
        let artifact = Artifact {
            format: crate::ARTIFACT_FORMAT,
            model,
            users: vec!["u0".into(), "u1".into()],
            items: vec!["i0".into(), "i1".into()],
            history: Rows::default(),
            bought_together: Rows::default(),
            similar: Rows::default(),
        };
        let record = ModelRecord {
            version,
            active: true,
            artifact_bytes: 0,
            model: NewModel {
                name: "pop".into(),
                params: serde_json::Value::Null,
                trained_on_seq: 0,
                metrics: Default::default(),
                created_at_ms: 0,
            },
        };
        Published::new(record, artifact, std::iter::empty())
    }
}
