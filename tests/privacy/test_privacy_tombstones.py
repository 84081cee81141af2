"""Erased customers stay erased: no build of per-customer output (profiles on either engine's reader, segments,
predictions, CLV, exposures, the recommender's data) describes a tombstone again, whether it reads the store, a
data lake the erasure cannot reach, or a shop it read before the erasure committed; and ``persona run`` after an
erasure leaves the privacy report's erasure check clean."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from shop_fixtures import NOW, seed_shop
from typer.testing import CliRunner

from persona.cli.main import app
from persona.privacy.gdpr import erase_customer
from persona.privacy.report import privacy_report
from persona.privacy.scope import ERASED_TABLES
from persona.privacy.tombstones import erased_customers, without_erased
from persona.profiles import build_and_store, load_shop

GONE = "c00003"


def _rows_of(store, cid: str) -> dict[str, int]:  # noqa: ANN001
    out = {t: int(store.read_frame(f"SELECT COUNT(*) AS n FROM {t} WHERE customer_id = :c", {"c": cid})["n"].iloc[0])  # noqa: S608
           for t in ERASED_TABLES}
    return {t: n for t, n in out.items() if n}


@pytest.fixture
def erased_shop(any_store):  # noqa: ANN001, ANN201
    """12 customers with a purchase each (SQLite and PostgreSQL), profiles built, then c00003 erased."""
    from persona.privacy.crypto import create_key_file

    settings = any_store.settings
    create_key_file(settings.key_path)
    seed_shop(any_store, settings, 12)
    build_and_store(any_store, full=True)
    assert any_store.count("profiles") == 12
    erase_customer(any_store, settings, GONE)
    return any_store, settings


def test_a_full_profile_rebuild_leaves_an_erased_customer_out(erased_shop) -> None:  # noqa: ANN001
    store, settings = erased_shop
    out = build_and_store(store, full=True)
    assert (out["rebuilt"], out["profiles"]) == (11, 11)
    assert _rows_of(store, GONE) == {}
    assert privacy_report(store, settings)["erasure"]["rows_left"] == {}
    data = load_shop(store)
    assert GONE not in set(data.customers["customer_id"]) and erased_customers(store) == {GONE}


def test_rows_of_an_erased_customer_left_in_the_store_are_not_read(erased_shop) -> None:  # noqa: ANN001
    """A late event (written by a process that had not seen the erasure) feeds no profile, purchase log or recommender."""
    from persona.data.interactions import Interactions, read_customers
    from persona.predict.clv_purchases import load_purchases

    store, _ = erased_shop
    store.bulk_insert("events", [{"event_id": "late", "customer_id": GONE, "product_id": "p1", "event_type": "purchase",
                                  "ts": NOW, "revenue": 5.0, "quantity": 1.0}])
    assert GONE not in set(load_shop(store).events["customer_id"])
    assert GONE not in set(load_shop(store, [GONE, "c00001"]).events["customer_id"])
    assert GONE not in set(load_purchases(store)["customer_id"])
    inter = Interactions.from_store(store)
    assert GONE not in set(map(str, inter.user_ids)) and GONE not in set(read_customers(store)["customer_id"])
    build_and_store(store, full=True)
    assert _rows_of(store, GONE) == {"events": 1}  # the event itself is for `persona privacy erase` to remove


def test_a_build_that_read_the_shop_before_the_erasure_writes_nothing_for_the_person(any_store) -> None:  # noqa: ANN001
    """Profiles, predictions, segments and exposures are written without the rows of customers erased meanwhile."""
    from persona.experiments.assignment import ExperimentSpec, log_exposure
    from persona.predict.repository import save_predictions
    from persona.privacy.crypto import create_key_file
    from persona.profiles import read_profiles
    from persona.segments.service import save_segmentation, segment_profiles

    settings = any_store.settings
    create_key_file(settings.key_path)
    ids = seed_shop(any_store, settings, 12)
    data = load_shop(any_store)  # read before the erasure
    build_and_store(any_store, full=True, data=data)
    profiles = read_profiles(any_store)
    erase_customer(any_store, settings, GONE)
    assert build_and_store(any_store, full=True, data=data)["profiles"] == 11
    assert save_predictions(any_store, "churn_probability", pd.Series(0.5, index=ids)) == 11
    save_segmentation(any_store, segment_profiles(profiles, "rfm", seed=1))
    spec = ExperimentSpec(name="subject", variants={"a": 0.5, "b": 0.5})
    assert log_exposure(any_store, spec, pd.Series("a", index=ids)) == 11
    assert _rows_of(any_store, GONE) == {}
    assert GONE not in set(read_profiles(any_store).index) and len(read_profiles(any_store)) == 11
    assert privacy_report(any_store, settings)["erasure"]["complete"] is True


def test_a_lake_build_leaves_customers_erased_in_the_workspace_out(workspace_shop, tmp_path) -> None:  # noqa: ANN001
    """`persona profiles build --lake`: the lake is the shop's (erasure cannot reach it), the workspace's tombstones
    still keep the person out of the profiles it writes."""
    store, settings = workspace_shop
    ids = seed_shop(store, settings, 12)
    lake = tmp_path / "lake"
    lake.mkdir()
    data = load_shop(store)
    data.events.rename(columns={"ts": "timestamp"}).to_parquet(lake / "events.parquet")
    data.products.to_parquet(lake / "products.parquet")
    data.customers.to_parquet(lake / "customers.parquet")
    erase_customer(store, settings, GONE)
    r = CliRunner().invoke(app, ["profiles", "build", "--lake", str(lake), "--workspace", str(settings.workspace), "--json"],
                           env={"PERSONA_WORKSPACE": ""})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["profiles"] == len(ids) - 1
    assert _rows_of(store, GONE) == {}


def test_without_erased_keeps_frames_without_a_match_as_they_are() -> None:
    frame = pd.DataFrame({"customer_id": ["a", "b", "c"], "v": [1, 2, 3]})
    assert without_erased(frame, frozenset()) is frame and without_erased(frame, {"z"}) is frame
    assert without_erased(frame, {"b", "c"})["v"].tolist() == [1]
    assert without_erased(frame.drop(columns="customer_id"), {"a"}).shape == (3, 1)
    lake = pd.DataFrame({"customer_id": [1, 2, 3], "v": [1, 2, 3]})  # a lake's numeric ids compare as text
    assert without_erased(lake, ["3"])["v"].tolist() == [1, 2]


@pytest.mark.slow
def test_persona_run_after_an_erasure_writes_no_row_for_the_person(tmp_path: Path) -> None:
    """End to end: load a demo shop, erase the customer who bought most, run every stage again on the same files;
    no per-customer table gets a row for them and the privacy report (and the run's privacy stage) finds nothing."""
    runner = CliRunner()
    env = {"PERSONA_WORKSPACE": ""}
    shop, ws = tmp_path / "shop", tmp_path / "ws"
    r = runner.invoke(app, ["demo", "generate", "--customers", "400", "--products", "120", "--days", "150", "--seed", "7",
                            "--out", str(shop), "--json"], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["run", "--data", str(shop), "--workspace", str(ws), "--only", "ingest", "--no-progress", "--json"],
                      env=env)
    assert r.exit_code == 0, r.output

    from persona.config import load_settings
    from persona.store import open_store

    settings = load_settings(ws, progress=False)
    store = open_store(settings)
    try:
        gone = str(store.read_frame("SELECT customer_id FROM events WHERE event_type = 'purchase' GROUP BY customer_id "
                                    "ORDER BY COUNT(*) DESC, customer_id LIMIT 1")["customer_id"].iloc[0])
    finally:
        store.dispose()
    r = runner.invoke(app, ["privacy", "erase", gone, "--yes", "--workspace", str(ws), "--json"], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["run", "--data", str(shop), "--workspace", str(ws), "--skip", "demo", "--no-progress", "--json"],
                      env=env)
    stages = json.loads(r.stdout)["stages"]
    for name in ("ingest", "profiles", "segments", "predict", "clv", "campaigns", "experiments", "privacy"):
        assert stages[name]["status"] == "ok", (name, stages[name]["message"])
    assert stages["privacy"]["figures"]["erasure_complete"] is True
    store = open_store(settings)
    try:
        assert store.count("profiles") > 300 and store.count("predictions") > 300 and store.count("messages") > 100
        assert _rows_of(store, gone) == {}
        erasure = privacy_report(store, settings)["erasure"]
        assert erasure["rows_left"] == {} and erasure["complete"] is True
    finally:
        store.dispose()
