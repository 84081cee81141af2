"""Options and output shared by every command: ``--workspace``, ``--json``, tables, progress."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from persona.config import Settings, load_settings
from persona.display import number, when
from persona.jsonvalues import dumps

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", envvar="PERSONA_WORKSPACE", help="Workspace folder (default ./.persona).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]


def _width(stream: Any) -> int | None:
    """The terminal's width on a terminal; piped or redirected, wide enough that no table column is cut (``COLUMNS``
    still rules where set)."""
    tty = getattr(stream, "isatty", None)
    return None if (tty is not None and tty()) or os.environ.get("COLUMNS") else PIPED_WIDTH


#: the width of tables written to a pipe or a file (Rich would cut them at 80 characters)
PIPED_WIDTH = 200
console = Console(emoji=False, width=_width(sys.stdout))  # user data is printed as written: `root:x:0` is no :x: emoji
err_console = Console(stderr=True, emoji=False, width=_width(sys.stderr))


def settings_for(workspace: Path | None, **overrides: Any) -> Settings:
    """Settings for a command's ``--workspace`` (or ``PERSONA_WORKSPACE``)."""
    return load_settings(workspace, **overrides)


@contextmanager
def model_progress(total: int, *, as_json: bool, bar: bool, lines: Console, k: int = 10,
                   then: str | None = None) -> Iterator[Callable[[Any], None] | None]:
    """A model comparison's ``on_result`` for people: one line per model evaluated (its nDCG@k and fit time, or why
    it was left out) and, with ``bar``, a progress bar over the ``total`` models, both on stderr (without the bar,
    the lines go to ``lines``); ``then`` names the work that follows the last model (the bar says so while it
    runs). None with ``as_json``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    def line(rep: Any) -> str:
        return f"  {rep.name}: " + (rep.error or f"nDCG@{k} {rep.metrics.get(f'ndcg@{k}', 0):.4f}, fit {rep.fit_seconds:.1f}s")

    if as_json:
        yield None
        return
    if not bar:
        yield lambda rep: lines.print(line(rep))
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True) as shown:
        task = shown.add_task(f"comparing {total} models on held-out events", total=total)

        def done(rep: Any) -> None:
            shown.console.print(line(rep))  # above the bar (another console's output would be drawn over)
            shown.advance(task)
            if then and shown.tasks[0].completed >= total:
                shown.update(task, description=then)

        yield done


def to_json(data: Any) -> str:
    """JSON text for ``--json`` output (NaN becomes null, numpy and dates are converted)."""
    return dumps(data, indent=2)


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


#: a time stamp as the databases give them back as text (``2026-12-07 03:45:52.785832``, ``2026-12-07T03:31:45+00:00``)
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return number(v)  # 12,345.6 → 12,346, never 1.235e+04
    if isinstance(v, datetime) or (isinstance(v, str) and _STAMP.fullmatch(v)):
        try:
            return when(v)  # one format whichever database and column: 2026-12-07 03:45:52 UTC
        except (ValueError, TypeError):
            return str(v)
    if isinstance(v, Mapping | list):
        return dumps(v, compact=False)[:120]
    return "" if v is None else str(v)
