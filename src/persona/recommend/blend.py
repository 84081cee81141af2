"""Blend weights for score fusion, learned with a listwise softmax loss over each user's candidate list.

Every validation row is one user's candidate items: the members' (z-normalised) scores are the features, the
user's held-out items the targets. The blend score is ``X @ w`` with non-negative ``w``; the loss is the
cross-entropy between the softmax of the blend over the row's candidates and the held-out items spread
evenly (ListNet's top-one loss, Cao et al. 2007), averaged over rows, plus a small L2 penalty. It is smooth and
uses every row at once, so the weights vary far less between validation folds than a search over a grid of
weights does, and rank-based metrics follow it closely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

#: L2 penalty on the weights: keeps the softmax scale finite when a member separates the held-out items well.
DEFAULT_L2 = 1e-3


@dataclass
class ListwiseRows:
    """Candidate rows ready for the loss: features (rows, width, members), a 0 / -inf mask of the valid
    candidates, and the target share of each candidate (zero where invalid)."""

    X: np.ndarray
    bias: np.ndarray
    target: np.ndarray


def listwise_rows(features: Sequence[np.ndarray], labels: np.ndarray, valid: np.ndarray) -> ListwiseRows:
    """Stack the members' candidate scores; rows without a held-out item among their candidates are dropped.

    Each row's valid candidates are moved to the front (in their order) and the columns no row needs are cut, so
    the loss does not scan padding (the pooled candidate lists of several members are mostly duplicates).
    """
    lab = (labels * valid).astype(np.float32)
    keep = lab.sum(axis=1) > 0
    ok = valid[keep]
    order = np.argsort(~ok, axis=1, kind="stable")[:, : max(int(ok.sum(axis=1).max(initial=0)), 1)]
    ok = np.take_along_axis(ok, order, axis=1)
    X = np.stack([np.where(ok, np.take_along_axis(f[keep], order, axis=1), 0.0) for f in features],
                 axis=-1).astype(np.float32)
    bias = np.where(ok, 0.0, -np.inf).astype(np.float32)
    lab = np.take_along_axis(lab[keep], order, axis=1)
    return ListwiseRows(X, bias, lab / lab.sum(axis=1, keepdims=True))


def listwise_loss(rows: ListwiseRows, w: np.ndarray, l2: float = DEFAULT_L2) -> tuple[float, np.ndarray]:
    """Mean listwise cross-entropy of the blend ``rows.X @ w`` (and its gradient in ``w``)."""
    n, width, d = rows.X.shape
    if not n:
        return 0.0, np.zeros_like(w)
    flat = rows.X.reshape(-1, d)
    s = (flat @ w.astype(np.float32)).reshape(n, width)
    top = (s + rows.bias).max(axis=1, keepdims=True)
    e = np.exp(s + rows.bias - top)
    z = e.sum(axis=1, keepdims=True)
    # the target is zero on invalid candidates, so the log-probability is only needed where s is finite
    loss = -float((rows.target * (s - top - np.log(z))).sum(dtype=np.float64)) / n + l2 * float(w @ w)
    grad = (flat.T @ (e / z - rows.target).reshape(-1)).astype(np.float64) / n + 2.0 * l2 * w
    return loss, grad


def fit_listwise(rows: ListwiseRows, free: np.ndarray, l2: float = DEFAULT_L2) -> np.ndarray:
    """Non-negative weights minimising :func:`listwise_loss`; members where ``free`` is False stay at zero."""
    bounds = [(0.0, None) if f else (0.0, 0.0) for f in free]
    res = minimize(lambda w: listwise_loss(rows, w, l2), np.where(free, 0.1, 0.0), jac=True, method="L-BFGS-B",
                   bounds=bounds)
    return np.clip(res.x, 0.0, None)


def fit_listwise_mix(target: ListwiseRows, guard: ListwiseRows, mu: float, start: np.ndarray,
                     l2: float = DEFAULT_L2) -> np.ndarray:
    """Non-negative weights minimising the loss on ``target`` rows plus ``mu`` times the loss on ``guard`` rows.

    The larger ``mu``, the closer the weights stay to the guard rows' own optimum (the Lagrangian form of
    "do best on ``target`` while ``guard`` loses little").
    """

    def f(w: np.ndarray) -> tuple[float, np.ndarray]:
        lt, gt = listwise_loss(target, w, l2)
        lg, gg = listwise_loss(guard, w, 0.0)
        return lt + mu * lg, gt + mu * gg

    res = minimize(f, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * len(start))
    return np.clip(res.x, 0.0, None)
