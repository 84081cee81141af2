"""``persona db export``: a consistent, database-neutral copy of a workspace's data (see :mod:`persona.store.portable`).

Every table is read in one read-only transaction (``REPEATABLE READ`` on PostgreSQL, one snapshot on SQLite) and
streamed through a server-side cursor into Parquet row groups, so memory stays bounded whatever the table's size.
Everything is written under a temporary name next to the destination and renamed at the end: an interrupted
export leaves nothing under the destination's name.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import JSON, Connection, Engine, String, Table, Text, cast, func, select

from persona.config import Settings
from persona.errors import InputError
from persona.store.portable import (
    FORMAT_VERSION,
    KEY_FILE,
    MANIFEST,
    MODELS_DIR,
    TABLES_DIR,
    RowProgress,
    arrow_schema,
    is_archive,
    sha256_file,
    tables_in_order,
    tree_files,
)

log = logging.getLogger(__name__)

#: rows per fetch and row group by default: memory grows with it (20,000: about 370 MB on 1M events, 100,000: 530 MB)
#: while the export is no slower
EXPORT_CHUNK_ROWS = 20_000


def export_workspace(
    settings: Settings,
    out: Path | str,
    *,
    with_key: bool = False,
    models: bool = True,
    chunk_size: int | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Export every table of the workspace's database (and its ``models/``) to a folder or tar archive.

    Args:
        settings: the workspace to export.
        out: destination folder, or an archive path ending in ``.tar`` / ``.tar.gz`` / ``.tgz``; it must not exist
            (an empty folder is allowed).
        with_key: also write the workspace's secret key (mode 0600): whoever holds the copy can decrypt its PII.
        models: copy the trained model artifacts (``models/``).
        chunk_size: rows per fetch and per Parquet row group; default ``settings.chunk_size``, at most
            :data:`EXPORT_CHUNK_ROWS`.
        progress: show a progress bar once the export takes over a second; default ``settings.progress``.

    Returns:
        ``{"out", "format", "schema_revision", "source_dialect", "tables", "rows", "bytes", "models_files",
        "with_key", "seconds"}`` (``tables``: name → rows).

    Raises:
        WorkspaceNotFoundError: no workspace.
        SchemaOutOfDateError: the schema is not at this Persona's head (run ``persona db upgrade``).
        InputError: ``out`` exists and is not an empty folder.
    """
    from persona import __version__
    from persona.store.migrate import check_schema, current_revision
    from persona.store.sql import open_engine
    from persona.store.workspace import require_workspace

    t0 = time.perf_counter()
    out = Path(out).expanduser()
    require_workspace(settings)
    _check_destination(out)
    chunk = int(chunk_size or min(settings.chunk_size, EXPORT_CHUNK_ROWS))
    engine = open_engine(settings)
    try:
        check_schema(engine, settings.workspace)
        revision = current_revision(engine)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
        except OSError as exc:
            raise InputError(f"cannot write the export to {out}: {exc.strerror or exc}",
                             hint=f"choose a destination in a folder you can write to ({out.parent} is not)") from exc
        try:
            (staging / TABLES_DIR).mkdir()
            created = datetime.now(UTC)
            show = settings.progress if progress is None else progress
            tables = _dump_tables(engine, staging, chunk, show)
            model_files = _copy_models(settings.models_dir, staging / MODELS_DIR) if models else None
            if with_key:
                _write_key(settings, staging / KEY_FILE)
            manifest = {
                "format": FORMAT_VERSION,
                "persona_version": __version__,
                "schema_revision": revision,
                "source_dialect": engine.dialect.name,
                "created_at": created.isoformat(),
                "with_key": with_key,
                "tables": tables,
                "models": None if model_files is None else {"source_dir": str(settings.models_dir),
                                                            "source_dir_resolved": str(settings.models_dir.resolve()),
                                                            "files": model_files},
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            size = sum(p.stat().st_size for p in tree_files(staging))
            _publish(staging, out, with_key)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        engine.dispose()
    rows = {name: t["rows"] for name, t in tables.items()}
    summary = {
        "out": str(out), "format": "archive" if is_archive(out) else "folder", "schema_revision": revision,
        "source_dialect": engine.dialect.name, "tables": rows, "rows": sum(rows.values()),
        "bytes": out.stat().st_size if out.is_file() else size, "models_files": len(model_files or {}),
        "with_key": with_key, "seconds": round(time.perf_counter() - t0, 3),
    }
    log.info("db_export out=%s tables=%d rows=%d with_key=%s seconds=%.2f", out, len(rows), summary["rows"], with_key,
             summary["seconds"])
    return summary


def _check_destination(out: Path) -> None:
    if out.is_dir() and not is_archive(out) and not any(out.iterdir()):
        return  # an empty folder: the export takes its place
    if out.exists() or out.is_symlink():
        what = "a non-empty folder" if out.is_dir() else "a file"
        raise InputError(f"{out} already exists and is {what}; an export never overwrites anything",
                         hint="pass a new path, e.g. backup-$(date +%F).tar.gz, or remove the old one first")


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read-only transaction whose every SELECT sees the same snapshot."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                yield conn
        elif engine.dialect.name == "sqlite":
            # pysqlite opens transactions only before writes: open one by hand and read once, so every later
            # SELECT reads the same WAL snapshot until the COMMIT
            raw = conn.connection.driver_connection
            raw.execute("BEGIN")
            try:
                raw.execute("SELECT count(*) FROM sqlite_master").fetchone()
                yield conn
            finally:
                raw.execute("COMMIT")
        else:
            with conn.begin():
                yield conn


def _select(table: Table, dialect: str) -> Any:
    cols = [cast(c, Text).label(c.name) if isinstance(c.type, JSON) else c for c in table.columns]
    order = []
    for c in table.primary_key.columns:  # a stable order: the same rows give the same file from either database
        order.append(c.collate("C") if dialect == "postgresql" and isinstance(c.type, String) else c)
    return select(*cols).order_by(*order)


def _dump_tables(engine: Engine, staging: Path, chunk: int, show: bool) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with _snapshot(engine) as conn:
        order = tables_in_order()
        counts = {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in order}
        bar = RowProgress(show, sum(counts.values()), "exporting")
        try:
            for t in order:
                rel = f"{TABLES_DIR}/{t.name}.parquet"
                rows = _dump_table(conn, t, staging / rel, chunk, bar)
                if rows != counts[t.name]:  # cannot happen inside one snapshot; a guard against a broken driver
                    raise InputError(f"{t.name}: counted {counts[t.name]} rows but read {rows}",
                                     hint="run the export again")
                schema = arrow_schema(t)
                out[t.name] = {"file": rel, "rows": rows,
                               "columns": [{"name": f.name, "type": str(f.type)} for f in schema],
                               "sha256": sha256_file(staging / rel)}
        finally:
            bar.close()
    return out


def _dump_table(conn: Connection, table: Table, path: Path, chunk: int, bar: RowProgress) -> int:
    """Stream one table into a Parquet file, ``chunk`` rows per fetch and row group; returns the rows written."""
    schema = arrow_schema(table)
    rows = 0
    result = conn.execution_options(yield_per=chunk).execute(_select(table, conn.dialect.name))
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for part in result.partitions():
            columns = list(zip(*part, strict=True))
            arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
            rows += len(part)
            bar.advance(len(part), table.name)
    return rows


def _copy_models(src: Path, dest: Path) -> dict[str, str]:
    """Copy the model artifacts; returns relative path → SHA-256."""
    files: dict[str, str] = {}
    for p in tree_files(src):
        rel = p.relative_to(src).as_posix()
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)
        files[rel] = sha256_file(target)
    return files


def _write_key(settings: Settings, path: Path) -> None:
    """Write the key in force (``PERSONA_SECRET_KEY`` or the key file) with mode 0600."""
    from persona.privacy.crypto import PIICipher

    PIICipher.from_settings(settings)  # fails clearly when there is no usable key
    key = settings.secret_key if settings.secret_key else settings.key_path.read_text(encoding="ascii").strip()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.strip() + "\n")
    os.chmod(path, 0o600)


def _publish(staging: Path, out: Path, with_key: bool) -> None:
    """Move the finished export under its final name (a folder by rename, an archive written then renamed).

    The result gets the usual permissions (``0o666`` / ``0o777`` less the umask), or owner-only ones when it holds the key.
    """
    umask = os.umask(0)
    os.umask(umask)
    if not is_archive(out):
        os.chmod(staging, 0o700 if with_key else 0o777 & ~umask)  # mkdtemp made it 0700
        os.replace(staging, out)  # replaces an empty folder, never a non-empty one
        return
    mode = "w:gz" if out.name.endswith((".gz", ".tgz")) else "w"
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if with_key else 0o666)

    def member(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o600 if info.name == KEY_FILE else (0o755 if info.isdir() else 0o644)
        return info

    try:
        with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode=mode) as tar:
            for p in sorted(staging.iterdir()):
                tar.add(p, arcname=p.name, filter=member)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
