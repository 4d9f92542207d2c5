"""aisle for Python: aisle's recommendation models, fitted and queried from numpy and scipy.

>>> import aisle, scipy.sparse as sp
>>> model = aisle.ALS(factors=64)
>>> model.fit(user_items)                       # a users × items csr_matrix
>>> ids, scores = model.recommend(0, user_items[0], N=10)

The implicit-feedback models follow the conventions of the ``implicit`` package (``aisle.ALS``,
``aisle.BPR``, ``aisle.EASE``, ``aisle.ItemKNN``), the rating models those of Surprise
(``aisle.SVD``, ``aisle.SVDpp``, ``aisle.BaselineOnly``, ``aisle.KNNBaseline``, fitted on a
DataFrame of user, item, rating; ``aisle.accuracy.rmse``), and the hybrid those of LightFM
(``aisle.LightFM``, with user and item feature matrices). ``aisle.Client`` talks to a running
server, one typed method per operation of its OpenAPI document. Errors are ``aisle.AisleError``
subclasses carrying the messages the ``aisle`` command prints.
"""

from ._aisle import MODELS, AisleError, DataError, FitError, ModelError, ParamError
from . import accuracy, evaluation
from .client import ApiError, Client
from .evaluation import evaluate
from .implicit import ALS, BPR, EASE, ItemKNN, RecommenderBase
from .lightfm import LightFM
from .surprise import SVD, BaselineOnly, KNNBaseline, Prediction, RatingModel, SVDpp

__all__ = [
    "ALS",
    "ApiError",
    "BPR",
    "Client",
    "SVD",
    "BaselineOnly",
    "KNNBaseline",
    "Prediction",
    "RatingModel",
    "SVDpp",
    "accuracy",
    "evaluate",
    "evaluation",
    "EASE",
    "ItemKNN",
    "LightFM",
    "MODELS",
    "AisleError",
    "DataError",
    "FitError",
    "ModelError",
    "ParamError",
    "RecommenderBase",
]
