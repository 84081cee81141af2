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
