"""Packaged Alembic migrations: they match the models, and an out-of-date schema is refused."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from persona.config import load_settings
from persona.errors import SchemaOutOfDateError, WorkspaceNotFoundError
from persona.store import Store, init_workspace, open_store
from persona.store.migrate import head_revision, schema_status, upgrade
from persona.store.models import Base
from persona.store.sql import make_engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path):
    if request.param == "postgres":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path / 'm.db'}"


def test_migrations_match_models(empty_url):
    engine = make_engine(empty_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == [], f"migration differs from models (run python -m persona.store.migrate regenerate): {diff}"


def test_schema_status_and_refusal(empty_url, tmp_path):
    engine = make_engine(empty_url)
    assert schema_status(engine)["state"] == "empty"
    upgrade(engine)
    st = schema_status(engine)
    assert st["state"] == "ok" and st["current"] == head_revision()
    with engine.begin() as conn:  # pretend a newer Persona migrated it
        conn.execute(text("UPDATE alembic_version SET version_num = 'zz99'"))
    settings = load_settings(tmp_path / "ws", database_url=empty_url)
    store = Store(settings, engine=engine)
    with pytest.raises(SchemaOutOfDateError, match="newer"):
        store.check_schema()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
    with pytest.raises(SchemaOutOfDateError, match="persona db upgrade --workspace"):
        store.check_schema()
    engine.dispose()


def test_open_store_requires_workspace_and_schema(tmp_path, monkeypatch):
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    settings = load_settings(tmp_path / "ws", progress=False)
    with pytest.raises(WorkspaceNotFoundError, match="persona init"):
        open_store(settings)
    info = init_workspace(settings)
    assert info["revision"] == head_revision() and info["key_created"] is True
    assert (settings.key_path.stat().st_mode & 0o777) == 0o600
    key = settings.key_path.read_bytes()
    again = init_workspace(settings)  # idempotent, key kept
    assert again["key_created"] is False and settings.key_path.read_bytes() == key
    store = open_store(settings)
    assert store.count("events") == 0
    store.dispose()


def test_a_database_at_the_first_revision_is_refused_until_upgraded(empty_url, tmp_path):
    engine = make_engine(empty_url)
    upgrade(engine, "0001")  # a workspace made before incremental pulls
    settings = load_settings(tmp_path / "ws", database_url=empty_url)
    store = Store(settings, engine=engine)
    with pytest.raises(SchemaOutOfDateError, match="at revision 0001.*persona db upgrade"):
        store.check_schema()
    assert upgrade(engine) == head_revision()
    store.check_schema()
    assert store.count("source_cursors") == 0
    engine.dispose()


def test_a_database_at_0003_keeps_its_data_and_gains_sync_jobs(empty_url, tmp_path):
    from datetime import UTC, datetime

    from persona.ingest.sources.jobs import create_job, get_job, interrupt_orphans

    engine = make_engine(empty_url)
    upgrade(engine, "0003")  # a workspace made before background jobs were stored
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO ingest_runs (entity, source, started_at, status, read, accepted, duplicates, rejected, "
                          "error) VALUES ('events', 'a.csv', :ts, 'failed', 1, 0, 0, 1, 'boom')"), {"ts": datetime.now(UTC)})
    assert "sync_jobs" not in inspect(engine).get_table_names()
    settings = load_settings(tmp_path / "ws", database_url=empty_url)
    store = Store(settings, engine=engine)
    with pytest.raises(SchemaOutOfDateError, match="at revision 0003.*persona db upgrade"):
        store.check_schema()
    assert upgrade(engine) == head_revision() == "0007"
    store.check_schema()
    assert store.read_frame("SELECT error FROM ingest_runs")["error"].tolist() == ["boom"]
    create_job(store, "j1", requested=[], sources=["crm"], full=True, actor="api:abc")
    assert interrupt_orphans(store) == 1 and get_job(store, "j1").status == "interrupted"
    from alembic import command

    from persona.store.migrate import alembic_config, current_revision

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    assert current_revision(engine) == "0003" and "sync_jobs" not in inspect(engine).get_table_names()
    engine.dispose()


def test_a_database_at_0005_keeps_its_prediction_models_loadable_with_one_active_version(empty_url, tmp_path):
    from datetime import UTC, datetime

    from alembic import command

    from persona.errors import DataFileError
    from persona.persistence import save_estimator
    from persona.registry import get_version, list_models, load, register, rollback
    from persona.store.migrate import alembic_config, current_revision

    engine = make_engine(empty_url)
    upgrade(engine, "0005")
    settings = load_settings(tmp_path / "ws", database_url=empty_url, progress=False)
    now = datetime.now(UTC)
    rows = []  # as the prediction stages wrote them before 0006: every version active, one model file each
    for v in (1, 2, 3):
        path = save_estimator({"churn": v}, settings.models_dir / f"churn_probability-v{v}.joblib")
        rows.append({"name": "churn_probability", "version": v, "kind": "churn", "params": '{"horizon_days": 90}',
                     "metrics": '{"auc": 0.7}', "artifact_path": str(path), "status": "active", "created_at": now})
    rows.append({"name": "clv", "version": 1, "kind": "clv", "params": '{"bgnbd": {"r": 0.2}}', "metrics": "{}",
                 "artifact_path": None, "status": "active", "created_at": now})
    for v, status in ((1, "retired"), (2, "active"), (3, "candidate")):  # the registry's own rows are left as they are
        rows.append({"name": "recommender", "version": v, "kind": "recommender", "params": "{}", "metrics": "{}",
                     "artifact_path": str(settings.models_dir / "recommender" / f"v{v}"), "status": status,
                     "created_at": now})
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO models (name, version, kind, params, metrics, artifact_path, status, created_at) "
                          "VALUES (:name, :version, :kind, :params, :metrics, :artifact_path, :status, :created_at)"),
                     rows)
    assert upgrade(engine) == head_revision() == "0007"
    store = Store(settings, engine=engine)
    store.check_schema()
    statuses = {(m.name, m.version): m.status for m in list_models(store)}
    assert statuses == {("churn_probability", 1): "retired", ("churn_probability", 2): "retired",
                        ("churn_probability", 3): "active", ("clv", 1): "active", ("recommender", 1): "retired",
                        ("recommender", 2): "active", ("recommender", 3): "candidate"}
    mv = get_version(store, "churn_probability")
    assert (mv.version, mv.params, mv.metrics) == (3, {"horizon_days": 90}, {"auc": 0.7})
    assert load(store, "churn_probability") == {"churn": 3} and load(store, "churn_probability", 1) == {"churn": 1}
    with pytest.raises(DataFileError, match="'clv' v1 was registered without an artifact"):
        load(store, "clv")
    new = register(store, "churn_probability", "churn", {"churn": 4}, activate=True)  # the next one, in the registry's layout
    assert (new.version, new.artifact_path) == (4, "churn_probability/v4")  # relative to the models folder
    assert [m.status for m in list_models(store, "churn_probability")] == ["retired", "retired", "retired", "active"]
    assert rollback(store, "churn_probability").version == 3 and load(store, "churn_probability") == {"churn": 3}
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    assert current_revision(engine) == "0005"
    engine.dispose()


def test_a_database_at_0006_gains_pruned_at_keeps_its_versions_and_can_prune_them(empty_url, tmp_path):
    from datetime import UTC, datetime

    from alembic import command

    from persona.errors import PrunedError
    from persona.persistence import save_estimator
    from persona.registry import list_models, load, prune
    from persona.store.migrate import alembic_config, current_revision

    engine = make_engine(empty_url)
    upgrade(engine, "0006")  # a workspace made before retention
    settings = load_settings(tmp_path / "ws", database_url=empty_url, progress=False)
    now = datetime.now(UTC)
    rows = []
    for v, status in ((1, "retired"), (2, "retired"), (3, "active"), (4, "candidate")):
        folder = settings.models_dir / "recommender" / f"v{v}"
        save_estimator({"format": 1, "model": {"v": v}}, folder / "model.joblib")
        rows.append({"name": "recommender", "version": v, "kind": "recommender", "params": "{}", "metrics": '{"ndcg@10": 0.1}',
                     "artifact_path": str(folder), "status": status, "created_at": now})
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO models (name, version, kind, params, metrics, artifact_path, status, created_at) "
                          "VALUES (:name, :version, :kind, :params, :metrics, :artifact_path, :status, :created_at)"), rows)
    assert upgrade(engine) == head_revision() == "0007"
    store = Store(settings, engine=engine)
    store.check_schema()
    assert [(m.version, m.status, m.pruned_at) for m in list_models(store)] == [
        (1, "retired", None), (2, "retired", None), (3, "active", None), (4, "candidate", None)]
    assert [load(store, "recommender", v) for v in (1, 2, 3, 4)] == [{"v": 1}, {"v": 2}, {"v": 3}, {"v": 4}]
    report = prune(store, "recommender", keep=1)  # keeps v4 (newest), v3 (active), v2 (rollback target)
    assert [v.version for v in report.pruned] == [1] and report.freed_bytes > 0
    assert not (settings.models_dir / "recommender" / "v1").exists()
    with pytest.raises(PrunedError, match=r"v1: it was pruned"):
        load(store, "recommender", 1)
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    assert current_revision(engine) == "0006" and "pruned_at" not in {c["name"] for c in inspect(engine).get_columns("models")}
    with engine.connect() as conn:  # revision 0006 reads the pruned row as neither active nor retired
        assert conn.execute(text("SELECT status FROM models WHERE version = 1")).scalar() == "pruned"
    engine.dispose()
