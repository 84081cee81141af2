"""Fixtures shared by the ingest tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from persona.config import Settings
from persona.store import Store, init_workspace, open_store


@pytest.fixture
def initialised_store(settings: Settings) -> Iterator[Store]:
    """An initialised workspace's store (with its secret key, which customers' e-mail addresses need); the suite's
    plain ``store`` only creates the tables."""
    init_workspace(settings)
    s = open_store(settings)
    yield s
    s.dispose()


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    """A pipeline run context on a fresh SQLite workspace (no environment overrides), for the data stages."""
    from persona.config import load_settings
    from persona.pipeline.stage import RunContext

    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    monkeypatch.delenv("PERSONA_SECRET_KEY", raising=False)
    settings = load_settings(tmp_path / "ws", progress=False)
    init_workspace(settings)
    store = open_store(settings)
    yield RunContext(settings=settings, store=store, data_dir=None, seed=3, progress=False)
    store.dispose()
