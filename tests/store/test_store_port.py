"""``persona db export`` / ``db import``: SQLite → PostgreSQL → SQLite round trips, and every refusal.

The source is a small generated shop ingested into a SQLite workspace, plus rows in the other tables (consents, an API
key, a campaign with messages, an experiment, an audit record, profiles, segments, predictions, a cursor) and a
trained recommender in the model registry.
"""

from __future__ import annotations

import json
import tarfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from persona.cli.main import app
from persona.config import load_settings
from persona.privacy.crypto import PIICipher
from persona.store import open_store
from persona.store.bulk import BulkWriter
from persona.store.models import TABLES
from persona.store.workspace import init_workspace

runner = CliRunner()
T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _cli(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PERSONA_WORKSPACE", "PERSONA_DATABASE_URL", "PERSONA_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PERSONA_PROGRESS", "false")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite workspace holding a row in every kind of table, and a trained recommender."""
    from persona.api.keys import create_key
    from persona.demo.shop import generate_shop
    from persona.ingest.runner import ingest_file
    from persona.privacy.gdpr import audit

    root = tmp_path_factory.mktemp("port")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("PERSONA_WORKSPACE", "PERSONA_DATABASE_URL", "PERSONA_SECRET_KEY"):
            mp.delenv(var, raising=False)
        mp.setenv("PERSONA_PROGRESS", "false")
        files = generate_shop(root / "shop", customers=120, products=30, days=40, seed=3)
        settings = load_settings(root / "src", progress=False)
        init_workspace(settings)
        store = open_store(settings)
        try:
            for entity in ("customers", "products", "events", "reviews", "consents"):
                ingest_file(store, entity, files[entity], progress=False)
            create_key(store, "read", "ci")
            audit(store, "test", "export_check", "k123", {"n": 1, "ü": ["ö", None, 2.5]})
            cids = store.read_frame("SELECT customer_id FROM customers ORDER BY customer_id LIMIT 3")["customer_id"].tolist()
            cest = timezone(timedelta(hours=2))
            store.bulk_insert("campaigns", [{"name": "spring", "spec": {"name": "spring", "channel": "email", "k": 3},
                                             "status": "active", "created_at": T0, "updated_at": T0}])
            store.bulk_insert("campaign_runs", [{"campaign": "spring", "run_key": "spring:2026-03-01", "planned_at": T0,
                                                 "status": "done", "stats": {"planned": 3}}])
            run_id = int(store.read_frame("SELECT id FROM campaign_runs")["id"][0])
            store.bulk_insert("messages", [
                {"message_id": f"m{i}", "run_id": run_id, "campaign": "spring", "customer_id": cid, "channel": "email",
                 "variant": "a" if i else None, "strategy": "hybrid", "payload": {"items": ["P0001", "P0002"], "subject": "Grüße"},
                 "status": "sent" if i else "planned", "reason": None, "attempts": i,
                 "next_attempt_at": None, "created_at": T0, "sent_at": (T0 + timedelta(minutes=i)).astimezone(cest) if i else None}
                for i, cid in enumerate(cids)])
            store.bulk_insert("experiments", [{"name": "subject", "salt": "s1", "variants": {"control": 0.5, "treatment": 0.5},
                                               "holdout": 0.1, "status": "running", "created_at": T0}])
            store.bulk_insert("assignments", [{"experiment": "subject", "customer_id": c, "variant": "control", "exposed_at": T0}
                                              for c in cids])
            store.bulk_insert("profiles", [{"customer_id": c, "features": {"recency_days": 3.0, "orders": i, "top": "Home"},
                                            "embedding": [0.25, -1.5, i], "updated_at": T0} for i, c in enumerate(cids)])
            store.bulk_insert("segments", [{"method": "rfm", "segment_id": "champions", "name": "Champions", "size": 3,
                                            "explanation": None, "updated_at": T0}])
            store.bulk_insert("segment_memberships", [{"customer_id": c, "method": "rfm", "segment_id": "champions"} for c in cids])
            store.bulk_insert("predictions", [{"customer_id": c, "name": "churn_probability", "value": None if i == 0 else 0.125 * i,
                                               "details": None, "model_version": None if i == 0 else 1, "updated_at": T0}
                                              for i, c in enumerate(cids)])
            store.bulk_insert("source_cursors", [{"source_key": "k" * 32, "entity": "events", "source": "sqlite:///x.db select 1",
                                                  "cursor_column": "ts", "cursor_value": "2026-03-01T00:00:00+00:00",
                                                  "cursor_type": "timestamptz", "updated_at": T0, "run_id": None}])
            store.bulk_insert("sync_jobs", [
                {"id": "a" * 24, "status": "done", "requested": [], "sources": ["crm", "clicks"], "full_pull": False,
                 "requested_by": "api:pk_1234", "started_at": T0, "finished_at": T0 + timedelta(seconds=3),
                 "result": [{"name": "crm", "status": "ok", "accepted": 2, "cursor": {"to": 30}}], "error": None,
                 "hint": None, "host": "web-1", "pid": 4242},
                {"id": "b" * 24, "status": "interrupted", "requested": ["crm"], "sources": ["crm"], "full_pull": True,
                 "requested_by": "ui:pk_1234", "started_at": T0 + timedelta(minutes=1), "finished_at": None, "result": [],
                 "error": "the service stopped during the pull", "hint": "nothing is lost", "host": None, "pid": None}])
        finally:
            store.dispose()
        code, out, _ = _cli("recommend", "train", "-m", "popular", "--workspace", str(settings.workspace), "--json")
        assert code == 0, out
    return settings.workspace


def _new_workspace(path: Path, url: str | None = None, key_from: Path | None = None) -> Path:
    settings = load_settings(path, database_url=url, progress=False)
    init_workspace(settings)
    if key_from is not None:
        (path / "secret.key").write_bytes((key_from / "secret.key").read_bytes())
    return path


def _rows(ws: Path, table: str) -> int:
    settings = load_settings(ws)
    engine = create_engine(settings.url)
    with engine.connect() as conn:
        n = int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608
    engine.dispose()
    return n


def _all_empty(ws: Path) -> bool:
    return all(_rows(ws, t) == 0 for t in TABLES)


def _unpacked(path: Path, tmp: Path) -> Path:
    if path.is_dir():
        return path
    dest = tmp / f"unpacked-{path.name}"
    with tarfile.open(path) as tar:
        tar.extractall(dest, filter="data")
    return dest


def _assert_same_exports(a: Path, b: Path, tmp: Path, *, same_files: bool = True) -> None:
    """Table by table: the same columns, Arrow types and values (the registry's artifact paths too: they are relative
    to each workspace's models folder).

    ``same_files``: both were written with the same chunk size, so equal rows must give byte-equal files.
    """
    a, b = _unpacked(a, tmp), _unpacked(b, tmp)
    ma, mb = json.loads((a / "manifest.json").read_text()), json.loads((b / "manifest.json").read_text())
    assert ma["schema_revision"] == mb["schema_revision"] and set(ma["tables"]) == set(mb["tables"]) == set(TABLES)
    for name, ea in ma["tables"].items():
        eb = mb["tables"][name]
        assert (ea["rows"], ea["columns"]) == (eb["rows"], eb["columns"]), name
        ta, tb = pq.read_table(a / ea["file"]), pq.read_table(b / eb["file"])
        assert ta.schema.equals(tb.schema, check_metadata=False), name
        if name == "models":
            paths = tb.column("artifact_path").to_pylist()
            assert all(p and not Path(p).is_absolute() for p in paths), paths
        elif same_files:
            assert ea["sha256"] == eb["sha256"], name  # the same rows make the same file, whichever database
        assert ta.equals(tb), name


def _check_types(export: Path) -> None:
    t = TABLES
    customers = pq.read_schema(export / "tables/customers.parquet")
    assert customers.field("email_enc").type == pa.binary() and customers.field("is_stub").type == pa.bool_()
    assert customers.field("birth_year").type == pa.int64() and customers.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert customers.field("attributes").metadata == {b"persona.kind": b"json"} and "attributes" in t["customers"].c
    preds = pq.read_table(export / "tables/predictions.parquet").to_pylist()
    assert any(p["model_version"] is None for p in preds) and any(p["model_version"] == 1 for p in preds)
    msgs = {m["message_id"]: m for m in pq.read_table(export / "tables/messages.parquet").to_pylist()}
    assert msgs["m1"]["sent_at"] == T0 + timedelta(minutes=1) and msgs["m0"]["sent_at"] is None
    assert json.loads(msgs["m2"]["payload"]) == {"items": ["P0001", "P0002"], "subject": "Grüße"}
    jobs = {j["id"]: j for j in pq.read_table(export / "tables/sync_jobs.parquet").to_pylist()}
    assert json.loads(jobs["a" * 24]["result"])[0]["cursor"] == {"to": 30} and jobs["a" * 24]["pid"] == 4242
    assert jobs["b" * 24]["finished_at"] is None and json.loads(jobs["b" * 24]["requested"]) == ["crm"]
    audit = pq.read_table(export / "tables/audit_log.parquet").to_pylist()
    assert json.loads(audit[0]["details"]) == {"n": 1, "ü": ["ö", None, 2.5]}


def _check_reads(ws: Path, shop_customers: pd.DataFrame) -> None:
    """After an import: recommendations and profiles come back, and the PII decrypts to the original values."""
    code, out, _ = _cli("recommend", "for", "C000002", "--workspace", str(ws), "--json")
    assert code == 0, out
    assert len(json.loads(out)["recommendations"]) > 0
    cid = "C000001"
    code, out, _ = _cli("profiles", "show", cid, "--workspace", str(ws), "--json")
    assert code == 0 and json.loads(out)["features"]["top"] == "Home", out
    settings = load_settings(ws)
    cipher = PIICipher.from_settings(settings)
    store = open_store(settings)
    try:
        rows = store.read_frame("SELECT customer_id, email_enc, phone_enc, name_enc FROM customers")
        from persona.ingest.sources.jobs import recent_jobs

        jobs = recent_jobs(store)  # the background jobs came along, newest first
        assert [(j.id, j.status, j.actor) for j in jobs] == [("b" * 24, "interrupted", "ui:pk_1234"), ("a" * 24, "done", "api:pk_1234")]
        assert jobs[1].seconds == 3.0 and jobs[1].results[0]["accepted"] == 2 and jobs[0].requested == ["crm"]
    finally:
        store.dispose()
    got = {r.customer_id: (cipher.decrypt(r.email_enc), cipher.decrypt(r.phone_enc), cipher.decrypt(r.name_enc))
           for r in rows.itertuples()}
    want = {r.customer_id: tuple(None if pd.isna(v) else str(v) for v in (r.email, r.phone, r.name))
            for r in shop_customers.itertuples()}
    assert got == want


@pytest.mark.postgres
def test_sqlite_to_postgres_and_back(source, tmp_path, pg_url, monkeypatch):
    """SQLite → PostgreSQL → SQLite: every export of the three holds the same rows, types and files."""
    from persona.api.keys import create_key
    from persona.privacy.gdpr import audit

    suspended: list[str] = []
    suspend = BulkWriter.suspend_keys

    def spy(self: BulkWriter, table: str) -> bool:
        done = suspend(self, table)
        if done:
            suspended.append(table)
        return done

    monkeypatch.setattr(BulkWriter, "suspend_keys", spy)

    shop = pd.read_csv(source.parent / "shop" / "customers.csv", dtype=str)
    a = tmp_path / "a.tar.gz"
    code, out, _ = _cli("db", "export", str(a), "--workspace", str(source), "--json")
    assert code == 0, out
    info = json.loads(out)
    assert info["source_dialect"] == "sqlite" and info["tables"]["events"] > 500 and info["models_files"] >= 2
    _check_types(_unpacked(a, tmp_path))

    pg = _new_workspace(tmp_path / "pg", pg_url, key_from=source)
    code, out, err = _cli("db", "import", str(a), "--workspace", str(pg), "--json")
    assert code == 0, out + err
    assert json.loads(out)["target_dialect"] == "postgresql"
    _check_reads(pg, shop)
    assert "campaign_runs" in suspended  # referenced by messages: its foreign key was dropped and added back
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        fks = conn.execute(text("SELECT conname FROM pg_constraint WHERE contype = 'f' ORDER BY 1")).scalars().all()
    engine.dispose()
    assert fks == ["fk_assignments_experiment_experiments", "fk_campaign_runs_campaign_campaigns", "fk_messages_run_id_campaign_runs"]

    b = tmp_path / "b"
    code, out, _ = _cli("db", "export", str(b), "--workspace", str(pg), "--json")
    assert code == 0, out
    assert json.loads(out)["source_dialect"] == "postgresql"
    _assert_same_exports(a, b, tmp_path)

    # the sequences moved past the imported ids: new rows get fresh ids
    store = open_store(load_settings(pg))
    try:
        create_key(store, "write", "after-import")
        audit(store, "t", "after_import", None)
        ids = store.read_frame("SELECT id FROM api_keys ORDER BY id")["id"].tolist()
        assert ids == [1, 2]
        assert store.read_frame("SELECT max(id) AS m FROM audit_log")["m"][0] == 2
    finally:
        store.dispose()

    lite = _new_workspace(tmp_path / "lite", key_from=source)
    code, out, _ = _cli("db", "import", str(b), "--workspace", str(lite), "--json")
    assert code == 0, out
    _check_reads(lite, shop)
    c = tmp_path / "c.tar"
    code, out, _ = _cli("db", "export", str(c), "--workspace", str(lite), "--json")
    assert code == 0, out
    _assert_same_exports(b, c, tmp_path)


def test_export_streams_in_small_row_groups_and_sqlite_round_trip(source, tmp_path):
    """A chunk of a few rows: many row groups per file, and the reimported workspace exports the same data."""
    from persona.store.export import export_workspace
    from persona.store.import_ import import_workspace

    a = tmp_path / "a"
    info = export_workspace(load_settings(source, progress=False), a, chunk_size=7)
    assert (a / "manifest.json").is_file() and not list(tmp_path.glob(".a.partial-*"))
    meta = pq.read_metadata(a / "tables/events.parquet")
    assert meta.num_row_groups == -(-info["tables"]["events"] // 7) and meta.num_rows == info["tables"]["events"]
    target = _new_workspace(tmp_path / "t", key_from=source)
    got = import_workspace(load_settings(target, progress=False), a, chunk_size=5)
    assert got["rows"] == info["rows"] and got["models_files"] == info["models_files"]
    settings = load_settings(target)
    engine = create_engine(settings.url)
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("events")}
    engine.dispose()
    assert {ix.name for ix in TABLES["events"].indexes} <= indexes  # dropped for the load, rebuilt at the end
    b = tmp_path / "b.tar.gz"
    export_workspace(load_settings(target, progress=False), b, models=False)
    _assert_same_exports(a, b, tmp_path, same_files=False)
    assert json.loads((_unpacked(b, tmp_path) / "manifest.json").read_text())["models"] is None


# --- refusals: one line, an exit code, nothing written ------------------------------------------------------
def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_export_refuses_an_existing_destination_and_an_old_schema(source, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = _cli("db", "export", str(out), "--workspace", str(source))
    assert code == 2 and "already exists" in _one_line(err) and [p.name for p in out.iterdir()] == ["keep.txt"]
    (tmp_path / "x.tar").write_text("old")
    code, _, err = _cli("db", "export", str(tmp_path / "x.tar"), "--workspace", str(source))
    assert code == 2 and (tmp_path / "x.tar").read_text() == "old"
    for name in ("backup.zip", "backup.tgz", "backup.csv.gz"):  # an archive kind export does not write: no folder
        code, _, err = _cli("db", "export", str(tmp_path / name), "--workspace", str(source))
        assert code == 2 and "names an archive kind export does not write" in _one_line(err)
        assert not (tmp_path / name).exists()

    old = _new_workspace(tmp_path / "old")
    engine = create_engine(load_settings(old).url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    engine.dispose()
    code, _, err = _cli("db", "export", str(tmp_path / "o.tar"), "--workspace", str(old))
    line = _one_line(err)
    assert code == 4 and "schema_out_of_date" in line and "persona db upgrade" in line
    assert not (tmp_path / "o.tar").exists()


def test_an_export_into_a_folder_that_cannot_be_written_is_a_clear_error(source, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    code, _, err = _cli("db", "export", str(blocked / "out.tar"), "--workspace", str(source))
    line = _one_line(err)
    assert code == 2 and "cannot write the export to" in line and "Traceback" not in err
    assert blocked.read_text() == "not a folder"


def test_a_file_system_error_about_a_path_is_one_line_not_a_traceback(source, tmp_path, monkeypatch):
    import persona.store.export as export

    def vanished(*_a, **_k):
        raise FileNotFoundError(2, "No such file or directory", str(tmp_path / "gone.parquet"))

    monkeypatch.setattr(export, "_dump_tables", vanished)
    code, _, err = _cli("db", "export", str(tmp_path / "o"), "--workspace", str(source))
    assert code == 2 and "error[io]: No such file or directory" in err and "gone.parquet" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()

    def full(*_a, **_k):
        raise OSError(28, "No space left on device", str(tmp_path / "t.parquet"))

    monkeypatch.setattr(export, "_dump_tables", full)
    code, _, err = _cli("db", "export", str(tmp_path / "o"), "--workspace", str(source))
    assert code == 4 and "No space left on device" in err and "free space" in err


def test_an_interrupted_export_leaves_nothing(source, tmp_path, monkeypatch):
    import persona.store.export as export

    real, seen = export._dump_table, []

    def failing(conn, table, path, chunk, bar):
        seen.append(table.name)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real(conn, table, path, chunk, bar)

    monkeypatch.setattr(export, "_dump_table", failing)
    for name in ("cut", "cut.tar.gz"):
        seen.clear()
        with pytest.raises(KeyboardInterrupt):
            export.export_workspace(load_settings(source, progress=False), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_import_refuses_missing_damaged_and_foreign_exports(source, tmp_path):
    target = _new_workspace(tmp_path / "t", key_from=source)
    code, _, err = _cli("db", "import", str(tmp_path / "nope.tar.gz"), "--workspace", str(target))
    assert code == 2 and "does not exist" in _one_line(err)

    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08garbage")
    code, _, err = _cli("db", "import", str(bad), "--workspace", str(target))
    assert code == 2 and "cannot unpack" in _one_line(err)

    exp = tmp_path / "exp"
    assert _cli("db", "export", str(exp), "--workspace", str(source))[0] == 0
    events = exp / "tables/events.parquet"
    data = bytearray(events.read_bytes())
    data[len(data) // 2] ^= 0xFF
    events.write_bytes(bytes(data))
    code, _, err = _cli("db", "import", str(exp), "--workspace", str(target))
    assert code == 2 and "SHA-256" in _one_line(err)
    assert _all_empty(target)

    exp2 = tmp_path / "exp2"
    assert _cli("db", "export", str(exp2), "--workspace", str(source))[0] == 0
    manifest = json.loads((exp2 / "manifest.json").read_text())
    for rev, words in (("0002", "import it with Persona"), ("0099", "upgrade Persona")):
        (exp2 / "manifest.json").write_text(json.dumps({**manifest, "schema_revision": rev}))
        code, _, err = _cli("db", "import", str(exp2), "--workspace", str(target))
        line = _one_line(err)
        assert code == 4 and rev in line and words in line, line
    (exp2 / "manifest.json").unlink()
    code, _, err = _cli("db", "import", str(exp2), "--workspace", str(target))
    assert code == 2 and "not a Persona export" in _one_line(err)
    assert _all_empty(target)


def test_import_refuses_a_target_with_data_and_a_wrong_key(source, tmp_path):
    exp = tmp_path / "exp.tar"
    assert _cli("db", "export", str(exp), "--workspace", str(source))[0] == 0
    code, _, err = _cli("db", "import", str(exp), "--workspace", str(source))
    line = _one_line(err)
    assert code == 2 and "already holds data" in line and "persona init --workspace NEW" in line
    code, _, err = _cli("db", "import", str(tmp_path / "typo.tar"), "--workspace", str(source))
    assert code == 2 and "typo.tar does not exist" in _one_line(err)  # the plainer mistake is named first

    target = _new_workspace(tmp_path / "t")  # its own, new key
    key = (target / "secret.key").read_bytes()
    code, _, err = _cli("db", "import", str(exp), "--workspace", str(target))
    line = _one_line(err)
    assert code == 2 and "cannot decrypt" in line and "secret.key" in line and "--with-key" in line
    assert _all_empty(target) and (target / "secret.key").read_bytes() == key and not (target / "models").exists()
    code, _, err = _cli("db", "import", str(exp), "--workspace", str(target), "--use-key")
    assert code == 2 and "holds no secret key" in _one_line(err)


def test_with_key_warns_and_use_key_installs_it(source, tmp_path):
    out = tmp_path / "k.tar.gz"
    code, stdout, err = _cli("db", "export", str(out), "--workspace", str(source), "--with-key", "--json")
    assert code == 0 and "WARNING" in err and "secret key" in err
    assert "decrypt" in json.loads(stdout)["warning"]
    assert out.stat().st_mode & 0o777 == 0o600
    with tarfile.open(out) as tar:
        member = tar.getmember("secret.key")
        assert member.mode == 0o600 and tar.extractfile(member).read().strip() == (source / "secret.key").read_bytes().strip()
    folder = tmp_path / "kdir"
    assert _cli("db", "export", str(folder), "--workspace", str(source), "--with-key")[0] == 0
    assert (folder / "secret.key").stat().st_mode & 0o777 == 0o600 and folder.stat().st_mode & 0o077 == 0
    plain = tmp_path / "plain"
    assert _cli("db", "export", str(plain), "--workspace", str(source))[0] == 0
    assert not (plain / "secret.key").exists()

    target = _new_workspace(tmp_path / "t")
    own = (target / "secret.key").read_bytes()
    code, _, err = _cli("db", "import", str(out), "--workspace", str(target))
    assert code == 2 and "rerun with --use-key" in _one_line(err) and _all_empty(target)
    code, stdout, err = _cli("db", "import", str(out), "--workspace", str(target), "--use-key", "--json")
    assert code == 0, err
    assert json.loads(stdout)["key_installed"] and "WARNING" in err
    assert (target / "secret.key").read_bytes().strip() == (source / "secret.key").read_bytes().strip()
    assert (target / "secret.key").stat().st_mode & 0o777 == 0o600
    assert [p.read_bytes() for p in target.glob("secret.key.replaced-*")] == [own]
    assert _rows(target, "customers") == 120


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_failed_import_leaves_the_target_empty(source, tmp_path, monkeypatch, request, backend):
    exp = tmp_path / "exp"
    assert _cli("db", "export", str(exp), "--workspace", str(source))[0] == 0
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    target = _new_workspace(tmp_path / "t", url, key_from=source)
    real, tables = BulkWriter.insert, []

    def failing(self, table, rows, **kw):
        if table not in tables:
            tables.append(table)
        if len(tables) == 3:
            raise RuntimeError("disk full")
        return real(self, table, rows, **kw)

    monkeypatch.setattr(BulkWriter, "insert", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        _cli_raise("db", "import", str(exp), "--workspace", str(target))
    assert len(tables) == 3 and _all_empty(target) and not (target / "models").exists()
    engine = create_engine(load_settings(target).url)
    names = {ix["name"] for ix in inspect(engine).get_indexes("consents")}
    pks = {t: inspect(engine).get_pk_constraint(t)["name"] for t in ("events", "consents")}
    engine.dispose()
    assert "ix_consents_lookup" in names and all(pks.values())  # the dropped indexes and keys came back with the rollback
    monkeypatch.setattr(BulkWriter, "insert", real)
    assert _cli("db", "import", str(exp), "--workspace", str(target))[0] == 0  # and it can simply be run again


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_import_the_target_refuses_is_a_constraint_violation(source, tmp_path, request, backend):
    """Rows the target's own rules refuse end the import as a constraint violation (exit 4, HTTP 422), not a 503."""
    from db_rules import add_check

    from persona.errors import ConstraintError
    from persona.store.import_ import import_workspace

    exp = tmp_path / "exp"
    assert _cli("db", "export", str(exp), "--workspace", str(source))[0] == 0
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    target = _new_workspace(tmp_path / "t", url, key_from=source)
    engine = create_engine(load_settings(target).url)
    add_check(engine, "campaigns", "drafts_only", "status = 'draft'")  # the export's campaign is active
    engine.dispose()
    res = runner.invoke(app, ["db", "import", str(exp), "--workspace", str(target)])
    assert res.exit_code == 4, res.output
    assert res.output.strip().splitlines() == [res.output.strip()]  # one line, no traceback
    assert res.output.startswith("error[constraint_violation]: the database refused rows for campaigns")
    assert "drafts_only" in res.output and "rolled back" in res.output
    with pytest.raises(ConstraintError) as info:
        import_workspace(load_settings(target, progress=False), exp)
    assert (info.value.table, info.value.rule, info.value.http_status) == ("campaigns", "CHECK", 422)
    assert _all_empty(target) and not (target / "models").exists()


def _cli_raise(*args: str) -> None:
    res = runner.invoke(app, list(args), catch_exceptions=False)
    raise AssertionError(f"expected an exception, got exit {res.exit_code}: {res.output}")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_export_reads_one_snapshot(source, tmp_path, monkeypatch, request, backend):
    """Rows committed by another session while the export runs are not in it (one read transaction)."""
    import persona.store.export as export

    if backend == "postgres":
        ws = _new_workspace(tmp_path / "pg", request.getfixturevalue("pg_url"), key_from=source)
        assert _cli("db", "import", str(_export_of(source, tmp_path)), "--workspace", str(ws))[0] == 0
    else:
        ws = source
    before = _rows(ws, "events")
    real, done = export._dump_table, []

    def writing_meanwhile(conn, table, path, chunk, bar):
        if not done:  # before the first table: another session adds an event and commits
            engine = create_engine(load_settings(ws).url)
            with engine.begin() as other:
                other.execute(text("INSERT INTO events (event_id, customer_id, event_type, ts) "
                                   "VALUES ('late', 'C000001', 'view', '2026-03-02 00:00:00')"))
            engine.dispose()
        done.append(table.name)
        return real(conn, table, path, chunk, bar)

    monkeypatch.setattr(export, "_dump_table", writing_meanwhile)
    try:
        info = export.export_workspace(load_settings(ws, progress=False), tmp_path / "snap", models=False)
    finally:
        engine = create_engine(load_settings(ws).url)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM events WHERE event_id = 'late'"))
        engine.dispose()
    assert info["tables"]["events"] == before
    assert "late" not in pq.read_table(tmp_path / "snap/tables/events.parquet").column("event_id").to_pylist()


def _export_of(ws: Path, tmp: Path) -> Path:
    out = tmp / "of.tar"
    assert _cli("db", "export", str(out), "--workspace", str(ws))[0] == 0
    return out
