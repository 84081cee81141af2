"""Fixtures of the campaign suite: a workspace with a small shop, and a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from shop_fixtures import Inbox, free_port

from persona.config import Settings
from persona.store import Store


@pytest.fixture
def shop(workspace_shop: tuple[Store, Settings]) -> tuple[Store, Settings]:
    return workspace_shop


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    yield inbox, port
    ctl.stop()
