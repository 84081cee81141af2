"""Model registry: versions, atomic artifacts, load, promote, rollback, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from persona.errors import ConstraintError, InputError, NotFoundError, StoreError
from persona.registry import get_version, list_models, load, promote, register, rollback


def test_register_versions_and_artifacts(store):
    v1 = register(store, "reco", "recommender", {"w": [1, 2]}, {"k": 10}, {"ndcg@10": 0.4})
    v2 = register(store, "reco", "recommender", {"w": [3]}, {"k": 20}, {"ndcg@10": 0.5})
    assert (v1.version, v2.version) == (1, 2)
    assert v1.status == "candidate"
    root = Path(store.settings.models_dir) / "reco"
    assert sorted(p.name for p in root.iterdir()) == ["v1", "v2"]  # no temporary folders left behind
    assert (root / "v2" / "meta.json").is_file()
    assert [m.version for m in list_models(store, "reco")] == [1, 2]
    assert load(store, "reco") == {"w": [3]}  # none active: the latest
    assert load(store, "reco", 1) == {"w": [1, 2]}
    assert get_version(store, "reco", 1).metrics == {"ndcg@10": 0.4}


def test_promote_and_rollback(store):
    for i in range(3):
        register(store, "churn", "churn", {"i": i}, {}, {})
    promote(store, "churn", 1)
    promote(store, "churn", 3)
    statuses = {m.version: m.status for m in list_models(store, "churn")}
    assert statuses == {1: "retired", 2: "candidate", 3: "active"}
    assert load(store, "churn") == {"i": 2}
    back = rollback(store, "churn")
    assert back.version == 1 and back.status == "active"
    assert load(store, "churn") == {"i": 0}
    # rolling back again steps to the other version that was in use (v3)
    assert rollback(store, "churn").version == 3
    register(store, "solo", "x", 1, activate=True)
    with pytest.raises(NotFoundError, match="no version before"):
        rollback(store, "solo")


def test_register_activate_and_json_params(store):
    import numpy as np

    mv = register(store, "m", "recommender", [1],
                  {"lam": np.float64(2.5), "names": ("a", "b")}, {"n": np.int64(3)}, activate=True)
    assert mv.status == "active"
    assert mv.params == {"lam": 2.5, "names": ["a", "b"]} and mv.metrics == {"n": 3}
    assert mv.to_dict()["created_at"]


def test_errors(store):
    with pytest.raises(NotFoundError, match="no model named"):
        load(store, "nothing")
    register(store, "a", "x", 1)
    with pytest.raises(NotFoundError, match="has no version 7"):
        load(store, "a", 7)
    with pytest.raises(NotFoundError):
        promote(store, "a", 9)
    with pytest.raises(InputError, match="invalid model name"):
        register(store, "../evil", "x", 1)


def test_registers_a_fitted_recommender(store):
    pd = pytest.importorskip("pandas")
    from persona.data import Interactions
    from persona.recommend import make_recommender

    df = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3"], "item_id": ["a", "b", "a", "c", "b"]})
    rec = make_recommender("popular").fit(Interactions.from_frame(df))
    register(store, "recommender", "recommender", rec, rec.get_params(), {"ndcg@10": 0.1}, activate=True)
    back = load(store, "recommender")
    assert back.recommend(["u1"], k=2)["item_id"].tolist() == rec.recommend(["u1"], k=2)["item_id"].tolist()


def test_same_behaviour_on_every_database(any_store):
    a = register(any_store, "pg", "recommender", {"v": 1}, {"p": 1}, {"m": 0.5})
    b = register(any_store, "pg", "recommender", {"v": 2}, activate=True)
    assert (a.version, b.version, b.status) == (1, 2, "active")
    promote(any_store, "pg", 1)
    assert [m.status for m in list_models(any_store, "pg")] == ["active", "retired"]
    assert load(any_store, "pg") == {"v": 1}
    assert rollback(any_store, "pg").version == 2


def test_a_version_a_lockless_writer_took_meanwhile_is_retried_under_the_next_number(pg_store, monkeypatch):
    """A writer that takes no lock (an older Persona; on SQLite none can interleave: one writer at a time) inserts
    the version this registration read as next: this one retries under the next number, each keeps its artifact."""
    from sqlalchemy import event

    import persona.registry.models as models

    raced = []

    def lockless_writer_registers_first(conn, cursor, statement, *_args):  # noqa: ANN001, ANN202
        if statement.startswith("INSERT INTO models") and not raced:
            raced.append(statement)
            with monkeypatch.context() as m:
                m.setattr(models, "transaction_lock", lambda *_a: None)
                register(pg_store, "reco", "recommender", {"theirs": 1}, {"by": "them"})

    event.listen(pg_store.engine, "before_cursor_execute", lockless_writer_registers_first)
    try:
        mine = register(pg_store, "reco", "recommender", {"mine": 1}, {"by": "me"})
    finally:
        event.remove(pg_store.engine, "before_cursor_execute", lockless_writer_registers_first)
    assert raced and mine.version == 2
    assert [(m.version, m.params) for m in list_models(pg_store, "reco")] == [(1, {"by": "them"}), (2, {"by": "me"})]
    assert (load(pg_store, "reco", 1), load(pg_store, "reco", 2)) == ({"theirs": 1}, {"mine": 1})  # each its own
    assert sorted(p.name for p in (Path(pg_store.settings.models_dir) / "reco").iterdir()) == ["v1", "v2"]


def _register_many(workspace: str, url: str | None, worker: int, n: int, start) -> None:  # noqa: ANN001
    """One process of the race: ``n`` versions of ``raced``, each model naming its process and turn."""
    import persona.registry.models as models
    from persona.config import load_settings
    from persona.store import Store

    models.ATTEMPTS = 1  # registrations of a name take turns: none may lose a race and need a second number
    store = Store(load_settings(workspace, database_url=url, progress=False))
    start.wait(60)
    try:
        for i in range(n):
            register(store, "raced", "recommender", {"worker": worker, "turn": i}, {"worker": worker, "turn": i})
    finally:
        store.dispose()


def test_processes_registering_at_once_each_keep_their_own_versions(any_store):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    workers, turns = 3, 8
    start = ctx.Barrier(workers)  # each waits, its imports done and store open, until all are ready
    url = None if any_store.dialect == "sqlite" else any_store.settings.url
    procs = [ctx.Process(target=_register_many, args=(str(any_store.settings.workspace), url, w, turns, start))
             for w in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0] * workers
    versions = list_models(any_store, "raced")
    assert [m.version for m in versions] == list(range(1, workers * turns + 1))
    assert sorted((m.params["worker"], m.params["turn"]) for m in versions) == [
        (w, i) for w in range(workers) for i in range(turns)]
    for m in versions:  # every version's artifact is the model its row describes
        assert load(any_store, "raced", m.version) == m.params
        assert Path(m.artifact_path).name == f"v{m.version}"
    root = Path(any_store.settings.models_dir) / "raced"
    assert sorted(p.name for p in root.iterdir()) == sorted(f"v{m.version}" for m in versions)  # no leftovers


def test_a_folder_no_version_owns_is_replaced_by_the_version_that_takes_its_number(store):
    stale = Path(store.settings.models_dir) / "reco" / "v1"
    stale.mkdir(parents=True)
    (stale / "model.joblib").write_bytes(b"left by a process that crashed before its commit")
    mv = register(store, "reco", "recommender", {"w": 1})
    assert mv.version == 1 and load(store, "reco", 1) == {"w": 1}
    assert sorted(p.name for p in stale.parent.iterdir()) == ["v1"]


def test_names_in_any_script_are_registered(store):
    mv = register(store, "propensity_服装", "propensity", {"w": 1}, activate=True)
    assert load(store, "propensity_服装") == {"w": 1} and mv.artifact_path.endswith("propensity_服装/v1")
    for bad in ("_hidden", "a/b", ".", "x" * 129, "reco\n"):
        with pytest.raises(InputError, match="invalid model name"):
            register(store, bad, "x", 1)


def test_a_row_the_database_refuses_is_reported_at_once_not_retried(store):
    with pytest.raises(ConstraintError) as info:
        register(store, "reco", None, {"w": 1})  # no kind: models.kind is NOT NULL
    assert (info.value.table, info.value.column, info.value.rule) == ("models", "kind", "NOT NULL")
    assert not list((Path(store.settings.models_dir) / "reco").iterdir())  # its artifact was removed with it
    assert list_models(store, "reco") == []


def test_giving_up_after_every_number_was_taken_leaves_no_artifact(pg_store):
    """Writers that take no lock (an older Persona) take every number first: the registration gives up cleanly."""
    from sqlalchemy import event, insert

    from persona.store.models import ModelVersion as ModelRow

    store = pg_store

    busy = []

    def others_always_first(conn, cursor, statement, parameters, *_args):  # noqa: ANN001, ANN202
        if statement.startswith("INSERT INTO models") and not busy:  # not for the other's own insert
            busy.append(statement)
            try:
                version = parameters["version"] if isinstance(parameters, dict) else parameters[1]
                with store.engine.begin() as other:  # a lockless writer: the advisory lock does not stop it
                    other.execute(insert(ModelRow).values(name="reco", version=version, kind="theirs",
                                                          status="candidate", created_at=datetime.now(UTC)))
            finally:
                busy.clear()

    event.listen(store.engine, "before_cursor_execute", others_always_first)
    try:
        with pytest.raises(StoreError, match="could not allocate a version for model 'reco' in 5 attempts") as info:
            register(store, "reco", "mine", {"w": 1})
    finally:
        event.remove(store.engine, "before_cursor_execute", others_always_first)
    assert "run the command again" in info.value.hint
    assert [m.kind for m in list_models(store, "reco")] == ["theirs"] * 5
    assert list((Path(store.settings.models_dir) / "reco").iterdir()) == []


def test_an_unwritable_models_folder_is_a_store_error_that_says_so(store):
    Path(store.settings.models_dir).write_text("a file where the models folder should be")
    with pytest.raises(StoreError, match="cannot write the artifact of model 'reco'") as info:
        register(store, "reco", "recommender", {"w": 1})
    assert "writable" in info.value.hint and list_models(store) == []


def test_temporary_folders_a_crashed_registration_left_are_swept_recent_ones_kept(store):
    import os

    root = Path(store.settings.models_dir) / "m"
    old, recent, stale = root / ".new-crashed", root / ".new-running", root / ".stale-v3.abc"
    for d in (old, recent, stale):
        d.mkdir(parents=True)
        (d / "model.joblib").write_bytes(b"x" * 10)
    two_hours_ago = datetime.now(UTC).timestamp() - 7200
    for d in (old, stale):
        os.utime(d, (two_hours_ago, two_hours_ago))
    register(store, "m", "test", {"a": 1}, {}, {})
    assert not old.exists() and not stale.exists()
    assert recent.exists()  # may be another process's registration in progress
    assert sorted(p.name for p in root.iterdir()) == [".new-running", "v1"]


# --- artifact paths: relative to the workspace's models folder, whatever the working directory -----------------
def _open(workspace: Path):  # noqa: ANN202
    from persona.config import load_settings
    from persona.store import Store

    settings = load_settings(workspace, progress=False)
    settings.workspace.mkdir(parents=True, exist_ok=True)
    s = Store(settings)
    s.create_all()
    return s


def _stored_paths(store) -> dict[int, str]:  # noqa: ANN001
    from persona.store.models import ModelVersion as ModelRow

    with store.session() as s:
        return {r.version: r.artifact_path for r in s.query(ModelRow).all()}


def test_a_model_registered_from_one_directory_loads_from_another(tmp_path, monkeypatch):
    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    (tmp_path / "project").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    store = _open(Path(".persona"))  # the default: a workspace relative to where training runs
    try:
        mv = register(store, "recommender", "recommender", {"w": 1}, activate=True)
    finally:
        store.dispose()
    assert mv.artifact_path == "recommender/v1"  # relative to the models folder, not to the working directory
    monkeypatch.chdir(tmp_path / "elsewhere")
    for workspace in (tmp_path / "project" / ".persona", Path("../project/.persona")):  # absolute, or relative to here
        store = _open(workspace)
        try:
            assert load(store, "recommender") == {"w": 1}
        finally:
            store.dispose()


def test_a_workspace_moved_after_registering_still_loads_its_models(tmp_path, monkeypatch):
    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    store = _open(tmp_path / "old" / "ws")
    try:
        register(store, "reco", "recommender", {"w": 1})
        register(store, "reco", "recommender", {"w": 2}, activate=True)
    finally:
        store.dispose()
    (tmp_path / "new").mkdir()
    (tmp_path / "old" / "ws").rename(tmp_path / "new" / "ws")
    store = _open(tmp_path / "new" / "ws")
    try:
        assert load(store, "reco") == {"w": 2} and load(store, "reco", 1) == {"w": 1}
        assert set(_stored_paths(store).values()) == {"reco/v1", "reco/v2"}
    finally:
        store.dispose()


def test_rows_older_versions_wrote_still_load_from_any_directory(tmp_path, monkeypatch):
    """Paths relative to the directory registered from, absolute ones (also of a workspace moved since), and the
    single files of schema 0005: each is found in this workspace's models folder."""
    from sqlalchemy import update

    from persona.persistence import save_estimator
    from persona.registry import artifact_location
    from persona.store.models import ModelVersion as ModelRow

    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    (tmp_path / "project").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    store = _open(Path(".persona"))
    try:
        for i in range(1, 4):
            register(store, "reco", "recommender", {"w": i})
        save_estimator({"w": 4}, Path(".persona/models/reco-v4.joblib"))
        legacy = {1: ".persona/models/reco/v1",  # as older versions wrote them: relative to the working directory
                  2: str(tmp_path / "moved-from" / ".persona" / "models" / "reco" / "v2"),  # absolute, since moved
                  3: str(tmp_path / "project" / ".persona" / "models" / "reco" / "v3"),  # absolute, still there
                  4: ".persona/models/reco-v4.joblib"}
        with store.session() as s:
            s.add(ModelRow(name="reco", version=4, kind="recommender", params={}, metrics={}, artifact_path=legacy[4],
                           status="candidate", created_at=datetime.now(UTC)))
            for v in (1, 2, 3):
                s.execute(update(ModelRow).where(ModelRow.version == v).values(artifact_path=legacy[v]))
    finally:
        store.dispose()
    monkeypatch.chdir(tmp_path / "elsewhere")
    store = _open(tmp_path / "project" / ".persona")
    try:
        assert [load(store, "reco", v) for v in (1, 2, 3, 4)] == [{"w": 1}, {"w": 2}, {"w": 3}, {"w": 4}]
        models = (tmp_path / "project" / ".persona" / "models").resolve()
        assert artifact_location(store.settings, get_version(store, "reco", 2)) == models / "reco" / "v2"
        assert artifact_location(store.settings, get_version(store, "reco", 4)) == models / "reco-v4.joblib"
    finally:
        store.dispose()


def test_a_missing_artifact_names_the_absolute_path_and_the_workspace(store):
    import shutil

    from persona.errors import DataFileError

    register(store, "reco", "recommender", {"w": 1})
    shutil.rmtree(Path(store.settings.models_dir) / "reco" / "v1")
    with pytest.raises(DataFileError, match="missing at /.*reco/v1/model.joblib") as info:
        load(store, "reco")
    assert str(store.settings.workspace) in info.value.hint
