"""Persistence: one Store interface over SQLAlchemy, serving SQLite (default) and PostgreSQL."""

from persona.store.sql import Store, open_store
from persona.store.workspace import init_workspace, require_workspace

__all__ = ["Store", "init_workspace", "open_store", "require_workspace"]
