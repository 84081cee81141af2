"""Business rules applied to every recommender's output: purchased / stock / category / price / blocklist filters."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from persona.data import Interactions
from persona.errors import InputError

PURCHASE_EVENTS = ("purchase",)


def _norm_set(values: Iterable[Any] | str | None) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    return frozenset(str(v).strip().lower() for v in values)


@dataclass(frozen=True)
class Filters:
    """Which items may be recommended.

    Attributes:
        exclude_purchased: drop items the user bought (``purchase`` events; without event types, any interaction).
        in_stock_only: drop items whose ``in_stock`` is false (unknown stock counts as available).
        categories_include: keep only items in these categories (case-insensitive; ``a > b`` matches ``a``).
        categories_exclude: drop items in these categories (same matching).
        price_min, price_max: keep items priced in this range (items without a price are dropped when set).
        blocklist: item ids never to recommend.
    """

    exclude_purchased: bool = False
    in_stock_only: bool = False
    categories_include: frozenset[str] | None = None
    categories_exclude: frozenset[str] | None = None
    price_min: float | None = None
    price_max: float | None = None
    blocklist: frozenset[Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories_include", _norm_set(self.categories_include))
        object.__setattr__(self, "categories_exclude", _norm_set(self.categories_exclude))
        if self.blocklist is not None:
            bl = [self.blocklist] if isinstance(self.blocklist, str) else list(self.blocklist)
            object.__setattr__(self, "blocklist", frozenset(bl))
        for name in ("price_min", "price_max"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, int | float):
                raise InputError(f"filter {name} must be a number, got {v!r}")
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise InputError(
                f"price_min {self.price_min} is above price_max {self.price_max}", hint="swap them"
            )

    @classmethod
    def coerce(cls, value: Filters | Mapping[str, Any] | None) -> Filters:
        """A :class:`Filters` from ``None``, a ``Filters`` or a dict of its fields.

        Raises:
            InputError: unknown filter names or a value of the wrong type.
        """
        if value is None:
            return cls()
        if isinstance(value, Filters):
            return value
        if not isinstance(value, Mapping):
            raise InputError(f"filters must be a Filters or a dict, got {type(value).__name__}")
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise InputError(f"unknown filter(s) {unknown}", hint=f"allowed: {sorted(allowed)}")
        return cls(**dict(value))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (sets as sorted lists)."""
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, frozenset):
                out[k] = sorted(v, key=str)
        return out

    @property
    def is_empty(self) -> bool:
        return self == Filters()

    def item_mask(self, data: Interactions) -> np.ndarray:
        """Boolean vector over ``data.item_ids``: True where the item passes the item-level rules."""
        n = data.n_items
        mask = np.ones(n, dtype=bool)
        items = data.items
        if self.in_stock_only and "in_stock" in items.columns:
            out_of_stock = items["in_stock"].map(_is_false).to_numpy(dtype=bool)
            mask &= ~out_of_stock
        if self.categories_include is not None or self.categories_exclude is not None:
            cats = item_categories(data)
            if self.categories_include is not None:
                mask &= np.array([category_matches(c, self.categories_include) for c in cats], dtype=bool)
            if self.categories_exclude is not None:
                mask &= ~np.array([category_matches(c, self.categories_exclude) for c in cats], dtype=bool)
        if self.price_min is not None or self.price_max is not None:
            if "price" in items.columns:
                price = pd.to_numeric(items["price"], errors="coerce").to_numpy(dtype=np.float64)
            else:
                price = np.full(n, np.nan)
            ok = ~np.isnan(price)
            if self.price_min is not None:
                ok &= price >= self.price_min
            if self.price_max is not None:
                ok &= price <= self.price_max
            mask &= ok
        if self.blocklist:
            idx = data.item_index(list(self.blocklist))
            mask[idx[idx >= 0]] = False
        return mask

    def purchased(self, data: Interactions) -> sp.csr_matrix | None:
        """User × item matrix of purchases to exclude, or None when ``exclude_purchased`` is off."""
        if not self.exclude_purchased:
            return None
        return purchase_matrix(data)


def _is_false(v: Any) -> bool:
    """True only for a known "no" (False, 0, "false", "no"); unknown stock counts as available."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return False
    if isinstance(v, str):
        return v.strip().lower() in ("false", "0", "no", "n")
    return not bool(v)


def purchase_matrix(data: Interactions) -> sp.csr_matrix:
    """Sparse pattern of (user, item) pairs with a purchase (any interaction when event types are unknown)."""
    logdf = data.log
    if "event" not in logdf.columns:
        return data.matrix
    rows = logdf[logdf["event"].astype(str).isin(PURCHASE_EVENTS)]
    return sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows["user_idx"].to_numpy(), rows["item_idx"].to_numpy())),
        shape=(data.n_users, data.n_items),
    )


def item_categories(data: Interactions) -> list[str | None]:
    """Lower-cased category of each item (None when unknown)."""
    if "category" not in data.items.columns:
        return [None] * data.n_items
    return [
        str(c).strip().lower() if isinstance(c, str) and c.strip() else None for c in data.items["category"]
    ]


def category_matches(cat: str | None, wanted: Collection[str]) -> bool:
    """Whether a lower-cased category names one of ``wanted`` (lower-cased): itself, a level of a path such as
    ``books > fiction`` (``books`` and ``fiction`` both match), or one of ``a | b``."""
    if cat is None:
        return False
    if cat in wanted:
        return True
    for sep in (">", "/", "|"):
        if sep in cat:
            parts = [p.strip() for p in cat.split(sep)]
            if sep == "|":
                if any(p in wanted for p in parts):
                    return True
            else:
                prefix = ""
                for p in parts:
                    prefix = f"{prefix} {sep} {p}" if prefix else p
                    if prefix in wanted or p in wanted:
                        return True
    return False
