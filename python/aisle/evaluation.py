"""Splits and full-catalog ranking metrics, the ones ``aisle eval`` uses.

>>> train, test = aisle.evaluation.train_test_split(user_items, 0.8, random_state=42)
>>> model = aisle.ALS(); model.fit(train)
>>> aisle.evaluate(model, train, test, k=10)["ndcg"]

Every metric ranks the whole catalog but each user's training items (no sampled negatives), and
averages over the users with at least one test item whom the model knows.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import scipy.sparse

from . import _aisle
from .implicit import _csr, _parts

__all__ = ["evaluate", "split", "train_test_split", "leave_k_out_split", "ranking_metrics_at_k"]


def _matrix(parts: Tuple[np.ndarray, np.ndarray, np.ndarray], shape: Tuple[int, int]) -> scipy.sparse.csr_matrix:
    indptr, indices, values = parts
    return scipy.sparse.csr_matrix((values, indices, indptr), shape=shape)


def split(user_items: Any, strategy: str = "random", random_state: int = 42, **params: Any) -> List[Tuple[Any, Any]]:
    """(train, test) pairs of CSR matrices shaped like ``user_items``, split as ``aisle eval``
    splits: ``strategy`` ``"random"`` (``test_ratio``), ``"leave_k_out"`` (``k``),
    ``"cold_items"`` (``test_ratio``: items held out whole) or ``"k_fold"`` (``folds``, one pair
    per fold). The same seed gives the same split."""
    m = _csr(user_items)
    spec = json.dumps({"kind": strategy, **params})
    folds = _aisle.split(_parts(m), m.shape[1], spec, int(random_state))
    return [(_matrix(train, m.shape), _matrix(test, m.shape)) for train, test in folds]


def train_test_split(user_items: Any, train_percentage: float = 0.8, random_state: int = 42) -> Tuple[Any, Any]:
    """A random share of the interactions as train, the rest as test (implicit's signature)."""
    if not 0.0 < train_percentage < 1.0:
        raise ValueError(f"train_percentage must be in (0, 1), not {train_percentage}")
    return split(user_items, "random", random_state, test_ratio=1.0 - train_percentage)[0]


def leave_k_out_split(user_items: Any, K: int = 1, random_state: int = 42) -> Tuple[Any, Any]:
    """``K`` random interactions of every user with more than ``K`` as test (implicit's name)."""
    return split(user_items, "leave_k_out", random_state, k=int(K))[0]


def evaluate(
    model: Any, train: Any, test: Any, k: int = 10, relevance_threshold: Optional[float] = None
) -> Dict[str, Any]:
    """Ranking metrics of a fitted model at ``k``: precision, recall, f1, ndcg, map, mrr,
    hit_rate, auc, coverage and novelty, with ``users`` evaluated and ``skipped_users``.

    ``train`` is what the model was fitted on (its items are not ranked); ``test`` holds the
    relevant items (those with a value of at least ``relevance_threshold``, if given)."""
    fitted = model.fitted if hasattr(model, "fitted") else model
    a, b = _csr(train, "train"), _csr(test, "test")
    if a.shape != b.shape:
        raise ValueError(f"train is {a.shape[0]}x{a.shape[1]} but test {b.shape[0]}x{b.shape[1]}")
    return json.loads(_aisle.evaluate(fitted, _parts(a), _parts(b), int(k), relevance_threshold))


def ranking_metrics_at_k(model: Any, train_user_items: Any, test_user_items: Any, K: int = 10) -> Dict[str, float]:
    """implicit's ``ranking_metrics_at_k``: precision, map, ndcg and auc at ``K`` (aisle's
    definitions: ``precision`` is hits / K, full catalog)."""
    m = evaluate(model, train_user_items, test_user_items, k=K)
    return {"precision": m["precision"], "map": m["map"], "ndcg": m["ndcg"], "auc": m["auc"]}
