"""An API client over a real workspace with a small shop and keys of every scope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from shop_fixtures import seed_shop

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from persona.api.keys import create_key  # noqa: E402
from persona.api.main import create_app  # noqa: E402
from persona.config import load_settings  # noqa: E402
from persona.store import open_store  # noqa: E402
from persona.store.workspace import init_workspace  # noqa: E402


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str], object, object]]:
    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    settings = load_settings(tmp_path / "ws", progress=False, global_holdout=0.0)
    init_workspace(settings)
    store = open_store(settings)
    seed_shop(store, settings, 30)
    keys = {scope: create_key(store, scope)["key"] for scope in ("read", "write", "admin")}
    with TestClient(create_app(settings, store=store)) as client:
        yield client, keys, store, settings
    store.dispose()
