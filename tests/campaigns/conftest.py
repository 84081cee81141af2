"""Fixtures of the campaign suite: a workspace with a small shop, and a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from shop_fixtures import Inbox, free_port

from persona.config import Settings, load_settings
from persona.store import Store, open_store
from persona.store.workspace import init_workspace


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, Settings]]:
    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    settings = load_settings(tmp_path / "ws", progress=False, global_holdout=0.0, backoff_seconds=0.0)
    init_workspace(settings)
    store = open_store(settings)
    yield store, settings
    store.dispose()


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    yield inbox, port
    ctl.stop()
