"""Rating-prediction errors (RMSE, MAE) over the (user, item) pairs present in both frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from persona.errors import InputError


def _pairs(truth: pd.DataFrame, pred: pd.DataFrame, user: str, item: str, rating: str, prediction: str) -> tuple[np.ndarray, np.ndarray]:
    merged = truth[[user, item, rating]].merge(pred[[user, item, prediction]], on=[user, item], how="inner",
                                               suffixes=("", "_pred"))
    if merged.empty:
        raise InputError("no (user, item) pair is present in both the truth and the predictions",
                         hint="predict ratings for the test pairs")
    pcol = prediction if prediction != rating else f"{rating}_pred"
    return merged[rating].to_numpy(dtype=float), merged[pcol].to_numpy(dtype=float)


def rmse(truth: pd.DataFrame, pred: pd.DataFrame, *, user: str = "user_id", item: str = "item_id",
         rating: str = "rating", prediction: str = "prediction") -> float:
    """Root mean squared error of predicted ratings.

    Args:
        truth: observed ratings (``user``, ``item``, ``rating``).
        pred: predictions (``user``, ``item``, ``prediction``).

    Raises:
        InputError: no pair in common.
    """
    y, p = _pairs(truth, pred, user, item, rating, prediction)
    return float(np.sqrt(np.mean((y - p) ** 2)))


def mae(truth: pd.DataFrame, pred: pd.DataFrame, *, user: str = "user_id", item: str = "item_id",
        rating: str = "rating", prediction: str = "prediction") -> float:
    """Mean absolute error of predicted ratings (same arguments as :func:`rmse`)."""
    y, p = _pairs(truth, pred, user, item, rating, prediction)
    return float(np.mean(np.abs(y - p)))
