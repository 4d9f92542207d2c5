//! Reward models q̂(round, position, item) for the doubly robust estimator.

use std::collections::HashMap;

use super::{Logged, OpeError};

/// An estimate of the expected reward of showing `item` at `position` in `round`.
pub trait RewardModel {
    /// `q̂(round, position, item)`.
    fn q(&self, round: u64, position: u32, item: u32) -> f64;
}

/// Mean logged reward per (item, position), falling back to the position's mean and then the
/// global mean for pairs never logged. Rows with non-finite rewards are ignored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemPositionMean {
    by_item_position: HashMap<(u32, u32), f64>,
    by_position: HashMap<u32, f64>,
    global: f64,
}

impl ItemPositionMean {
    /// Fits the means on a log (an empty log gives q̂ = 0 everywhere).
    pub fn fit(log: &[Logged]) -> ItemPositionMean {
        let mut by_item_position: HashMap<(u32, u32), (f64, f64)> = HashMap::new();
        let mut by_position: HashMap<u32, (f64, f64)> = HashMap::new();
        let (mut sum, mut count) = (0.0, 0.0);
        for row in log.iter().filter(|row| row.reward.is_finite()) {
            let cell = by_item_position.entry((row.item, row.position)).or_default();
            cell.0 += row.reward;
            cell.1 += 1.0;
            let cell = by_position.entry(row.position).or_default();
            cell.0 += row.reward;
            cell.1 += 1.0;
            sum += row.reward;
            count += 1.0;
        }
        let means = |(s, c): (f64, f64)| s / c;
        ItemPositionMean {
            by_item_position: by_item_position.into_iter().map(|(k, v)| (k, means(v))).collect(),
            by_position: by_position.into_iter().map(|(k, v)| (k, means(v))).collect(),
            global: if count > 0.0 { sum / count } else { 0.0 },
        }
    }
}

impl RewardModel for ItemPositionMean {
    fn q(&self, _round: u64, position: u32, item: u32) -> f64 {
        self.by_item_position
            .get(&(item, position))
            .or_else(|| self.by_position.get(&position))
            .copied()
            .unwrap_or(self.global)
    }
}

/// Explicit q̂ values per (round, position, item), e.g. from a trained model; 0 when not given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Given {
    keys: Vec<(u64, u32, u32)>,
    values: Vec<f64>,
}

impl Given {
    /// Builds the model from `(round, position, item, q̂)` rows in any order.
    ///
    /// Fails on a non-finite value or a repeated (round, position, item).
    pub fn new(rows: impl IntoIterator<Item = (u64, u32, u32, f64)>) -> Result<Given, OpeError> {
        let mut rows: Vec<((u64, u32, u32), f64)> =
            rows.into_iter().map(|(r, p, i, q)| ((r, p, i), q)).collect();
        for &((round, position, item), value) in &rows {
            if !value.is_finite() {
                return Err(OpeError::NonFiniteModelValue { round, position, item, value });
            }
        }
        rows.sort_unstable_by_key(|(key, _)| *key);
        for pair in rows.windows(2) {
            if pair[0].0 == pair[1].0 {
                let (round, position, item) = pair[0].0;
                return Err(OpeError::DuplicateRow { round, position, item });
            }
        }
        let (keys, values) = rows.into_iter().unzip();
        Ok(Given { keys, values })
    }
}

impl RewardModel for Given {
    fn q(&self, round: u64, position: u32, item: u32) -> f64 {
        match self.keys.binary_search(&(round, position, item)) {
            Ok(i) => self.values[i],
            Err(_) => 0.0,
        }
    }
}
