"""Writes the self-contained HTML report of a run (plots embedded as base64 PNG)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from persona.jsonvalues import dumps
from persona.persistence import write_text_atomic
from persona.pipeline.stage import RunContext


def _env() -> Environment:
    env = Environment(loader=PackageLoader("persona.pipeline", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["pretty"] = lambda v: dumps(v, indent=2)
    return env


def write_report(ctx: RunContext, path: Path) -> Path:
    """Render the report atomically (a temp file renamed into place) and return its path."""
    html = _env().get_template("report.html.j2").render(
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        workspace=str(ctx.settings.workspace),
        results=ctx.results,
    )
    return write_text_atomic(path, html)
