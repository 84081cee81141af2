"""Canonical columns of each ingestible entity: names, kinds, what is required and where extras go."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# kinds: id (required-looking string key), str, text, ts, float, int, bool, etype, pii
ENTITY_ORDER = ("customers", "products", "events", "reviews", "consents")


@dataclass(frozen=True)
class EntitySpec:
    """How one entity's file maps onto its table.

    Attributes:
        name: entity name used on the command line.
        table: the table rows go to.
        columns: canonical column -> kind.
        required: columns a file must have (after ``--map``).
        key: the column(s) that identify a row (duplicates are judged on them).
        extras: JSON column keeping non-canonical columns (None: they are reported and dropped).
        renames: canonical column -> table column where they differ.
        max_len: longest value a string column's table column can hold.
        bounds: number column -> (lowest, highest) value it may hold (None: open); a row outside is quarantined
            (see :func:`range_reasons`, which also lets a refund carry negative amounts).
    """

    name: str
    table: str
    columns: dict[str, str]
    required: tuple[str, ...]
    key: tuple[str, ...]
    extras: str | None = None
    renames: dict[str, str] = field(default_factory=dict)
    max_len: dict[str, int] = field(default_factory=dict)
    bounds: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.required)


SPECS: dict[str, EntitySpec] = {
    "customers": EntitySpec(
        name="customers",
        table="customers",
        columns={
            "customer_id": "id", "email": "pii", "phone": "pii", "name": "pii", "gender": "str", "birth_year": "int",
            "city": "str", "country": "str", "timezone": "str", "language": "str", "created_at": "ts",
        },
        required=("customer_id",),
        key=("customer_id",),
        extras="attributes",
        max_len={"customer_id": 128, "gender": 32, "city": 128, "country": 64, "timezone": 64, "language": 16},
    ),
    "products": EntitySpec(
        name="products",
        table="products",
        columns={
            "product_id": "id", "title": "text", "description": "text", "category": "str", "brand": "str",
            "price": "float", "in_stock": "bool", "created_at": "ts",
        },
        required=("product_id",),
        key=("product_id",),
        extras="attributes",
        max_len={"product_id": 128, "category": 256, "brand": 256},
        bounds={"price": (0.0, None)},
    ),
    "events": EntitySpec(
        name="events",
        table="events",
        columns={
            "event_id": "str", "customer_id": "id", "product_id": "str", "event_type": "etype", "timestamp": "ts",
            "value": "float", "quantity": "float", "revenue": "float", "channel": "str", "session_id": "str",
        },
        required=("customer_id", "event_type", "timestamp"),
        key=("event_id",),
        extras="context",
        renames={"timestamp": "ts"},
        max_len={"event_id": 128, "customer_id": 128, "product_id": 128, "event_type": 64, "channel": 64, "session_id": 128},
        # refunds: see NEGATIVE_OK_TYPES; the API's fast path (api/eventbatch) applies the same rule
        bounds={"value": (0.0, None), "quantity": (0.0, None), "revenue": (0.0, None)},
    ),
    "reviews": EntitySpec(
        name="reviews",
        table="reviews",
        columns={
            "review_id": "id", "customer_id": "id", "product_id": "id", "rating": "float", "text": "text",
            "lang": "str", "timestamp": "ts",
        },
        required=("customer_id", "product_id"),  # a missing review_id is derived from the review's content
        key=("review_id",),
        renames={"timestamp": "ts"},
        max_len={"review_id": 128, "customer_id": 128, "product_id": 128, "lang": 16},
        bounds={"rating": (1.0, 5.0)},  # RATING_SCALE
    ),
    "consents": EntitySpec(
        name="consents",
        table="consents",
        columns={
            "customer_id": "id", "channel": "str", "purpose": "str", "granted": "bool", "timestamp": "ts", "source": "str",
        },
        required=("customer_id", "channel", "purpose", "granted"),
        key=("row_hash",),
        renames={"timestamp": "ts"},
        max_len={"customer_id": 128, "channel": 32, "purpose": 64, "source": 128},
    ),
}

# Event types Persona knows; others are kept as they are (lower-cased, spaces -> underscores).
KNOWN_EVENT_TYPES = (
    "view", "click", "add_to_cart", "remove_from_cart", "purchase", "refund", "rating", "wishlist", "search",
    "email_open", "email_click", "email_unsubscribe", "conversion",
)


#: a review's rating is 1 to 5 stars: the profiles map it onto sentiment as (rating - 3) / 2 and the text stage reads
#: 1-2 stars as negative, 4-5 as positive; a rating outside it (0, 7, -1, a 1-10 or 0-100 scale) is quarantined
RATING_SCALE = (1.0, 5.0)
#: known event types whose value, quantity and revenue may be negative: a refund returns money (and goods), a removal
#: from the cart may be written as a negative quantity. Types Persona does not use (an export's ``adjustment``,
#: ``fee``, ``discount``) are stored as written and their amounts are not judged: Persona reads no meaning into them.
NEGATIVE_OK_TYPES = ("refund", "remove_from_cart")


def range_reasons(spec: EntitySpec, frame: Any) -> Any:
    """Why each row of a coerced chunk (numbers as floats, event types normalised) is out of range, else None.

    A price below zero is refused, and so is a value, quantity or revenue below zero on an event of a known type other
    than :data:`NEGATIVE_OK_TYPES` (a purchase of -3 items for -50 is no sale; a refund of -50 is); a rating outside
    :data:`RATING_SCALE` is refused. Missing values are not judged here.

    Returns:
        An object Series aligned with ``frame``: the first range problem of each row, None where all are in range.
    """
    import numpy as np
    import pandas as pd

    reasons = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    if "event_type" in frame.columns:  # only the types Persona reads as sales or interactions must be non-negative
        judged = frame["event_type"].isin([t for t in KNOWN_EVENT_TYPES if t not in NEGATIVE_OK_TYPES])
        negative_ok = ~judged.fillna(False).to_numpy(dtype=bool)
    else:
        negative_ok = np.zeros(len(frame), dtype=bool)
    for col, (low, high) in spec.bounds.items():
        if col not in frame.columns:
            continue
        num = pd.to_numeric(frame[col], errors="coerce").astype("float64")
        present = num.notna().to_numpy(dtype=bool)
        v = num.to_numpy(dtype="float64", na_value=np.nan)
        below = present & (v < low) if low is not None else np.zeros(len(frame), dtype=bool)
        above = present & (v > high) if high is not None else np.zeros(len(frame), dtype=bool)
        if low == 0.0 and spec.name == "events":
            below &= ~negative_ok
        bad = (below | above) & reasons.isna().to_numpy(dtype=bool)
        if not bad.any():
            continue
        if high is None:
            scope = "must not be negative" + (" on a " + frame["event_type"][bad].astype(str) + " event"
                                              if "event_type" in frame.columns else "")
        else:
            scope = f"out of range {low:g}-{high:g}"
        shown = num[bad].map(lambda x: f"{x:g}")
        reasons[bad] = f"{col} " + scope + ": " + shown
    return reasons


def get_spec(entity: str) -> EntitySpec:
    """The spec of ``entity``.

    Raises:
        InputError: unknown entity, listing the known ones.
    """
    from persona.errors import InputError

    try:
        return SPECS[entity]
    except KeyError:
        raise InputError(f"unknown entity {entity!r}", hint=f"use one of: {', '.join(ENTITY_ORDER)}") from None
