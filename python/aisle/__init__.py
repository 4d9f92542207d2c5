"""aisle for Python: aisle's recommendation models, fitted and queried from numpy and scipy.

>>> import aisle, scipy.sparse as sp
>>> model = aisle.ALS(factors=64)
>>> model.fit(user_items)                       # a users × items csr_matrix
>>> ids, scores = model.recommend(0, user_items[0], N=10)

The models follow the conventions of the ``implicit`` package (``aisle.ALS``, ``aisle.BPR``,
``aisle.EASE``, ``aisle.ItemKNN``). Errors are ``aisle.AisleError`` subclasses carrying the
messages the ``aisle`` command prints.
"""

from ._aisle import MODELS, AisleError, DataError, FitError, ModelError, ParamError
from .implicit import ALS, BPR, EASE, ItemKNN, RecommenderBase

__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "ItemKNN",
    "MODELS",
    "AisleError",
    "DataError",
    "FitError",
    "ModelError",
    "ParamError",
    "RecommenderBase",
]
