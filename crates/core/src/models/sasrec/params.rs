//! [`SasrecParams`]: the hyperparameters, their bounds, and the fit (epochs, validation on each
//! user's last step, early stopping, checkpoints).

use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::net::{MAX_BLOCKS, MAX_LEN, Net};
use super::train::{Corpus, Setup, Trainer};
use super::{MODEL, SasrecModel};
use crate::data::Interactions;
use crate::eval::NextCase;
use crate::ids::{ItemIdx, UserIdx};
use crate::models::invariant::MAX_DIM;
use crate::models::simd::score_rows;
use crate::recommender::{FitContext, FitError, ModelParams, ParamError, Progress};
use crate::rng;

/// Catalogs up to this size train on the full softmax under [`SasrecLoss::Auto`]; larger ones
/// on sampled negatives (the full softmax costs `n_items` per target).
pub const AUTO_FULL_MAX_ITEMS: usize = 20_000;

/// Users the internal validation ranks the catalog for, at most (a seeded sample beyond).
pub const MAX_VALIDATION_USERS: usize = 10_000;

/// The cut-off of the internal validation's NDCG.
const VALIDATION_K: usize = 10;

/// Which softmax the cross-entropy is over.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SasrecLoss {
    /// `full` up to [`AUTO_FULL_MAX_ITEMS`] items, `sampled` beyond.
    #[default]
    Auto,
    /// Softmax over every item (Klenitskiy & Vasilev 2023).
    Full,
    /// Softmax over the target and `negatives` uniform items shared by the batch (a negative
    /// equal to a position's own target is masked out for that position).
    Sampled,
}

/// How the fit picks its epoch when nobody validates from outside.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SasrecValidation {
    /// Hold out each user's last step (users with at least two): train on the steps before
    /// it, rank the full catalog minus the user's other items for it after every epoch
    /// (NDCG@10), keep the best epoch's weights and stop after `patience` epochs (or
    /// `patience_steps` optimiser steps, whichever is longer) without improvement. The model
    /// still scores users from their whole sequence, last step included.
    /// When the context carries next-item validation cases ([`FitContext::validation`]), they
    /// are ranked instead and no step is held out.
    #[default]
    LastItem,
    /// Train on every step for `epochs` epochs (an outside observer may still stop the fit,
    /// e.g. `aisle tune`'s early stopping).
    None,
}

/// Hyperparameters of [`SasrecModel`]. Architecture defaults are Kang & McAuley's (hidden 64,
/// two blocks, one head); the training defaults were measured on MovieLens (see
/// `docs/benchmarks.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SasrecParams {
    /// Embedding and hidden size `d` (1..=4096, a multiple of `heads`).
    pub hidden: usize,
    /// Self-attention blocks (1..=64).
    pub blocks: usize,
    /// Attention heads (1..=64, dividing `hidden`).
    pub heads: usize,
    /// Steps the model reads: the newest `max_len` of a sequence (1..=4096).
    pub max_len: usize,
    /// Windows of `max_len` steps trained per user and epoch (≥ 1): the newest, and the rest
    /// drawn afresh each epoch from the user's older windows, so a long history is covered over
    /// the epochs at the cost of `max_windows` windows an epoch. 1 trains on the newest
    /// `max_len` steps only, as the paper. (The newest 8 alone, every epoch, covered 80% of
    /// ml-latest-small's training targets; see `docs/benchmarks.md`.)
    pub max_windows: usize,
    /// Dropout rate on embeddings, attention outputs and the feed-forward layers (in [0, 1)).
    pub dropout: f32,
    /// Adam's step size (finite, > 0).
    pub learning_rate: f32,
    /// Decoupled weight decay (AdamW; finite, ≥ 0).
    pub weight_decay: f32,
    /// Sequences (windows) per batch (≥ 1).
    pub batch_size: usize,
    /// Epochs, at most (≥ 1).
    pub epochs: usize,
    /// Full or sampled softmax.
    pub loss: SasrecLoss,
    /// Negatives per batch of the sampled softmax (1..=100000).
    pub negatives: usize,
    /// Internal validation and early stopping.
    pub validation: SasrecValidation,
    /// Epochs without a better validation NDCG@10 before the fit stops, at least: the fit stops
    /// after `max(patience, ⌈patience_steps ÷ batches per epoch⌉)` epochs without one (both 0:
    /// never stop early, still keep the best epoch).
    pub patience: usize,
    /// Optimiser steps without a better validation NDCG@10 before the fit stops, at least
    /// (0..=[`MAX_PATIENCE_STEPS`]): patience in training done rather than in epochs, so that a
    /// small catalog's short epochs wait as long as a large one's few long ones. On ML-100k
    /// (19 batches an epoch) the validation NDCG@10 stood still for 37 epochs (700 steps) and
    /// then rose another 10%; 20 epochs stopped it there.
    pub patience_steps: usize,
}

/// Most [`SasrecParams::patience_steps`].
pub const MAX_PATIENCE_STEPS: usize = 10_000_000;

impl Default for SasrecParams {
    fn default() -> Self {
        Self {
            hidden: 64,
            blocks: 2,
            heads: 1,
            max_len: 50,
            max_windows: 8,
            dropout: 0.5,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            batch_size: 128,
            epochs: 200,
            loss: SasrecLoss::Auto,
            negatives: 256,
            validation: SasrecValidation::LastItem,
            patience: 5,
            patience_steps: 1_000,
        }
    }
}

impl SasrecParams {
    /// Epochs without improvement the fit waits for, at `batches` optimiser steps an epoch.
    pub(crate) fn patience_epochs(&self, batches: usize) -> usize {
        self.patience.max(self.patience_steps.div_ceil(batches.max(1)))
    }

    fn setup(&self, n_items: usize) -> Setup {
        let full = match self.loss {
            SasrecLoss::Full => true,
            SasrecLoss::Sampled => false,
            SasrecLoss::Auto => n_items <= AUTO_FULL_MAX_ITEMS,
        };
        Setup {
            hidden: self.hidden,
            heads: self.heads,
            blocks: self.blocks,
            max_len: self.max_len,
            dropout: self.dropout,
            learning_rate: f64::from(self.learning_rate),
            weight_decay: f64::from(self.weight_decay),
            batch_size: self.batch_size,
            negatives: (!full).then_some(self.negatives),
        }
    }
}

impl ModelParams for SasrecParams {
    type Model = SasrecModel;

    fn validate(&self) -> Result<(), ParamError> {
        let err = |field, reason: String| Err(ParamError::new(MODEL, field, reason));
        let within = |v: usize, lo: usize, hi: usize| (lo..=hi).contains(&v);
        if !within(self.hidden, 1, MAX_DIM) {
            return err("hidden", format!("must be in 1..={MAX_DIM}"));
        }
        if !within(self.blocks, 1, MAX_BLOCKS) {
            return err("blocks", format!("must be in 1..={MAX_BLOCKS}"));
        }
        if !within(self.heads, 1, MAX_BLOCKS) || !self.hidden.is_multiple_of(self.heads) {
            return err("heads", format!("must be in 1..={MAX_BLOCKS} and divide hidden ({})", self.hidden));
        }
        if !within(self.max_len, 1, MAX_LEN) {
            return err("max_len", format!("must be in 1..={MAX_LEN}"));
        }
        for (field, v) in
            [("max_windows", self.max_windows), ("batch_size", self.batch_size), ("epochs", self.epochs)]
        {
            if v == 0 {
                return err(field, "must be at least 1".into());
            }
        }
        if self.patience_steps > MAX_PATIENCE_STEPS {
            return err("patience_steps", format!("must be in 0..={MAX_PATIENCE_STEPS}"));
        }
        if !within(self.negatives, 1, 100_000) {
            return err("negatives", "must be in 1..=100000".into());
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return err("dropout", "must be in [0, 1)".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return err("learning_rate", "must be a finite number > 0".into());
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return err("weight_decay", "must be a finite number ≥ 0".into());
        }
        Ok(())
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<SasrecModel, FitError> {
        self.validate()?;
        if data.nnz() == 0 {
            return Err(FitError::EmptyData { model: MODEL });
        }
        let seqs = ctx.sequences_for(MODEL, data)?;
        let users: Vec<&[u32]> = (0..data.n_users()).map(|u| seqs.user(UserIdx(u as u32))).collect();
        let validating = self.validation == SasrecValidation::LastItem;
        // The caller's validation cases when it has them (a next-item split's), else each
        // user's last step, held out of training.
        let given = ctx
            .validation
            .filter(|_| validating)
            .and_then(|cases| Validation::given(cases, self.max_len, data.n_items(), ctx.seed));
        let holdout = validating && given.is_none();
        let cut = users.iter().map(|&s| if holdout && s.len() >= 2 { &s[..s.len() - 1] } else { s });
        let mut corpus = Corpus::new(cut, self.max_len, self.max_windows);
        let mut validation = if holdout { Validation::sample(&users, self.max_len, ctx.seed) } else { given };
        if corpus.is_empty() {
            // Every user has at most two steps: the last ones are needed for training.
            corpus = Corpus::new(users.iter().copied(), self.max_len, self.max_windows);
            validation = None;
        }
        if corpus.is_empty() {
            return Err(FitError::Unfit {
                model: MODEL,
                reason: "no user has two steps to learn a next one".into(),
            });
        }
        let unfit =
            |e: candle_core::Error| FitError::Unfit { model: MODEL, reason: format!("training failed: {e}") };
        let setup = self.setup(data.n_items());
        let streams = (rng::stream(ctx.seed, 0), rng::stream(ctx.seed, 1), rng::stream(ctx.seed, 2));
        let mut trainer =
            Trainer::new(setup, data.n_items(), streams.0, streams.1, streams.2).map_err(unfit)?;
        let mut model = SasrecModel::new(trainer.vars.export().map_err(unfit)?, &users, self.max_len);
        let mut best: Option<(f64, Net)> = None;
        let mut since = 0;
        let patience = self.patience_epochs(corpus.batches_per_epoch(self.batch_size));
        for epoch in 1..=self.epochs {
            let loss = trainer.epoch(&corpus).map_err(unfit)?;
            let checkpoints = ctx.observer.wants_checkpoints();
            if checkpoints || validation.is_some() {
                model.set_net(trainer.vars.export().map_err(unfit)?);
            }
            if let Some(v) = &validation {
                let ndcg = v.ndcg(&model.net);
                if best.as_ref().is_none_or(|(b, _)| ndcg > *b) {
                    best = Some((ndcg, model.net.clone()));
                    since = 0;
                } else {
                    since += 1;
                }
            }
            let progress = Progress { model: MODEL, done: epoch, total: self.epochs, loss: Some(loss) };
            let stop = if checkpoints {
                ctx.checkpoint(progress, &model)
            } else {
                ctx.report(MODEL, epoch, self.epochs, Some(loss))
            };
            if stop || (patience > 0 && since >= patience) {
                break;
            }
        }
        match best {
            Some((_, net)) => model.set_net(net),
            None => model.set_net(trainer.vars.export().map_err(unfit)?),
        }
        Ok(model)
    }
}

/// Each sampled user's last step as a target, the steps before as input.
struct Validation {
    /// `(input, target)`.
    cases: Vec<(Vec<u32>, u32)>,
}

impl Validation {
    /// Up to [`MAX_VALIDATION_USERS`] users with at least two steps, a seeded sample beyond.
    fn sample(users: &[&[u32]], max_len: usize, seed: u64) -> Option<Self> {
        let eligible: Vec<&[u32]> = users.iter().copied().filter(|s| s.len() >= 2).collect();
        Self::capped(eligible, seed, |s| {
            let input = &s[..s.len() - 1];
            (input[input.len().saturating_sub(max_len)..].to_vec(), s[s.len() - 1])
        })
    }

    /// The caller's next-item `cases` (their history's last `max_len` steps as input), up to
    /// [`MAX_VALIDATION_USERS`], a seeded sample beyond. Cases with an item outside the catalog, an
    /// empty history or a target already in it are left out (`evaluate_next` does not score
    /// repeats either); `None` when none is left.
    fn given(cases: &[NextCase], max_len: usize, n_items: usize, seed: u64) -> Option<Self> {
        let known = |i: ItemIdx| i.index() < n_items;
        let kept: Vec<&NextCase> = cases
            .iter()
            .filter(|c| {
                !c.history.is_empty()
                    && known(c.target)
                    && c.history.iter().all(|&(i, _)| known(i) && i != c.target)
            })
            .collect();
        Self::capped(kept, seed, |c| {
            let input = &c.history[c.history.len().saturating_sub(max_len)..];
            (input.iter().map(|&(i, _)| i.0).collect(), c.target.0)
        })
    }

    /// `eligible` as cases, up to [`MAX_VALIDATION_USERS`] of them (a seeded sample beyond);
    /// `None` when there are none.
    fn capped<T>(mut eligible: Vec<T>, seed: u64, case: impl Fn(T) -> (Vec<u32>, u32)) -> Option<Self> {
        if eligible.len() > MAX_VALIDATION_USERS {
            eligible.shuffle(&mut rng::stream(seed, 3));
            eligible.truncate(MAX_VALIDATION_USERS);
        }
        let cases: Vec<(Vec<u32>, u32)> = eligible.into_iter().map(case).collect();
        (!cases.is_empty()).then_some(Self { cases })
    }

    /// Mean NDCG@10 of the targets, each ranked against the catalog minus the input's items.
    fn ndcg(&self, net: &Net) -> f64 {
        let n_items = net.n_items();
        let gains: Vec<f64> = self
            .cases
            .par_iter()
            .map_init(
                || vec![0f32; n_items],
                |scores, (input, target)| {
                    score_rows(&net.items, &net.encode(input), None, scores);
                    let st = scores[*target as usize];
                    if st.is_nan() {
                        return 0.0;
                    }
                    let mut above = scores.iter().filter(|&&s| s > st).count();
                    let mut seen = input.clone();
                    seen.sort_unstable();
                    seen.dedup();
                    above -= seen.iter().filter(|&&i| i != *target && scores[i as usize] > st).count();
                    if above < VALIDATION_K { 1.0 / ((above + 2) as f64).log2() } else { 0.0 }
                },
            )
            .collect();
        gains.iter().sum::<f64>() / gains.len().max(1) as f64
    }
}
