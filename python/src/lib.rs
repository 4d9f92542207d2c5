//! `aisle._aisle`: the extension module under the `aisle` Python package.
//!
//! It exposes the core's models through one generic class, `Fitted`, and the functions `fit`,
//! `split` and `evaluate`; the Python package (`python/aisle/`) puts implicit's, Surprise's and
//! LightFM's conventions on top. Every fit and every batch of scoring runs with the GIL released,
//! in parallel on rayon's pool, and every array that comes in is checked (shapes, indexes in
//! range, finite values) before any of it reaches a model: a bad argument is a Python exception,
//! never a panic.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aisle_core::models::registry::{Model, ModelSpec};
use aisle_core::{
    Control, Feedback, FitContext, Interactions, ItemAttributes, ItemIdx, Observer, Progress, Recommender,
    Scored, SideInfo, UserIdx,
};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rayon::prelude::*;

pyo3::create_exception!(_aisle, AisleError, PyException, "Any error aisle raises.");
pyo3::create_exception!(_aisle, ParamError, AisleError, "A model parameter out of its range, or unknown.");
pyo3::create_exception!(_aisle, DataError, AisleError, "Training data aisle cannot fit on.");
pyo3::create_exception!(_aisle, FitError, AisleError, "A fit that failed on valid data and parameters.");
pyo3::create_exception!(_aisle, ModelError, AisleError, "A query a fitted model cannot answer.");

/// At most this often a fit calls the Python progress callback (and checks for Ctrl-C).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// A fitted model of any kind the core knows.
#[pyclass(frozen, module = "aisle._aisle")]
struct Fitted {
    model: Model,
}

/// Reports a fit's progress to an optional Python callable, and stops the fit when it returns
/// `False`, raises, or when the interpreter has a pending signal (Ctrl-C).
struct PyProgress {
    callback: Option<Py<PyAny>>,
    last: Mutex<Option<Instant>>,
    error: Mutex<Option<PyErr>>,
}

impl Observer for PyProgress {
    fn progress(&self, p: &Progress) -> Control {
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) || p.done >= p.total;
            if !due {
                return Control::Continue;
            }
            *last = Some(Instant::now());
        }
        Python::attach(|py| {
            let outcome = py.check_signals().and_then(|()| match &self.callback {
                Some(cb) => cb
                    .call1(py, (p.model, p.done, p.total, p.loss))
                    .map(|r| r.bind(py).extract::<bool>().ok() == Some(false)),
                None => Ok(false),
            });
            match outcome {
                Ok(false) => Control::Continue,
                Ok(true) => Control::Stop,
                Err(e) => {
                    let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
                    slot.get_or_insert(e);
                    Control::Stop
                }
            }
        })
    }
}

/// The values of a one-dimensional index array as `u32`, each below `bound`.
fn indexes(what: &str, values: &[i64], bound: usize) -> PyResult<Vec<u32>> {
    values
        .iter()
        .map(|&v| match u32::try_from(v) {
            Ok(i) if (i as usize) < bound => Ok(i),
            _ => Err(ModelError::new_err(format!("{what} {v} is not in 0..{bound}"))),
        })
        .collect()
}

/// Compressed sparse rows as they come from scipy, checked: `indptr` non-decreasing from 0 to the
/// number of entries, every column below `n_cols`, every value finite.
struct Rows {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl Rows {
    fn read(
        indptr: &PyReadonlyArray1<'_, i64>,
        indices: &PyReadonlyArray1<'_, i64>,
        values: &PyReadonlyArray1<'_, f32>,
        n_cols: usize,
    ) -> PyResult<Self> {
        let bad = |reason: &str| PyValueError::new_err(format!("user_items: {reason}"));
        let (ptr, idx, val) = (indptr.as_slice()?, indices.as_slice()?, values.as_slice()?);
        if idx.len() != val.len() {
            return Err(bad("indices and data differ in length"));
        }
        check_indptr(ptr, idx.len()).map_err(bad)?;
        let indices = indexes("item", idx, n_cols)?;
        if let Some(k) = val.iter().position(|v| !v.is_finite()) {
            return Err(bad(&format!("value {} at entry {k} is not finite", val[k])));
        }
        let indptr = ptr.iter().map(|&p| p as usize).collect();
        Ok(Self { indptr, indices, values: val.to_vec() })
    }

    /// The matrix of these rows, over `n_items` items.
    fn into_matrix(self, n_items: usize, feedback: Feedback) -> PyResult<Interactions> {
        Interactions::from_csr(n_items, feedback, self.indptr, self.indices, self.values)
            .map_err(|e| DataError::new_err(e.to_string()))
    }

    fn len(&self) -> usize {
        self.indptr.len() - 1
    }

    fn row(&self, r: usize) -> impl Iterator<Item = (ItemIdx, f32)> + '_ {
        let span = self.indptr[r]..self.indptr[r + 1];
        self.indices[span.clone()].iter().zip(&self.values[span]).map(|(&i, &v)| (ItemIdx(i), v))
    }
}

/// Checks a CSR `indptr` over `n_entries` entries: from 0 to `n_entries`, never decreasing (so
/// every offset is a valid index into the entries).
fn check_indptr(ptr: &[i64], n_entries: usize) -> Result<(), &'static str> {
    if ptr.first() != Some(&0) || ptr.last().map(|&e| e as usize) != Some(n_entries) {
        return Err("indptr must start at 0 and end at the number of entries");
    }
    if ptr.windows(2).any(|w| w[0] > w[1]) {
        return Err("indptr must not decrease");
    }
    Ok(())
}

/// The structure of a rows × features matrix (which features each row has), from the `indptr`
/// and `indices` of its CSR form, checked like [`Rows`].
type Structure<'py> = (PyReadonlyArray1<'py, i64>, PyReadonlyArray1<'py, i64>);

/// Each row's feature columns, checked: `n_rows` rows, columns non-negative and below 2³².
fn feature_rows(what: &str, (indptr, indices): &Structure<'_>, n_rows: usize) -> PyResult<Vec<Vec<u32>>> {
    let bad = |reason: String| PyValueError::new_err(format!("{what}: {reason}"));
    let (ptr, idx) = (indptr.as_slice()?, indices.as_slice()?);
    if ptr.len() != n_rows + 1 {
        return Err(bad(format!("{} rows for {n_rows}", ptr.len().saturating_sub(1))));
    }
    check_indptr(ptr, idx.len()).map_err(|reason| bad(reason.to_owned()))?;
    let cols = indexes("feature", idx, u32::MAX as usize)?;
    Ok(ptr.windows(2).map(|w| cols[w[0] as usize..w[1] as usize].to_vec()).collect())
}

/// Side information from feature matrices: feature `j` of an item is its tag `f{j}`, of a user
/// the attribute `feature={j}` (the hybrid model reads both as present-or-absent features).
fn side_info(items: Option<Vec<Vec<u32>>>, users: Option<Vec<Vec<u32>>>) -> SideInfo {
    let items = items.unwrap_or_default().into_iter().map(|cols| {
        Some(ItemAttributes {
            tags: cols.iter().map(|c| format!("f{c}")).collect(),
            ..ItemAttributes::default()
        })
    });
    let users = users.unwrap_or_default().into_iter();
    SideInfo {
        items: items.collect(),
        users: users.map(|cols| cols.iter().map(|c| format!("feature={c}")).collect()).collect(),
    }
}

/// Fits `model` (a name `aisle eval --models` takes) with `params` (a JSON object of parameter
/// names and values, each set on its defaults) on a users × items CSR matrix, with the GIL
/// released.
#[pyfunction]
#[pyo3(signature = (
    model, params, n_items, explicit, indptr, indices, values, seed, progress=None, item_features=None,
    user_features=None
))]
#[expect(clippy::too_many_arguments, reason = "one Python call carries a whole CSR matrix")]
fn fit(
    py: Python<'_>,
    model: &str,
    params: &str,
    n_items: usize,
    explicit: bool,
    indptr: PyReadonlyArray1<'_, i64>,
    indices: PyReadonlyArray1<'_, i64>,
    values: PyReadonlyArray1<'_, f32>,
    seed: u64,
    progress: Option<Py<PyAny>>,
    item_features: Option<Structure<'_>>,
    user_features: Option<Structure<'_>>,
) -> PyResult<Fitted> {
    let mut spec: ModelSpec = model.parse().map_err(|e| ParamError::new_err(format!("{e}")))?;
    let params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(params).map_err(|e| ParamError::new_err(format!("parameters: {e}")))?;
    // One by one, as `aisle eval --param` sets them: an unknown name is refused with the list.
    for (name, value) in &params {
        spec.set(name, &value.to_string()).map_err(|e| ParamError::new_err(e.to_string()))?;
    }
    // Item indexes go back to Python as int32, as implicit's do.
    if n_items > i32::MAX as usize {
        return Err(DataError::new_err(format!("{n_items} items; at most {}", i32::MAX)));
    }
    let rows = Rows::read(&indptr, &indices, &values, n_items)?;
    let n_users = rows.len();
    let items = item_features.map(|f| feature_rows("item_features", &f, n_items)).transpose()?;
    let users = user_features.map(|f| feature_rows("user_features", &f, n_users)).transpose()?;
    let feedback = if explicit { Feedback::Explicit } else { Feedback::Implicit };
    let observer = PyProgress { callback: progress, last: Mutex::new(None), error: Mutex::new(None) };
    let fitted = py.detach(|| {
        let data = rows.into_matrix(n_items, feedback)?;
        let side = side_info(items, users);
        spec.fit(&data, &FitContext::seeded(seed).with_observer(&observer).with_side(&side))
            .map_err(|e| FitError::new_err(e.to_string()))
    });
    if let Some(e) = observer.error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    Ok(Fitted { model: fitted? })
}

/// A users × items CSR matrix as its three arrays.
type Csr<'py> = (PyReadonlyArray1<'py, i64>, PyReadonlyArray1<'py, i64>, PyReadonlyArray1<'py, f32>);

/// Ranking metrics of `fitted` on `test` with `train`'s items excluded, full catalog (what
/// `aisle eval` reports), as JSON: precision, recall, F1, NDCG, MAP, MRR, hit rate, AUC, coverage
/// and novelty at `k`, and how many users were evaluated and skipped.
#[pyfunction]
#[pyo3(signature = (fitted, train, test, k=10, relevance_threshold=None))]
fn evaluate(
    py: Python<'_>,
    fitted: &Fitted,
    train: Csr<'_>,
    test: Csr<'_>,
    k: usize,
    relevance_threshold: Option<f32>,
) -> PyResult<String> {
    let n_items = fitted.model.n_items();
    if k == 0 || k > n_items {
        return Err(PyValueError::new_err(format!("k must be in 1..={n_items}, not {k}")));
    }
    let (train, test) =
        (Rows::read(&train.0, &train.1, &train.2, n_items)?, Rows::read(&test.0, &test.1, &test.2, n_items)?);
    if relevance_threshold.is_some_and(|t| !t.is_finite()) {
        return Err(PyValueError::new_err("relevance_threshold must be finite"));
    }
    let opts = aisle_core::eval::ranking::RankingOptions {
        k,
        relevance_threshold,
        candidates: aisle_core::eval::ranking::Candidates::FullCatalog,
    };
    let metrics = py.detach(|| {
        let (train, test) =
            (train.into_matrix(n_items, Feedback::Implicit)?, test.into_matrix(n_items, Feedback::Implicit)?);
        aisle_core::eval::ranking::evaluate_ranking(&fitted.model, &train, &test, &opts)
            .map_err(|e| ModelError::new_err(e.to_string()))
    })?;
    serde_json::to_string(&metrics).map_err(|e| ModelError::new_err(e.to_string()))
}

/// The arrays of a matrix's CSR form.
type CsrOut<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f32>>);

fn csr_out<'py>(py: Python<'py>, m: &Interactions) -> CsrOut<'py> {
    let mut indptr = Vec::with_capacity(m.n_users() + 1);
    let (mut indices, mut values) = (Vec::with_capacity(m.nnz()), Vec::with_capacity(m.nnz()));
    indptr.push(0i64);
    for u in 0..m.n_users() {
        for (i, v) in m.user(UserIdx(u as u32)).iter() {
            indices.push(i64::from(i));
            values.push(v);
        }
        indptr.push(indices.len() as i64);
    }
    (PyArray1::from_vec(py, indptr), PyArray1::from_vec(py, indices), PyArray1::from_vec(py, values))
}

/// Splits a users × items matrix as `aisle eval` does: `strategy` is a JSON object such as
/// `{"kind": "random", "test_ratio": 0.2}`, `{"kind": "leave_k_out", "k": 1}`, `{"kind":
/// "cold_items", "test_ratio": 0.1}` or `{"kind": "k_fold", "folds": 5}`. One (train, test) pair
/// per fold. The splits by time need timestamps, which a matrix does not have: they are refused.
#[pyfunction]
fn split<'py>(
    py: Python<'py>,
    matrix: Csr<'py>,
    n_items: usize,
    strategy: &str,
    seed: u64,
) -> PyResult<Vec<(CsrOut<'py>, CsrOut<'py>)>> {
    use aisle_core::eval::SplitStrategy;
    let strategy: SplitStrategy =
        serde_json::from_str(strategy).map_err(|e| PyValueError::new_err(format!("split strategy: {e}")))?;
    if matches!(strategy, SplitStrategy::TimeGlobal { .. } | SplitStrategy::LastK { .. }) {
        return Err(PyValueError::new_err("a split by time needs timestamps, which a matrix does not carry"));
    }
    if n_items > u32::MAX as usize {
        return Err(DataError::new_err(format!("{n_items} items; at most {}", u32::MAX)));
    }
    let rows = Rows::read(&matrix.0, &matrix.1, &matrix.2, n_items)?;
    let folds = py.detach(|| {
        let data = rows.into_matrix(n_items, Feedback::Implicit)?;
        aisle_core::eval::split(&data, &strategy, seed).map_err(|e| PyValueError::new_err(e.to_string()))
    })?;
    Ok(folds.iter().map(|f| (csr_out(py, &f.train), csr_out(py, &f.test))).collect())
}

/// Reads a model [`Fitted::to_bytes`] wrote, checked as outside data.
#[pyfunction]
fn model_from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Fitted> {
    let model = py.detach(|| {
        let model: Model =
            postcard::from_bytes(data).map_err(|e| ModelError::new_err(format!("not a model: {e}")))?;
        model.check().map_err(|e| ModelError::new_err(format!("model {}: {e}", model.name())))?;
        Ok::<_, PyErr>(model)
    })?;
    Ok(Fitted { model })
}

/// Ranked lists, `rows × width`, padded with id -1 and score -inf.
type Lists<'py> = (Bound<'py, PyArray2<i32>>, Bound<'py, PyArray2<f32>>);

fn lists<'py>(py: Python<'py>, width: usize, rows: Vec<Vec<Scored>>) -> PyResult<Lists<'py>> {
    let mut ids = vec![-1i32; rows.len() * width];
    let mut scores = vec![f32::NEG_INFINITY; rows.len() * width];
    for (r, list) in rows.iter().enumerate() {
        for (k, s) in list.iter().take(width).enumerate() {
            ids[r * width + k] = s.item.0 as i32;
            scores[r * width + k] = s.score;
        }
    }
    let shape = [rows.len(), width];
    Ok((PyArray1::from_vec(py, ids).reshape(shape)?, PyArray1::from_vec(py, scores).reshape(shape)?))
}

/// What [`Fitted::recommend`] ranks for, row by row.
enum Who {
    Users(Vec<u32>),
    Histories,
}

impl Fitted {
    /// `(users[j], items[j])` pairs, checked: known indexes, as many users as items.
    fn pairs(
        &self,
        users: &PyReadonlyArray1<'_, i64>,
        items: &PyReadonlyArray1<'_, i64>,
    ) -> PyResult<(Vec<u32>, Vec<u32>)> {
        let users = indexes("user", users.as_slice()?, self.model.n_users())?;
        let items = indexes("item", items.as_slice()?, self.model.n_items())?;
        if users.len() != items.len() {
            return Err(PyValueError::new_err("users and items must be as long"));
        }
        Ok((users, items))
    }

    /// The best `n` of `subset` (or of the catalog) for row `r`, skipping the items `skip` marks
    /// and those in `liked` (sorted).
    #[expect(clippy::too_many_arguments, reason = "a row of a batch and what it skips")]
    fn rank_row(
        &self,
        who: &Who,
        r: usize,
        rows: Option<&Rows>,
        n: usize,
        subset: Option<&[ItemIdx]>,
        skip: &[bool],
        liked: &[u32],
    ) -> Result<Vec<Scored>, aisle_core::ModelError> {
        let history: Vec<(ItemIdx, f32)> = rows.map(|x| x.row(r).collect()).unwrap_or_default();
        let m = &self.model;
        let mut scores = vec![0f32; subset.map_or(m.n_items(), <[ItemIdx]>::len)];
        match (who, subset) {
            (Who::Users(u), None) => m.score_user(UserIdx(u[r]), &mut scores)?,
            (Who::Users(u), Some(s)) => m.score_user_items(UserIdx(u[r]), s, &mut scores)?,
            (Who::Histories, None) => m.score_history(&history, &mut scores)?,
            (Who::Histories, Some(s)) => m.score_history_items(&history, s, &mut scores)?,
        }
        let item_at = |k: usize| subset.map_or(ItemIdx(k as u32), |s| s[k]);
        match subset {
            // The whole catalog: the liked items by index, a few per row.
            None => {
                for &i in liked {
                    scores[i as usize] = f32::NEG_INFINITY;
                }
            }
            Some(s) => {
                for (score, i) in scores.iter_mut().zip(s) {
                    if liked.binary_search(&i.0).is_ok() {
                        *score = f32::NEG_INFINITY;
                    }
                }
            }
        }
        for (k, score) in scores.iter_mut().enumerate() {
            if skip[item_at(k).index()] {
                *score = f32::NEG_INFINITY;
            }
        }
        let top = aisle_core::top_k(&scores, n);
        Ok(top.into_iter().map(|s| Scored { item: item_at(s.item.index()), score: s.score }).collect())
    }
}

#[pymethods]
impl Fitted {
    /// The model's name (`ials`, `bpr`, `item-knn`, ...).
    #[getter]
    fn name(&self) -> &'static str {
        self.model.name()
    }

    /// Users seen in training.
    #[getter]
    fn n_users(&self) -> usize {
        self.model.n_users()
    }

    /// Items the model can score.
    #[getter]
    fn n_items(&self) -> usize {
        self.model.n_items()
    }

    /// The best `n` items per row: for training users `users` (one per row), or, when `users` is
    /// None, for the histories in the rows of `indptr`/`indices`/`values` (folded in). With
    /// `filter_liked`, a row's own items in those rows are skipped; `filter_items` are skipped
    /// for every row; `items` restricts the ranking to those items.
    #[pyo3(signature = (users, indptr, indices, values, n, filter_liked, filter_items=None, items=None))]
    #[expect(clippy::too_many_arguments, reason = "one Python call carries a whole CSR matrix")]
    fn recommend<'py>(
        &self,
        py: Python<'py>,
        users: Option<PyReadonlyArray1<'py, i64>>,
        indptr: Option<PyReadonlyArray1<'py, i64>>,
        indices: Option<PyReadonlyArray1<'py, i64>>,
        values: Option<PyReadonlyArray1<'py, f32>>,
        n: usize,
        filter_liked: bool,
        filter_items: Option<PyReadonlyArray1<'py, i64>>,
        items: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyResult<Lists<'py>> {
        let n_items = self.model.n_items();
        let rows = match (indptr, indices, values) {
            (Some(p), Some(i), Some(v)) => Some(Rows::read(&p, &i, &v, n_items)?),
            (None, None, None) => None,
            _ => return Err(PyValueError::new_err("give indptr, indices and values together")),
        };
        let who = match &users {
            Some(u) => Who::Users(indexes("user", u.as_slice()?, self.model.n_users())?),
            None => Who::Histories,
        };
        let n_rows = match (&who, &rows) {
            (Who::Users(u), Some(r)) if r.len() != u.len() => {
                return Err(PyValueError::new_err(format!(
                    "user_items must have one row per user: {} rows for {} users",
                    r.len(),
                    u.len()
                )));
            }
            (Who::Users(u), _) => u.len(),
            (Who::Histories, Some(r)) => r.len(),
            (Who::Histories, None) => return Err(PyValueError::new_err("give users or their histories")),
        };
        if filter_liked && rows.is_none() {
            return Err(PyValueError::new_err("filtering liked items needs user_items"));
        }
        let mut skip_all = vec![false; n_items];
        for i in
            indexes("filter item", filter_items.as_ref().map_or(Ok(&[][..]), |f| f.as_slice())?, n_items)?
        {
            skip_all[i as usize] = true;
        }
        let subset: Option<Vec<ItemIdx>> = match &items {
            Some(s) => Some(indexes("item", s.as_slice()?, n_items)?.into_iter().map(ItemIdx).collect()),
            None => None,
        };
        let width = n.min(subset.as_ref().map_or(n_items, Vec::len));
        let found = py.detach(|| {
            (0..n_rows)
                .into_par_iter()
                .map(|r| {
                    let mut liked: Vec<u32> = match (&rows, filter_liked) {
                        (Some(x), true) => x.row(r).map(|(i, _)| i.0).collect(),
                        _ => Vec::new(),
                    };
                    liked.sort_unstable();
                    self.rank_row(&who, r, rows.as_ref(), width, subset.as_deref(), &skip_all, &liked)
                })
                .collect::<Result<Vec<_>, _>>()
        });
        lists(py, width, found.map_err(|e| ModelError::new_err(e.to_string()))?)
    }

    /// Per item of `items`, the item itself, then its `n - 1` most similar items by the model
    /// (implicit's convention; the item's own score is its affinity with itself, never below its
    /// nearest neighbour's), skipping `filter_items`.
    #[pyo3(signature = (items, n, filter_items=None))]
    fn similar_items<'py>(
        &self,
        py: Python<'py>,
        items: PyReadonlyArray1<'py, i64>,
        n: usize,
        filter_items: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyResult<Lists<'py>> {
        let n_items = self.model.n_items();
        let queries = indexes("item", items.as_slice()?, n_items)?;
        let skip: Vec<ItemIdx> =
            indexes("filter item", filter_items.as_ref().map_or(Ok(&[][..]), |f| f.as_slice())?, n_items)?
                .into_iter()
                .map(ItemIdx)
                .collect();
        let width = n.min(n_items);
        let found = py.detach(|| {
            queries
                .par_iter()
                .map(|&q| {
                    let q = ItemIdx(q);
                    let itself = !skip.contains(&q);
                    let others = width.saturating_sub(usize::from(itself));
                    let neighbours =
                        if others > 0 { self.model.similar_items(q, others, &skip)? } else { Vec::new() };
                    if !itself {
                        return Ok(neighbours);
                    }
                    // The item's own score: its affinity with itself (1 for a cosine), never below
                    // its nearest neighbour's, so the list stays in order (EASE's is 0).
                    let own = self.model.item_affinity(q, q).unwrap_or(1.0);
                    let score = neighbours.first().map_or(own, |s| own.max(s.score));
                    Ok(std::iter::once(Scored { item: q, score }).chain(neighbours).collect())
                })
                .collect::<Result<Vec<_>, aisle_core::ModelError>>()
        });
        lists(py, width, found.map_err(|e| ModelError::new_err(e.to_string()))?)
    }

    /// The vectors of a factor model: `(user_factors, item_factors, user_biases, item_biases)`,
    /// copies as float32 arrays (biases empty for the models without them); None for the models
    /// without one vector per user and item.
    #[expect(clippy::type_complexity, reason = "a Python tuple of four arrays")]
    fn factors<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<
        Option<(
            Bound<'py, PyArray2<f32>>,
            Bound<'py, PyArray2<f32>>,
            Bound<'py, PyArray1<f32>>,
            Bound<'py, PyArray1<f32>>,
        )>,
    > {
        let Some(f) = self.model.factors() else { return Ok(None) };
        let users = PyArray1::from_slice(py, f.users).reshape([self.model.n_users(), f.dim])?;
        let items = PyArray1::from_slice(py, f.items).reshape([self.model.n_items(), f.dim])?;
        Ok(Some((users, items, PyArray1::from_slice(py, f.user_bias), PyArray1::from_slice(py, f.item_bias))))
    }

    /// The vector of an unseen user with the history `items` (with `values`), in the space of the
    /// user factors; None for the models without one.
    fn fold_in<'py>(
        &self,
        py: Python<'py>,
        items: PyReadonlyArray1<'py, i64>,
        values: PyReadonlyArray1<'py, f32>,
    ) -> PyResult<Option<Bound<'py, PyArray1<f32>>>> {
        let values = values.as_slice()?;
        let items = indexes("item", items.as_slice()?, self.model.n_items())?;
        if items.len() != values.len() || values.iter().any(|v| !v.is_finite()) {
            return Err(PyValueError::new_err("items and values must be as long, the values finite"));
        }
        let history: Vec<(ItemIdx, f32)> =
            items.into_iter().map(ItemIdx).zip(values.iter().copied()).collect();
        let v = py.detach(|| self.model.fold_in(&history)).map_err(|e| ModelError::new_err(e.to_string()))?;
        Ok(v.map(|v| PyArray1::from_vec(py, v)))
    }

    /// Ranking scores of `(users[j], items[j])` pairs, as `score_user` gives them (any model);
    /// consecutive pairs of one user are scored together.
    fn score<'py>(
        &self,
        py: Python<'py>,
        users: PyReadonlyArray1<'py, i64>,
        items: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let (users, items) = self.pairs(&users, &items)?;
        let items: Vec<ItemIdx> = items.into_iter().map(ItemIdx).collect();
        let out = py.detach(|| {
            // Runs of one user: (user, start, end).
            let mut runs = Vec::new();
            for (k, &u) in users.iter().enumerate() {
                match runs.last_mut() {
                    Some((last, _, end)) if *last == u => *end = k + 1,
                    _ => runs.push((u, k, k + 1)),
                }
            }
            let scored: Result<Vec<Vec<f32>>, aisle_core::ModelError> = runs
                .par_iter()
                .map(|&(u, start, end)| {
                    let mut out = vec![0f32; end - start];
                    self.model.score_user_items(UserIdx(u), &items[start..end], &mut out)?;
                    Ok(out)
                })
                .collect();
            scored.map(|parts| parts.concat())
        });
        Ok(PyArray1::from_vec(py, out.map_err(|e| ModelError::new_err(e.to_string()))?))
    }

    /// Predicted ratings of `(users[j], items[j])` pairs (the rating models).
    fn predict<'py>(
        &self,
        py: Python<'py>,
        users: PyReadonlyArray1<'py, i64>,
        items: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let (users, items) = self.pairs(&users, &items)?;
        let out = py.detach(|| {
            users
                .par_iter()
                .zip(&items)
                .map(|(&u, &i)| self.model.predict(UserIdx(u), ItemIdx(i)))
                .collect::<Result<Vec<f32>, _>>()
        });
        Ok(PyArray1::from_vec(py, out.map_err(|e| ModelError::new_err(e.to_string()))?))
    }

    /// The model as bytes ([`model_from_bytes`] reads them back).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py
            .detach(|| postcard::to_allocvec(&self.model))
            .map_err(|e| ModelError::new_err(format!("cannot encode the model: {e}")))?;
        Ok(PyBytes::new(py, &bytes))
    }
}

/// The extension module.
#[pymodule]
fn _aisle(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Fitted>()?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(model_from_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(split, m)?)?;
    m.add("AisleError", py.get_type::<AisleError>())?;
    m.add("ParamError", py.get_type::<ParamError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("FitError", py.get_type::<FitError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("MODELS", aisle_core::models::registry::ModelSpec::NAMES.to_vec())?;
    Ok(())
}
