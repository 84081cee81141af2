"""The portable export format shared by ``persona db export`` and ``persona db import``.

An export is a folder (or a ``.tar`` / ``.tar.gz`` of one) holding ``manifest.json``, one Parquet file per table
under ``tables/``, the workspace's ``models/`` and, only when asked, ``secret.key``. Column types come from the
models, not from the database, so an export of SQLite and one of PostgreSQL holding the same rows are equal:
PII ciphertexts are binary, timestamps are UTC microseconds, JSON is its text, integers are nullable int64.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, LargeBinary, Table

from persona.errors import DataFileError
from persona.store.models import Base

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TABLES_DIR = "tables"
MODELS_DIR = "models"
KEY_FILE = "secret.key"
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def is_archive(path: Path) -> bool:
    """Whether ``path`` names a tar archive (``.tar``, ``.tar.gz``, ``.tgz``) rather than a folder."""
    return path.name.endswith(ARCHIVE_SUFFIXES)


def tables_in_order() -> list[Table]:
    """Every table of the schema, parents before the tables whose foreign keys point at them."""
    return list(Base.metadata.sorted_tables)


def arrow_type(column: Any) -> pa.DataType:
    """The Arrow type a column is exported as (the same whichever database it comes from)."""
    t = column.type
    if isinstance(t, DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(t, Boolean):
        return pa.bool_()
    if isinstance(t, LargeBinary):
        return pa.binary()
    if isinstance(t, Float):
        return pa.float64()
    if isinstance(t, Integer):
        return pa.int64()
    if isinstance(t, JSON):
        return pa.string()  # the JSON text as stored
    return pa.string()


def arrow_schema(table: Table) -> pa.Schema:
    """The Arrow schema of a table's Parquet file; JSON columns are marked in the field metadata."""
    fields = []
    for c in table.columns:
        meta = {b"persona.kind": b"json"} if isinstance(c.type, JSON) else None
        fields.append(pa.field(c.name, arrow_type(c), nullable=bool(c.nullable), metadata=meta))
    return pa.schema(fields)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_files(root: Path) -> Iterator[Path]:
    """Regular files under ``root`` (recursively, sorted), without following links."""
    if not root.is_dir():
        return
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            yield p


def read_manifest(folder: Path, shown_as: Path) -> dict[str, Any]:
    """The manifest of an export folder, checked for the fields import relies on.

    Raises:
        DataFileError: no manifest, not JSON, or not a Persona export of a known format.
    """
    path = folder / MANIFEST
    if not path.is_file():
        raise DataFileError(f"{shown_as} is not a Persona export (no {MANIFEST})",
                            hint="pass a folder or archive written by `persona db export`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(f"the {MANIFEST} of {shown_as} is not valid JSON ({exc})",
                            hint="the export is damaged: export the workspace again") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("tables"), dict) or "schema_revision" not in manifest:
        raise DataFileError(f"the {MANIFEST} of {shown_as} lacks tables or schema_revision",
                            hint="pass a folder or archive written by `persona db export`")
    if manifest.get("format") != FORMAT_VERSION:
        raise DataFileError(f"{shown_as} is export format {manifest.get('format')!r}; this Persona reads format {FORMAT_VERSION}",
                            hint=f"use Persona {manifest.get('persona_version', '?')}, which wrote it")
    return manifest


class RowProgress:
    """A progress bar on stderr, counting rows (or ``unit``), that appears only once the work has taken more than a
    second."""

    def __init__(self, enabled: bool, total: int, verb: str, unit: str = "rows") -> None:
        self.enabled = enabled and total > 0
        self.total = total
        self.verb = verb
        self.unit = unit
        self.done = 0
        self._t0 = time.perf_counter()
        self._bar: Any = None
        self._task: Any = None

    def advance(self, rows: int, table: str) -> None:
        """Count ``rows`` more rows of ``table``."""
        self.done += rows
        if not self.enabled:
            return
        if self._bar is None and time.perf_counter() - self._t0 > 1.0:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:,.0f} " + self.unit),
                                 TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.verb, total=self.total)
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=f"{self.verb} {table}")

    def close(self) -> None:
        """Remove the bar (if it was shown)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
