"""Erased customers stay erased: the one filter every reader and writer of per-customer data applies.

Erasure deletes a customer's rows from :data:`persona.privacy.scope.ERASED_TABLES` and keeps a tombstone (the
``customers`` row with ``erased_at`` set). A tombstone is still a customer row, and a build that reads everything
would describe it again (a profile of a customer with no events, a churn score, a segment), so:

* readers that build per-customer output from the store (profiles on either engine, predictions, CLV and next
  purchase, the recommender's data, fairness groups, the campaign audience, the dashboard) leave erased customers
  out: the ``customers`` query asks for :data:`NOT_ERASED`, the other frames go through :func:`without_erased`;
* writers of per-customer tables (profiles, segment memberships, predictions, experiment exposures) drop the rows
  of customers erased by the time they write (:func:`live_rows`, in the writing transaction), so a build that read
  the store before an erasure, or read a data lake the erasure cannot reach, does not bring them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import select

from persona.privacy.scope import ERASED_CUSTOMER_COLUMNS

#: SQL condition on ``customers``: the customer was not erased
NOT_ERASED = "erased_at IS NULL"
#: SQL: the ids of erased customers
ERASED_IDS_SQL = "SELECT customer_id FROM customers WHERE erased_at IS NOT NULL"


def tombstone_holds_sql() -> str:
    """SQL condition on ``customers`` that is true where the row holds a value in a column erasure blanks
    (:data:`~persona.privacy.scope.ERASED_CUSTOMER_COLUMNS`): on a tombstone, what is left to finish."""
    return " OR ".join(_holds_value(c) for c in ERASED_CUSTOMER_COLUMNS)


def _holds_value(column: str) -> str:
    """SQL that is true where ``customers.<column>`` holds a value (a JSON column's ``null`` holds none: erasure
    writes that)."""
    from sqlalchemy import JSON

    from persona.store.models import TABLES

    if isinstance(TABLES["customers"].c[column].type, JSON):
        return f"({column} IS NOT NULL AND CAST({column} AS TEXT) <> 'null')"
    return f"{column} IS NOT NULL"


def erased_customers(store: Any) -> frozenset[str]:
    """The ids of erased customers (their tombstones keep the id): what no load, build or send may bring back."""
    return frozenset(store.read_frame(ERASED_IDS_SQL)["customer_id"].astype(str))


def without_erased(frame: pd.DataFrame, erased: Iterable[str], column: str = "customer_id") -> pd.DataFrame:
    """``frame`` without the rows whose ``column`` names an erased customer (the same frame when none does)."""
    erased = erased if isinstance(erased, frozenset | set) else frozenset(erased)
    if not erased or frame.empty or column not in frame.columns:
        return frame
    ids = frame[column]
    text = pd.api.types.is_object_dtype(ids) or pd.api.types.is_string_dtype(ids)
    gone = (ids if text else ids.astype(str)).isin(erased)  # ids compare as text (a lake may hold numbers)
    return frame[~gone.to_numpy(dtype=bool)] if gone.any() else frame


def live_rows(session: Any, rows: Sequence[dict[str, Any]], column: str = "customer_id") -> list[dict[str, Any]]:
    """The ``rows`` about to be written whose customer is not erased, read in the writing ``session`` (so that an
    erasure committed while a build ran is honoured by its write)."""
    if not rows:
        return list(rows)
    from persona.store.models import Customer

    erased = set(session.scalars(select(Customer.customer_id).where(Customer.erased_at.is_not(None))))
    if not erased:
        return list(rows)
    return [r for r in rows if str(r[column]) not in erased]
