"""``persona ingest ENTITY FILE``, ``--sql QUERY --db URL``, ``--url URL`` and ``persona ingest --adapter NAME PATH``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, emit, settings_for
from persona.errors import InputError

#: where ``--db`` comes from when it is not given, so that a password stays out of the shell history
SOURCE_DB_ENV = "PERSONA_SOURCE_DB"


def ingest(
    entity: Annotated[str | None, typer.Argument(metavar="ENTITY", help="customers, products, events, reviews or consents.", show_default=False)] = None,
    path: Annotated[Path | None, typer.Argument(metavar="FILE", help="CSV, JSON-lines or Parquet file (with --adapter: the dataset's file or folder).", show_default=False)] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", "-m", help="Rename a column: THEIR=OUR (repeatable).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="csv, jsonl or parquet (default: from the file).")] = None,
    adapter: Annotated[str | None, typer.Option("--adapter", "-a", help="Read a known dataset layout (e.g. movielens) from PATH.")] = None,
    sql: Annotated[str | None, typer.Option("--sql", help="Read the rows of this SQL query (or table name) from the database --db.", show_default=False)] = None,
    db: Annotated[str | None, typer.Option("--db", help=f"SQLAlchemy URL of the database --sql reads (default: ${SOURCE_DB_ENV}, which keeps a password out of the shell history).", show_default=False)] = None,
    url: Annotated[str | None, typer.Option("--url", help="Read the records of this REST API endpoint (JSON), following its next-page links.", show_default=False)] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="HTTP header for --url: 'Name: value' (repeatable), e.g. \"Authorization: Bearer $TOKEN\".", show_default=False)] = None,
    records_key: Annotated[str | None, typer.Option("--records-key", help="With --url: the key of the response object that holds the records (default: detected).", show_default=False)] = None,
    max_pages: Annotated[int | None, typer.Option("--max-pages", min=1, help="With --url: the most pages to read (default 10000).", show_default=False)] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0.1, help="With --url: seconds to wait for each page (default 30).", show_default=False)] = None,
    retries: Annotated[int | None, typer.Option("--retries", min=0, help="With --url: retries of a page on 429, 5xx or a connection error (default 4, with back-off).", show_default=False)] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load a file, a SQL query or a REST API into the workspace: validated, de-duplicated, PII encrypted, rejects quarantined.

    JSON output: {"read", "accepted", "duplicates", "rejected", "quarantine", ...}; read = accepted + duplicates + rejected.
    """
    from persona.ingest.mapping import parse_map
    from persona.store import open_store

    mapping = parse_map(map_)
    rest = {"max_pages": max_pages, "timeout": timeout, "retries": retries}
    _check_one_source(entity, path, adapter=adapter, sql=sql, db=db, url=url, header=header, records_key=records_key,
                      fmt=fmt, rest=rest)
    settings = settings_for(workspace)
    if sql is not None or url is not None:
        _ingest_pulled(settings, entity, mapping, sql=sql, db=db, url=url, header=header, records_key=records_key,
                       rest={k: v for k, v in rest.items() if v is not None}, as_json=as_json)
        return
    if adapter:
        if path is None and entity is not None:  # `--adapter NAME PATH`: the one positional is the path
            entity, path = None, Path(entity)
        if entity is not None or path is None:
            raise InputError("--adapter takes exactly one PATH and no entity",
                             hint="e.g. persona ingest --adapter movielens data/ml-100k")
        store = open_store(settings)
        try:
            result = ingest_adapter(store, adapter, path)
        finally:
            store.dispose()
        if as_json:
            emit(result, True)
        else:
            emit([{"entity": k, **{c: v[c] for c in ("read", "accepted", "duplicates", "rejected", "quarantine")}}
                  for k, v in result["entities"].items()], False, title=f"ingested {path} ({adapter})")
        for v in result["entities"].values():
            _redaction_note(v.get("redacted") or {})
        return
    if entity is None or path is None:
        raise InputError("persona ingest needs an ENTITY and a FILE (or --sql QUERY --db URL, --url URL, --adapter NAME PATH)",
                         hint="e.g. persona ingest events events.csv")
    from persona.ingest import get_spec, ingest_file

    get_spec(entity)  # unknown entity: fail before touching the store
    store = open_store(settings)
    try:
        report = ingest_file(store, entity, path, mapping=mapping, fmt=fmt)
    finally:
        store.dispose()
    _show(report, as_json, title=f"ingested {path}")


def _check_one_source(entity: str | None, path: Path | None, *, adapter: str | None, sql: str | None, db: str | None,
                      url: str | None, header: list[str] | None, records_key: str | None, fmt: str | None,
                      rest: dict[str, Any]) -> None:
    """Exactly one of FILE, --sql, --url and --adapter; options only where they apply."""
    given = [name for name, value in (("FILE", path), ("--sql", sql), ("--url", url), ("--adapter", adapter)) if value is not None]
    if adapter is not None:
        given = [g for g in given if g != "FILE"]  # the adapter's PATH is positional (checked with --adapter)
    if len(given) > 1:
        raise InputError(f"persona ingest reads one source at a time, got {' and '.join(given)}",
                         hint="give one of: FILE, --sql QUERY --db URL, --url URL, --adapter NAME PATH")
    misplaced = [opt for opt, value, needs in (("--db", db, sql), ("--header", header, url), ("--records-key", records_key, url),
                                               *((f"--{k.replace('_', '-')}", v, url) for k, v in rest.items()))
                 if value is not None and needs is None]
    if fmt is not None and (sql is not None or url is not None):
        misplaced.append("--format")
    if misplaced:
        raise InputError(f"{', '.join(misplaced)} {'does' if len(misplaced) == 1 else 'do'} not apply here",
                         hint="--db goes with --sql; --header, --records-key, --max-pages, --timeout and --retries with --url; "
                              "--format with a FILE")
    if (sql is not None or url is not None) and entity is None:
        raise InputError(f"{given[0]} needs an ENTITY", hint="e.g. persona ingest customers --sql customers --db sqlite:///shop.db")


def _ingest_pulled(settings: Any, entity: str | None, mapping: dict[str, str], *, sql: str | None, db: str | None, url: str | None,
                   header: list[str] | None, records_key: str | None, rest: dict[str, Any], as_json: bool) -> None:
    """``--sql`` or ``--url``: pull the records from a database or an API."""
    from persona.ingest import get_spec
    from persona.ingest.sources import ingest_sql, ingest_url, parse_headers
    from persona.ingest.sources.rest import DEFAULT_MAX_PAGES
    from persona.store import open_store

    assert entity is not None
    get_spec(entity)
    headers = parse_headers(header)
    if sql is not None:
        db = db or os.environ.get(SOURCE_DB_ENV)
        if not db:
            raise InputError("--sql needs the database to read: --db URL",
                             hint=f"e.g. --db sqlite:///shop.db, or set {SOURCE_DB_ENV}=postgresql+psycopg://user:password@host/db "
                                  "to keep the password out of the shell history")
    store = open_store(settings)
    try:
        if sql is not None:
            assert db is not None
            report = ingest_sql(store, entity, sql, db, mapping=mapping)
        else:
            assert url is not None
            report = ingest_url(store, entity, url, headers=headers, records_key=records_key, mapping=mapping,
                                **{"max_pages": DEFAULT_MAX_PAGES, **rest})
    finally:
        store.dispose()
    _show(report, as_json, title=f"ingested {report.source}")


def _show(report: Any, as_json: bool, *, title: str) -> None:
    """The report as JSON or a table, then a warning per extra column that looks like unencrypted PII."""
    d = report.as_dict()
    if as_json:
        emit(d, True)
    else:
        emit({k: d[k] for k in ("entity", "source", "read", "accepted", "duplicates", "rejected", "quarantine", "stubs", "seconds")},
             False, title=title)
    if not as_json:
        _redaction_note(report.redacted)
    for col, kind in report.plaintext_pii.items():
        from persona.cli._common import err_console
        from persona.privacy.detect import pii_fix

        err_console.print(f"warning: column {col!r} looks like {kind} and is stored unencrypted as an attribute: "
                          f"{pii_fix(col, kind)}", markup=False, highlight=False)


def _redaction_note(redacted: dict[str, int]) -> None:
    """One line when personal data (e-mail addresses, phone or card numbers, IBANs) was removed from review texts."""
    if any(redacted.values()):
        from persona.cli._common import console
        from persona.privacy.detect import describe_counts, tokens_of

        console.print(f"redacted from review texts: {describe_counts(redacted)}, stored as {tokens_of(redacted)}",
                      markup=False, highlight=False)


def ingest_adapter(store: Any, name: str, path: Path) -> dict[str, Any]:
    """Run a dataset adapter and ingest each entity it yields, in dependency order."""
    from persona.ingest import ENTITY_ORDER, ingest_frames

    try:
        from persona.ingest.adapters import get_adapter
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("persona.ingest.adapters"):
            raise InputError("dataset adapters are not available in this installation") from exc
        raise
    path = Path(path).expanduser()
    if not path.exists():
        from persona.errors import DataFileError

        raise DataFileError(f"path not found: {path}", hint="give the dataset's folder or file")
    ad = get_adapter(name)
    streams = ad.read(path)
    unknown = [e for e in streams if e not in ENTITY_ORDER]
    if unknown:
        raise InputError(f"adapter {ad.name!r} produced unknown entities {unknown}")
    out: dict[str, Any] = {}
    for entity in ENTITY_ORDER:
        if entity in streams:
            out[entity] = ingest_frames(store, entity, streams[entity], source=f"{ad.name}:{path}").as_dict()
    totals = {k: sum(v[k] for v in out.values()) for k in ("read", "accepted", "duplicates", "rejected")}
    return {"adapter": ad.name, "path": str(path), **totals, "entities": out}


def register(app: typer.Typer) -> None:
    """Add ``ingest`` to the main app."""
    app.command("ingest")(ingest)
