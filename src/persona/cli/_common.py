"""Options and output shared by every command: ``--workspace``, ``--json``, tables, progress."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from persona.config import Settings, load_settings

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", envvar="PERSONA_WORKSPACE", help="Workspace folder (default ./.persona).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]

console = Console()
err_console = Console(stderr=True)


def settings_for(workspace: Path | None, **overrides: Any) -> Settings:
    """Settings for a command's ``--workspace`` (or ``PERSONA_WORKSPACE``)."""
    return load_settings(workspace, **overrides)


def _default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    return str(o)


def _clean(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, Mapping):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    return o


def to_json(data: Any) -> str:
    """JSON text for ``--json`` output (NaN becomes null, numpy and dates are converted)."""
    return json.dumps(_clean(json.loads(json.dumps(data, default=_default, allow_nan=True))), ensure_ascii=False, indent=2)


def emit(data: Any, as_json: bool, *, title: str | None = None, columns: Iterable[str] | None = None) -> None:
    """Print ``data`` as JSON (``--json``) or as a Rich table for people.

    A list of mappings becomes a table with one row each; a mapping becomes a two-column table.
    """
    if as_json:
        sys.stdout.write(to_json(data) + "\n")
        return
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a DataFrame
        data = data.to_dict(orient="records")
    if isinstance(data, list):
        cols = list(columns) if columns else (list(data[0].keys()) if data else [])
        table = Table(title=title)
        for c in cols:
            table.add_column(str(c))
        for row in data:
            table.add_row(*[_fmt(row.get(c)) for c in cols])
        console.print(table)
    elif isinstance(data, Mapping):
        table = Table(title=title, show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        for k, v in data.items():
            table.add_row(str(k), _fmt(v))
        console.print(table)
    else:
        console.print(data)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, Mapping | list):
        return json.dumps(v, default=_default, ensure_ascii=False)[:120]
    return "" if v is None else str(v)
