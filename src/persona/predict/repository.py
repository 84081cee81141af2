"""Writing predictions and registering the models that made them."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, insert, select

from persona.store import Store
from persona.store.models import ModelVersion, Prediction


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if hasattr(v, "item"):
        return _clean(v.item())
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def register_model(store: Store, name: str, kind: str, params: dict[str, Any], metrics: dict[str, Any], model: Any = None) -> int:
    """Add a version of ``name`` to the model registry (saving the model under the models folder); returns it."""
    with store.session() as s:
        version = int(s.execute(select(func.coalesce(func.max(ModelVersion.version), 0)).where(ModelVersion.name == name)).scalar_one()) + 1
        path = None
        if model is not None and hasattr(model, "save"):
            path = str(model.save(store.settings.models_dir / f"{name}-v{version}.joblib"))
        s.execute(insert(ModelVersion), [{
            "name": name, "version": version, "kind": kind, "params": _clean(params), "metrics": _clean(metrics),
            "artifact_path": path, "status": "active", "created_at": datetime.now(UTC),
        }])
    return version


def save_predictions(store: Store, name: str, values: pd.Series, details: list[dict[str, Any]] | None = None, model_version: int | None = None) -> int:
    """Replace every stored prediction called ``name`` with ``values`` (indexed by customer id)."""
    now = datetime.now(UTC)
    rows = [
        {"customer_id": str(cid), "name": name, "value": None if pd.isna(v) else float(v),
         "details": _clean(details[i]) if details is not None else None, "model_version": model_version, "updated_at": now}
        for i, (cid, v) in enumerate(values.items())
    ]
    with store.session() as s:
        s.execute(delete(Prediction).where(Prediction.name == name))
        for i in range(0, len(rows), 5000):
            s.execute(insert(Prediction), rows[i : i + 5000])
    return len(rows)


def read_predictions(store: Store, name: str, top: int | None = None) -> pd.DataFrame:
    """Stored predictions called ``name``, highest value first."""
    q = select(Prediction.customer_id, Prediction.value, Prediction.details).where(Prediction.name == name).order_by(Prediction.value.desc())
    if top:
        q = q.limit(top)
    with store.session() as s:
        rows = s.execute(q).all()
    return pd.DataFrame(rows, columns=["customer_id", "value", "details"])
