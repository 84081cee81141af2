"""A write the database refuses (outside the bulk writer) ends the command with one line and exit code 4."""

from __future__ import annotations

from pathlib import Path

from db_rules import add_check
from typer.testing import CliRunner

from persona.cli.main import app
from persona.config import load_settings
from persona.store import open_store


def test_a_refused_campaign_gives_one_line_exit_4_and_stores_nothing(cli_ws: Path, tmp_path: Path) -> None:
    store = open_store(load_settings(cli_ws, progress=False))
    try:
        add_check(store.engine, "campaigns", "lowercase_names", "name = lower(name)")  # the shop's own rule
        spec = tmp_path / "spring.yaml"
        spec.write_text("name: Spring_Sale\ngroups:\n  - {name: all, strategy: new_arrivals}\nchannels: [outbox]\n")
        r = CliRunner().invoke(app, ["campaign", "create", str(spec), "--workspace", str(cli_ws)])
        assert r.exit_code == 4, r.output
        assert r.output.strip().splitlines() == [r.output.strip()]  # one line, no traceback
        assert r.output.startswith("error[constraint_violation]: the database refused rows for campaigns")
        assert "lowercase_names" in r.output and "Spring_Sale" not in r.output  # the rule, never the row
        assert store.count("campaigns") == 0
    finally:
        store.dispose()
