"""Repeat propensity: which of the products a customer already had they are likely to turn to next.

One row per (customer, product they had), described by what the customer did with it and when, scale-free so
that a model learned on a validation split carved from training applies to the whole history:

* how often and how strongly: events on the product, their recency-weighted weight (the repeat model's
  interest score) and its rank among the customer's products, the share of the customer's events it holds,
  the strongest event type (bought, carted, saved, clicked);
* when: the share of the customer's events since the last and since the first touch, and the number since
  the last;
* who and what: the customer's number of events and of distinct products, the product's number of customers.

A logistic regression on the standardised features (the repeat model's ``seen_ranker="learned"``) turns them
into the chance that the product is among the customer's next items, on the same scale as the repeat model's per-place hit
rates of new products, so the two compete in one list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from persona.data import Interactions
from persona.data.events import EVENT_STRENGTH

#: Feature names, in column order.
FEATURES: tuple[str, ...] = (
    "log_events", "log_interest", "log_interest_rank", "event_share", "since_last_share", "since_first_share",
    "log_since_last", "log_user_events", "log_user_items", "log_item_customers",
    "bought", "carted", "saved", "clicked",
)


@dataclass(frozen=True)
class Events:
    """Events sorted by customer, oldest first within each: row (customer) and column (product) numbers,
    weights and strength codes (:data:`~persona.data.events.EVENT_STRENGTH`)."""

    user: np.ndarray
    item: np.ndarray
    weight: np.ndarray
    strength: np.ndarray

    @classmethod
    def from_data(cls, data: Interactions) -> Events:
        """The events of ``data``'s log in time order (ties keep log order)."""
        lg = data.log
        u = lg["user_idx"].to_numpy().astype(np.int64)
        t = np.nan_to_num(pd.to_numeric(lg["time"], errors="coerce").to_numpy(np.float64), nan=-np.inf) \
            if data.has_time else np.zeros(len(u))
        order = np.lexsort((np.arange(len(u)), t, u))
        w = np.clip(lg["weight"].to_numpy(np.float64), 1e-6, None) if "weight" in lg.columns else np.ones(len(u))
        s = (lg["event"].astype(str).map(EVENT_STRENGTH).fillna(0).to_numpy(np.int64) if "event" in lg.columns
             else np.zeros(len(u), dtype=np.int64))
        return cls(u[order], lg["item_idx"].to_numpy().astype(np.int64)[order], w[order], s[order])

    @classmethod
    def newest_first(cls, item: np.ndarray, weight: np.ndarray, strength: np.ndarray) -> Events:
        """One customer's events given newest first (as the store reads them for fold-in), as row 0."""
        return cls(np.zeros(len(item), dtype=np.int64), np.asarray(item, np.int64)[::-1],
                   np.asarray(weight, np.float64)[::-1], np.asarray(strength, np.int64)[::-1])


def seen_features(ev: Events, n_users: int, n_items: int, item_customers: np.ndarray,
                  tau: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row of :data:`FEATURES` per distinct (customer, product) of ``ev``.

    Args:
        ev: the events, sorted by customer and time.
        n_users, n_items: matrix shape.
        item_customers: number of customers per product (from the training data).
        tau: recency decay of the interest score (an event with r later ones of the customer's n weighs
            exp(−r / (tau · n))).

    Returns:
        ``(rows, cols, X)``: each pair's customer and product numbers and its features (float32).
    """
    n = len(ev.user)
    if not n:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, len(FEATURES)), np.float32)
    counts = np.bincount(ev.user, minlength=n_users)
    starts = np.cumsum(counts) - counts
    pos = np.arange(n) - starts[ev.user]  # 0 = the customer's oldest event
    n_u = counts[ev.user].astype(np.float64)
    later = n_u - 1 - pos
    interest = ev.weight * np.exp(-later / (float(tau) * n_u))
    key = ev.user * np.int64(n_items) + ev.item
    cells, inv = np.unique(key, return_inverse=True)
    m = len(cells)
    rows, cols = cells // n_items, cells % n_items
    events = np.bincount(inv, minlength=m).astype(np.float64)
    score = np.bincount(inv, weights=interest, minlength=m)
    since_last = np.full(m, np.inf)
    np.minimum.at(since_last, inv, later)
    since_first = np.zeros(m)
    np.maximum.at(since_first, inv, later)
    top = np.zeros(m, dtype=np.int64)
    np.maximum.at(top, inv, ev.strength)
    user_n = counts[rows].astype(np.float64)
    user_items = np.bincount(rows, minlength=n_users)[rows].astype(np.float64)
    order = np.lexsort((-score, rows))  # per customer, highest interest first
    rank = np.empty(m, dtype=np.float64)
    cell_starts = np.cumsum(np.bincount(rows, minlength=n_users)) - np.bincount(rows, minlength=n_users)
    rank[order] = np.arange(m) - cell_starts[rows[order]]
    x = np.column_stack([
        np.log1p(events), np.log1p(score), np.log1p(rank), events / user_n, since_last / user_n, since_first / user_n,
        np.log1p(since_last), np.log1p(user_n), np.log1p(user_items), np.log1p(np.asarray(item_customers, np.float64)[cols]),
        top >= EVENT_STRENGTH["purchase"], top == EVENT_STRENGTH["add_to_cart"], top == EVENT_STRENGTH["wishlist"],
        (top == EVENT_STRENGTH["click"]) | (top == EVENT_STRENGTH["email_click"]),
    ]).astype(np.float32)
    return rows, cols, x


def item_customers(data: Interactions) -> np.ndarray:
    """Number of distinct customers per product."""
    return np.diff(sp.csc_matrix(data.matrix).indptr).astype(np.float64)
