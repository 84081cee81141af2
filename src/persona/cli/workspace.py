"""``persona init`` and ``persona db upgrade|status|export|import``: create a workspace, keep its schema current, copy its data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, emit, err_console, settings_for

db_app = typer.Typer(help="Database: show the schema revision, apply migrations, export and import the data.",
                     no_args_is_help=True)


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
    from persona.store.sql import open_engine
    from persona.store.workspace import require_workspace

    settings = settings_for(workspace)
    require_workspace(settings)
    engine = open_engine(settings)
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
    from persona.store.sql import open_engine
    from persona.store.workspace import require_workspace

    settings = settings_for(workspace)
    require_workspace(settings)
    engine = open_engine(settings)
    try:
        st = schema_status(engine)
    finally:
        engine.dispose()
    hint = {"ok": "", "empty": "run `persona db upgrade`", "behind": "run `persona db upgrade`", "ahead": "upgrade Persona"}
    emit({**st, "fix": hint[str(st["state"])]}, as_json, title="schema")


@db_app.command("export")
def db_export(
    out: Annotated[Path, typer.Argument(help="New folder, or an archive ending in .tar / .tar.gz.", show_default=False)],
    workspace: WorkspaceOpt = None,
    with_key: Annotated[bool, typer.Option("--with-key", help="Also write the secret key (0600): the copy can then decrypt all PII.")] = False,
    no_models: Annotated[bool, typer.Option("--no-models", help="Leave out the trained model artifacts (models/).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Export every table (Parquet, one file each) and models/ with a verified manifest: a backup, or a move to another database."""
    from persona.errors import InputError
    from persona.store.export import export_workspace

    name = out.name.lower()
    if name.endswith((".zip", ".7z", ".rar", ".tgz", ".bz2", ".xz", ".gz")) and not name.endswith(".tar.gz"):
        raise InputError(f"{out.name} names an archive kind export does not write",
                         hint=f"end the name in .tar or .tar.gz (e.g. {out.stem}.tar.gz), or give a folder name")
    settings = settings_for(workspace)
    info = export_workspace(settings, out, with_key=with_key, models=not no_models)
    if with_key:
        info["warning"] = _KEY_WARNING.format(out=out)
        err_console.print(f"WARNING: {info['warning']}", style="bold red", markup=False, highlight=False, soft_wrap=True)
    tables = info.pop("tables")
    emit({**info, "tables": tables} if as_json else {**info, "tables": len(tables)}, as_json, title="exported")


_KEY_WARNING = ("{out} holds the workspace's secret key: anyone who can read it can decrypt every customer's e-mail, phone "
                "and name. Keep it as safe as the key itself, and delete it once the import is done.")


@db_app.command("import")
def db_import(
    source: Annotated[Path, typer.Argument(help="An export folder or archive written by `persona db export`.", show_default=False)],
    workspace: WorkspaceOpt = None,
    use_key: Annotated[bool, typer.Option("--use-key", help="Install the export's secret key (from export --with-key) in place of this workspace's.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Load an export into this workspace's database, which must be empty (a fresh `persona init`); all or nothing."""
    from persona.store.import_ import import_workspace

    settings = settings_for(workspace)
    info = import_workspace(settings, source, use_key=use_key)
    if info["key_installed"]:
        err_console.print(f"WARNING: the export's secret key is now {settings.key_path}; the key `persona init` made was kept "
                          "beside it as secret.key.replaced-*. Delete the export's copy of the key.",
                          style="bold red", markup=False, highlight=False, soft_wrap=True)
    tables = info.pop("tables")
    emit({**info, "tables": tables} if as_json else {**info, "tables": len(tables)}, as_json, title="imported")


def register(app: typer.Typer) -> None:
    """Add ``init`` and the ``db`` group to the main app."""
    app.command("init")(init)
    app.add_typer(db_app, name="db")
