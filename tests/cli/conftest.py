"""Shared by the CLI tests: no workspace, database, key or source URL leaks in from the environment, no progress bars,
and a freshly initialised workspace (``cli_ws``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from persona.cli.main import app


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("PERSONA_WORKSPACE", "PERSONA_DATABASE_URL", "PERSONA_SECRET_KEY", "PERSONA_SOURCE_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PERSONA_PROGRESS", "false")


@pytest.fixture
def cli_ws(tmp_path: Path) -> Path:
    """A workspace made by ``persona init``."""
    path = tmp_path / "ws"
    assert CliRunner().invoke(app, ["init", "--workspace", str(path)]).exit_code == 0
    return path
