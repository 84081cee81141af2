"""``persona init`` and ``persona db upgrade|status``: create a workspace and keep its schema current."""

from __future__ import annotations

from typing import Annotated

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, emit, settings_for

db_app = typer.Typer(help="Database schema: show the revision, apply migrations.", no_args_is_help=True)


def init(
    workspace: WorkspaceOpt = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (default: SQLite in the workspace)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a workspace: config.toml, a secret key file (0600) and a migrated database. Safe to rerun."""
    from persona.store.workspace import init_workspace

    settings = settings_for(workspace, database_url=database_url)
    emit(init_workspace(settings), as_json, title="workspace ready")


@db_app.command("upgrade")
def db_upgrade(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Apply pending schema migrations to the workspace database."""
    from persona.store.migrate import schema_status, upgrade
    from persona.store.sql import make_engine
    from persona.store.workspace import require_workspace

    settings = settings_for(workspace)
    require_workspace(settings)
    engine = make_engine(settings.url)
    try:
        before = schema_status(engine)
        if before["state"] == "ahead":
            from persona.store.migrate import check_schema

            check_schema(engine, settings.workspace)  # raises: newer than this Persona
        reached = upgrade(engine)
    finally:
        engine.dispose()
    emit({"from": before["current"], "to": reached, "head": before["head"], "changed": before["current"] != reached}, as_json,
         title="schema upgraded")


@db_app.command("status")
def db_status(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Show the database's schema revision and this Persona's head revision."""
    from persona.store.migrate import schema_status
    from persona.store.sql import make_engine
    from persona.store.workspace import require_workspace

    settings = settings_for(workspace)
    require_workspace(settings)
    engine = make_engine(settings.url)
    try:
        st = schema_status(engine)
    finally:
        engine.dispose()
    hint = {"ok": "", "empty": "run `persona db upgrade`", "behind": "run `persona db upgrade`", "ahead": "upgrade Persona"}
    emit({**st, "fix": hint[str(st["state"])]}, as_json, title="schema")


def register(app: typer.Typer) -> None:
    """Add ``init`` and the ``db`` group to the main app."""
    app.command("init")(init)
    app.add_typer(db_app, name="db")
