"""Sources named in the workspace's ``config.toml``, pulled together by ``persona sync`` and by ``persona run``.

A shop that loads its CRM table and its events API every night writes them down once instead of repeating the
``persona ingest --sql/--url`` options in a crontab::

    [sources.crm]
    entity = "customers"
    sql = "SELECT id AS customer_id, email, updated_at FROM crm_users"
    db_env = "CRM_DATABASE_URL"          # the URL (with its password) stays in the environment
    since_column = "updated_at"          # incremental: later runs read rows with updated_at >= the largest one read

    [sources.clicks]
    entity = "events"
    url = "https://api.example.com/v1/events"
    headers_env = {Authorization = "SHOP_API_AUTH"}   # header values come from the environment, never the file
    records_key = "data"
    since_param = "updated_since"        # incremental: the API gets updated_since=<largest updated_at read>
    since_field = "updated_at"

Secrets never need to sit in the file: ``db_env`` names the variable holding the database URL and ``headers_env``
maps each header to the variable holding its value. A ``db`` URL written with a password is accepted (the workspace
folder also holds the secret key) but reported in the sync's warnings.

Sources are pulled in dependency order (customers, products, events, reviews, consents; the file's order within an
entity). One failing source does not stop the others: each gets its own result, and the failure names the source.
"""

from __future__ import annotations

import difflib
import os
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from persona.errors import ConfigError, InputError, PersonaError
from persona.ingest.runner import failure_message
from persona.ingest.schema import ENTITY_ORDER
from persona.store.models import IngestRun

Entity = Literal["customers", "products", "events", "reviews", "consents"]
#: what a source's table in ``config.toml`` lives under
SECTION = "sources"


class SourceSpec(BaseModel):
    """One ``[sources.NAME]`` table: a SQL query on a database or a REST endpoint, and how to map its columns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    entity: Entity
    sql: str | None = Field(default=None, description="a SELECT or a table name, run on the database `db`/`db_env`")
    db: str | None = Field(default=None, description="SQLAlchemy URL of the database (prefer db_env for a password)")
    db_env: str | None = Field(default=None, description="environment variable holding the database URL")
    url: str | None = Field(default=None, description="first page of a REST endpoint")
    headers_env: dict[str, str] = Field(default_factory=dict, description="header name -> variable holding its value")
    records_key: str | None = None
    max_pages: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=0)
    map: dict[str, str] = Field(default_factory=dict, description="their column -> our column")
    since_column: str | None = Field(default=None, description="sql: pull incrementally, from the largest value read")
    since_param: str | None = Field(default=None, description="url: the query parameter that takes the cursor")
    since_field: str | None = Field(default=None, description="url: the record field whose largest value is the cursor")

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        if (self.sql is None) == (self.url is None):
            raise ValueError("give exactly one of sql (with db or db_env) and url")
        if self.sql is not None:
            if (self.db is None) == (self.db_env is None):
                raise ValueError("a sql source needs exactly one of db and db_env")
            rest = [k for k in ("headers_env", "records_key", "max_pages", "timeout", "retries", "since_param", "since_field")
                    if k in self.model_fields_set]
            if rest:
                raise ValueError(f"{', '.join(rest)} only apply to a url source")
        else:
            if self.db is not None or self.db_env is not None or self.since_column is not None:
                raise ValueError("db, db_env and since_column only apply to a sql source")
            if (self.since_param is None) != (self.since_field is None):
                raise ValueError("since_param and since_field go together (the API's filter parameter and the record "
                                 "field whose largest value it is given)")
        return self

    @property
    def incremental(self) -> bool:
        """True when the source keeps a cursor (``since_column``, or ``since_param`` with ``since_field``)."""
        return self.since_column is not None or self.since_param is not None

    @property
    def kind(self) -> str:
        """``sql`` or ``url``."""
        return "sql" if self.sql is not None else "url"

    def database_url(self) -> str:
        """The database URL, read from ``db_env`` when the file names a variable.

        Raises:
            ConfigError: the variable is not set.
        """
        if self.db is not None:
            return self.db
        assert self.db_env is not None
        value = os.environ.get(self.db_env)
        if not value:
            raise ConfigError(f"source {self.name!r}: the environment variable {self.db_env} (its db_env) is not set",
                              hint=f"export {self.db_env}=postgresql+psycopg://user:password@host/db before running")
        return value

    def headers(self) -> dict[str, str]:
        """The request headers, each value read from the variable ``headers_env`` names.

        Raises:
            ConfigError: a variable is not set.
        """
        missing = [var for var in self.headers_env.values() if not os.environ.get(var)]
        if missing:
            raise ConfigError(f"source {self.name!r}: environment variable(s) {', '.join(missing)} (its headers_env) not set",
                              hint="export each header's value, e.g. export SHOP_API_AUTH='Bearer …'")
        return {name: os.environ[var] for name, var in self.headers_env.items()}

    def identity(self) -> SourceIdentity:
        """How this source's ingest runs and cursor are named, computed as its reader does but without connecting.

        Raises:
            ConfigError: ``db_env`` names a variable that is not set.
            SourceError: the URL cannot be parsed (or names a SQLite file that does not exist).
        """
        from persona.ingest.sources.cursor import source_key

        if self.sql is not None:
            from persona.ingest.sources.sql import sql_identity

            shown, parts = sql_identity(self.database_url(), self.sql)
            column = self.since_column
        else:
            from persona.ingest.sources.rest import url_identity

            assert self.url is not None
            shown, parts = url_identity(self.url, self.since_param)
            column = self.since_field
        key = source_key(self.entity, parts, column.strip(), self.cursor_scope) if column is not None else None
        return SourceIdentity(shown, key)

    def run_source(self) -> str:
        """The ``ingest_runs.source`` text of this source's runs: its identity's, else (a variable not set in this
        process, a bad URL) its description, which is also what a failure to start is recorded under."""
        try:
            return self.identity().source
        except PersonaError:
            return describe(self)["source"]

    @property
    def cursor_scope(self) -> str:
        """What keeps this source's cursor its own: its name (two sources on one URL, e.g. two tenants of an API with
        different credentials, must not share where they resume)."""
        return f"sources.{self.name}"

    def password_inline(self) -> bool:
        """True when ``db`` is written in the file with a password in it."""
        if self.db is None:
            return False
        try:
            return make_url(self.db).password is not None
        except ArgumentError:
            return False


@dataclass(frozen=True)
class SourceIdentity:
    """A configured source as the store names it: ``source`` as in ``ingest_runs.source`` and reports (no secrets), and
    ``cursor_key`` as in ``source_cursors.source_key`` (None for a source that is not incremental)."""

    source: str
    cursor_key: str | None


def describe(spec: SourceSpec) -> dict[str, Any]:
    """A configured source without its secrets: the query or the URL, the variables it reads."""
    from persona.ingest.sources.redact import redact_url

    if spec.sql is not None:
        where = f"${spec.db_env}" if spec.db_env else redact_url(spec.db or "")
        return {"name": spec.name, "entity": spec.entity, "kind": "sql", "source": f"{spec.sql} @ {where}"}
    env = ", ".join(f"{h} from ${v}" for h, v in spec.headers_env.items())
    return {"name": spec.name, "entity": spec.entity, "kind": "url",
            "source": redact_url(spec.url or "") + (f" ({env})" if env else "")}


@contextmanager
def sync_lock(store: Any) -> Iterator[None]:
    """Hold the workspace's sync lock: one sync of the configured sources at a time, from the CLI or the service.

    Taking it marks the background jobs left ``running`` by a process that died ``interrupted``: a job's runner
    holds this lock for as long as its row says running (see :mod:`persona.ingest.sources.jobs`); so are the ingest
    runs whose process is gone (:func:`persona.ingest.runs.settle_dead_runs`: any host's, by the lock its loader
    holds).

    Raises:
        BusyError: another sync is running (in any process on this workspace, or on this PostgreSQL database).
    """
    from persona.ingest.runs import settle_dead_runs
    from persona.ingest.sources.jobs import interrupt_orphans
    from persona.store.locks import workspace_lock

    with workspace_lock(store, store.settings, "sync", busy="a sync of the configured sources is already running",
                        hint="wait for it to finish; `persona sync` and POST /v1/sources/sync share one lock"):
        interrupt_orphans(store)
        settle_dead_runs(store)
        yield


def parse_sources(doc: dict[str, Any], where: str = "config.toml") -> list[SourceSpec]:
    """The ``[sources.NAME]`` tables of a parsed config file, in dependency order.

    Raises:
        ConfigError: a table is not a table, or a source is incomplete or has unknown keys (named with its source).
    """
    raw = doc.get(SECTION, {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [{SECTION}] must be a table of sources, e.g. [sources.crm]",
                          hint="see `persona sync --help`")
    specs = []
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: sources.{name} must be a table ([sources.{name}] with entity = …)",
                              hint="see `persona sync --help`")
        try:
            specs.append(SourceSpec(name=name, **table))
        except ValidationError as exc:
            problems = "; ".join(_problem(e) for e in exc.errors())
            raise ConfigError(f"{where}: [sources.{name}] is invalid: {problems}",
                              hint="a source needs entity and either sql with db/db_env, or url") from exc
    return sorted(specs, key=lambda s: ENTITY_ORDER.index(s.entity))  # stable: the file's order within an entity


def _problem(err: Any) -> str:
    """One validation error of a source's table, in words; an unknown key with the key it is close to."""
    field = ".".join(str(p) for p in err["loc"]) or "source"
    if err["type"] == "extra_forbidden":
        known = [f for f in SourceSpec.model_fields if f != "name"]
        close = difflib.get_close_matches(field.replace("-", "_"), known, n=1, cutoff=0.7)
        return f"{field}: unknown key" + (f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(known)})")
    return f"{field}: {err['msg']}"


def load_sources(settings: Any) -> list[SourceSpec]:
    """The sources configured in the workspace's ``config.toml`` (none when the file or the section is absent).

    Raises:
        ConfigError: the file cannot be parsed or a source is invalid.
    """
    path = settings.config_path
    if not path.is_file():
        return []
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse {path}: {exc}", hint="fix the TOML syntax") from exc
    return parse_sources(doc, str(path))


def select_sources(specs: list[SourceSpec], names: list[str] | None) -> list[SourceSpec]:
    """``specs`` limited to ``names`` (all when none are given), in dependency order.

    Raises:
        InputError: a name is not configured, or no source is.
    """
    if not specs:
        raise InputError("no sources are configured in this workspace",
                         hint="add [sources.NAME] tables to the workspace's config.toml (see `persona sync --help`)")
    if not names:
        return specs
    known = {s.name for s in specs}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"unknown source(s) {', '.join(map(repr, unknown))}", hint=f"configured: {', '.join(sorted(known))}")
    return [s for s in specs if s.name in set(names)]


@dataclass
class SyncResult:
    """What pulling one source did: its ingest counts, or why it failed."""

    name: str
    entity: str
    kind: str
    status: Literal["ok", "failed"] = "ok"
    report: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    hint: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A row for ``--json`` and the run report."""
        return {"name": self.name, "entity": self.entity, "kind": self.kind, "status": self.status, "error": self.error,
                "hint": self.hint, "seconds": round(self.seconds, 3), **self.report}


def pull_source(store: Any, spec: SourceSpec, *, full: bool = False, progress: bool | None = None) -> dict[str, Any]:
    """Ingest one configured source (incrementally where it names a cursor); the ingest report as a dict.

    Args:
        full: an incremental source reads everything this once and stores a fresh cursor (others always do).

    Raises:
        PersonaError: what ``ingest_sql`` / ``ingest_url`` raise, and a missing environment variable.
    """
    from persona.ingest.sources import ingest_sql, ingest_url

    full = full and spec.incremental
    if spec.sql is not None:
        report = ingest_sql(store, spec.entity, spec.sql, spec.database_url(), mapping=spec.map, progress=progress,
                            since_column=spec.since_column, full=full, cursor_scope=spec.cursor_scope)
    else:
        assert spec.url is not None
        opts = {k: getattr(spec, k) for k in ("max_pages", "timeout", "retries") if getattr(spec, k) is not None}
        report = ingest_url(store, spec.entity, spec.url, headers=spec.headers(), records_key=spec.records_key,
                            mapping=spec.map, progress=progress, since_param=spec.since_param,
                            since_field=spec.since_field, full=full, cursor_scope=spec.cursor_scope, **opts)
    return report.as_dict()


def sync_sources(store: Any, specs: list[SourceSpec], *, full: bool = False, progress: bool | None = None,
                 actor: str = "cli", locked: bool = False,
                 on_result: Callable[[SyncResult], None] | None = None) -> list[SyncResult]:
    """Pull every source in ``specs`` in order, holding the workspace's :func:`sync_lock`; a failing source is
    recorded (as a failed ingest run with its error, when it failed before its run began) and the next one still runs.

    Args:
        full: incremental sources read everything this once (see :func:`pull_source`).
        actor: who asked, for the audit log (``cli``, ``pipeline``, ``api:<key prefix>`` …).
        locked: the caller already holds :func:`sync_lock` (a background job holds it around its whole life).
        on_result: called with each source's result as soon as that source is done.

    Raises:
        BusyError: another sync of this workspace is running.
    """
    from persona.privacy.gdpr import audit

    results = []
    with nullcontext() if locked else sync_lock(store):
        for spec in specs:
            res = SyncResult(spec.name, spec.entity, spec.kind)
            t0, started, last_run = time.perf_counter(), datetime.now(UTC), _last_run_id(store)
            try:
                res.report = pull_source(store, spec, full=full, progress=progress)
            except PersonaError as exc:
                res.status, res.error, res.hint = "failed", exc.message, exc.hint
                _record_failure(store, spec, exc, started, last_run)
            res.seconds = time.perf_counter() - t0
            results.append(res)
            if on_result is not None:
                on_result(res)
        audit(store, actor, "sync_sources", None, {"sources": [r.name for r in results], "full": full,
                                                   "failed": [r.name for r in results if r.status == "failed"]})
    return results


def _last_run_id(store: Any) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.max(IngestRun.id))) or 0)


def _record_failure(store: Any, spec: SourceSpec, exc: PersonaError, started: datetime, after: int) -> None:
    """Keep a failure that stopped a pull before its ingest run began (no connection, a variable not set, a refused
    first page) as a failed run of 0 rows, so the source's history shows it; a run already recorded is left as is."""
    source = spec.run_source()
    with store.session() as s:
        if s.scalar(select(IngestRun.id).where(IngestRun.id > after, IngestRun.entity == spec.entity,
                                               IngestRun.source == source).limit(1)) is not None:
            return
        s.add(IngestRun(entity=spec.entity, source=source, started_at=started, finished_at=datetime.now(UTC),
                        status="failed", read=0, accepted=0, duplicates=0, rejected=0, error=failure_message(exc)))
