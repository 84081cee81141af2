"""``persona ingest ENTITY FILE``, ``--sql QUERY --db URL``, ``--url URL``, ``--adapter NAME PATH`` and ``persona ingest cursors``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

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
    since_column: Annotated[str | None, typer.Option("--since-column", help="With --sql: pull incrementally; later runs read only rows whose COL >= the largest value read before.", show_default=False)] = None,
    since_param: Annotated[str | None, typer.Option("--since-param", help="With --url and --since-field: pull incrementally; later runs add NAME=<largest --since-field value read> to the first page's URL.", show_default=False)] = None,
    since_field: Annotated[str | None, typer.Option("--since-field", help="With --url and --since-param: the record field (dots for nested) whose largest value the next run passes.", show_default=False)] = None,
    full: Annotated[bool, typer.Option("--full", help="With --since-column / --since-param: read everything this once, then store a fresh cursor.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load a file, a SQL query or a REST API into the workspace: validated, de-duplicated, PII encrypted, rejects quarantined.

    JSON output: {"read", "accepted", "duplicates", "rejected", "quarantine", "cursor", ...}; read = accepted + duplicates
    + rejected. `persona ingest cursors` lists (and --reset clears) where incremental pulls resume.
    """
    from persona.ingest.mapping import parse_map
    from persona.store import open_store

    mapping = parse_map(map_)
    rest = {"max_pages": max_pages, "timeout": timeout, "retries": retries}
    since = {"since_column": since_column, "since_param": since_param, "since_field": since_field}
    _check_one_source(entity, path, adapter=adapter, sql=sql, db=db, url=url, header=header, records_key=records_key,
                      fmt=fmt, rest=rest)
    _check_since(sql=sql, url=url, full=full, **since)
    settings = settings_for(workspace)
    if sql is not None or url is not None:
        _ingest_pulled(settings, entity, mapping, sql=sql, db=db, url=url, header=header, records_key=records_key,
                       rest={k: v for k, v in rest.items() if v is not None}, since={**since, "full": full}, as_json=as_json)
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


def _check_since(*, sql: str | None, url: str | None, since_column: str | None, since_param: str | None,
                 since_field: str | None, full: bool) -> None:
    """The incremental options go with their source, --since-param with --since-field, and --full with either."""
    if since_column is not None and sql is None:
        raise InputError("--since-column goes with --sql", hint="e.g. persona ingest customers --sql crm_users --db URL "
                         "--since-column updated_at; for an API use --since-param and --since-field with --url")
    example = "e.g. --url https://api.example.com/v1/events --since-param updated_since --since-field updated_at"
    if (since_param is None) != (since_field is None):
        given, missing = ("--since-param", "--since-field") if since_field is None else ("--since-field", "--since-param")
        raise InputError(f"{given} needs {missing}: --since-param names the API's query parameter that filters, "
                         "--since-field the record field whose largest value it is given", hint=example)
    if since_param is not None and url is None:
        raise InputError("--since-param and --since-field go with --url", hint=f"{example}; for SQL use --since-column")
    if full and since_column is None and since_param is None:
        raise InputError("--full applies to incremental pulls only (--since-column, or --since-param with --since-field)",
                         hint="leave --full out: without a cursor every run reads everything anyway")


def _ingest_pulled(settings: Any, entity: str | None, mapping: dict[str, str], *, sql: str | None, db: str | None, url: str | None,
                   header: list[str] | None, records_key: str | None, rest: dict[str, Any], since: dict[str, Any],
                   as_json: bool) -> None:
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
            report = ingest_sql(store, entity, sql, db, mapping=mapping, since_column=since["since_column"],
                                full=since["full"])
        else:
            assert url is not None
            report = ingest_url(store, entity, url, headers=headers, records_key=records_key, mapping=mapping,
                                since_param=since["since_param"], since_field=since["since_field"], full=since["full"],
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
        shown = {k: d[k] for k in ("entity", "source", "read", "accepted", "duplicates", "rejected", "quarantine", "stubs", "seconds")}
        if report.cursor is not None:
            shown["pulled"] = _pulled(report.cursor)
        emit(shown, False, title=title)
    if not as_json:
        _redaction_note(report.redacted)
        if report.cursor and report.cursor["missing"]:
            from persona.cli._common import err_console

            c = report.cursor
            err_console.print(f"warning: {c['missing']:,} row(s) had no {c['column']} value: they do not move the cursor, and "
                              "later incremental runs skip them (a --full run reads them again)", markup=False, highlight=False)
    if report.unknown_event_types and not as_json:
        from persona.cli._common import err_console
        from persona.ingest.schema import KNOWN_EVENT_TYPES

        n = sum(report.unknown_event_types.values())
        top = sorted(report.unknown_event_types.items(), key=lambda kv: -kv[1])
        named = ", ".join(f"{t} ({c:,})" for t, c in top[:5]) + (f" and {len(top) - 5} more" if len(top) > 5 else "")
        err_console.print(f"note: {n:,} event(s) read of types Persona does not use (kept as they are): {named}; profiles, "
                          "segments, predictions and recommendations read the known types "
                          f"({', '.join(KNOWN_EVENT_TYPES)}): rename a type in the file if it means one of them "
                          "(order_completed → purchase)", markup=False, highlight=False)
    for col, kind in report.plaintext_pii.items():
        from persona.cli._common import err_console
        from persona.privacy.detect import pii_fix

        err_console.print(f"warning: column {col!r} looks like {kind} and is stored unencrypted as an attribute: "
                          f"{pii_fix(col, kind)}", markup=False, highlight=False)


def _pulled(cursor: dict[str, Any]) -> str:
    """How an incremental pull read, e.g. ``incremental from updated_at >= 2026-11-01 10:00:00, next from 2026-11-02 …``."""
    col = cursor["column"]
    read = (f"incremental from {col} >= {_shown(cursor['from'])}" if cursor["from"] is not None
            else "everything (--full)" if cursor["full"] else "everything (first run)")
    after = f"next run from {col} >= {_shown(cursor['to'])}" if cursor["to"] is not None else f"no {col} value stored: the next run reads everything"
    return f"{read}; {after}"


def _shown(value: Any) -> str:
    """An ISO timestamp with a space instead of the T, as people write it; anything else as it is."""
    text = str(value)
    return text.replace("T", " ", 1) if len(text) >= 19 and text[4] == "-" and text[10] == "T" else text


def _redaction_note(redacted: dict[str, int]) -> None:
    """One line when personal data (e-mail addresses, phone, card or account numbers, IBANs, messaging ids) was removed from review texts."""
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


cursors_app = typer.Typer(add_completion=False)


@cursors_app.command("cursors")
def cursors(
    reset: Annotated[str | None, typer.Option("--reset", metavar="KEY", help="Clear the cursor with this key (or its first 4+ characters): its next run reads everything.", show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="With --yes: clear every cursor.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm --reset / --all (without it nothing is cleared).")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List where incremental pulls (--since-column, --since-param) resume, or clear cursors so the next run reads everything.

    JSON output: a list of {"key", "entity", "column", "value", "type", "updated_at", "run_id", "source"}; with --reset or --all
    and --yes: {"cleared": [...]}.
    """
    from persona.ingest.sources.cursor import find_cursors, list_cursors, reset_cursors
    from persona.store import open_store

    if reset is not None and all_:
        raise InputError("--reset KEY and --all clear different things", hint="give one of them")
    if yes and reset is None and not all_:
        raise InputError("--yes confirms --reset KEY or --all", hint="add what to clear, e.g. --reset KEY --yes")
    store = open_store(settings_for(workspace))
    try:
        if reset is None and not all_:
            _list_cursors(list_cursors(store), as_json)
            return
        chosen = find_cursors(store, None if all_ else reset)
        what = "; ".join(f"{c['key']} ({c['entity']} {c['column']} >= {_shown(c['value'])}, {c['source']})" for c in chosen)
        if not yes and chosen:
            raise InputError(f"this would clear {len(chosen)} cursor(s): {what}; their next runs would read everything",
                             hint="add --yes to clear them")
        reset_cursors(store, [c["key"] for c in chosen])
    finally:
        store.dispose()
    if as_json:
        emit({"cleared": chosen}, True)
    else:
        from persona.cli._common import console

        console.print(f"cleared {len(chosen)} cursor(s){': ' + what if chosen else ''}; their next runs read everything",
                      markup=False, highlight=False)


def _list_cursors(found: list[dict[str, Any]], as_json: bool) -> None:
    """The stored cursors as JSON, or two lines each: key, entity and value, then the source."""
    if as_json:
        emit(found, True)
        return
    from persona.cli._common import console

    if not found:
        console.print("no stored cursors: incremental pulls (--since-column, --since-param) store one after their first run")
        return
    for c in found:
        when = f"{c['updated_at']:%Y-%m-%d %H:%M}" if c["updated_at"] is not None else "?"
        console.print(f"{c['key']}  {c['entity']}  {c['column']} >= {_shown(c['value'])}  ({c['type']}; moved {when} by run "
                      f"{c['run_id']})\n    {c['source']}", markup=False, highlight=False, soft_wrap=True)
    console.print("clear one with: persona ingest cursors --reset KEY --yes", markup=False, highlight=False)


class IngestCommand(TyperCommand):
    """``persona ingest``, where ``persona ingest cursors …`` runs the cursors command instead (no entity is called that)."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        if args and args[0] == "cursors":
            command = typer.main.get_command(cursors_app)
            return command.make_context(f"{info_name} cursors", args[1:], parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


def register(app: typer.Typer) -> None:
    """Add ``ingest`` (and its ``ingest cursors``) to the main app."""
    app.command("ingest", cls=IngestCommand)(ingest)
