"""Writing and reading the stored per-customer predictions (the models that made them are in :mod:`persona.registry`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select

from persona.privacy.tombstones import live_rows
from persona.store import Store
from persona.store.models import Prediction


def save_predictions(store: Store, name: str, values: pd.Series, details: list[dict[str, Any]] | None = None, model_version: int | None = None) -> int:
    """Replace every stored prediction called ``name`` with ``values`` (indexed by customer id).

    ``details`` (one per value) are stored as JSON by the store's encoder (:mod:`persona.jsonvalues`): numpy numbers
    as numbers, NaN as null. ``model_version`` is the :mod:`persona.registry` version of ``name`` that made them.
    Customers erased by then get none (:func:`persona.privacy.tombstones.live_rows`); returns how many were written.
    """
    now = datetime.now(UTC)
    rows = [
        {"customer_id": str(cid), "name": name, "value": None if pd.isna(v) else float(v),
         "details": details[i] if details is not None else None, "model_version": model_version, "updated_at": now}
        for i, (cid, v) in enumerate(values.items())
    ]
    with store.session() as s:
        rows = live_rows(s, rows)
        s.execute(delete(Prediction).where(Prediction.name == name))
        for i in range(0, len(rows), 5000):
            s.execute(insert(Prediction), rows[i : i + 5000])
    return len(rows)


def read_predictions(store: Store, name: str, top: int | None = None) -> pd.DataFrame:
    """Stored predictions called ``name``, highest value first (missing values last, on every database)."""
    q = (select(Prediction.customer_id, Prediction.value, Prediction.details).where(Prediction.name == name)
         .order_by(Prediction.value.desc().nulls_last(), Prediction.customer_id))
    if top:
        q = q.limit(top)
    with store.session() as s:
        rows = s.execute(q).all()
    return pd.DataFrame(rows, columns=["customer_id", "value", "details"])
