"""Orders (baskets) from purchase events: the items bought together by one customer in one session or day.

An order is the set of products of one customer's purchase events that share a ``session_id``; events
without a session are grouped by customer and calendar day (UTC). ``by="day"`` ignores sessions.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from persona.errors import InputError, SchemaError

PURCHASES_SQL = (
    "SELECT customer_id, product_id, session_id, ts FROM events "
    "WHERE event_type = 'purchase' AND product_id IS NOT NULL"
)


def check_basket_input(columns: Any, by: str) -> None:
    """Refuse an unknown grouping or purchase events without the columns baskets need.

    Raises:
        InputError: unknown ``by``. SchemaError: a required column is missing.
    """
    if by not in ("session", "day"):
        raise InputError(f"by={by!r} is not a basket grouping", hint="use 'session' or 'day'")
    missing = [c for c in ("customer_id", "product_id", "ts") if c not in list(columns)]
    if missing:
        raise SchemaError(f"purchase events lack column(s) {missing}", hint="read them with PURCHASES_SQL")


def baskets_from_events(events: pd.DataFrame, *, by: str = "session") -> list[list[str]]:
    """Group purchase events into baskets of distinct product ids.

    Args:
        events: rows with ``customer_id``, ``product_id``, ``ts`` and optionally ``session_id``.
        by: ``"session"`` (session id, else customer + day) or ``"day"`` (customer + day).

    Returns:
        One list of product ids per order (orders with one product included; they count in the support).

    Raises:
        InputError: unknown ``by``. SchemaError: a required column is missing.
    """
    check_basket_input(events.columns, by)
    ev = events.dropna(subset=["product_id"])
    day = pd.to_datetime(ev["ts"], utc=True).dt.strftime("%Y-%m-%d")
    key = ev["customer_id"].astype(str) + "|" + day
    if by == "session" and "session_id" in ev.columns:
        sess = ev["session_id"]
        key = key.where(sess.isna(), ev["customer_id"].astype(str) + "|s|" + sess.astype(str))
    frame = pd.DataFrame({"order": key.to_numpy(), "product_id": ev["product_id"].astype(str).to_numpy()}).drop_duplicates()
    return frame.groupby("order", sort=False)["product_id"].agg(list).tolist()


def baskets_from_store(store: Any, *, by: str = "session") -> list[list[str]]:
    """Baskets of the workspace's purchase events (see :func:`baskets_from_events`)."""
    return baskets_from_events(store.read_frame(PURCHASES_SQL), by=by)
