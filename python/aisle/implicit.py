"""aisle's implicit-feedback models with the conventions of the `implicit` package.

``fit(user_items)`` takes a users × items ``scipy.sparse.csr_matrix`` of confidences (view counts,
purchase weights); ``recommend``, ``similar_items`` and ``recalculate_user`` take and return what
implicit's do: numpy arrays of item indexes and scores, one row per user for a batch. Fits and
batch scoring run in Rust with the GIL released, on every core.

Differences from implicit, on purpose:

- Defaults are aisle's (chosen by validation on held-out data), not implicit's: ``ALS()`` is 64
  factors with ``regularization=35``. Pass implicit's values to reproduce implicit's setup.
- ``random_state=None`` means seed 42: the same data and parameters give the same model.
- A batch ``recommend`` pads rows that have fewer than ``N`` candidates with id ``-1`` and score
  ``-inf``; a single user's arrays are cut to the candidates found.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse

from . import _aisle

__all__ = ["ALS", "BPR", "EASE", "ItemKNN", "Pickled", "RecommenderBase"]

Ids = Union[int, Sequence[int], np.ndarray]
Progress = Callable[[str, int, int, Optional[float]], Optional[bool]]

_FORMAT = b"AISLE-PY-MODEL/1\n"


def _csr(matrix: Any, name: str = "user_items") -> scipy.sparse.csr_matrix:
    if not scipy.sparse.issparse(matrix):
        raise ValueError(f"{name} must be a scipy.sparse matrix (csr_matrix), not {type(matrix).__name__}")
    m = scipy.sparse.csr_matrix(matrix)
    if not m.has_sorted_indices:
        m = m.sorted_indices()
    m.sum_duplicates()
    return m


def _parts(m: scipy.sparse.csr_matrix):
    return (
        np.ascontiguousarray(m.indptr, dtype=np.int64),
        np.ascontiguousarray(m.indices, dtype=np.int64),
        np.ascontiguousarray(m.data, dtype=np.float32),
    )


def _ids(values: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.int64).reshape(-1))


def _seed(random_state: Optional[int]) -> int:
    """A fit's seed: ``random_state``, or 42 when it is None (fits are deterministic)."""
    return 42 if random_state is None else int(random_state)


def _one_or_all(single: bool, ids: np.ndarray, scores: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """A batch's rows as they are, or a single query's one row without its padding."""
    if not single:
        return ids, scores
    found = ids[0] >= 0
    return ids[0][found], scores[0][found]


def _progress_bar(show: bool, callback: Optional[Progress]) -> Tuple[Optional[Progress], Callable[[], None]]:
    """A progress callable for a fit: the user's callback, and a tqdm bar when tqdm is installed."""
    bar = None
    if show:
        try:
            from tqdm.auto import tqdm  # type: ignore[import-not-found]
        except ImportError:
            tqdm = None
        if tqdm is not None:
            bar = tqdm(total=0, unit="step")

    def report(model: str, done: int, total: int, loss: Optional[float]) -> Optional[bool]:
        if bar is not None:
            bar.total = total
            bar.set_description(model)
            bar.update(done - bar.n)
            if loss is not None:
                bar.set_postfix(loss=f"{loss:.4g}")
        if callback is not None:
            return callback(model, done, total, loss)
        return None

    def close() -> None:
        if bar is not None:
            bar.close()

    if bar is None and callback is None:
        return None, close
    return report, close


class Pickled:
    """Pickling of a model that holds a fitted ``_aisle.Fitted`` in ``_fitted``: its bytes, checked
    when read back; cached arrays (``_factors``) are rebuilt on use."""

    _fitted: Optional["_aisle.Fitted"]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_fitted"] = None if self._fitted is None else self._fitted.to_bytes()
        if "_factors" in state:
            state["_factors"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        fitted = state.get("_fitted")
        state["_fitted"] = None if fitted is None else _aisle.model_from_bytes(fitted)
        self.__dict__.update(state)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in getattr(self, "params", {}).items())
        return f"{type(self).__name__}({params})"


class RecommenderBase(Pickled):
    """A model fitted on a users × items matrix of implicit feedback.

    ``aisle_params`` sets any parameter of the underlying aisle model by name (the names
    ``aisle eval --param`` takes, e.g. ``reg_exponent`` or ``solver`` for ALS).
    """

    _model = ""
    _explicit = False

    def __init__(self, random_state: Optional[int] = None, **aisle_params: Any) -> None:
        self.random_state = random_state
        self.params = {k: v for k, v in aisle_params.items() if v is not None}
        self._fitted: Optional[_aisle.Fitted] = None
        self._factors: Any = None

    # Fitting -------------------------------------------------------------------------------

    def fit(self, user_items: Any, show_progress: bool = True, callback: Optional[Progress] = None) -> None:
        """Fits the model on ``user_items`` (users × items, CSR), with the GIL released.

        ``callback(model, done, total, loss)`` is called as the fit goes (at most ten times a
        second); returning ``False`` stops it early with the model as it stands. A tqdm bar shows
        progress when tqdm is installed and ``show_progress`` is true. Ctrl-C stops a fit.
        """
        m = _csr(user_items)
        indptr, indices, data = _parts(m)
        report, close = _progress_bar(show_progress, callback)
        try:
            self._fitted = _aisle.fit(
                self._model,
                json.dumps(self.params),
                m.shape[1],
                self._explicit,
                indptr,
                indices,
                data,
                _seed(self.random_state),
                report,
            )
        finally:
            close()
        self._factors = None

    @property
    def fitted(self) -> "_aisle.Fitted":
        if self._fitted is None:
            raise _aisle.ModelError(f"{type(self).__name__} is not fitted: call fit(user_items) first")
        return self._fitted

    # Queries -------------------------------------------------------------------------------

    def recommend(
        self,
        userid: Ids,
        user_items: Any = None,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: Optional[Sequence[int]] = None,
        recalculate_user: bool = False,
        items: Optional[Sequence[int]] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """The ``N`` best items for ``userid`` (one index or many), as ``(ids, scores)``.

        ``user_items`` has one row per user asked for (``user_items[userid]`` of the training
        matrix): its items are skipped with ``filter_already_liked_items``, and with
        ``recalculate_user`` the users are scored from those rows (fold-in), so a user the model
        never saw, or one with new events, gets recommendations without a refit.
        """
        if items is not None and filter_items is not None:
            raise ValueError("Can't set both items and filter_items in recommend call")
        if N < 0:
            raise ValueError(f"N must be at least 0, not {N}")
        single = np.isscalar(userid)
        users = _ids([userid] if single else userid)
        rows = None
        if filter_already_liked_items or recalculate_user:
            if user_items is None:
                raise ValueError("user_items is needed to filter liked items or to recalculate users")
            m = _csr(user_items)
            if m.shape[0] != len(users):
                raise ValueError("user_items must contain 1 row for every user in userids")
            rows = _parts(m)
        indptr, indices, data = rows if rows is not None else (None, None, None)
        ids, scores = self.fitted.recommend(
            None if recalculate_user else users,
            indptr,
            indices,
            data,
            int(N),
            bool(filter_already_liked_items),
            None if filter_items is None else _ids(filter_items),
            None if items is None else _ids(items),
        )
        return _one_or_all(single, ids, scores)

    def similar_items(
        self,
        itemid: Ids,
        N: int = 10,
        filter_items: Optional[Sequence[int]] = None,
        items: Optional[Sequence[int]] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """The ``N`` items most similar to ``itemid`` (one index or many), the item itself first
        (implicit's convention), as ``(ids, scores)``; ``items`` restricts them to those items."""
        if items is not None and filter_items is not None:
            raise ValueError("Can't set both items and filter_items in similar_items call")
        if N < 0:
            raise ValueError(f"N must be at least 0, not {N}")
        single = np.isscalar(itemid)
        query = _ids([itemid] if single else itemid)
        skip = None if filter_items is None else _ids(filter_items)
        if items is not None:
            keep = np.zeros(self.fitted.n_items, dtype=bool)
            wanted = _ids(items)
            if len(wanted) and (wanted.min() < 0 or wanted.max() >= len(keep)):
                raise IndexError("Some itemids in the items parameter are not in the model")
            keep[wanted] = True
            skip = np.flatnonzero(~keep).astype(np.int64)
        ids, scores = self.fitted.similar_items(query, int(N), skip)
        return _one_or_all(single, ids, scores)

    def recalculate_user(self, userid: Ids, user_items: Any) -> np.ndarray:
        """The factor vector of the user with the history in ``user_items`` (one row, or one per
        user in ``userid``), folded in against the fitted item factors without a refit."""
        m = _csr(user_items)
        single = np.isscalar(userid)
        vectors = []
        for r in range(m.shape[0]):
            row = m.getrow(r)
            v = self.fitted.fold_in(_ids(row.indices), np.ascontiguousarray(row.data, dtype=np.float32))
            if v is None:
                raise _aisle.ModelError(f"{self.fitted.name} has no user vectors to fold into")
            vectors.append(v)
        out = np.vstack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
        return out[0] if single and len(vectors) == 1 else out

    # Factors -------------------------------------------------------------------------------

    def _vectors(self) -> Any:
        if self._factors is None:
            self._factors = self.fitted.factors()
            if self._factors is None:
                raise AttributeError(f"{self.fitted.name} has no factors")
        return self._factors

    @property
    def user_factors(self) -> np.ndarray:
        """The user vectors, users × factors (float32)."""
        return self._vectors()[0]

    @property
    def item_factors(self) -> np.ndarray:
        """The item vectors, items × factors (float32)."""
        return self._vectors()[1]

    # Saving --------------------------------------------------------------------------------

    def save(self, path: str) -> None:
        """Writes the fitted model to ``path`` (``load`` reads it back, bit for bit)."""
        header = json.dumps({"class": type(self).__name__, "random_state": self.random_state, "params": self.params})
        with open(path, "wb") as f:
            f.write(_FORMAT + header.encode() + b"\n" + self.fitted.to_bytes())

    @classmethod
    def load(cls, path: str) -> "RecommenderBase":
        """Reads a model ``save`` wrote; the bytes are checked before any query can use them."""
        with open(path, "rb") as f:
            blob = f.read()
        if not blob.startswith(_FORMAT):
            raise _aisle.ModelError(f"{path} is not an aisle model file")
        header, _, body = blob[len(_FORMAT) :].partition(b"\n")
        meta = json.loads(header)
        kinds, todo = {}, [RecommenderBase]
        while todo:  # every subclass, LightFM's too
            for sub in todo.pop().__subclasses__():
                kinds[sub.__name__] = sub
                todo.append(sub)
        kind = kinds.get(meta.get("class"), cls)
        model = kind.__new__(kind)
        RecommenderBase.__init__(model, meta.get("random_state"), **meta.get("params", {}))
        model._fitted = _aisle.model_from_bytes(body)
        return model


class ALS(RecommenderBase):
    """Implicit alternating least squares (Hu, Koren, Volinsky 2008), conjugate-gradient solves.

    As ``implicit.als.AlternatingLeastSquares``: confidence ``1 + alpha · value``.
    """

    _model = "ials"

    def __init__(
        self,
        factors: int = 64,
        regularization: Optional[float] = None,
        alpha: Optional[float] = None,
        iterations: int = 15,
        random_state: Optional[int] = None,
        **aisle_params: Any,
    ) -> None:
        super().__init__(
            random_state, factors=factors, reg=regularization, alpha=alpha, iterations=iterations, **aisle_params
        )


class BPR(RecommenderBase):
    """Bayesian personalised ranking (Rendle et al. 2009) by SGD over sampled pairs."""

    _model = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: Optional[float] = None,
        regularization: Optional[float] = None,
        iterations: Optional[int] = None,
        random_state: Optional[int] = None,
        **aisle_params: Any,
    ) -> None:
        super().__init__(
            random_state,
            factors=factors,
            learning_rate=learning_rate,
            reg=regularization,
            epochs=iterations,
            **aisle_params,
        )


class EASE(RecommenderBase):
    """EASE (Steck 2019): a closed-form item-item model, for catalogs up to tens of thousands."""

    _model = "ease"

    def __init__(self, regularization: Optional[float] = None, random_state: Optional[int] = None, **aisle_params: Any):
        super().__init__(random_state, reg=regularization, **aisle_params)


class ItemKNN(RecommenderBase):
    """Item-based nearest neighbours: cosine with shrinkage, ``K`` neighbours per item."""

    _model = "item-knn"

    def __init__(
        self,
        K: Optional[int] = None,
        similarity: Optional[str] = None,
        random_state: Optional[int] = None,
        **aisle_params: Any,
    ) -> None:
        super().__init__(random_state, k=K, similarity=similarity, **aisle_params)
