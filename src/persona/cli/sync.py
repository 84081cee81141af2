"""``persona sync [NAME …]``: pull the SQL and REST sources configured in the workspace's ``config.toml``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, emit, err_console, settings_for

SYNC_HELP = r"""Pull the sources configured in the workspace's config.toml, in dependency order.

A source is a \[sources.NAME] table with an entity and either a SQL query or a REST endpoint:

  \[sources.crm]
  entity = "customers"
  sql = "SELECT id AS customer_id, email FROM crm_users"
  db_env = "CRM_DATABASE_URL"            # or db = "sqlite:///crm.db"
  map = {mail = "email"}                 # their column = our column
  since_column = "updated_at"            # pull incrementally (see persona ingest --since-column)
  \[sources.clicks]
  entity = "events"
  url = "https://api.example.com/v1/events"
  headers_env = {Authorization = "SHOP_API_AUTH"}   # values from the environment
  records_key = "data"                   # also max_pages, timeout, retries
  since_param = "updated_since"          # incremental: with since_field = "updated_at"

Each source is ingested as `persona ingest ENTITY --sql/--url` would (checks, quarantine, counts). A failing source is
reported and the others still run; the exit code is then 1. --every / --schedule repeat the pull.
JSON output: [{"name", "entity", "kind", "status", "error", "read", "accepted", "duplicates", "rejected", …}].
"""

#: the columns of the table printed for people
COLUMNS = ["name", "entity", "status", "read", "accepted", "duplicates", "rejected", "pulled", "seconds"]


def _pulled(cursor: dict[str, Any] | None) -> str:
    """How an incremental source read: from which value of its cursor (everything on a first or --full run)."""
    if not cursor:
        return "all"
    start = "all" if cursor.get("from") is None else f"{cursor['column']} >= {cursor['from']}"
    return f"{start}; next from {cursor['to']}" if cursor.get("to") is not None else start


def show_results(rows: list[dict[str, Any]]) -> None:
    """The per-source table, then each failure's message, on stderr."""
    emit([{**{c: r.get(c) for c in COLUMNS}, "pulled": _pulled(r.get("cursor")) if r["status"] == "ok" else ""} for r in rows],
         False, title="sources pulled", columns=COLUMNS)
    for r in rows:
        if r["status"] == "failed":
            err_console.print(f"source {r['name']!r} failed: {r['error']}" + (f" ({r['hint']})" if r.get("hint") else ""),
                              markup=False, highlight=False, soft_wrap=True)


def sync(
    names: Annotated[list[str] | None, typer.Argument(metavar="NAME", help="Only these sources (default: all).", show_default=False)] = None,
    list_only: Annotated[bool, typer.Option("--list", help="Only list the configured sources (no secrets), pull nothing.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Incremental sources read everything this once and store a fresh cursor.")] = False,
    every: Annotated[float | None, typer.Option("--every", help="Pull every SECONDS (runs until interrupted).", min=1)] = None,
    schedule: Annotated[str | None, typer.Option("--schedule", help="Pull on a cron schedule, e.g. '0 * * * *' (UTC).")] = None,
    max_runs: Annotated[int | None, typer.Option("--max-runs", help="Stop a scheduled loop after this many runs.", min=1)] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from persona.cli._schedule import check_schedule, repeat
    from persona.ingest.sources.configured import describe, load_sources, select_sources, sync_sources
    from persona.store import open_store
    from persona.store.workspace import require_workspace

    check_schedule(every, schedule)
    settings = settings_for(workspace)
    require_workspace(settings)
    specs = select_sources(load_sources(settings), names)
    if list_only:
        emit([describe(s) for s in specs], as_json, title="configured sources", columns=["name", "entity", "kind", "source"])
        return
    failed = 0

    def once() -> None:
        nonlocal failed
        store = open_store(settings)
        try:
            rows = [r.as_dict() for r in sync_sources(store, specs, full=full)]
        finally:
            store.dispose()
        failed = sum(r["status"] == "failed" for r in rows)
        if as_json:
            emit(rows, True)
        else:
            show_results(rows)
        warn_inline_passwords(specs)

    repeat(once, every=every, schedule=schedule, max_runs=max_runs)
    if failed:
        raise typer.Exit(1)


def warn_inline_passwords(specs: list[Any]) -> None:
    """One line per source whose database URL is written in config.toml with its password."""
    for s in specs:
        if s.password_inline():
            err_console.print(f"warning: source {s.name!r} has a database password written in config.toml: move the URL to an "
                              f"environment variable and name it with db_env", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``sync`` to the main app."""
    app.command("sync", help=SYNC_HELP)(sync)

