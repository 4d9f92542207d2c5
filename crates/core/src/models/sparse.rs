//! A compact compressed-sparse-rows copy that models keep of what they need: the kNN models'
//! oriented ratings ("rows" are the entities compared, users or items, and "columns" the other
//! axis, so one implementation serves both directions), EASE's training rows, the content
//! model's item features.

use serde::{Deserialize, Serialize};

use crate::data::{Row, transpose_with};

/// Compressed sparse rows with sorted column indexes. Decoding checks the structure (offsets
/// from 0, non-decreasing, ending at the entry count; columns strictly increasing per row);
/// whether the columns fit the axis they index is the owner's check ([`Sparse::check_cols`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SparseParts")]
pub(crate) struct Sparse {
    indptr: Vec<usize>,
    idx: Vec<u32>,
    #[serde(with = "crate::models::floats")]
    val: Vec<f32>,
}

/// What [`Sparse`] stores, before its structure is checked (fields in its order: binary formats
/// read fields by position).
#[derive(Deserialize)]
struct SparseParts {
    indptr: Vec<usize>,
    idx: Vec<u32>,
    #[serde(with = "crate::models::floats")]
    val: Vec<f32>,
}

impl TryFrom<SparseParts> for Sparse {
    type Error = String;

    fn try_from(p: SparseParts) -> Result<Self, String> {
        let SparseParts { indptr, idx, val } = p;
        if !offsets_fit(&indptr, idx.len()) || idx.len() != val.len() {
            return Err("sparse rows: offsets do not match the entries".to_owned());
        }
        if !indptr.windows(2).all(|w| idx[w[0]..w[1]].windows(2).all(|c| c[0] < c[1])) {
            return Err("sparse rows: columns not strictly increasing within a row".to_owned());
        }
        Ok(Sparse { indptr, idx, val })
    }
}

impl Sparse {
    /// Copies `n` rows given by `row`.
    pub(crate) fn collect<'a>(n: usize, row: impl Fn(u32) -> Row<'a>) -> Self {
        let mut indptr = Vec::with_capacity(n + 1);
        indptr.push(0);
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        for r in 0..n {
            let row = row(r as u32);
            idx.extend_from_slice(row.indices);
            val.extend_from_slice(row.values);
            indptr.push(idx.len());
        }
        Self { indptr, idx, val }
    }

    /// Rows given as `(column, value)` lists (sorted here; columns within a row must be unique).
    pub(crate) fn from_rows(rows: impl IntoIterator<Item = Vec<(u32, f32)>>) -> Self {
        let mut indptr = vec![0];
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        for mut row in rows {
            row.sort_unstable_by_key(|&(c, _)| c);
            for (c, v) in row {
                idx.push(c);
                val.push(v);
            }
            indptr.push(idx.len());
        }
        Self { indptr, idx, val }
    }

    /// The transpose, with `n_cols` rows (columns past the data are empty rows).
    pub(crate) fn transpose(&self, n_cols: usize) -> Self {
        let (mut idx, mut val) = (vec![0u32; self.idx.len()], vec![0f32; self.val.len()]);
        let indptr = transpose_with(&self.indptr, &self.idx, n_cols, |k, dst, r| {
            idx[dst] = r;
            val[dst] = self.val[k];
        });
        Self { indptr, idx, val }
    }

    /// A copy whose value at (row, col) is `f(row, col, value)`.
    pub(crate) fn map(&self, f: impl Fn(usize, u32, f32) -> f32) -> Self {
        let mut val = Vec::with_capacity(self.val.len());
        for r in 0..self.n_rows() {
            let (idx, v) = self.row(r);
            val.extend(idx.iter().zip(v).map(|(&c, &x)| f(r, c, x)));
        }
        Self { indptr: self.indptr.clone(), idx: self.idx.clone(), val }
    }

    /// Every column index is below `n_cols` (`field` names the matrix in the error).
    pub(crate) fn check_cols(&self, field: &str, n_cols: usize) -> crate::models::invariant::Check {
        let max = (0..self.n_rows()).filter_map(|r| self.row(r).0.last()).max();
        match max {
            Some(&c) if c as usize >= n_cols => Err(format!("{field} holds column {c} of {n_cols}")),
            _ => Ok(()),
        }
    }

    /// `n_rows` rows whose columns are below `n_cols`.
    pub(crate) fn check_shape(
        &self,
        field: &str,
        n_rows: usize,
        n_cols: usize,
    ) -> crate::models::invariant::Check {
        crate::models::invariant::len(&format!("{field} rows"), self.n_rows(), n_rows)?;
        self.check_cols(field, n_cols)
    }

    /// Number of rows.
    pub(crate) fn n_rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Row `r`: its column indexes and values.
    #[inline]
    pub(crate) fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.idx[a..b], &self.val[a..b])
    }

    /// The value at (r, c), by binary search.
    #[inline]
    pub(crate) fn get(&self, r: usize, c: u32) -> Option<f32> {
        let (idx, val) = self.row(r);
        idx.binary_search(&c).ok().map(|k| val[k])
    }

    /// Euclidean norm of every row, `√Σ v²` (accumulated in f64).
    pub(crate) fn norms(&self) -> Vec<f32> {
        (0..self.n_rows()).map(|r| norm(self.row(r).1)).collect()
    }

    /// Mean of every row; `empty` for rows without entries.
    pub(crate) fn means(&self, empty: f32) -> Vec<f32> {
        (0..self.n_rows())
            .map(|r| {
                let v = self.row(r).1;
                if v.is_empty() {
                    return empty;
                }
                (v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64) as f32
            })
            .collect()
    }
}

/// Whether `indptr` are row offsets into `entries` entries: from 0, non-decreasing, ending at
/// `entries` (what a decoded compressed-rows structure is checked for before it is indexed).
pub(crate) fn offsets_fit(indptr: &[usize], entries: usize) -> bool {
    indptr.first() == Some(&0) && indptr.windows(2).all(|w| w[0] <= w[1]) && indptr.last() == Some(&entries)
}

/// `√Σ v²`, the one norm every cosine uses so that a folded-in row and a training row agree.
pub(crate) fn norm(values: &[f32]) -> f32 {
    values.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt() as f32
}
