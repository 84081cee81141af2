"""Large event loads into PostgreSQL: new rows take the direct COPY; overlapping ones fall back without loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from persona.config import load_settings
from persona.ingest.runner import ingest_file
from persona.store import open_store
from persona.store.workspace import init_workspace


@pytest.mark.postgres
def test_overlapping_loads_count_every_row_once(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    settings = load_settings(tmp_path / "ws", database_url=pg_url, progress=False, chunk_size=5_000)
    init_workspace(settings)
    store = open_store(settings)
    rng = np.random.default_rng(0)

    def write(name: str, ids: range) -> Path:
        n = len(ids)
        df = pd.DataFrame({"event_id": [f"e{i}" for i in ids], "customer_id": rng.integers(0, 300, n).astype(str),
                           "product_id": rng.integers(0, 100, n).astype(str), "event_type": "view",
                           "timestamp": 1_700_000_000 + np.arange(n)})
        p = tmp_path / name
        df.to_csv(p, index=False)
        return p

    first = ingest_file(store, "events", write("a.csv", range(0, 12_000)))
    assert (first.accepted, first.duplicates) == (12_000, 0)
    second = ingest_file(store, "events", write("b.csv", range(9_000, 21_000)))  # 3,000 already stored
    assert (second.read, second.accepted, second.duplicates, second.rejected) == (12_000, 9_000, 3_000, 0)
    assert store.count("events") == 21_000
    store.dispose()
