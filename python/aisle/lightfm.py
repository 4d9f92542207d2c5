"""aisle's hybrid model with the conventions of the LightFM package.

``LightFM(no_components=30, loss="warp").fit(interactions, user_features=..., item_features=...)``
learns an embedding per feature (WARP or BPR, AdaGrad); a user's or item's vector is the sum of
its features' embeddings. ``predict(user_ids, item_ids)`` scores pairs; ``recommend`` and
``similar_items`` (implicit's conventions) rank for users and items.

Differences from LightFM, on purpose:

- Without ``item_features`` (``user_features``), every item (user) has its own identity feature,
  as LightFM does. With them, exactly the given features are used (include an identity block,
  as ``lightfm.data.Dataset`` does by default, to keep one); a feature is present or absent, and
  each row's features are normalised to sum to one (LightFM's ``normalize=True``), so weights in
  the matrices other than zero and non-zero do not count.
- ``predict`` scores the users and items of the training data; new users are folded in by their
  history (``recommend(..., recalculate_user=True)``), not by features given at prediction time.
- The losses are ``"warp"`` and ``"bpr"`` (LightFM's ``"logistic"`` and ``"warp-kos"`` are not
  here). ``random_state=None`` means seed 42; fits run on every core.
"""

from __future__ import annotations

import json
from typing import Any, Optional, Tuple

import numpy as np

from . import _aisle
from .implicit import RecommenderBase, _csr, _ids, _parts, _progress_bar, _seed


def _features(matrix: Any, rows: int, name: str) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """The CSR structure (indptr, indices) of a rows × features matrix, or None."""
    if matrix is None:
        return None
    m = _csr(matrix, name)
    if m.shape[0] != rows:
        raise ValueError(f"{name} has {m.shape[0]} rows for {rows} {name.split('_')[0]}s")
    m.eliminate_zeros()
    return np.ascontiguousarray(m.indptr, dtype=np.int64), np.ascontiguousarray(m.indices, dtype=np.int64)


class LightFM(RecommenderBase):
    """A hybrid matrix factorisation over user and item features (Kula 2015), as LightFM."""

    _model = "hybrid"

    def __init__(
        self,
        no_components: Optional[int] = None,
        loss: str = "warp",
        learning_rate: Optional[float] = None,
        item_alpha: Optional[float] = None,
        user_alpha: Optional[float] = None,
        max_sampled: Optional[int] = None,
        random_state: Optional[int] = None,
        **aisle_params: Any,
    ) -> None:
        super().__init__(
            random_state,
            components=no_components,
            loss=loss,
            learning_rate=learning_rate,
            item_alpha=item_alpha,
            user_alpha=user_alpha,
            max_sampled=max_sampled,
            **aisle_params,
        )

    def fit(  # type: ignore[override]
        self,
        interactions: Any,
        user_features: Any = None,
        item_features: Any = None,
        epochs: Optional[int] = None,
        num_threads: Optional[int] = None,
        verbose: bool = False,
        callback: Any = None,
    ) -> "LightFM":
        """Fits on ``interactions`` (users × items; entries above 0 are positives) and the
        optional feature matrices (users × user features, items × item features).

        ``num_threads`` is accepted for LightFM's signature; aisle's fit uses every core (and
        gives the same model on any number of them). ``verbose`` shows a progress bar.
        """
        m = _csr(interactions, "interactions")
        indptr, indices, data = _parts(m)
        params = dict(self.params)
        if epochs is not None:
            params["epochs"] = epochs
        items = _features(item_features, m.shape[1], "item_features")
        users = _features(user_features, m.shape[0], "user_features")
        if items is not None:
            params.update(item_identity=False, item_features=True, min_df=1)
        if users is not None:
            params.update(user_identity=False, user_features=True, min_df=1)
        report, close = _progress_bar(verbose, callback)
        try:
            self._fitted = _aisle.fit(
                self._model,
                json.dumps(params),
                m.shape[1],
                False,
                indptr,
                indices,
                data,
                _seed(self.random_state),
                report,
                items,
                users,
            )
        finally:
            close()
        self._factors = None
        return self

    def predict(self, user_ids: Any, item_ids: Any, num_threads: Optional[int] = None) -> np.ndarray:
        """Scores of the pairs ``(user_ids[j], item_ids[j])`` (a single user id scores every item
        of ``item_ids`` for that user), as LightFM's ``predict``: float32, higher is better."""
        items = _ids(item_ids)
        users = np.full(len(items), int(user_ids), dtype=np.int64) if np.isscalar(user_ids) else _ids(user_ids)
        if len(users) != len(items):
            raise ValueError("user_ids and item_ids must be of the same length")
        return self.fitted.score(users, items)

    def get_item_representations(self) -> Tuple[np.ndarray, np.ndarray]:
        """``(biases, embeddings)`` of the training items: their features' sums."""
        _, items, _, bias = self._vectors()
        return (bias if len(bias) else np.zeros(len(items), dtype=np.float32)), items

    def get_user_representations(self) -> Tuple[np.ndarray, np.ndarray]:
        """``(biases, embeddings)`` of the training users (the biases are zero: the model has
        item biases only)."""
        users = self._vectors()[0]
        return np.zeros(len(users), dtype=np.float32), users


__all__ = ["LightFM"]
