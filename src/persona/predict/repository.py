"""Writing and reading the stored per-customer predictions (the models that made them are in :mod:`persona.registry`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select

from persona.privacy.tombstones import live_rows
from persona.store import Store
from persona.store.models import Prediction

#: the predictions the registry model ``clv`` writes: ``clv_12m`` (or ``clv_<DAYS>d``) and these two; every other
#: model's predictions are named after the model (``churn_probability``, ``propensity_<category>``, ``predicted_spend``)
CLV_PREDICTIONS = ("p_alive", "expected_purchases_90d")
_CLV = re.compile(r"clv_(12m|\d+d)")


def made_by(prediction: str) -> str:
    """The registry name of the model whose version a stored prediction called ``prediction`` records."""
    return "clv" if prediction in CLV_PREDICTIONS or _CLV.fullmatch(prediction) else prediction


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
