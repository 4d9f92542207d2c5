//! The target policy's distribution over items per (round, position).

use super::OpeError;

/// Tolerance of a distribution's total above 1 (rounding of probabilities written as decimals).
const TOTAL_TOLERANCE: f64 = 1e-6;

/// The target policy `π_e(item | round, position)`, stored as rows sorted by
/// (round, position, item) and found by binary search: 24 bytes a row, so 10⁶ rows take ~24 MB.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Target {
    keys: Vec<(u64, u32, u32)>,
    probs: Vec<f64>,
}

impl Target {
    /// Builds the target from `(round, position, item, prob)` rows in any order.
    ///
    /// Fails when a probability is outside [0, 1], a (round, position, item) repeats, or one
    /// (round, position)'s probabilities sum to more than 1 + 1e-6. A (round, position) whose
    /// probabilities sum to less than 1 leaves the rest of its mass on items that earn nothing.
    pub fn new(rows: impl IntoIterator<Item = (u64, u32, u32, f64)>) -> Result<Target, OpeError> {
        let mut rows: Vec<((u64, u32, u32), f64)> =
            rows.into_iter().map(|(r, p, i, q)| ((r, p, i), q)).collect();
        for &((round, position, item), prob) in &rows {
            if !(0.0..=1.0).contains(&prob) {
                return Err(OpeError::InvalidProbability { round, position, item, prob });
            }
        }
        rows.sort_unstable_by_key(|(key, _)| *key);
        for pair in rows.windows(2) {
            if pair[0].0 == pair[1].0 {
                let (round, position, item) = pair[0].0;
                return Err(OpeError::DuplicateRow { round, position, item });
            }
        }
        for group in rows.chunk_by(|a, b| (a.0.0, a.0.1) == (b.0.0, b.0.1)) {
            let total: f64 = group.iter().map(|(_, p)| p).sum();
            if total > 1.0 + TOTAL_TOLERANCE {
                let (round, position, _) = group[0].0;
                return Err(OpeError::DistributionOverOne { round, position, total });
            }
        }
        let (keys, probs) = rows.into_iter().unzip();
        Ok(Target { keys, probs })
    }

    /// A deterministic target: probability 1 on each given `(round, position, item)`.
    pub fn deterministic(choices: impl IntoIterator<Item = (u64, u32, u32)>) -> Result<Target, OpeError> {
        Target::new(choices.into_iter().map(|(round, position, item)| (round, position, item, 1.0)))
    }

    /// `π_e(item | round, position)`; 0 when not given.
    pub fn prob(&self, round: u64, position: u32, item: u32) -> f64 {
        match self.keys.binary_search(&(round, position, item)) {
            Ok(i) => self.probs[i],
            Err(_) => 0.0,
        }
    }

    /// The `(item, prob)` pairs of one (round, position), by item.
    pub fn distribution(&self, round: u64, position: u32) -> impl Iterator<Item = (u32, f64)> + '_ {
        let start = self.keys.partition_point(|k| (k.0, k.1) < (round, position));
        let end = self.keys.partition_point(|k| (k.0, k.1) <= (round, position));
        self.keys[start..end].iter().zip(&self.probs[start..end]).map(|(k, p)| (k.2, *p))
    }

    /// Number of stored rows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no row is stored.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
