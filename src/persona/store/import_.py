"""``persona db import``: load an export (see :mod:`persona.store.portable`) into an empty workspace, all or nothing.

Everything that can be checked is checked before the first row is written: the export's schema revision, every
file's SHA-256, that the target database is at head and empty, and that the target's secret key decrypts the
exported ciphertexts. Then every table is loaded in dependency order in ONE transaction with the bulk writer (COPY
on PostgreSQL, with keys and indexes built once at the end), row counts are compared with the manifest, and
PostgreSQL sequences are moved past the loaded ids; any failure rolls everything back.
"""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, Integer, Table, func, inspect, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import UniqueConstraint

from persona.config import Settings
from persona.errors import (
    ConfigError,
    DataFileError,
    InputError,
    SchemaOutOfDateError,
    StoreError,
)
from persona.store.bulk import BulkWriter, encode_rows
from persona.store.models import TABLES
from persona.store.portable import (
    KEY_FILE,
    MODELS_DIR,
    RowProgress,
    is_archive,
    read_manifest,
    sha256_file,
    tables_in_order,
)

log = logging.getLogger(__name__)

KEY_SAMPLE = 24  # ciphertexts (and pseudonyms) of the export the target's key must reproduce
_NULLABLE_INTS = {pa.int64(): pd.Int64Dtype()}  # int64 with nulls stays exact (not float64)


def import_workspace(
    settings: Settings,
    source: Path | str,
    *,
    use_key: bool = False,
    chunk_size: int | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Load an export into the workspace's database, which must be empty and at this Persona's schema head.

    Args:
        settings: the target workspace (``persona init`` done; SQLite or ``PERSONA_DATABASE_URL``).
        source: an export folder or ``.tar`` / ``.tar.gz`` archive written by ``persona db export``.
        use_key: install the export's ``secret.key`` (written by ``export --with-key``) as the workspace's key file,
            replacing the one ``persona init`` created (kept as ``secret.key.replaced-<time>``).
        chunk_size: rows per Parquet batch sent to the bulk writer; default ``settings.chunk_size``.
        progress: show a progress bar once the import takes over a second; default ``settings.progress``.

    Returns:
        ``{"source", "schema_revision", "source_dialect", "target_dialect", "tables", "rows", "models_files",
        "key_installed", "seconds"}`` (``tables``: name → rows).

    Raises:
        DataFileError: ``source`` is missing, not an export, or damaged (a checksum or a row count differs).
        SchemaOutOfDateError: the export was made at another schema revision, or the target is not at head.
        InputError: the target database already holds data, or ``--use-key`` without a key in the export.
        ConfigError: the target's key cannot decrypt the exported PII.
        ConstraintError: the target database refused exported rows (e.g. a CHECK the shop added); nothing was written.
        StoreError: the database failed during the load; nothing was written.
    """
    from persona.store.migrate import check_schema, head_revision
    from persona.store.sql import open_engine
    from persona.store.workspace import require_workspace

    t0 = time.perf_counter()
    source = Path(source).expanduser()
    require_workspace(settings)
    if not source.exists():  # the plainest mistake first, before the target's checks
        raise DataFileError(f"{source} does not exist", hint="pass the folder or archive written by `persona db export`")
    if use_key and settings.secret_key:
        raise ConfigError("--use-key installs the export's key file, but PERSONA_SECRET_KEY is set and overrides any key file",
                          hint="set PERSONA_SECRET_KEY to the key in the export's secret.key instead, and drop --use-key")
    engine = open_engine(settings)
    try:
        check_schema(engine, settings.workspace)
        with engine.connect() as conn:
            _check_empty(conn, settings)  # before unpacking a big archive for nothing
        with _opened(source, settings.workspace) as folder:
            manifest = read_manifest(folder, source)
            _check_revision(manifest, head_revision())
            _check_files(folder, manifest, source)
            key = _choose_key(settings, folder, manifest, use_key, source)
            show = settings.progress if progress is None else progress
            rows = _load(engine, folder, manifest, settings, int(chunk_size or settings.chunk_size), show)
            model_files = _restore_models(folder, manifest, settings.models_dir)
            if key is not None:
                _install_key(settings.key_path, key)
    finally:
        engine.dispose()
    summary = {
        "source": str(source), "schema_revision": manifest["schema_revision"], "source_dialect": manifest.get("source_dialect"),
        "target_dialect": engine.dialect.name, "tables": rows, "rows": sum(rows.values()), "models_files": model_files,
        "key_installed": key is not None, "seconds": round(time.perf_counter() - t0, 3),
    }
    log.info("db_import source=%s tables=%d rows=%d key_installed=%s seconds=%.2f", source, len(rows), summary["rows"],
             summary["key_installed"], summary["seconds"])
    return summary


# --- checks before writing -----------------------------------------------------------------------
@contextmanager
def _opened(source: Path, workspace: Path) -> Iterator[Path]:
    """The export as a folder: itself, or an archive unpacked into a temporary folder of the workspace."""
    if not source.exists():
        raise DataFileError(f"{source} does not exist", hint="pass the folder or archive written by `persona db export`")
    if source.is_dir():
        yield source
        return
    if not is_archive(source):
        raise DataFileError(f"{source} is neither an export folder nor a .tar / .tar.gz archive",
                            hint="pass the folder or archive written by `persona db export`")
    tmp = Path(tempfile.mkdtemp(prefix=".import-", dir=workspace))
    try:
        try:
            with tarfile.open(source) as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise DataFileError(f"cannot unpack {source}: {exc}",
                                hint="the archive is damaged or incomplete: copy or export it again") from exc
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_revision(manifest: dict[str, Any], head: str | None) -> None:
    rev, made_by = manifest["schema_revision"], manifest.get("persona_version", "?")
    if rev == head:
        return
    from alembic.script import ScriptDirectory

    from persona.store.migrate import alembic_config

    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if rev in known:  # older than this Persona
        raise SchemaOutOfDateError(
            f"the export is at schema revision {rev} (made by Persona {made_by}); this Persona imports revision {head} only",
            hint=f"import it with Persona {made_by} into an empty workspace, run `persona db upgrade` there, and export again")
    raise SchemaOutOfDateError(
        f"the export is at schema revision {rev}, which this Persona (head {head}) does not know (made by Persona {made_by})",
        hint=f"upgrade Persona to {made_by} or newer (pip install -U persona) and import again")


def _check_empty(conn: Connection, settings: Settings) -> None:
    held = {}
    for t in tables_in_order():
        if conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {t.name})")).scalar():  # noqa: S608 - our table names
            held[t.name] = int(conn.execute(select(func.count()).select_from(t)).scalar_one())
    if held:
        listed = ", ".join(f"{k}: {v:,}" for k, v in held.items())
        raise InputError(
            f"the target database already holds data ({listed}); import only loads into an empty one",
            hint="create a fresh workspace with `persona init --workspace NEW` (for PostgreSQL with PERSONA_DATABASE_URL naming "
                 "a new, empty database) and import into that")


def _check_files(folder: Path, manifest: dict[str, Any], shown_as: Path) -> None:
    """Every table of the schema is there, with the columns of the models, and every file matches its SHA-256."""
    tables = manifest["tables"]
    missing, extra = set(TABLES) - set(tables), set(tables) - set(TABLES)
    if missing or extra:
        raise DataFileError(f"{shown_as} does not hold this schema's tables (missing: {sorted(missing)}, unknown: {sorted(extra)})",
                            hint="the manifest was edited or the export is damaged: export the workspace again")
    for name, entry in tables.items():
        path = folder / str(entry.get("file", ""))
        if not path.is_file():
            raise DataFileError(f"{shown_as} lacks {entry.get('file')!r}, the file of table {name}",
                                hint="the export is incomplete: export the workspace again")
        if sha256_file(path) != entry.get("sha256"):
            raise DataFileError(f"{entry['file']} in {shown_as} does not match its SHA-256 in the manifest (modified or damaged)",
                                hint="export the workspace again; never edit an export by hand")
        try:
            meta = pq.read_metadata(path)
        except (pa.ArrowException, OSError) as exc:
            raise DataFileError(f"{entry['file']} in {shown_as} is not a readable Parquet file: {exc}",
                                hint="export the workspace again") from exc
        want = [c.name for c in TABLES[name].columns]
        if meta.schema.names != want or meta.num_rows != entry.get("rows"):
            raise DataFileError(f"{entry['file']} holds columns {meta.schema.names} and {meta.num_rows} rows; expected {want} "
                                f"and {entry.get('rows')} rows", hint="export the workspace again")
    models = manifest.get("models") or {}
    for rel, digest in (models.get("files") or {}).items():
        path = folder / MODELS_DIR / rel
        if not path.is_file() or sha256_file(path) != digest:
            raise DataFileError(f"{MODELS_DIR}/{rel} in {shown_as} is missing or does not match its SHA-256",
                                hint="export the workspace again")


def _choose_key(settings: Settings, folder: Path, manifest: dict[str, Any], use_key: bool, shown_as: Path) -> str | None:
    """Refuse a target key that cannot read the export; returns the export's key when it is to be installed."""
    from persona.privacy.crypto import PIICipher, _decode_key

    packed = folder / KEY_FILE
    sample = _key_sample(folder / manifest["tables"]["customers"]["file"])
    if use_key:
        if not packed.is_file():
            raise InputError(f"--use-key: {shown_as} holds no secret key",
                             hint="export with `persona db export --with-key`, or copy the source's secret.key into the workspace")
        key_text = packed.read_text(encoding="ascii", errors="replace").strip()
        failed = _key_failures(PIICipher(_decode_key(key_text, str(packed))), sample)
        if failed:
            raise DataFileError(f"the key in {shown_as} does not decrypt {failed} of {_sample_size(sample)} sampled values",
                                hint="the export's key and data do not belong together: export the workspace again")
        return key_text
    failed = _key_failures(PIICipher.from_settings(settings), sample)
    if failed:
        where = "PERSONA_SECRET_KEY" if settings.secret_key else f"the key file {settings.key_path}"
        fix = ("set PERSONA_SECRET_KEY to the source workspace's key" if settings.secret_key
               else f"copy the source workspace's secret.key to {settings.key_path}")
        also = ("; this export carries its key: rerun with --use-key to install it" if packed.is_file()
                else ", or export with --with-key and import with --use-key")
        raise ConfigError(f"the target's secret key ({where}) cannot decrypt the exported PII ({failed} of "
                          f"{_sample_size(sample)} sampled values fail): it is not the key the data was encrypted with",
                          hint=fix + also)
    return None


def _key_sample(path: Path) -> dict[str, list[Any]]:
    """Up to KEY_SAMPLE ciphertexts and (customer id, pseudonym) pairs from the exported customers."""
    from persona.privacy.scope import PII_COLUMNS

    out: dict[str, list[Any]] = {"ciphertexts": [], "pseudonyms": []}
    cols = ["customer_id", "customer_key", *PII_COLUMNS]
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024, columns=cols):
        d = batch.to_pydict()
        for i in range(batch.num_rows):
            if len(out["pseudonyms"]) < KEY_SAMPLE:
                out["pseudonyms"].append((d["customer_id"][i], d["customer_key"][i]))
            for c in PII_COLUMNS:
                if d[c][i] is not None and len(out["ciphertexts"]) < KEY_SAMPLE:
                    out["ciphertexts"].append(d[c][i])
        if len(out["ciphertexts"]) >= KEY_SAMPLE and len(out["pseudonyms"]) >= KEY_SAMPLE:
            break
    return out


def _sample_size(sample: dict[str, list[Any]]) -> int:
    return len(sample["ciphertexts"]) + len(sample["pseudonyms"])


def _key_failures(cipher: Any, sample: dict[str, list[Any]]) -> int:
    """How many sampled ciphertexts the cipher cannot decrypt plus pseudonyms it does not reproduce."""
    failed = 0
    for token in sample["ciphertexts"]:
        try:
            cipher.decrypt(token)
        except InputError:
            failed += 1
    failed += sum(cipher.pseudonym(cid) != key for cid, key in sample["pseudonyms"])
    return failed


# --- the load --------------------------------------------------------------------------------------
@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction that also covers DDL (index drops and rebuilds) on SQLite, where pysqlite would not."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def _load(engine: Engine, folder: Path, manifest: dict[str, Any], settings: Settings, chunk: int,
          show: bool) -> dict[str, int]:
    tables = manifest["tables"]
    bar = RowProgress(show, sum(int(t["rows"]) for t in tables.values()), "importing")
    loaded: dict[str, int] = {}
    try:
        with _transaction(engine) as conn:
            _check_empty(conn, settings)  # again, inside the transaction: nobody wrote in between
            writer = BulkWriter(conn)
            for t in tables_in_order():
                entry = tables[t.name]
                load_table(writer, t, folder / entry["file"], chunk, bar)
                n = int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                if n != int(entry["rows"]):
                    raise DataFileError(f"{t.name}: the manifest counts {entry['rows']} rows but {n} were loaded",
                                        hint="the export holds repeated keys or was damaged: export the workspace again")
                loaded[t.name] = n
            _rewrite_artifact_paths(conn, manifest, settings)
            if conn.dialect.name == "postgresql":
                _reset_sequences(conn)
    except SQLAlchemyError as exc:  # a ConstraintError (rows the target refuses) goes through as it is: 422, not 503
        raise StoreError(f"the import failed and was rolled back, the database is still empty: {getattr(exc, 'orig', None) or exc}",
                         hint="fix the cause and run the import again") from exc
    finally:
        bar.close()
    return loaded


def load_table(writer: BulkWriter, table: Table, path: Path, chunk: int, bar: RowProgress) -> int:
    """Load one table's Parquet file through the bulk writer, with its indexes (and keys on PostgreSQL) built at the end.

    Returns:
        Rows sent.
    """
    conn = writer.conn
    unique = [uc for uc in table.constraints if isinstance(uc, UniqueConstraint)]
    # PostgreSQL, an integer primary key and one unique key: plain COPY, keys (and foreign keys to them) rebuilt at the end
    suspended = writer.suspend_keys(table.name)
    dropped = [] if suspended else _drop_plain_indexes(conn, table)
    key = list(unique[0].columns.keys()) if suspended else None
    sent = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk):
        frame = batch.to_pandas(types_mapper=_NULLABLE_INTS.get)
        if suspended:
            writer.insert(table.name, encode_rows(table.name, frame, writer.dialect, unique_key=key[0] if len(key) == 1 else None),
                          on_conflict="ignore", key=key)
        else:
            writer.insert(table.name, frame, on_conflict="error")
        sent += batch.num_rows
        bar.advance(batch.num_rows, table.name)
    if suspended:
        writer.restore_keys(table.name)
    for ix in dropped:
        ix.create(conn)
    return sent


def _drop_plain_indexes(conn: Connection, table: Table) -> list[Any]:
    """Drop the table's non-unique indexes (inside the transaction) so they are built once, after the load."""
    present = {ix["name"] for ix in inspect(conn).get_indexes(table.name)}
    dropped = [ix for ix in table.indexes if not ix.unique and ix.name in present]
    for ix in dropped:
        ix.drop(conn)
    return dropped


def _reset_sequences(conn: Connection) -> None:
    """Move each serial/identity sequence past the largest loaded id, so the next insert gets a fresh one."""
    for t in tables_in_order():
        for c in t.primary_key.columns:
            if isinstance(c.type, Integer) and c.autoincrement in (True, "auto") and len(t.primary_key.columns) == 1:
                seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": t.name, "c": c.name}).scalar()
                if seq:
                    conn.execute(text(f"SELECT setval(:s, COALESCE((SELECT MAX({c.name}) FROM {t.name}), 0) + 1, false)"),  # noqa: S608
                                 {"s": seq})


def _rewrite_artifact_paths(conn: Connection, manifest: dict[str, Any], settings: Settings) -> None:
    """Point the model registry's artifact paths at this workspace's models folder (they named the source's)."""
    models = manifest.get("models")
    if not models:
        return
    olds = sorted({models.get("source_dir"), models.get("source_dir_resolved")} - {None}, key=len, reverse=True)
    new = str(settings.models_dir.resolve())
    t = TABLES["models"]
    for row_id, path in conn.execute(select(t.c.id, t.c.artifact_path).where(t.c.artifact_path.is_not(None))).all():
        for old in olds:
            if path == old or path.startswith(old.rstrip("/") + "/"):
                conn.execute(update(t).where(t.c.id == row_id).values(artifact_path=new + path[len(old):]))
                break


def _restore_models(folder: Path, manifest: dict[str, Any], models_dir: Path) -> int:
    """Copy the exported model artifacts into the workspace's models folder; returns how many files."""
    files = (manifest.get("models") or {}).get("files") or {}
    for rel in files:
        target = models_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / MODELS_DIR / rel, target)
    return len(files)


def _install_key(path: Path, key: str) -> None:
    """Make ``key`` the workspace's key file (0600), keeping the replaced one beside it."""
    if path.is_file():
        if path.read_text(encoding="ascii", errors="replace").strip() == key:
            return
        backup = path.with_name(f"{path.name}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
        os.replace(path, backup)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
