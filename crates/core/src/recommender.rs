//! The contract every model meets: [`ModelParams`] (validate, then fit) and [`Recommender`]
//! (score known users, fold in unseen ones, score a subset of the catalog, similar items and
//! item-item affinity, rating prediction).

use std::borrow::Cow;

use crate::data::Interactions;
use crate::eval::NextCase;
use crate::ids::{ItemIdx, UserIdx};
use crate::models::clustered::{IndexedLists, ListIndex};
use crate::seq::{DEFAULT_SESSION_GAP_S, Sequences};
use crate::side::{NO_SIDE_INFO, SideInfo};
use crate::topk::top_k;

/// An item and its score; lists of these are sorted best first.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Scored {
    /// The item.
    pub item: ItemIdx,
    /// Higher is better; comparable only within one list.
    pub score: f32,
}

/// Why a trained model could not answer.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The user index is not one the model was trained with.
    #[error("unknown user index {index} (model knows {n} users)")]
    UnknownUser {
        /// The index asked for.
        index: u32,
        /// Users the model knows.
        n: usize,
    },
    /// The item index is not one the model was trained with.
    #[error("unknown item index {index} (model knows {n} items)")]
    UnknownItem {
        /// The index asked for.
        index: u32,
        /// Items the model knows.
        n: usize,
    },
    /// The model does not do this (e.g. rating prediction from a popularity list).
    #[error("{model} does not support {operation}")]
    Unsupported {
        /// The model's name.
        model: &'static str,
        /// What was asked.
        operation: &'static str,
    },
    /// An output buffer has the wrong length.
    #[error("score buffer has length {got}, expected {expected}")]
    BufferLength {
        /// `n_items`, or for the `*_items` methods the number of items asked for.
        expected: usize,
        /// What was passed.
        got: usize,
    },
}

/// A bad hyperparameter, named by model and field.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{model}: invalid {field}: {reason}")]
pub struct ParamError {
    /// The model's name.
    pub model: &'static str,
    /// The parameter's name as in config.
    pub field: Cow<'static, str>,
    /// What is wrong and what is allowed.
    pub reason: String,
}

impl ParamError {
    /// A new error for `model.field`.
    pub fn new(model: &'static str, field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        Self { model, field: field.into(), reason: reason.into() }
    }
}

/// Why a fit failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FitError {
    /// A hyperparameter is out of range.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The training data has no interactions.
    #[error("{model}: the training data is empty")]
    EmptyData {
        /// The model's name.
        model: &'static str,
    },
    /// The model needs data it was not given (e.g. a catalog too large for a dense method).
    #[error("{model}: {reason}")]
    Unfit {
        /// The model's name.
        model: &'static str,
        /// What is wrong and what to do instead.
        reason: String,
    },
}

/// Where an iterative fit is.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// The model's name.
    pub model: &'static str,
    /// Steps done (epochs, iterations, or rows for one-pass models).
    pub done: usize,
    /// Steps in all.
    pub total: usize,
    /// Training loss after this step, where the model computes one.
    pub loss: Option<f64>,
}

/// Whether a fit should go on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep going.
    Continue,
    /// Stop after this step and return the model as it is (early stopping).
    Stop,
}

/// Receives progress from fits; may stop them early. Shared across rayon workers.
pub trait Observer: Sync {
    /// Called after each step.
    fn progress(&self, progress: &Progress) -> Control;

    /// Whether [`Observer::checkpoint`] wants to see the model: fits that must build a scoring
    /// view of their state (rather than train one in place) do so only when asked.
    fn wants_checkpoints(&self) -> bool {
        false
    }

    /// Called after each step, instead of [`Observer::progress`], by iterative fits that can show
    /// the model as it stands (e.g. to evaluate it on a validation split and stop early when the
    /// metric stops improving). The default ignores the model.
    fn checkpoint(&self, progress: &Progress, model: &dyn Recommender) -> Control {
        let _ = model;
        self.progress(progress)
    }
}

/// An observer that ignores progress and never stops a fit.
#[derive(Copy, Clone, Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn progress(&self, _: &Progress) -> Control {
        Control::Continue
    }
}

/// What a fit gets besides data and params: the seed, an observer and side information.
#[derive(Copy, Clone)]
pub struct FitContext<'a> {
    /// Seed of every random choice the fit makes: same seed, same data ⇒ identical model.
    pub seed: u64,
    /// Progress and early stopping.
    pub observer: &'a dyn Observer,
    /// Item and user attributes, indexed like the training data (empty when there are none);
    /// content and hybrid models use them, the others ignore them.
    pub side: &'a SideInfo,
    /// The training events in order, cut into sessions, shaped like the training data; the
    /// session and sequential models use them (and derive them from the matrix's timestamps
    /// when absent, see [`FitContext::sequences_for`]), the others ignore them.
    pub sequences: Option<&'a Sequences>,
    /// Next-item cases held out for validation, indexed like the training data (the
    /// validation cases of a next-item split): a model that stops early by validation (SASRec)
    /// stops on these instead of holding out steps of its own, and so learns from every
    /// training step; the others ignore them.
    pub validation: Option<&'a [NextCase]>,
}

impl FitContext<'static> {
    /// A silent context with `seed` and no side information.
    pub fn seeded(seed: u64) -> Self {
        Self { seed, observer: &Silent, side: &NO_SIDE_INFO, sequences: None, validation: None }
    }
}

impl<'a> FitContext<'a> {
    /// The same context reporting to `observer`.
    pub fn with_observer(self, observer: &'a dyn Observer) -> Self {
        Self { observer, ..self }
    }

    /// The same context with side information `side`.
    pub fn with_side(self, side: &'a SideInfo) -> Self {
        Self { side, ..self }
    }

    /// The same context with the training events in order (`sequences` must have the shape of
    /// the data the fit gets; sequential models refuse a mismatch).
    pub fn with_sequences(self, sequences: &'a Sequences) -> Self {
        Self { sequences: Some(sequences), ..self }
    }

    /// The same context with next-item `cases` to validate on (see [`FitContext::validation`]).
    pub fn with_validation(self, cases: &'a [NextCase]) -> Self {
        Self { validation: Some(cases), ..self }
    }

    /// The sequences to fit on: the context's, checked against `data`'s shape, or those the
    /// matrix's timestamps imply ([`Sequences::from_interactions`]).
    pub fn sequences_for(
        &self,
        model: &'static str,
        data: &Interactions,
    ) -> Result<Cow<'a, Sequences>, FitError> {
        match self.sequences {
            Some(s) if s.matches(data) => Ok(Cow::Borrowed(s)),
            Some(s) => Err(FitError::Unfit {
                model,
                reason: format!(
                    "the training sequences are {}×{}, the data {}×{}",
                    s.n_users(),
                    s.n_items(),
                    data.n_users(),
                    data.n_items()
                ),
            }),
            None => Ok(Cow::Owned(Sequences::from_interactions(data, DEFAULT_SESSION_GAP_S))),
        }
    }

    /// Reports progress; true when the fit should stop.
    pub fn report(&self, model: &'static str, done: usize, total: usize, loss: Option<f64>) -> bool {
        self.observer.progress(&Progress { model, done, total, loss }) == Control::Stop
    }

    /// Reports progress with the model as it stands after `done` steps (see
    /// [`Observer::checkpoint`]); true when the fit should stop.
    pub fn checkpoint(&self, progress: Progress, model: &dyn Recommender) -> bool {
        self.observer.checkpoint(&progress, model) == Control::Stop
    }
}

/// Hyperparameters of one model: validated, then fitted to data.
pub trait ModelParams {
    /// The trained model.
    type Model: Recommender;

    /// Checks every field, naming the first bad one.
    fn validate(&self) -> Result<(), ParamError>;

    /// Validates, then trains on `data`. Same params, data and seed ⇒ identical model.
    fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<Self::Model, FitError>;
}

/// What every trained model answers.
pub trait Recommender: Send + Sync {
    /// Short stable name (`svd`, `user-knn`, ...).
    fn name(&self) -> &'static str;

    /// Users seen in training.
    fn n_users(&self) -> usize;

    /// Items the model can score.
    fn n_items(&self) -> usize;

    /// Writes a ranking score for every item for a training user into `out` (`n_items` long).
    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError>;

    /// Writes scores for a user the model never saw, from their history of (item, value) pairs
    /// (ratings for explicit models, confidence for implicit ones), without refitting: fold-in.
    fn score_history(&self, history: &[(ItemIdx, f32)], out: &mut [f32]) -> Result<(), ModelError>;

    /// Writes into `out[j]` the score [`Recommender::score_user`] gives `items[j]`, bit for bit
    /// (`out` is as long as `items`; items may repeat and come in any order). For scoring a
    /// slice of the catalog, such as one category: models whose scores cost the same per item
    /// (the factor models, biases, popularity) compute only the items asked for; the default
    /// scores every item and picks, which is what the models that score by scattering over the
    /// catalog (neighbourhoods, EASE, content, blends) would do anyway.
    fn score_user_items(&self, user: UserIdx, items: &[ItemIdx], out: &mut [f32]) -> Result<(), ModelError> {
        check_user_items(self, user, items, out)?;
        let mut all = vec![0f32; self.n_items()];
        self.score_user(user, &mut all)?;
        gather(&all, items, out);
        Ok(())
    }

    /// Writes into `out[j]` the score [`Recommender::score_history`] gives `items[j]` for
    /// `history`, bit for bit; as [`Recommender::score_user_items`] otherwise. The fold-in is
    /// computed once per call, so a caller that needs several slices for one history should ask
    /// for them together.
    fn score_history_items(
        &self,
        history: &[(ItemIdx, f32)],
        items: &[ItemIdx],
        out: &mut [f32],
    ) -> Result<(), ModelError> {
        check_history_items(self, history, items, out)?;
        let mut all = vec![0f32; self.n_items()];
        self.score_history(history, &mut all)?;
        gather(&all, items, out);
        Ok(())
    }

    /// The `n` items most similar to `item`, never `item` itself nor any of `exclude`.
    fn similar_items(&self, item: ItemIdx, n: usize, exclude: &[ItemIdx]) -> Result<Vec<Scored>, ModelError>;

    /// Every item's `depth` most similar items: row `i` is `similar_items(i, depth, &[])`, bit
    /// for bit, so that a server can compute them once when it publishes a model and answer each
    /// similar-items request by a lookup. The default asks [`Recommender::similar_items`] item by
    /// item, in parallel; the models whose similarity is a cosine of vectors score blocks of items
    /// together instead, reading each part of the catalog once per block rather than once per
    /// item. `Unsupported` where `similar_items` is.
    fn similar_lists(&self, depth: usize) -> Result<Vec<Vec<Scored>>, ModelError> {
        use rayon::prelude::*;
        (0..self.n_items() as u32)
            .into_par_iter()
            .map(|i| self.similar_items(ItemIdx(i), depth, &[]))
            .collect()
    }

    /// Every item's `depth` most similar items from a cluster index, for a catalog too large for
    /// [`Recommender::similar_lists`]' all-pairs pass: each listed score is `similar_items`' for
    /// that pair, bit for bit, but a list can miss a neighbour; the recall measured against exact
    /// lists on a sample comes with them (see [`crate::models::clustered`]). `None` (the default)
    /// for the models without one: those whose similar items are a cosine of vectors have it.
    fn similar_lists_indexed(
        &self,
        depth: usize,
        index: &ListIndex,
    ) -> Result<Option<IndexedLists>, ModelError> {
        let _ = (depth, index);
        Ok(None)
    }

    /// A scorer of `query` that bounds scores cheaply from above and computes them exactly on
    /// demand, for ranking a large catalog without scoring all of it exactly: a caller scores
    /// exactly only the items whose bound can still beat its `n`-th best exact score, and gets
    /// exactly the list a full exact scan gives. `None` (the default) when the model has no such
    /// bound. The implicit factor models (iALS, BPR, the hybrid) bound by 8-bit copies of their
    /// item vectors, built on the first call (or by [`Recommender::prepare`]): a quarter of the
    /// vectors' memory, worth it for large catalogs only.
    fn bounded(&self, query: Query<'_>) -> Result<Option<Box<dyn Bounded + '_>>, ModelError> {
        let _ = query;
        Ok(None)
    }

    /// A [`Block`] of `items` (a large category) for [`Bounded::upper_block`]: `None` (the
    /// default) when the model has no bounded scorer.
    fn block(&self, items: &[ItemIdx]) -> Result<Option<Block>, ModelError> {
        let _ = items;
        Ok(None)
    }

    /// Builds what [`Recommender::bounded`] computes lazily, so that the first request does not
    /// pay for it. Deterministic; the default does nothing.
    fn prepare(&self) {}

    /// Bytes held by what [`Recommender::prepare`] (or a [`Recommender::bounded`] scorer) built
    /// so far; 0 before, and for the models that build nothing.
    fn prepared_bytes(&self) -> usize {
        0
    }

    /// How similar `b` is to `a` by this model, on the scale [`Recommender::similar_items`]
    /// reports: whenever `similar_items(a, ..)` lists `b`, with exactly that score (e.g. to
    /// explain a recommendation by an item the user viewed). `None` when the model has no
    /// item-item measure (the default), when an index is unknown, or when the measure does not
    /// cover the pair (a zero factor vector; a pair outside item-kNN's stored neighbours).
    fn item_affinity(&self, a: ItemIdx, b: ItemIdx) -> Option<f32> {
        let _ = (a, b);
        None
    }

    /// A training user's newest steps (item indexes, oldest first) for the models that read
    /// order: the context [`Recommender::score_user`] scores them from. A server folding in a
    /// known user's new events puts these before the new ones, so the sequence keeps its order
    /// (the events it stores for the user carry none). `None` for the models that keep no
    /// sequence (the default) and for an unknown user.
    fn user_steps(&self, user: UserIdx) -> Option<&[u32]> {
        let _ = user;
        None
    }

    /// The predicted rating of (user, item), clipped to the training scale; `Unsupported` for
    /// ranking-only models.
    fn predict(&self, user: UserIdx, item: ItemIdx) -> Result<f32, ModelError>;

    /// The top `n` items for a training user, skipping `exclude`.
    fn recommend(&self, user: UserIdx, n: usize, exclude: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        let mut scores = vec![0f32; self.n_items()];
        self.score_user(user, &mut scores)?;
        Ok(top_excluding(&mut scores, n, exclude))
    }

    /// The top `n` items for an unseen user with `history`, skipping `exclude`.
    fn recommend_history(
        &self,
        history: &[(ItemIdx, f32)],
        n: usize,
        exclude: &[ItemIdx],
    ) -> Result<Vec<Scored>, ModelError> {
        let mut scores = vec![0f32; self.n_items()];
        self.score_history(history, &mut scores)?;
        Ok(top_excluding(&mut scores, n, exclude))
    }
}

/// Whom a [`Bounded`] scorer scores: a training user, or an unseen one by their history (as
/// [`Recommender::score_history`] would fold it in).
#[derive(Copy, Clone, Debug)]
pub enum Query<'a> {
    /// A training user.
    User(UserIdx),
    /// An unseen user's history of (item, value) pairs.
    History(&'a [(ItemIdx, f32)]),
}

/// Upper bounds of one query's scores, cheap, and its exact scores (see
/// [`Recommender::bounded`]).
pub trait Bounded: Send + Sync {
    /// `out[j] ≥` the exact score of `items[j]` (`items = None`: of item `j`, `out` as long as
    /// the catalog); `f32::MAX` where nothing smaller is known.
    fn upper(&self, items: Option<&[ItemIdx]>, out: &mut [f32]) -> Result<(), ModelError>;

    /// `out[j]` = the exact score of `items[j]`: bit for bit what `score_user_items` or
    /// `score_history_items` give.
    fn exact(&self, items: &[ItemIdx], out: &mut [f32]) -> Result<(), ModelError>;

    /// [`Bounded::upper`] of `block.items()`, the same bounds, from the block's contiguous rows
    /// (`block` built by this scorer's model; an error when its shape is not the model's).
    fn upper_block(&self, block: &Block, out: &mut [f32]) -> Result<(), ModelError>;
}

/// A fixed set of items (a large category) whose bound data a model copied side by side, so
/// that ranking the set by bounds reads it in one pass instead of gathering it from the whole
/// catalog's ([`Recommender::block`]).
#[derive(Clone, Debug)]
pub struct Block {
    pub(crate) items: Vec<ItemIdx>,
    pub(crate) rows: crate::models::quantized::Quantized,
    pub(crate) bias: Vec<f32>,
}

impl Block {
    /// The items, in the order given.
    pub fn items(&self) -> &[ItemIdx] {
        &self.items
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.rows.bytes() + 4 * (self.items.len() + self.bias.len())
    }
}

/// Checks `items` against a catalog of `n_items` and `out`'s length (`items = None`: the whole
/// catalog), as every [`Bounded`] scorer must.
pub fn check_slice(n_items: usize, items: Option<&[ItemIdx]>, out: &[f32]) -> Result<(), ModelError> {
    let expected = items.map_or(n_items, <[ItemIdx]>::len);
    if out.len() != expected {
        return Err(ModelError::BufferLength { expected, got: out.len() });
    }
    items.map_or(Ok(()), |items| known_items(n_items, items.iter().copied()))
}

/// Checks that every one of `items` is in a catalog of `n_items`.
pub fn check_items_known(n_items: usize, items: &[ItemIdx]) -> Result<(), ModelError> {
    known_items(n_items, items.iter().copied())
}

/// Checks a query's user index or history items against `model`.
pub fn check_query(model: &dyn Recommender, query: Query<'_>) -> Result<(), ModelError> {
    match query {
        Query::User(user) => check_user_index(model, user),
        Query::History(history) => known_items(model.n_items(), history.iter().map(|&(item, _)| item)),
    }
}

/// Top `n` of `scores` after masking `exclude` (indexes out of range are ignored).
pub fn top_excluding(scores: &mut [f32], n: usize, exclude: &[ItemIdx]) -> Vec<Scored> {
    for e in exclude {
        if let Some(s) = scores.get_mut(e.index()) {
            *s = f32::NEG_INFINITY;
        }
    }
    top_k(scores, n)
}

/// Checks a user index and an output buffer, as every `score_user` must.
pub fn check_user(model: &dyn Recommender, user: UserIdx, out: &[f32]) -> Result<(), ModelError> {
    check_user_index(model, user)?;
    check_buffer(model, out)
}

/// Checks a user index, an output buffer as long as `items`, and every item, as every
/// `score_user_items` must.
pub fn check_user_items<M: Recommender + ?Sized>(
    model: &M,
    user: UserIdx,
    items: &[ItemIdx],
    out: &[f32],
) -> Result<(), ModelError> {
    if user.index() >= model.n_users() {
        return Err(ModelError::UnknownUser { index: user.0, n: model.n_users() });
    }
    check_items(model, items, out)
}

/// Checks every history item, an output buffer as long as `items`, and every item, as every
/// `score_history_items` must.
pub fn check_history_items<M: Recommender + ?Sized>(
    model: &M,
    history: &[(ItemIdx, f32)],
    items: &[ItemIdx],
    out: &[f32],
) -> Result<(), ModelError> {
    known_items(model.n_items(), history.iter().map(|&(item, _)| item))?;
    check_items(model, items, out)
}

fn check_items<M: Recommender + ?Sized>(model: &M, items: &[ItemIdx], out: &[f32]) -> Result<(), ModelError> {
    if out.len() != items.len() {
        return Err(ModelError::BufferLength { expected: items.len(), got: out.len() });
    }
    known_items(model.n_items(), items.iter().copied())
}

fn known_items(n: usize, mut items: impl Iterator<Item = ItemIdx>) -> Result<(), ModelError> {
    match items.find(|item| item.index() >= n) {
        Some(item) => Err(ModelError::UnknownItem { index: item.0, n }),
        None => Ok(()),
    }
}

/// `out[j] = all[items[j]]` (indexes already checked).
fn gather(all: &[f32], items: &[ItemIdx], out: &mut [f32]) {
    for (o, i) in out.iter_mut().zip(items) {
        *o = all[i.index()];
    }
}

/// Checks a (user, item) pair, as every `predict` must.
pub fn check_pair(model: &dyn Recommender, user: UserIdx, item: ItemIdx) -> Result<(), ModelError> {
    check_user_index(model, user)?;
    check_item(model, item)
}

fn check_user_index(model: &dyn Recommender, user: UserIdx) -> Result<(), ModelError> {
    if user.index() >= model.n_users() {
        return Err(ModelError::UnknownUser { index: user.0, n: model.n_users() });
    }
    Ok(())
}

/// Checks an item index against the model's catalog.
pub fn check_item(model: &dyn Recommender, item: ItemIdx) -> Result<(), ModelError> {
    if item.index() >= model.n_items() {
        return Err(ModelError::UnknownItem { index: item.0, n: model.n_items() });
    }
    Ok(())
}

/// Checks an output buffer's length, and every history item, as every `score_history` must.
pub fn check_history(
    model: &dyn Recommender,
    history: &[(ItemIdx, f32)],
    out: &[f32],
) -> Result<(), ModelError> {
    for &(item, _) in history {
        check_item(model, item)?;
    }
    check_buffer(model, out)
}

fn check_buffer(model: &dyn Recommender, out: &[f32]) -> Result<(), ModelError> {
    if out.len() != model.n_items() {
        return Err(ModelError::BufferLength { expected: model.n_items(), got: out.len() });
    }
    Ok(())
}
