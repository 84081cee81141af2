"""Writes the self-contained HTML report of a run (plots embedded as base64 PNG)."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from persona.jsonvalues import dumps
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".html.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(html)
    os.replace(tmp, path)
    return path
