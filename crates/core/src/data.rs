//! Interaction matrices: one value per (user, item), stored CSR by user with a CSC (item-major)
//! transpose, timestamps kept beside the values.
//!
//! Explicit feedback keeps the latest rating of a pair; implicit feedback sums the confidence of
//! every event on the pair (see [`crate::EventWeights`]) and keeps the latest timestamp.

use serde::{Deserialize, Serialize};

use crate::ids::{ItemIdx, UserIdx};

/// What the values of an [`Interactions`] mean.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    /// Ratings on a scale; models predict them.
    Explicit,
    /// Confidence weights (sums of event weights); models rank by them.
    Implicit,
}

/// One observation: `user` touched `item` with `value` at unix time `ts` (seconds).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Interaction {
    /// Who.
    pub user: UserIdx,
    /// What.
    pub item: ItemIdx,
    /// Rating (explicit) or confidence weight (implicit).
    pub value: f32,
    /// Unix time in seconds; 0 when unknown.
    pub ts: i64,
}

/// Why a set of interactions could not become a matrix.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DataError {
    /// A user index is not below `n_users`.
    #[error("user index {index} out of range (n_users = {n})")]
    UserOutOfRange {
        /// The bad index.
        index: u32,
        /// The number of users.
        n: usize,
    },
    /// An item index is not below `n_items`.
    #[error("item index {index} out of range (n_items = {n})")]
    ItemOutOfRange {
        /// The bad index.
        index: u32,
        /// The number of items.
        n: usize,
    },
    /// Compressed rows that are not well formed.
    #[error("malformed compressed rows: {reason}")]
    BadCsr {
        /// What is wrong.
        reason: String,
    },
    /// A value is NaN or infinite.
    #[error("non-finite value for user {user}, item {item}")]
    NonFinite {
        /// The user index.
        user: u32,
        /// The item index.
        item: u32,
    },
}

/// Compressed sparse rows: row `r` holds `indices[indptr[r]..indptr[r + 1]]`, sorted.
/// `ts` is parallel to `indices`, or empty when the matrix carries no timestamps.
#[derive(Clone, Debug, Default, PartialEq)]
struct Csr {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
    ts: Vec<i64>,
}

impl Csr {
    fn row(&self, r: usize) -> Row<'_> {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        let ts = if self.ts.is_empty() { &[][..] } else { &self.ts[a..b] };
        Row { indices: &self.indices[a..b], values: &self.values[a..b], ts }
    }

    /// The transpose (with `n_cols` rows), by counting sort: indices stay sorted.
    fn transpose(&self, n_cols: usize) -> Csr {
        let nnz = self.indices.len();
        let mut indices = vec![0u32; nnz];
        let mut values = vec![0f32; nnz];
        let timed = !self.ts.is_empty();
        let mut ts = vec![0i64; if timed { nnz } else { 0 }];
        let indptr = transpose_with(&self.indptr, &self.indices, n_cols, |k, dst, r| {
            indices[dst] = r;
            values[dst] = self.values[k];
            if timed {
                ts[dst] = self.ts[k];
            }
        });
        Csr { indptr, indices, values, ts }
    }
}

/// The counting-sort transpose of compressed rows (`indptr`, column `indices`) with `n_cols`
/// columns: calls `place(k, dst, row)` for every entry `k`, where `dst` is its slot in the
/// transposed order (by column, then row, so rows stay sorted), and returns the transposed
/// `indptr`. Callers move their own per-entry data; nothing else is allocated per entry.
pub(crate) fn transpose_with(
    indptr: &[usize],
    indices: &[u32],
    n_cols: usize,
    mut place: impl FnMut(usize, usize, u32),
) -> Vec<usize> {
    let mut out = vec![0usize; n_cols + 1];
    for &c in indices {
        out[c as usize + 1] += 1;
    }
    for c in 0..n_cols {
        out[c + 1] += out[c];
    }
    let mut next = out.clone();
    for (r, w) in indptr.windows(2).enumerate() {
        for (k, &c) in (w[0]..w[1]).zip(&indices[w[0]..w[1]]) {
            place(k, next[c as usize], r as u32);
            next[c as usize] += 1;
        }
    }
    out
}

/// One row of a matrix: a user's items (or an item's users), sorted by index.
#[derive(Copy, Clone, Debug)]
pub struct Row<'a> {
    /// Column indexes, strictly increasing.
    pub indices: &'a [u32],
    /// Values, parallel to `indices`.
    pub values: &'a [f32],
    /// Timestamps, parallel to `indices`; empty when the matrix has none (see
    /// [`Interactions::from_csr`]), where every interaction counts as time 0.
    pub ts: &'a [i64],
}

impl Row<'_> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True when the row is empty.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The value at column `c`, if present (binary search).
    pub fn get(&self, c: u32) -> Option<f32> {
        self.indices.binary_search(&c).ok().map(|k| self.values[k])
    }

    /// `(column, value)` pairs.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (u32, f32)> + '_ {
        self.indices.iter().copied().zip(self.values.iter().copied())
    }

    /// The timestamp of entry `k` (0 when the matrix has no timestamps).
    pub fn ts_at(&self, k: usize) -> i64 {
        self.ts.get(k).copied().unwrap_or(0)
    }
}

/// A user × item interaction matrix with both row- and column-major access.
#[derive(Clone, Debug, PartialEq)]
pub struct Interactions {
    n_users: usize,
    n_items: usize,
    feedback: Feedback,
    by_user: Csr,
    by_item: Csr,
}

impl Interactions {
    /// Builds the matrix from observations. Duplicate (user, item) pairs are merged: explicit
    /// feedback keeps the latest value (by timestamp, then input order), implicit feedback sums
    /// the values and keeps the latest timestamp.
    pub fn new(
        n_users: usize,
        n_items: usize,
        feedback: Feedback,
        mut entries: Vec<Interaction>,
    ) -> Result<Self, DataError> {
        for e in &entries {
            if e.user.index() >= n_users {
                return Err(DataError::UserOutOfRange { index: e.user.0, n: n_users });
            }
            if e.item.index() >= n_items {
                return Err(DataError::ItemOutOfRange { index: e.item.0, n: n_items });
            }
            if !e.value.is_finite() {
                return Err(DataError::NonFinite { user: e.user.0, item: e.item.0 });
            }
        }
        // Stable sort: equal timestamps keep input order, so "latest" is well defined.
        entries.sort_by_key(|e| (e.user, e.item, e.ts));
        let mut by_user = Csr { indptr: vec![0; n_users + 1], ..Csr::default() };
        let mut last_pair = None;
        for e in entries {
            if last_pair == Some((e.user, e.item)) {
                let v = by_user.values.last_mut().expect("a previous entry exists");
                match feedback {
                    Feedback::Explicit => *v = e.value,
                    Feedback::Implicit => *v += e.value,
                }
                // Finite values can sum to infinity (two of 3e38): such a matrix is refused here
                // rather than failing later in a model or a split.
                if !v.is_finite() {
                    return Err(DataError::NonFinite { user: e.user.0, item: e.item.0 });
                }
                *by_user.ts.last_mut().expect("a previous entry exists") = e.ts;
                continue;
            }
            last_pair = Some((e.user, e.item));
            by_user.indices.push(e.item.0);
            by_user.values.push(e.value);
            by_user.ts.push(e.ts);
            // indptr[u + 1] holds the end of user u's entries so far.
            by_user.indptr[e.user.index() + 1] = by_user.indices.len();
        }
        // Users with no entries inherit the running total.
        for u in 0..n_users {
            by_user.indptr[u + 1] = by_user.indptr[u + 1].max(by_user.indptr[u]);
        }
        let by_item = by_user.transpose(n_items);
        Ok(Self { n_users, n_items, feedback, by_user, by_item })
    }

    /// Builds the matrix from compressed sparse rows without timestamps (every interaction at
    /// time 0): user `u` has items `indices[indptr[u]..indptr[u + 1]]`, strictly increasing,
    /// with `values` parallel to them. The lean path for large matrices: no per-entry struct,
    /// no sort, 8 bytes per entry and direction.
    pub fn from_csr(
        n_items: usize,
        feedback: Feedback,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<f32>,
    ) -> Result<Self, DataError> {
        let bad_shape = |reason: &str| DataError::BadCsr { reason: reason.to_owned() };
        if indptr.first() != Some(&0) || indptr.last() != Some(&indices.len()) {
            return Err(bad_shape("indptr must start at 0 and end at the number of entries"));
        }
        if values.len() != indices.len() {
            return Err(bad_shape("values and indices differ in length"));
        }
        let n_users = indptr.len() - 1;
        for (u, w) in indptr.windows(2).enumerate() {
            if w[0] > w[1] {
                return Err(bad_shape("indptr must not decrease"));
            }
            let row = &indices[w[0]..w[1]];
            if let Some(&last) = row.last()
                && last as usize >= n_items
            {
                return Err(DataError::ItemOutOfRange { index: last, n: n_items });
            }
            if row.windows(2).any(|p| p[0] >= p[1]) {
                return Err(bad_shape("each row's indices must be strictly increasing"));
            }
            if let Some(k) = values[w[0]..w[1]].iter().position(|v| !v.is_finite()) {
                return Err(DataError::NonFinite { user: u as u32, item: row[k] });
            }
        }
        let by_user = Csr { indptr, indices, values, ts: Vec::new() };
        let by_item = by_user.transpose(n_items);
        Ok(Self { n_users, n_items, feedback, by_user, by_item })
    }

    /// Caps every value at `max` in absolute value (a pair whose summed confidence would weigh
    /// more than `max`, from a bot or a very loyal shopper, weighs `max`).
    pub fn cap_values(&mut self, max: f32) {
        for v in self.by_user.values.iter_mut().chain(self.by_item.values.iter_mut()) {
            *v = v.clamp(-max, max);
        }
    }

    /// True when interactions carry timestamps (every matrix but those from
    /// [`Interactions::from_csr`]).
    pub fn has_timestamps(&self) -> bool {
        !self.by_user.ts.is_empty() || self.nnz() == 0
    }

    /// Number of users (rows), including users with no interactions.
    pub fn n_users(&self) -> usize {
        self.n_users
    }

    /// Number of items (columns), including items with no interactions.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Number of stored (user, item) pairs.
    pub fn nnz(&self) -> usize {
        self.by_user.indices.len()
    }

    /// Explicit ratings or implicit confidence.
    pub fn feedback(&self) -> Feedback {
        self.feedback
    }

    /// Where user `u`'s row starts among all observed pairs taken user by user, item by item:
    /// pair number `user_offset(u) + k` is the `k`-th entry of `user(u)` (for uniform sampling of
    /// observed pairs).
    pub fn user_offset(&self, u: UserIdx) -> usize {
        self.by_user.indptr[u.index()]
    }

    /// The user's items, sorted by item index.
    pub fn user(&self, u: UserIdx) -> Row<'_> {
        self.by_user.row(u.index())
    }

    /// The item's users, sorted by user index.
    pub fn item(&self, i: ItemIdx) -> Row<'_> {
        self.by_item.row(i.index())
    }

    /// The value of (u, i), if observed.
    pub fn get(&self, u: UserIdx, i: ItemIdx) -> Option<f32> {
        self.user(u).get(i.0)
    }

    /// Every observation, by user then item.
    pub fn iter(&self) -> impl Iterator<Item = Interaction> + '_ {
        (0..self.n_users).flat_map(move |u| {
            let row = self.by_user.row(u);
            (0..row.len()).map(move |k| Interaction {
                user: UserIdx(u as u32),
                item: ItemIdx(row.indices[k]),
                value: row.values[k],
                ts: row.ts_at(k),
            })
        })
    }

    /// Mean of all values (0 when empty).
    pub fn mean(&self) -> f64 {
        let n = self.nnz();
        if n == 0 {
            return 0.0;
        }
        self.by_user.values.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64
    }

    /// Smallest and largest value, e.g. the rating scale predictions are clipped to
    /// (`(0, 0)` when empty).
    pub fn value_range(&self) -> (f32, f32) {
        let vals = &self.by_user.values;
        if vals.is_empty() {
            return (0.0, 0.0);
        }
        vals.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
    }

    /// Number of interactions of each user.
    pub fn user_counts(&self) -> Vec<u32> {
        self.by_user.indptr.windows(2).map(|w| (w[1] - w[0]) as u32).collect()
    }

    /// Number of interactions of each item (its popularity in users).
    pub fn item_counts(&self) -> Vec<u32> {
        self.by_item.indptr.windows(2).map(|w| (w[1] - w[0]) as u32).collect()
    }

    /// A matrix with the same shape and feedback holding only the observations `keep` accepts.
    pub fn filter(&self, mut keep: impl FnMut(&Interaction) -> bool) -> Interactions {
        let entries: Vec<Interaction> = self.iter().filter(|e| keep(e)).collect();
        Interactions::new(self.n_users, self.n_items, self.feedback, entries)
            .expect("a subset of a valid matrix is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ix(u: u32, i: u32, v: f32, ts: i64) -> Interaction {
        Interaction { user: UserIdx(u), item: ItemIdx(i), value: v, ts }
    }

    #[test]
    fn csr_and_transpose_agree() {
        let m = Interactions::new(
            3,
            4,
            Feedback::Explicit,
            vec![ix(2, 0, 1.0, 5), ix(0, 3, 4.0, 1), ix(0, 1, 2.0, 2), ix(2, 3, 5.0, 3)],
        )
        .unwrap();
        assert_eq!(m.nnz(), 4);
        assert_eq!(m.user(UserIdx(0)).indices, &[1, 3]);
        assert_eq!(m.user(UserIdx(0)).values, &[2.0, 4.0]);
        assert!(m.user(UserIdx(1)).is_empty());
        assert_eq!(m.item(ItemIdx(3)).indices, &[0, 2]);
        assert_eq!(m.item(ItemIdx(3)).values, &[4.0, 5.0]);
        assert_eq!(m.item(ItemIdx(3)).ts, &[1, 3]);
        assert!(m.item(ItemIdx(2)).is_empty());
        assert_eq!(m.get(UserIdx(2), ItemIdx(0)), Some(1.0));
        assert_eq!(m.get(UserIdx(1), ItemIdx(0)), None);
        assert_eq!(m.user_counts(), vec![2, 0, 2]);
        assert_eq!(m.item_counts(), vec![1, 1, 0, 2]);
        assert_eq!(m.value_range(), (1.0, 5.0));
        assert!((m.mean() - 3.0).abs() < 1e-12);
        let back: Vec<_> = m.iter().collect();
        assert_eq!(back.len(), 4);
        assert_eq!(back[0], ix(0, 1, 2.0, 2));
    }

    #[test]
    fn duplicates_keep_latest_rating_or_sum_confidence() {
        let e = vec![ix(0, 0, 3.0, 10), ix(0, 0, 5.0, 20), ix(0, 0, 1.0, 5)];
        let ex = Interactions::new(1, 1, Feedback::Explicit, e.clone()).unwrap();
        assert_eq!(ex.get(UserIdx(0), ItemIdx(0)), Some(5.0));
        assert_eq!(ex.user(UserIdx(0)).ts, &[20]);
        let im = Interactions::new(1, 1, Feedback::Implicit, e).unwrap();
        assert_eq!(im.get(UserIdx(0), ItemIdx(0)), Some(9.0));
        assert_eq!(im.nnz(), 1);
    }

    #[test]
    fn from_csr_matches_new_without_timestamps() {
        let entries = vec![ix(0, 1, 2.0, 0), ix(0, 3, 4.0, 0), ix(2, 0, 1.0, 0), ix(2, 3, 5.0, 0)];
        let built = Interactions::new(3, 4, Feedback::Implicit, entries.clone()).unwrap();
        let csr = Interactions::from_csr(
            4,
            Feedback::Implicit,
            vec![0, 2, 2, 4],
            vec![1, 3, 0, 3],
            vec![2.0, 4.0, 1.0, 5.0],
        )
        .unwrap();
        assert!(built.has_timestamps() && !csr.has_timestamps());
        assert_eq!(csr.iter().collect::<Vec<_>>(), entries);
        assert_eq!((csr.n_users(), csr.n_items(), csr.nnz()), (3, 4, 4));
        assert_eq!(csr.item(ItemIdx(3)).indices, &[0, 2]);
        assert_eq!(csr.item(ItemIdx(3)).values, &[4.0, 5.0]);
        assert!(csr.item(ItemIdx(3)).ts.is_empty());
        assert_eq!(csr.item(ItemIdx(3)).ts_at(1), 0);
        assert_eq!(csr.item_counts(), built.item_counts());
        let bad = |indptr: Vec<usize>, indices: Vec<u32>, values: Vec<f32>| {
            Interactions::from_csr(4, Feedback::Implicit, indptr, indices, values).unwrap_err()
        };
        assert!(matches!(bad(vec![0, 2], vec![3, 1], vec![1.0; 2]), DataError::BadCsr { .. }));
        assert!(matches!(bad(vec![0, 1], vec![1, 2], vec![1.0; 2]), DataError::BadCsr { .. }));
        assert!(matches!(bad(vec![0, 1], vec![1], vec![]), DataError::BadCsr { .. }));
        assert!(matches!(bad(vec![0, 1], vec![4], vec![1.0]), DataError::ItemOutOfRange { index: 4, n: 4 }));
        assert!(matches!(
            bad(vec![0, 1], vec![2], vec![f32::NAN]),
            DataError::NonFinite { user: 0, item: 2 }
        ));
    }

    #[test]
    fn sums_that_overflow_are_refused_and_values_can_be_capped() {
        let huge = vec![ix(0, 0, 3e38, 1), ix(0, 0, 3e38, 2)];
        assert_eq!(
            Interactions::new(1, 1, Feedback::Implicit, huge),
            Err(DataError::NonFinite { user: 0, item: 0 })
        );
        let mut m = Interactions::new(
            2,
            2,
            Feedback::Implicit,
            vec![ix(0, 0, 50.0, 1), ix(0, 0, 70.0, 2), ix(1, 1, -300.0, 3)],
        )
        .unwrap();
        m.cap_values(100.0);
        assert_eq!(m.get(UserIdx(0), ItemIdx(0)), Some(100.0));
        assert_eq!(m.item(ItemIdx(0)).values, &[100.0], "both views are capped");
        assert_eq!(m.get(UserIdx(1), ItemIdx(1)), Some(-100.0));
    }

    #[test]
    fn bad_entries_are_rejected() {
        assert_eq!(
            Interactions::new(1, 1, Feedback::Implicit, vec![ix(1, 0, 1.0, 0)]),
            Err(DataError::UserOutOfRange { index: 1, n: 1 })
        );
        assert_eq!(
            Interactions::new(1, 1, Feedback::Implicit, vec![ix(0, 3, 1.0, 0)]),
            Err(DataError::ItemOutOfRange { index: 3, n: 1 })
        );
        assert!(matches!(
            Interactions::new(1, 1, Feedback::Implicit, vec![ix(0, 0, f32::NAN, 0)]),
            Err(DataError::NonFinite { .. })
        ));
    }
}
