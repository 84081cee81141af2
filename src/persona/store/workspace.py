"""Workspaces: create one (config, secret key, migrated database) and insist that one exists."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from persona.config import Settings, write_config
from persona.errors import WorkspaceNotFoundError

log = logging.getLogger(__name__)


def require_workspace(settings: Settings) -> None:
    """Raise unless ``persona init`` has run for this workspace.

    Raises:
        WorkspaceNotFoundError: with the commands that create one.
    """
    if not settings.config_path.is_file():
        raise WorkspaceNotFoundError(
            f"no Persona workspace at {settings.workspace} (no {settings.config_path.name})",
            hint=f"run `persona init --workspace {settings.workspace}` (or `persona run`, which initializes one)",
        )


def init_workspace(settings: Settings, *, write: bool | None = None) -> dict[str, Any]:
    """Create (or complete) a workspace: folder, ``config.toml``, key file (0600, never overwritten), migrated database.

    Safe to run again: an existing key is kept, pending migrations are applied. The database is checked (URL,
    driver, connection) and migrated before anything is written, so a bad URL leaves the workspace as it was.

    Args:
        settings: the settings of the workspace to create.
        write: rewrite ``config.toml``; default only when it does not exist yet or a database URL was given.

    Returns:
        ``{"workspace", "config", "database", "key_file", "key_created", "revision"}``.

    Raises:
        ConfigError: the database URL is unusable (unparsable, not SQLite/PostgreSQL, driver not installed), or the
            SQLite file cannot be created or written.
        StoreError: the database server cannot be reached or refused the migration.
    """
    from sqlalchemy.exc import DBAPIError

    from persona.privacy.crypto import create_key_file
    from persona.store.migrate import upgrade
    from persona.store.sql import check_connection, database_error, make_engine

    ws: Path = settings.workspace
    # the database first, before anything is written: a bad URL, a missing driver or an unreachable server leaves
    # no config.toml naming it (nor a key file or folder) behind
    engine = make_engine(settings.url, settings=settings)
    try:
        in_workspace = _inside(engine.url.database if engine.url.get_backend_name() == "sqlite" else None, ws)
        if not in_workspace:
            check_connection(engine, settings)
        ws.mkdir(parents=True, exist_ok=True)
        if in_workspace:  # the default: the SQLite file in the folder just made
            check_connection(engine, settings)
        try:
            revision = upgrade(engine)
        except DBAPIError as exc:  # e.g. no right to create tables
            raise database_error(exc, engine.url, settings=settings, connecting=False) from exc
    finally:
        engine.dispose()
    if write or (write is None and (not settings.config_path.is_file() or settings.database_url)):
        write_config(settings)
    key_created = False if settings.secret_key else create_key_file(settings.key_path)
    log.info("workspace=%s initialised revision=%s key_created=%s", ws, revision, key_created)
    return {
        "workspace": str(ws),
        "config": str(settings.config_path),
        "database": settings.url if settings.is_sqlite else _redact(settings.url),
        "key_file": None if settings.secret_key else str(settings.key_path),
        "key_created": key_created,
        "revision": revision,
    }


def _inside(database: str | None, workspace: Path) -> bool:
    """Whether a SQLite file lies in the workspace folder (which ``init`` creates before connecting to it)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return False
    return Path(database).expanduser().resolve().is_relative_to(workspace.expanduser().resolve())


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
