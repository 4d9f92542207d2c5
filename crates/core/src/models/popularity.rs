//! Popularity and trending: the non-personalised baselines every report includes.
//!
//! "TopPop" (Cremonesi, Koren & Turrin 2010, "Performance of recommender algorithms on top-N
//! recommendation tasks") ranks items by how many users interacted with them. Trending weighs each
//! interaction by an exponential time decay, `2^(−(now − ts) / half_life)`, so an item's score is
//! its number of recent users with a half-life (Ding & Li 2005, "Time weight collaborative
//! filtering"). `now` is an input: by default the latest timestamp in the training data, never the
//! wall clock, so the same data gives the same model.

use serde::{Deserialize, Serialize};

use crate::data::Interactions;
use crate::ids::{ItemIdx, UserIdx};
use crate::recommender::{
    FitContext, FitError, ModelError, ModelParams, ParamError, Recommender, Scored, check_history,
    check_history_items, check_user, check_user_items,
};

const MODEL: &str = "popularity";

/// How items are ranked.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PopularityKind {
    /// Number of distinct users who interacted with the item.
    Users,
    /// Sum of interaction values (confidence or ratings).
    Weighted,
    /// Users weighted by `2^(−(now − ts) / half_life_s)` of their latest interaction.
    Trending,
}

/// Parameters of [`PopularityModel`]. Default: [`PopularityKind::Users`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopularityParams {
    /// How items are ranked.
    pub kind: PopularityKind,
    /// Half-life of an interaction's weight for [`PopularityKind::Trending`], in seconds
    /// (default 7 days).
    pub half_life_s: f64,
    /// The reference time of trending (unix seconds); `None` = the latest timestamp in the data.
    pub now: Option<i64>,
}

impl Default for PopularityParams {
    fn default() -> Self {
        Self { kind: PopularityKind::Users, half_life_s: 7.0 * 24.0 * 3600.0, now: None }
    }
}

impl PopularityParams {
    /// Time-decayed trending with a half-life in seconds, relative to the latest event.
    pub fn trending(half_life_s: f64) -> Self {
        Self { kind: PopularityKind::Trending, half_life_s, now: None }
    }
}

/// One score per item, the same for every user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PopularityModel {
    trending: bool,
    n_users: usize,
    /// Infinite for a trending item whose events come long after `now`.
    #[serde(with = "crate::models::floats")]
    scores: Vec<f32>,
}

impl ModelParams for PopularityParams {
    type Model = PopularityModel;

    fn validate(&self) -> Result<(), ParamError> {
        if self.half_life_s.is_finite() && self.half_life_s > 0.0 {
            Ok(())
        } else {
            Err(ParamError::new(MODEL, "half_life_s", "must be a positive number of seconds"))
        }
    }

    fn fit(&self, data: &Interactions, ctx: &FitContext<'_>) -> Result<PopularityModel, FitError> {
        self.validate()?;
        let scores: Vec<f32> = match self.kind {
            PopularityKind::Users => data.item_counts().into_iter().map(|c| c as f32).collect(),
            PopularityKind::Weighted => {
                (0..data.n_items()).map(|i| data.item(ItemIdx(i as u32)).values.iter().sum()).collect()
            }
            PopularityKind::Trending => {
                let (half_life_s, now) = (self.half_life_s, self.now);
                let now = now.unwrap_or_else(|| data.iter().map(|e| e.ts).max().unwrap_or(0));
                (0..data.n_items())
                    .map(|i| {
                        let row = data.item(ItemIdx(i as u32));
                        let decayed: f64 = (0..row.len())
                            .map(|k| (-((now - row.ts_at(k)) as f64) / half_life_s).exp2())
                            .sum();
                        decayed as f32
                    })
                    .collect()
            }
        };
        ctx.report(MODEL, 1, 1, None);
        let trending = self.kind == PopularityKind::Trending;
        Ok(PopularityModel { trending, n_users: data.n_users(), scores })
    }
}

impl PopularityModel {
    /// Nothing to check: scores are per item, users only bound the indexes asked about.
    pub(crate) fn check(&self) -> crate::models::invariant::Check {
        Ok(())
    }

    /// The item scores, indexed by item.
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }

    /// `out[j]` = the score of `items[j]` (checked).
    fn gather(&self, items: &[ItemIdx], out: &mut [f32]) {
        for (o, i) in out.iter_mut().zip(items) {
            *o = self.scores[i.index()];
        }
    }
}

impl Recommender for PopularityModel {
    fn name(&self) -> &'static str {
        if self.trending { "trending" } else { "pop" }
    }

    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.scores.len()
    }

    fn score_user(&self, user: UserIdx, out: &mut [f32]) -> Result<(), ModelError> {
        check_user(self, user, out)?;
        out.copy_from_slice(&self.scores);
        Ok(())
    }

    fn score_history(&self, history: &[(ItemIdx, f32)], out: &mut [f32]) -> Result<(), ModelError> {
        check_history(self, history, out)?;
        out.copy_from_slice(&self.scores);
        Ok(())
    }

    fn score_user_items(&self, user: UserIdx, items: &[ItemIdx], out: &mut [f32]) -> Result<(), ModelError> {
        check_user_items(self, user, items, out)?;
        self.gather(items, out);
        Ok(())
    }

    fn score_history_items(
        &self,
        history: &[(ItemIdx, f32)],
        items: &[ItemIdx],
        out: &mut [f32],
    ) -> Result<(), ModelError> {
        check_history_items(self, history, items, out)?;
        self.gather(items, out);
        Ok(())
    }

    fn similar_items(&self, _: ItemIdx, _: usize, _: &[ItemIdx]) -> Result<Vec<Scored>, ModelError> {
        Err(ModelError::Unsupported { model: self.name(), operation: "similar items" })
    }

    fn predict(&self, _: UserIdx, _: ItemIdx) -> Result<f32, ModelError> {
        Err(ModelError::Unsupported { model: self.name(), operation: "rating prediction" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Feedback, Interaction};

    fn data() -> Interactions {
        let e = |u, i, v, ts| Interaction { user: UserIdx(u), item: ItemIdx(i), value: v, ts };
        // Item 0: two old interactions; item 1: one fresh; item 2: heavy but single.
        let entries = vec![e(0, 0, 1.0, 0), e(1, 0, 1.0, 0), e(2, 1, 1.0, 1000), e(0, 2, 9.0, 500)];
        Interactions::new(3, 4, Feedback::Implicit, entries).unwrap()
    }

    #[test]
    fn counts_weights_and_decay() {
        let ctx = FitContext::seeded(0);
        let users = PopularityParams::default().fit(&data(), &ctx).unwrap();
        assert_eq!(users.scores(), &[2.0, 1.0, 1.0, 0.0]);
        let weighted = PopularityParams { kind: PopularityKind::Weighted, ..PopularityParams::default() }
            .fit(&data(), &ctx)
            .unwrap();
        assert_eq!(weighted.scores(), &[2.0, 1.0, 9.0, 0.0]);
        // Half-life 500 s, now = 1000: item 0 = 2 * 2^-2 = 0.5, item 1 = 1, item 2 = 2^-1 = 0.5.
        let trend = PopularityParams::trending(500.0).fit(&data(), &ctx).unwrap();
        assert_eq!(trend.scores(), &[0.5, 1.0, 0.5, 0.0]);
        assert_eq!(trend.name(), "trending");
        let top = trend.recommend(UserIdx(0), 2, &[ItemIdx(1)]).unwrap();
        assert_eq!(top.iter().map(|s| s.item.0).collect::<Vec<_>>(), [0, 2]);
    }

    #[test]
    fn rejects_bad_half_life_and_unsupported_questions() {
        let err = PopularityParams::trending(0.0).validate().unwrap_err();
        assert_eq!(err.field, "half_life_s");
        let m = PopularityParams::default().fit(&data(), &FitContext::seeded(0)).unwrap();
        assert!(matches!(m.predict(UserIdx(0), ItemIdx(0)), Err(ModelError::Unsupported { .. })));
        assert!(matches!(m.score_user(UserIdx(7), &mut [0.0; 4]), Err(ModelError::UnknownUser { .. })));
        assert!(matches!(m.score_user(UserIdx(0), &mut [0.0; 3]), Err(ModelError::BufferLength { .. })));
    }
}
