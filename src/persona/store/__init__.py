"""Persistence: one Store interface over SQLAlchemy, serving SQLite (default) and PostgreSQL."""

from persona.store.sql import Store, open_store

__all__ = ["Store", "open_store"]
