"""Segments stored and read back (ids stable across rebuilds through the store), and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from persona.errors import NotFoundError
from persona.segments import get_segment, list_segments, save_segmentation, segment_profiles
from persona.segments.service import previous_centroids
from persona.store import Store


def profiles(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat([0, 1, 2], n // 3)
    return pd.DataFrame({
        "frequency": np.array([25.0, 1.0, 5.0])[g] * rng.uniform(0.9, 1.1, len(g)),
        "monetary": np.array([2500.0, 15.0, 250.0])[g] * rng.uniform(0.9, 1.1, len(g)),
        "recency_days": np.array([3.0, 250.0, 40.0])[g] * rng.uniform(0.9, 1.1, len(g)),
        "tenure_days": rng.uniform(100, 900, len(g)),
    }, index=[f"c{i:03d}" for i in range(len(g))])


def test_save_list_show_and_stable_ids_through_the_store(any_store: Store) -> None:
    p = profiles()
    first = segment_profiles(p, "kmeans", seed=0)
    save_segmentation(any_store, first)
    save_segmentation(any_store, segment_profiles(p, "rfm", seed=0))
    rows = list_segments(any_store)
    assert {r["method"] for r in rows} == {"kmeans", "rfm"}
    assert sum(r["size"] for r in rows if r["method"] == "kmeans") == len(p)
    members = any_store.read_frame("SELECT customer_id, segment_id FROM segment_memberships WHERE method = 'kmeans'")
    assert len(members) == len(p)
    prev = previous_centroids(any_store)
    assert set(prev) == set(first.labels)
    again = segment_profiles(p.sample(frac=1, random_state=3), "kmeans", seed=5, previous=prev)
    assert (again.labels.reindex(p.index) == first.labels).mean() > 0.99
    seg_id = first.labels.iloc[0]
    shown = get_segment(any_store, f"kmeans:{seg_id}")
    assert shown["size"] == int((first.labels == seg_id).sum()) and shown["rule"]["rule"]
    assert "centroid" not in shown
    assert get_segment(any_store, "champions")["method"] == "rfm"
    with pytest.raises(NotFoundError, match="not a stored segment"):
        get_segment(any_store, "rfm:nope")


def test_cli_segments(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from persona.cli.main import app
    from persona.config import load_settings
    from persona.profiles.repository import write_profiles

    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    ws = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--workspace", str(ws)]).exit_code == 0
    store = Store(load_settings(ws))
    write_profiles(store, profiles().assign(embedding=[[0.0]] * 300), watermark=0)
    store.dispose()
    for method in ("rfm", "kmeans", "dbscan"):
        res = runner.invoke(app, ["segments", "build", "--method", method, "--workspace", str(ws), "--json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert out["customers"] == 300 and sum(s["size"] for s in out["segments"]) == 300
    res = runner.invoke(app, ["segments", "list", "--workspace", str(ws), "--json"])
    assert {r["method"] for r in json.loads(res.stdout)} == {"rfm", "kmeans", "dbscan"}
    res = runner.invoke(app, ["segments", "show", "rfm:champions", "--workspace", str(ws)])
    assert res.exit_code == 0 and "Champions" in res.stdout
    res = runner.invoke(app, ["segments", "build", "--method", "ward", "--workspace", str(ws)])
    assert res.exit_code != 0
