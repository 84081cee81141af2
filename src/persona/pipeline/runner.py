"""Runs the registered stages in order, isolating failures, and writes the report."""

from __future__ import annotations

import importlib
import logging
import time
import traceback
from pathlib import Path
from typing import Any

from persona.config import Settings
from persona.errors import InputError, PersonaError
from persona.pipeline.registry import STAGES
from persona.pipeline.stage import RunContext, Stage, StageResult

log = logging.getLogger(__name__)


def load_stages(names: list[str] | None = None) -> list[Stage | tuple[str, str]]:
    """Import the registered stages; an entry whose optional extra is missing comes back as (name, reason)."""
    out: list[Stage | tuple[str, str]] = []
    for spec in names or STAGES:
        module, attr = spec.split(":")
        try:
            out.append(getattr(importlib.import_module(module), attr))
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("persona") and exc.name != module:
                raise
            out.append((attr.lower(), f"optional dependency {exc.name!r} is not installed"))
    return out


def check_stage_names(*selections: list[str] | None) -> None:
    """Refuse a stage name (in ``--only`` / ``--skip`` lists) that no registered stage has.

    Raises:
        InputError: an unknown name, with the names there are.
    """
    names = [item[0] if isinstance(item, tuple) else item.name for item in load_stages()]
    unknown = sorted({n for sel in selections for n in (sel or []) if n not in names})
    if unknown:
        raise InputError(f"no stage is called {', '.join(repr(n) for n in unknown)}", hint=f"the stages are {', '.join(names)}")


def run_pipeline(
    settings: Settings,
    store: Any,
    *,
    data_dir: Path | None = None,
    only: list[str] | None = None,
    skip: list[str] | None = None,
    progress: bool = True,
    report: bool = True,
) -> RunContext:
    """Execute every stage once, end to end, and write ``report.html`` in the workspace.

    A failing stage is recorded with its message and the stages that require it are skipped;
    the others still run, so one broken model does not hide the rest of the report.

    Raises:
        InputError: ``only`` or ``skip`` names a stage that does not exist.
    """
    check_stage_names(only, skip)
    ctx = RunContext(settings=settings, store=store, data_dir=data_dir, seed=settings.seed, progress=progress)
    for item in load_stages():
        if isinstance(item, tuple):
            ctx.results[item[0]] = StageResult(status="skipped", message=item[1])
            continue
        stage = item
        if (only and stage.name not in only) or (skip and stage.name in skip):
            ctx.results[stage.name] = StageResult(status="skipped", message="not selected")
            continue
        missing = [r for r in stage.requires if ctx.results.get(r, StageResult(status="skipped")).status != "ok"]
        if missing:
            ctx.results[stage.name] = StageResult(status="skipped", message=f"needs {', '.join(missing)}")
            continue
        t0 = time.perf_counter()
        try:
            result = stage.run(ctx)
        except PersonaError as exc:
            result = StageResult(status="failed", message=str(exc))
        except Exception as exc:  # a bug in one stage must not lose the others' results
            log.error("stage=%s failed: %s", stage.name, traceback.format_exc())
            result = StageResult(status="failed", message=f"{type(exc).__name__}: {exc}")
        result.seconds = round(time.perf_counter() - t0, 3)
        ctx.results[stage.name] = result
        log.info("stage=%s status=%s seconds=%.2f", stage.name, result.status, result.seconds)
    for held in ("engine_shop", "engine_purchases"):  # what the Spark engine keeps for the run's stages
        frames = ctx.artifacts.pop(held, None)
        if hasattr(frames, "release"):
            frames.release()
    if report:
        from persona.pipeline.report import write_report

        ctx.artifacts["report_path"] = write_report(ctx, settings.report_path)
    return ctx


def summary(ctx: RunContext) -> dict[str, Any]:
    """The ``--json`` summary of a run: each stage's status, seconds, message and figures."""
    return {
        "workspace": str(ctx.settings.workspace),
        "report": str(ctx.artifacts.get("report_path", "")),
        "ok": all(r.status != "failed" for r in ctx.results.values()),
        "stages": {
            name: {"status": r.status, "seconds": r.seconds, "message": r.message, "figures": r.figures}
            for name, r in ctx.results.items()
        },
    }
