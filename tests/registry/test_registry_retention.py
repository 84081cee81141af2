"""Model retention: prune keeps the newest versions and every one still in use, keeps the rows of the others as their
record, and is safe beside registrations, promotions and loads of the same name."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import persona.registry.models as models
import persona.registry.retention as retention
from persona.config import load_settings
from persona.errors import InputError, NotFoundError, PrunedError, StoreError
from persona.registry import get_version, list_models, load, promote, prune, register, rollback
from persona.store import Store


def _folders(store: Store, name: str) -> list[str]:
    root = Path(store.settings.models_dir) / name
    return sorted((p.name for p in root.iterdir()), key=lambda n: (len(n), n)) if root.exists() else []


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _eight_versions(store: Store, name: str = "reco") -> None:
    """v1..v8; v2 was in production before v5 (so v5 is active and v2 the rollback target)."""
    for i in range(1, 9):
        register(store, name, "recommender", {"w": i, "pad": "x" * (100 * i)}, {"algorithm": "ease"}, {"ndcg@10": i / 10})
    promote(store, name, 2)
    promote(store, name, 5)


def test_keeps_the_newest_the_production_version_and_the_rollback_target(any_store):
    _eight_versions(any_store)
    root = Path(any_store.settings.models_dir) / "reco"
    sizes = {v: _size(root / f"v{v}") for v in range(1, 9)}
    report = prune(any_store, "reco", keep=2)
    assert not report.dry_run and [v.version for v in report.pruned] == [1, 3, 4, 6]
    plan = report.models[0]
    why = {v.version: v.why for v in plan.kept}
    assert set(why) == {2, 5, 7, 8}
    assert why[5] == ("in production (active)",) and why[2] == ("rollback target",)
    assert why[7] == why[8] == ("one of the 2 newest",)
    assert report.freed_bytes == sum(sizes[v] for v in (1, 3, 4, 6)) > 0
    assert {v.version: v.bytes for v in report.pruned} == {v: sizes[v] for v in (1, 3, 4, 6)}
    assert _folders(any_store, "reco") == ["v2", "v5", "v7", "v8"]  # nothing else left behind
    listed = list_models(any_store, "reco")  # every row stays: the history and its metrics
    assert [(m.version, m.status) for m in listed] == [(1, "pruned"), (2, "retired"), (3, "pruned"), (4, "pruned"),
                                                        (5, "active"), (6, "pruned"), (7, "candidate"), (8, "candidate")]
    assert all(m.pruned_at is not None for m in listed if m.pruned) and listed[0].metrics == {"ndcg@10": 0.1}
    assert listed[0].to_dict()["pruned_at"] and listed[1].to_dict()["pruned_at"] is None
    assert load(any_store, "reco")["w"] == 5 and load(any_store, "reco", 2)["w"] == 2
    again = prune(any_store, "reco", keep=2)  # nothing more to do
    assert again.pruned == [] and again.freed_bytes == 0
    assert register(any_store, "reco", "recommender", {"w": 9}).version == 9  # numbers are never reused


def test_a_dry_run_changes_nothing_and_reports_the_plan_the_prune_then_carries_out(any_store):
    _eight_versions(any_store)
    before = [(m.version, m.status) for m in list_models(any_store, "reco")]
    plan = prune(any_store, "reco", keep=3, dry_run=True)
    assert plan.dry_run and [v.version for v in plan.pruned] == [1, 3, 4]
    assert [(m.version, m.status) for m in list_models(any_store, "reco")] == before
    assert _folders(any_store, "reco") == [f"v{v}" for v in range(1, 9)]
    done = prune(any_store, "reco", keep=3)
    assert [v.to_dict() for v in done.models[0].versions] == [v.to_dict() for v in plan.models[0].versions]
    assert done.freed_bytes == plan.freed_bytes > 0
    assert plan.to_dict() == {**done.to_dict(), "dry_run": True}


def test_a_pruned_version_cannot_be_loaded_or_promoted_and_the_error_names_those_that_can(any_store):
    _eight_versions(any_store)
    prune(any_store, "reco", keep=2)
    with pytest.raises(PrunedError, match=r"cannot load model 'reco' v3: it was pruned on \d{4}-") as info:
        load(any_store, "reco", 3)
    assert info.value.hint == "loadable versions of 'reco': [2, 5, 7, 8]; use one of them, or train a new version"
    assert info.value.http_status == 410 and info.value.exit_code == 3 and isinstance(info.value, NotFoundError)
    with pytest.raises(PrunedError, match="cannot promote model 'reco' v1: it was pruned"):
        promote(any_store, "reco", 1)
    assert get_version(any_store, "reco").version == 5  # the failed promotion changed nothing
    assert get_version(any_store, "reco", 3).status == "pruned"  # the record is still there to read
    assert rollback(any_store, "reco").version == 2  # v2 was kept for this
    assert rollback(any_store, "reco").version == 5  # v1, v3 and v4 are gone: back to the other one in use


def test_rollback_never_returns_to_a_pruned_version(store):
    for i in range(1, 5):
        register(store, "m", "x", {"w": i}, activate=True)  # v4 active, v1-v3 retired
    prune(store, "m", keep=1)  # keeps v4 (newest, active) and v3 (rollback target)
    assert [m.status for m in list_models(store, "m")] == ["pruned", "pruned", "retired", "active"]
    assert rollback(store, "m").version == 3
    assert rollback(store, "m").version == 4  # v2 (retired, below v3) was pruned: the other retired one instead


def test_versions_that_experiments_predictions_or_recent_interleaving_name_are_kept(any_store):
    from persona.experiments.assignment import ExperimentSpec, save_experiment
    from persona.predict.repository import save_predictions

    pd = pytest.importorskip("pandas")
    for i in range(1, 9):
        register(any_store, "reco", "recommender", {"w": i})
    for i in range(1, 4):
        register(any_store, "clv", "clv", {"w": i})
    save_experiment(any_store, ExperimentSpec("ab", {"reco@2": 0.5, "reco": 0.5, "other@3": 1}))
    save_predictions(any_store, "reco", pd.Series([0.5], index=["c1"]), model_version=3)
    save_predictions(any_store, "p_alive", pd.Series([0.5], index=["c1"]), model_version=1)  # made by the model 'clv'
    now = datetime.now(UTC)
    any_store.bulk_insert("events", [
        {"event_id": "imp:1", "customer_id": "c1", "event_type": "rec_impression", "ts": now - timedelta(days=2),
         "context": {"experiment": "il", "impression_id": "1", "items": [], "teams": [], "rankers": ["reco@4", "reco@8"]}},
        {"event_id": "imp:2", "customer_id": "c1", "event_type": "rec_impression", "ts": now - timedelta(days=2),
         "context": {"experiment": "il", "impression_id": "2", "items": [], "teams": [], "rankers": ["reco@4", "reco@8"]}},
        {"event_id": "imp:3", "customer_id": "c1", "event_type": "rec_impression", "ts": now - timedelta(days=90),
         "context": {"experiment": "old", "impression_id": "3", "items": [], "teams": [], "rankers": ["reco@5", "reco@6"]}},
    ])
    report = prune(any_store, keep=1)  # every model
    by_name = {m.name: m for m in report.models}
    assert set(by_name) == {"reco", "clv"}
    kept = {v.version: v.why for v in by_name["reco"].kept}
    assert kept == {2: ("experiment 'ab'",), 3: ("predictions 'reco'",), 4: ("interleaving 'il' (last 30 days)",),
                    7: ("rollback target",), 8: ("the newest", "in production", "interleaving 'il' (last 30 days)")}
    assert [v.version for v in by_name["reco"].pruned] == [1, 5, 6]  # an interleaving test 90 days ago holds nothing
    assert {v.version: v.why for v in by_name["clv"].kept} == {
        1: ("predictions 'p_alive'",), 2: ("rollback target",), 3: ("the newest", "in production")}


def test_every_model_is_pruned_when_no_name_is_given_and_bad_input_is_refused(store):
    assert prune(store, keep=1).models == []  # nothing registered: nothing to do
    with pytest.raises(NotFoundError, match="no model named 'reco' is registered") as info:
        prune(store, "reco", keep=1)
    assert "nothing is registered yet" in info.value.hint
    for name in ("a", "b"):
        for i in range(4):
            register(store, name, "x", {"i": i})
    with pytest.raises(NotFoundError, match="no model named 'c'") as info:
        prune(store, "c", keep=1)
    assert info.value.hint == "registered: ['a', 'b']"
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(InputError, match="--keep must be a whole number of versions, at least 1"):
            prune(store, "a", keep=bad)
    report = prune(store, keep=2)
    assert [(m.name, [v.version for v in m.pruned]) for m in report.models] == [("a", [1, 2]), ("b", [1, 2])]


def test_automatic_retention_after_each_registration(settings, monkeypatch):
    monkeypatch.setenv("PERSONA_MODELS_KEEP", "2")
    kept = load_settings(settings.workspace, progress=False)
    assert kept.models_keep == 2
    kept.workspace.mkdir(parents=True, exist_ok=True)
    store = Store(kept)
    store.create_all()
    try:
        for i in range(1, 7):
            register(store, "reco", "recommender", {"w": i}, activate=i in (1, 2))
        # v2 stays active (production) and v1 is its rollback target; v5 and v6 are the newest
        assert _folders(store, "reco") == ["v1", "v2", "v5", "v6"]
        assert [m.status for m in list_models(store, "reco")] == [
            "retired", "active", "pruned", "pruned", "candidate", "candidate"]
        register(store, "reco", "recommender", {"w": 7}, activate=True)  # v2 retired: now the rollback target
        assert _folders(store, "reco") == ["v2", "v6", "v7"]
    finally:
        store.dispose()


def test_without_the_setting_nothing_is_ever_deleted(store):
    assert store.settings.models_keep is None
    for i in range(5):
        register(store, "reco", "recommender", {"w": i})
    assert _folders(store, "reco") == [f"v{v}" for v in range(1, 6)]


def test_a_failing_automatic_retention_does_not_fail_the_registration(store, monkeypatch, caplog):
    store.settings = store.settings.model_copy(update={"models_keep": 1})

    def broken(*_a, **_k):  # noqa: ANN002, ANN003, ANN202
        raise StoreError("database error: gone", hint="check that the database is reachable")

    monkeypatch.setattr(retention, "prune", broken)
    with caplog.at_level(logging.WARNING, logger="persona.registry.models"):
        mv = register(store, "reco", "recommender", {"w": 1})
    assert mv.version == 1 and load(store, "reco") == {"w": 1}
    assert "automatic retention of model name=reco keep=1 failed" in caplog.text


def test_an_artifact_left_behind_is_deleted_by_the_next_prune(store, monkeypatch):
    """The rows are committed before the files go: a deletion that fails (or a crash) leaves a folder whose row says
    pruned, which the next prune deletes."""
    for i in range(1, 5):
        register(store, "reco", "recommender", {"w": i, "pad": "y" * 500})
    size = _size(Path(store.settings.models_dir) / "reco" / "v1")

    def refused(path):  # noqa: ANN001, ANN202
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(retention, "_remove", refused)
    first = prune(store, "reco", keep=3)
    assert [v.version for v in first.pruned] == [1] and first.freed_bytes == 0
    assert list(first.errors.values()) == ["Permission denied"] and first.errors.keys() == {
        os.path.abspath(Path(store.settings.models_dir) / "reco" / "v1")}
    assert get_version(store, "reco", 1).pruned and "v1" in _folders(store, "reco")
    monkeypatch.undo()
    second = prune(store, "reco", keep=3)
    assert [(v.version, v.why, v.bytes) for v in second.pruned] == [(1, ("pruned before, artifact left behind",), size)]
    assert second.freed_bytes == size and not second.errors
    assert _folders(store, "reco") == ["v2", "v3", "v4"]


def test_only_artifacts_in_the_registrys_own_layout_are_deleted(store, tmp_path):
    from sqlalchemy import update

    from persona.persistence import save_estimator
    from persona.store.models import ModelVersion as ModelRow

    for i in range(1, 5):
        register(store, "reco", "recommender", {"w": i})
    legacy = save_estimator({"w": 0}, Path(store.settings.models_dir) / "reco-v1.joblib")  # schema 0005's layout
    elsewhere = tmp_path / "shared" / "v2"
    elsewhere.mkdir(parents=True)
    (elsewhere / "model.joblib").write_bytes(b"someone else's")
    with store.session() as s:
        s.execute(update(ModelRow).where(ModelRow.version == 1).values(artifact_path=str(legacy)))
        s.execute(update(ModelRow).where(ModelRow.version == 2).values(artifact_path=str(elsewhere)))
    report = prune(store, "reco", keep=1)
    assert [v.version for v in report.pruned] == [1, 2]
    assert not legacy.exists() and elsewhere.exists()  # a path outside the models folder is never deleted
    assert "is not in the models folder: left in place" in report.models[0].pruned[1].why[1]
    assert report.models[0].pruned[1].bytes == 0
    assert (Path(store.settings.models_dir) / "reco" / "v1").exists()  # no row names it any more: not retention's


def test_a_load_that_loses_its_artifact_to_a_prune_says_pruned_not_missing(store, monkeypatch):
    for i in range(1, 5):
        register(store, "reco", "recommender", {"w": i})
    real = models.get_version
    calls = []

    def read_then_prune(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        mv = real(*args, **kwargs)
        if not calls:  # the prune commits and deletes right after the load read the row
            calls.append(mv)
            prune(store, "reco", keep=1)
        return mv

    monkeypatch.setattr(models, "get_version", read_then_prune)
    with pytest.raises(PrunedError, match="cannot load model 'reco' v1: it was pruned"):
        load(store, "reco", 1)
    assert calls[0].status == "candidate"


def test_a_promotion_waits_for_a_prune_of_the_same_name_and_then_refuses_the_pruned_version(any_store):
    """Promotions take the name's lock, as prune does: one that starts while a prune decides sees its decision."""
    from sqlalchemy import update

    from persona.store.locks import transaction_lock
    from persona.store.models import ModelVersion as ModelRow

    for i in range(1, 5):
        register(any_store, "reco", "recommender", {"w": i})
    outcome: list[object] = []
    started = threading.Event()

    def promote_v1() -> None:
        started.set()
        try:
            outcome.append(promote(any_store, "reco", 1))
        except Exception as exc:  # noqa: BLE001 - the test reads it
            outcome.append(exc)

    with any_store.session() as s:  # a prune's transaction, holding the lock while it marks v1
        transaction_lock(s, models.lock_name("reco"))
        worker = threading.Thread(target=promote_v1)
        worker.start()
        started.wait(10)
        time.sleep(0.5)
        assert outcome == []  # waiting for the lock
        s.execute(update(ModelRow).where(ModelRow.version == 1).values(status="pruned", pruned_at=datetime.now(UTC)))
    worker.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], PrunedError), outcome
    assert [m.status for m in list_models(any_store, "reco")] == ["pruned", "candidate", "candidate", "candidate"]


def test_a_prune_waits_for_a_registration_of_the_same_name(any_store):
    """A registration holds the name's lock while it takes a version: a prune that starts meanwhile counts it."""
    from persona.store.locks import transaction_lock

    for i in range(1, 4):
        register(any_store, "reco", "recommender", {"w": i})
    outcome: list[object] = []
    with any_store.session() as s:
        transaction_lock(s, models.lock_name("reco"))
        worker = threading.Thread(target=lambda: outcome.append(prune(any_store, "reco", keep=1)))
        worker.start()
        time.sleep(0.5)
        assert outcome == []
        s.add(models.ModelRow(name="reco", version=4, kind="recommender", params={}, metrics={}, status="candidate",
                              artifact_path=None, created_at=datetime.now(UTC)))  # the registration's row
    worker.join(30)
    assert [v.version for v in outcome[0].pruned] == [1, 2]  # v4 (newest), v3 (rollback target) kept


def test_a_prune_run_from_another_directory_deletes_the_artifacts_of_any_age(tmp_path, monkeypatch):
    """Rows written now (relative to the models folder) and by older versions (relative to the directory registered
    from) are both found in the workspace's models folder, wherever the prune runs from."""
    from sqlalchemy import update

    from persona.store.models import ModelVersion as ModelRow

    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    (tmp_path / "project").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    settings = load_settings(".persona", progress=False)
    settings.workspace.mkdir()
    store = Store(settings)
    store.create_all()
    try:
        for i in range(1, 5):
            register(store, "reco", "recommender", {"w": i})
        with store.session() as s:  # as an older version wrote it
            s.execute(update(ModelRow).where(ModelRow.version == 1).values(artifact_path=".persona/models/reco/v1"))
    finally:
        store.dispose()
    monkeypatch.chdir(tmp_path / "elsewhere")
    store = Store(load_settings(tmp_path / "project" / ".persona", progress=False))
    try:
        report = prune(store, "reco", keep=1)
        assert [v.version for v in report.pruned] == [1, 2] and all(v.bytes > 0 for v in report.pruned)
        assert _folders(store, "reco") == ["v3", "v4"]
        assert load(store, "reco") == {"w": 4}
    finally:
        store.dispose()
