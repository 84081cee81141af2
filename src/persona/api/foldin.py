"""Fold-in: score a customer's *current* history with a trained recommender, without retraining.

A served model knows each customer's history as it was at training time. When new events arrive,
the customer's row is rebuilt from the store and scored with the model's learned item-side state:

* item-item models (EASE ``B_``, item-kNN ``similarity_``): ``score = history · B`` (exactly what the
  model computes for a training user with that history);
* factor models (ALS with ``alpha``, BPR): the user's factors are re-solved by one regularised
  least-squares step against the fixed item factors (the ALS user update; Hu, Koren & Volinsky 2008);
* blends (``HybridRecommender``: ``models_`` and ``weights_``): the weighted sum of the components'
  per-customer z-scores, as the blend itself scores;
* a model over a discovery model (``RepeatRecommender``: ``base_`` and ``place_new``): the discovery model's
  fold-in, put on the wrapper's scale;
* anything else: the history rows of ``_item_similarity`` weighted by the history (item-based CF with
  the model's own similarity).

Items the model has never seen (new products) cannot be scored until the next retrain; they are kept
out of the history. Seen items are not recommended again, except in an ``include_seen`` list: there only
bought ones stay out, and the repeat model scores the others from the customer's current events
(``seen_scores``), so a product viewed a minute ago can come back at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from persona.data.events import DEFAULT_EVENT_WEIGHTS, EVENT_STRENGTH, EVENT_VERBS, OTHER_EVENT_WEIGHT

MAX_HISTORY_EVENTS = 5000  # newest events read for one customer


@dataclass(frozen=True)
class History:
    """One customer's interactions, in the model's item vocabulary."""

    items: np.ndarray  # item column numbers (unique)
    weights: np.ndarray  # summed event weights, float32
    strength: np.ndarray  # strongest event code per item (EVENT_STRENGTH), for reasons
    unknown_items: int  # events on products the model does not know
    counts: np.ndarray | None = None  # events per item, for the reasons of products shown again

    @property
    def empty(self) -> bool:
        return not len(self.items)


def read_history(store: Any, customer_id: str) -> pd.DataFrame:
    """The customer's product events (newest ``MAX_HISTORY_EVENTS``) from the store."""
    return store.read_frame(
        "SELECT product_id, event_type, value FROM events WHERE customer_id = :c AND product_id IS NOT NULL "
        "ORDER BY ts DESC, id DESC LIMIT :n",
        {"c": customer_id, "n": MAX_HISTORY_EVENTS},
    )


def history_vector(model: Any, events: pd.DataFrame) -> History:
    """Aggregate events into the model's item space with the weights ``Interactions`` uses for training.

    Args:
        model: a fitted Persona recommender (``data_`` gives the item vocabulary).
        events: rows with ``product_id``, ``event_type`` and optionally ``value``.

    Returns:
        The :class:`History` (unknown products are counted, not scored).
    """
    if events.empty:
        z = np.empty(0, dtype=np.int64)
        return History(z, np.empty(0, dtype=np.float32), z, 0, z)
    idx, w, strength = _event_rows(model, events)
    known = idx >= 0
    frame = pd.DataFrame({"i": idx[known], "w": w[known], "s": strength[known]})
    g = frame.groupby("i", sort=True).agg(w=("w", "sum"), s=("s", "max"), n=("s", "size"))
    return History(g.index.to_numpy(np.int64), g["w"].to_numpy(np.float32), g["s"].to_numpy(np.int64),
                   int((~known).sum()), g["n"].to_numpy(np.int64))


def _event_rows(model: Any, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per event: the item's column (-1 when unknown), its training weight and its strength code."""
    idx = model.data_.item_index(events["product_id"].astype(str).tolist())
    types = events["event_type"].astype(str)
    w = types.map(DEFAULT_EVENT_WEIGHTS).fillna(OTHER_EVENT_WEIGHT).to_numpy(dtype=np.float64)
    if "value" in events.columns:
        is_rating = (types == "rating").to_numpy()
        vals = pd.to_numeric(events["value"], errors="coerce").to_numpy(dtype=np.float64)
        w[is_rating & ~np.isnan(vals)] = vals[is_rating & ~np.isnan(vals)]
    return idx, w, types.map(EVENT_STRENGTH).fillna(0).to_numpy(dtype=np.int64)


def _dense(model: Any, h: History, binary: bool) -> np.ndarray:
    x = np.zeros(model.data_.n_items, dtype=np.float32)
    x[h.items] = 1.0 if binary else h.weights
    return x


def _zscore(s: np.ndarray, seen: np.ndarray) -> np.ndarray:
    rest = s[~seen] if (~seen).any() else s
    std = float(rest.std()) or 1.0
    return ((s - float(rest.mean())) / std).astype(np.float32)


def score_history(model: Any, h: History) -> np.ndarray:
    """Raw scores over every item of ``model`` for the history ``h`` (float32, before masking).

    Raises:
        ValueError: an empty history (use the model's cold start instead).
    """
    if h.empty:
        raise ValueError("fold-in needs at least one known item in the history")
    base, place = getattr(model, "base_", None), getattr(model, "place_new", None)
    if base is not None and callable(place):
        seen = np.zeros(model.data_.n_items, dtype=bool)
        seen[h.items] = True
        return np.asarray(place(score_history(base, h), seen), dtype=np.float32)
    models, weights = getattr(model, "models_", None), getattr(model, "weights_", None)
    if isinstance(models, Mapping) and isinstance(weights, Mapping) and models:
        seen = np.zeros(model.data_.n_items, dtype=bool)
        seen[h.items] = True
        total = np.zeros(model.data_.n_items, dtype=np.float32)
        for name, sub in models.items():
            total += np.float32(weights.get(name, 0.0)) * _zscore(score_history(sub, h), seen)
        return total
    binary = bool(getattr(model, "binary", False))
    own = getattr(model, "fold_in_scores", None)
    if callable(own):  # a model that folds a history in its own way (e.g. category affinity)
        return np.asarray(own(h.items, np.ones(len(h.items), np.float32) if binary else h.weights), dtype=np.float32)
    b = getattr(model, "B_", None)
    if isinstance(b, np.ndarray):
        return _dense(model, h, binary) @ b
    sim = getattr(model, "similarity_", None)
    if sim is not None and hasattr(sim, "shape") and sim.shape == (model.data_.n_items, model.data_.n_items):
        return np.asarray(sim @ _dense(model, h, binary), dtype=np.float32).ravel()
    y = getattr(model, "item_factors_", None)
    if isinstance(y, np.ndarray):
        return _factor_foldin(model, y, h, binary) @ y.T
    sims = np.asarray(model._item_similarity(h.items), dtype=np.float32)
    w = np.ones(len(h.items), dtype=np.float32) if binary else h.weights
    return w @ sims


def _factor_foldin(model: Any, y: np.ndarray, h: History, binary: bool) -> np.ndarray:
    """User factors from fixed item factors: the ALS user step (confidence 1 + alpha·w), else ridge on 1s."""
    reg = float(getattr(model, "regularization_", None) or getattr(model, "regularization", None) or 0.01)
    yu = y[h.items].astype(np.float64)
    k = y.shape[1]
    alpha = getattr(model, "alpha", None)
    if alpha is not None:
        w = np.ones(len(h.items)) if binary else h.weights.astype(np.float64)
        c = 1.0 + float(alpha) * w
        yty = y.T.astype(np.float64) @ y
        a = yty + (yu.T * (c - 1.0)) @ yu + reg * np.eye(k)
        rhs = yu.T @ c
    else:
        a = yu.T @ yu + reg * np.eye(k)
        rhs = yu.sum(axis=0)
    return np.linalg.solve(a, rhs).astype(np.float32)


def foldin_recommend(model: Any, h: History, k: int, filters: Any = None, *, include_seen: bool = False,
                     events: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Top-``k`` items for a history: seen items excluded, item filters applied, each with a reason.

    Args:
        model: the fitted recommender.
        h: the customer's current history (non-empty).
        k: list length.
        filters: a ``Filters`` or dict of its fields (item-level rules; the history is always excluded).
        include_seen: let products the customer viewed, carted or saved come back (bought ones never do);
            a model with ``seen_scores`` (the repeat model) ranks them by ``events``, the customer's current
            events newest first; any other model scores them as it scores the rest.
        events: the events ``h`` was built from, newest first (needed by ``seen_scores``).

    Returns:
        Rows ``product_id, score, rank, reason``.
    """
    from persona.recommend.base import topk_indices
    from persona.recommend.repeat import repeat_reason
    from persona.recommend.rules import Filters

    if not include_seen and callable(getattr(model, "place_new", None)):
        model = model.base_  # a repeat model's plain list is its discovery model's own, scores and reasons included
    data = model.data_
    scores = np.asarray(score_history(model, h), dtype=np.float32).copy()
    scores[np.isnan(scores)] = -np.inf
    seen_scores = getattr(model, "seen_scores", None)
    if include_seen and callable(seen_scores) and events is not None and not events.empty:
        idx, w, strength = _event_rows(model, events)
        known = idx >= 0
        scores[h.items] = np.asarray(seen_scores(idx[known], w[known], strength[known]), dtype=np.float32)[h.items]
    hidden = h.items[h.strength == EVENT_STRENGTH["purchase"]] if include_seen else h.items
    scores[hidden] = -np.inf
    flt = Filters.coerce(filters)
    scores[~flt.item_mask(data)] = -np.inf
    top = topk_indices(scores[None, :], k)[0]
    top = top[top >= 0]
    if not len(top):
        return []
    support = np.asarray(model._explain_similarity(top), dtype=np.float32)[:, h.items]  # picks × history
    # as offline reasons: support × the weight each history item has in the scoring input of the model whose
    # similarity explains (1 for a binary one), ties to the item the customer engaged with most
    lead = model.models_[model.lead_] if hasattr(model, "lead_") and hasattr(model, "models_") else model
    w = np.ones(len(h.items), dtype=np.float32) if getattr(lead, "binary", False) else h.weights.astype(np.float32)
    support = np.where(support > 0, support * w[None, :], support)
    support[top[:, None] == h.items[None, :]] = -np.inf  # a product is not its own reason
    order = np.argsort(-h.weights, kind="stable")  # argmax keeps the first of equals: the most engaged first
    best = order[np.argmax(support[:, order], axis=1)]
    bestval = support[np.arange(len(top)), best]
    labels = data.item_labels(h.items[best])
    verbs = {v: EVENT_VERBS[name] for name, v in EVENT_STRENGTH.items() if name in EVENT_VERBS}
    kinds = {v: name for name, v in EVENT_STRENGTH.items()}
    pos = {int(i): j for j, i in enumerate(h.items)}
    out = []
    for rank, (i, b, val, label) in enumerate(zip(top, best, bestval, labels, strict=True), start=1):
        j = pos.get(int(i))
        if j is not None:  # a product shown again (include_seen): say what the customer did with it
            n = int(h.counts[j]) if h.counts is not None else 1
            reason = repeat_reason(kinds.get(int(h.strength[j]), ""), n)
        else:
            reason = (f"because you {verbs.get(int(h.strength[b]), 'liked')} {label}"
                      if np.isfinite(val) and val > 0 else model.default_reason)
        out.append({"product_id": str(data.item_ids[i]), "score": float(scores[i]), "rank": rank, "reason": reason})
    return out
