"""aisle's rating models with the conventions of the Surprise package.

``fit(data)`` takes a pandas DataFrame whose first three columns are user, item and rating (the
order ``surprise.Dataset.load_from_df`` reads), or a list of ``(user, item, rating)`` triples; user
and item ids are any hashable values (the raw ids, as in Surprise). ``predict(uid, iid)`` returns
a ``Prediction`` with Surprise's fields, ``test(testset)`` one per row, ``predict_frame(df)`` the
estimates of a whole DataFrame at once. Fits and batch predictions run in Rust with the GIL
released.

Differences from Surprise, on purpose:

- Defaults are aisle's (chosen by validation), not Surprise's; pass Surprise's values (``SVD(
  reg_all=0.02)``) to reproduce its setup. ``random_state=None`` means seed 42.
- A pair rated more than once keeps its last rating (aisle's models hold one value per pair).
- For a user or item the training data did not have, the factor models (``SVD``, ``SVDpp``)
  estimate from the mean and the biases they know, as Surprise's SVD does; the others answer the
  training mean with ``details["was_impossible"] = True``, as Surprise's KNN models do.
"""

from __future__ import annotations

import json
from collections import namedtuple
from typing import Any, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse

from . import _aisle
from .implicit import Pickled, _seed

__all__ = ["SVD", "SVDpp", "BaselineOnly", "KNNBaseline", "Prediction", "RatingModel", "rmse", "mae"]

Prediction = namedtuple("Prediction", ["uid", "iid", "r_ui", "est", "details"])
"""One estimate, as Surprise's: the raw ids, the true rating (or None), the estimate, details."""


def _columns(data: Any) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Users, items and ratings (None when there is no third column) of a DataFrame or triples."""
    if hasattr(data, "iloc"):
        if data.shape[1] < 2:
            raise ValueError("a DataFrame of user, item[, rating] columns, in that order")
        users, items = data.iloc[:, 0].to_numpy(), data.iloc[:, 1].to_numpy()
        ratings = data.iloc[:, 2].to_numpy(dtype=np.float64) if data.shape[1] >= 3 else None
        return users, items, ratings
    rows = list(data)
    if not rows:
        return np.array([]), np.array([]), np.array([], dtype=np.float64)
    width = {len(r) for r in rows}
    if width - {2, 3}:
        raise ValueError("rows of (user, item) or (user, item, rating)")
    users = np.array([r[0] for r in rows], dtype=object)
    items = np.array([r[1] for r in rows], dtype=object)
    if width == {3}:
        ratings = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=np.float64)
    else:
        ratings = None
    return users, items, ratings


def _lookup(known: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Inner indexes of `raw` ids among the sorted `known` ones; -1 where unknown."""
    if len(known) == 0 or len(raw) == 0:
        return np.full(len(raw), -1, dtype=np.int64)
    try:
        at = np.searchsorted(known, raw)
    except TypeError:  # ids of kinds numpy cannot order together (e.g. str and int): one by one
        index = {k: n for n, k in enumerate(known.tolist())}
        return np.array([index.get(r, -1) for r in raw.tolist()], dtype=np.int64)
    at = np.clip(at, 0, len(known) - 1)
    found = known[at] == raw
    return np.where(found, at, -1).astype(np.int64)


class RatingModel(Pickled):
    """A model of explicit ratings, fitted on (user, item, rating) rows.

    ``rating_scale`` (low, high) clips estimates, as Surprise's ``Reader``; by default the lowest
    and highest training ratings. ``aisle_params`` sets any parameter of the aisle model by its
    name (the names ``aisle eval --param`` takes).
    """

    _model = ""

    def __init__(
        self, rating_scale: Optional[Tuple[float, float]] = None, random_state: Optional[int] = None, **aisle_params
    ) -> None:
        self.rating_scale = rating_scale
        self.random_state = random_state
        self.params = {k: v for k, v in aisle_params.items() if v is not None}
        self._fitted: Optional[_aisle.Fitted] = None

    def fit(self, data: Any) -> "RatingModel":
        """Fits on the rows of ``data`` (a DataFrame of user, item, rating, or triples)."""
        users, items, ratings = _columns(data)
        if ratings is None:
            raise ValueError("fitting needs a rating column")
        if not np.all(np.isfinite(ratings)):
            bad = int(np.flatnonzero(~np.isfinite(ratings))[0])
            raise ValueError(f"row {bad}: rating {ratings[bad]} is not finite")
        try:
            self._users, u = np.unique(users, return_inverse=True)
            self._items, i = np.unique(items, return_inverse=True)
        except TypeError as e:
            raise ValueError(f"user ids, and item ids, must be of one kind (all numbers or all text): {e}") from e
        n_users, n_items = len(self._users), len(self._items)
        # The last rating of a pair: unique keys of the reversed rows find each pair's last one.
        keys = u.astype(np.int64) * max(n_items, 1) + i
        _, last_rev = np.unique(keys[::-1], return_index=True)
        keep = len(keys) - 1 - last_rev
        values = ratings[keep].astype(np.float32)
        m = scipy.sparse.csr_matrix((values, (u[keep], i[keep])), shape=(n_users, n_items))
        m.sort_indices()
        self.global_mean = float(values.mean()) if len(values) else 0.0
        low, high = self.rating_scale or ((float(values.min()), float(values.max())) if len(values) else (0, 0))
        self._scale = (float(low), float(high))
        self._fitted = _aisle.fit(
            self._model,
            json.dumps(self.params),
            n_items,
            True,
            np.ascontiguousarray(m.indptr, dtype=np.int64),
            np.ascontiguousarray(m.indices, dtype=np.int64),
            np.ascontiguousarray(m.data, dtype=np.float32),
            _seed(self.random_state),
            None,
        )
        factors = self._fitted.factors()
        self._biases = None if factors is None or len(factors[3]) == 0 else (factors[2], factors[3])
        return self

    @property
    def fitted(self) -> "_aisle.Fitted":
        if self._fitted is None:
            raise _aisle.ModelError(f"{type(self).__name__} is not fitted: call fit(data) first")
        return self._fitted

    def _estimate(self, users: np.ndarray, items: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Estimates of raw-id pairs, and which of them were impossible (unknown ids, no biases)."""
        fitted = self.fitted
        u, i = _lookup(self._users, users), _lookup(self._items, items)
        known = (u >= 0) & (i >= 0)
        est = np.full(len(u), self.global_mean, dtype=np.float64)
        if known.any():
            est[known] = fitted.predict(u[known], i[known])
        impossible = ~known
        if self._biases is not None and impossible.any():
            bu, bi = self._biases
            partial = np.full(impossible.sum(), self.global_mean)
            uu, ii = u[impossible], i[impossible]
            partial += np.where(uu >= 0, bu[np.maximum(uu, 0)], 0.0)
            partial += np.where(ii >= 0, bi[np.maximum(ii, 0)], 0.0)
            est[impossible] = partial
            impossible = np.zeros(len(u), dtype=bool)
        return np.clip(est, *self._scale), impossible

    def predict(self, uid: Any, iid: Any, r_ui: Optional[float] = None, clip: bool = True, verbose: bool = False):
        """The estimate of ``uid``'s rating of ``iid`` (raw ids) as a ``Prediction``."""
        est, impossible = self._estimate(np.array([uid], dtype=object), np.array([iid], dtype=object))
        details = {"was_impossible": bool(impossible[0])}
        if impossible[0]:
            details["reason"] = "User and/or item is unknown."
        p = Prediction(uid, iid, r_ui, float(est[0]), details)
        if verbose:
            print(p)
        return p

    def test(self, testset: Any, verbose: bool = False) -> List[Prediction]:
        """A ``Prediction`` per row of ``testset`` (a DataFrame of user, item, rating, or triples)."""
        users, items, ratings = _columns(testset)
        est, impossible = self._estimate(users, items)
        truth = [None] * len(est) if ratings is None else ratings.tolist()
        out = []
        for uid, iid, r, e, imp in zip(users.tolist(), items.tolist(), truth, est.tolist(), impossible.tolist()):
            details = {"was_impossible": imp}
            if imp:
                details["reason"] = "User and/or item is unknown."
            out.append(Prediction(uid, iid, r, e, details))
            if verbose:
                print(out[-1])
        return out

    def predict_frame(self, data: Any) -> np.ndarray:
        """The estimates of every (user, item) row of ``data``, as one float64 array."""
        users, items, _ = _columns(data)
        return self._estimate(users, items)[0]



class SVD(RatingModel):
    """Biased matrix factorisation by SGD (Funk; Koren, Bell, Volinsky 2009), Surprise's ``SVD``."""

    _model = "svd"

    def __init__(
        self,
        n_factors: Optional[int] = None,
        n_epochs: Optional[int] = None,
        biased: Optional[bool] = None,
        lr_all: Optional[float] = None,
        reg_all: Optional[float] = None,
        rating_scale: Optional[Tuple[float, float]] = None,
        random_state: Optional[int] = None,
        **aisle_params: Any,
    ) -> None:
        super().__init__(
            rating_scale,
            random_state,
            factors=n_factors,
            epochs=n_epochs,
            biased=biased,
            learning_rate=lr_all,
            reg=reg_all,
            **aisle_params,
        )


class SVDpp(RatingModel):
    """SVD++ (Koren 2008): SVD with the items each user rated as implicit feedback."""

    _model = "svdpp"

    def __init__(
        self,
        n_factors: Optional[int] = None,
        n_epochs: Optional[int] = None,
        lr_all: Optional[float] = None,
        reg_all: Optional[float] = None,
        rating_scale: Optional[Tuple[float, float]] = None,
        random_state: Optional[int] = None,
        **aisle_params: Any,
    ) -> None:
        super().__init__(
            rating_scale,
            random_state,
            factors=n_factors,
            epochs=n_epochs,
            learning_rate=lr_all,
            reg=reg_all,
            **aisle_params,
        )


class BaselineOnly(RatingModel):
    """The baseline ``μ + b_u + b_i`` (Koren 2010), biases by ALS."""

    _model = "baseline"


class KNNBaseline(RatingModel):
    """Item-based kNN on Pearson-baseline similarities around the baseline (Koren 2010)."""

    _model = "knn-baseline"

    def __init__(
        self,
        k: Optional[int] = None,
        min_k: Optional[int] = None,
        rating_scale: Optional[Tuple[float, float]] = None,
        random_state: Optional[int] = None,
        **aisle_params: Any,
    ) -> None:
        super().__init__(rating_scale, random_state, k=k, min_k=min_k, **aisle_params)


def _errors(predictions: Iterable[Prediction]) -> np.ndarray:
    errors = np.array([p.r_ui - p.est for p in predictions if p.r_ui is not None], dtype=np.float64)
    if len(errors) == 0:
        raise ValueError("no prediction with a true rating")
    return errors


def rmse(predictions: Sequence[Prediction], verbose: bool = True) -> float:
    """Root mean squared error of predictions with a true rating (``surprise.accuracy.rmse``)."""
    value = float(np.sqrt(np.mean(_errors(predictions) ** 2)))
    if verbose:
        print(f"RMSE: {value:1.4f}")
    return value


def mae(predictions: Sequence[Prediction], verbose: bool = True) -> float:
    """Mean absolute error of predictions with a true rating (``surprise.accuracy.mae``)."""
    value = float(np.mean(np.abs(_errors(predictions))))
    if verbose:
        print(f"MAE:  {value:1.4f}")
    return value
