"""Accuracy of rating predictions, as ``surprise.accuracy``: ``rmse`` and ``mae``."""

from .surprise import mae, rmse

__all__ = ["mae", "rmse"]
