"""``persona run``: the whole loop once, end to end, and the report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit, err_console, settings_for
from persona.errors import DataFileError


def run(
    workspace: WorkspaceOpt = None,
    data: Annotated[Path | None, typer.Option("--data", help="Folder with your customers/products/events/reviews/consents files (default: a generated demo shop).")] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only these stages (repeatable).")] = None,
    skip: Annotated[list[str] | None, typer.Option("--skip", help="Skip these stages (repeatable).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed for every stochastic step.")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars (for scripts).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run every pipeline stage once on the workspace (initialising it if needed) and write report.html."""
    from persona.pipeline.runner import check_stage_names, run_pipeline, summary
    from persona.store import open_store
    from persona.store.workspace import init_workspace

    if data is not None and not data.is_dir():
        raise DataFileError(f"--data {data} is not a folder", hint="pass a folder holding customers.csv, events.csv, …")
    check_stage_names(only, skip)  # before the workspace is created
    settings = settings_for(workspace, seed=seed, progress=not (no_progress or as_json))
    init_workspace(settings)
    store = open_store(settings)
    plog = logging.getLogger("persona")
    level = plog.level
    if as_json:
        plog.setLevel(logging.ERROR)  # stdout carries only the JSON; warnings are in the report
    try:
        ctx = run_pipeline(settings, store, data_dir=data, only=only, skip=skip, progress=settings.progress)
    finally:
        plog.setLevel(level)
        store.dispose()
    out = summary(ctx)
    if as_json:
        emit(out, True)
    else:
        rows = [
            {"stage": k, "status": v["status"], "seconds": v["seconds"], "message": v["message"]} for k, v in out["stages"].items()
        ]
        emit(rows, False, title="persona run")
        console.print(f"report: {out['report']}")
    if not out["ok"]:
        err_console.print("some stages failed; see the messages above and the report")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
