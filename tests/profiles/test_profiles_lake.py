"""``persona profiles build --lake DIR``: profiles from a data lake's Parquet files instead of the store's events."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from persona.cli.main import app
from persona.config import load_settings
from persona.profiles.features import compute_features
from persona.profiles.source import ShopData


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """The demo shop as a lake: events as a folder of two Parquet files, the rest as single files."""
    from persona.demo import generate_shop

    files = generate_shop(tmp_path_factory.mktemp("demo"), customers=200, products=60, days=90, seed=4)
    root = tmp_path_factory.mktemp("lake")
    events = pd.read_csv(files["events"])
    (root / "events").mkdir()
    half = len(events) // 2
    events.iloc[:half].to_parquet(root / "events" / "part-0.parquet")
    events.iloc[half:].to_parquet(root / "events" / "part-1.parquet")
    for name in ("products", "customers", "reviews"):
        pd.read_csv(files[name]).to_parquet(root / f"{name}.parquet")
    data = ShopData(events=events, customers=pd.read_csv(files["customers"]), products=pd.read_csv(files["products"]),
                    reviews=pd.read_csv(files["reviews"]))
    return root, data


def _workspace(tmp_path, monkeypatch, engine="local"):
    from persona.store.workspace import init_workspace

    monkeypatch.setenv("PERSONA_ENGINE", engine)
    settings = load_settings(tmp_path / f"ws-{engine}", progress=False)
    init_workspace(settings)
    return settings


def test_build_from_a_lake_stores_every_customers_profile(lake, tmp_path, monkeypatch):
    root, data = lake
    settings = _workspace(tmp_path, monkeypatch)
    res = CliRunner().invoke(app, ["profiles", "build", "--lake", str(root), "--workspace", str(settings.workspace), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    expected = compute_features(data, data.last_event_ts)
    assert out["mode"] == "full" and out["engine"] == "local" and out["profiles"] == len(expected) > 150
    from persona.profiles import read_profiles
    from persona.store import open_store

    store = open_store(settings)
    stored = read_profiles(store).sort_index()
    store.dispose()
    pd.testing.assert_series_equal(stored["monetary"].astype(float), expected["monetary"], check_names=False, rtol=1e-9)


def test_a_lake_without_products_is_refused(lake, tmp_path, monkeypatch):
    root, _ = lake
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "events").symlink_to(root / "events")
    settings = _workspace(tmp_path, monkeypatch)
    res = CliRunner().invoke(app, ["profiles", "build", "--lake", str(bare), "--workspace", str(settings.workspace)])
    assert res.exit_code == 2 and "no products Parquet data" in res.output


def test_a_lake_events_file_without_timestamps_is_refused(lake, tmp_path, monkeypatch):
    root, data = lake
    bad = tmp_path / "bad"
    bad.mkdir()
    data.events.drop(columns=["ts"]).to_parquet(bad / "events.parquet")
    (bad / "products.parquet").symlink_to(root / "products.parquet")
    settings = _workspace(tmp_path, monkeypatch)
    res = CliRunner().invoke(app, ["profiles", "build", "--lake", str(bad), "--workspace", str(settings.workspace)])
    assert res.exit_code == 2 and "lacks column(s) ['ts']" in res.output


def test_a_lake_that_is_not_a_folder_is_refused(lake, tmp_path, monkeypatch):
    root, _ = lake
    settings = _workspace(tmp_path, monkeypatch)
    for bad in (tmp_path / "nowhere", root / "products.parquet"):
        res = CliRunner().invoke(app, ["profiles", "build", "--lake", str(bad), "--workspace", str(settings.workspace)])
        assert res.exit_code == 2 and "is not a folder" in res.output, res.output
    from persona.store import open_store

    store = open_store(settings)
    assert store.count("profiles") == 0  # nothing half-written
    store.dispose()
