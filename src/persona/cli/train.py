"""``persona train`` (once, ``--every SECONDS`` or ``--schedule CRON``) and ``persona models list|promote|rollback``."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit, settings_for
from persona.errors import InputError

log = logging.getLogger(__name__)
models_app = typer.Typer(help="The model registry: versions, promotion, rollback.", no_args_is_help=True)
NameOpt = Annotated[str, typer.Option("--name", help="Registry name of the served recommender.")]


def _store(workspace: Any) -> Any:
    from persona.store import open_store

    return open_store(settings_for(workspace))


def _next_run(schedule: str | None, every: float | None, now: datetime) -> float:
    """Seconds until the next run."""
    if every is not None:
        return every
    from croniter import croniter

    return max(0.0, (croniter(schedule, now).get_next(datetime) - now).total_seconds())


def _print_report(rep: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(rep, True)
        return
    emit(rep["comparison"], False, title=f"candidates on a {rep['split']} holdout (top-10)",
         columns=["model", "ndcg@10", "recall@10", "coverage", "fit_s"])
    act = rep["active"]
    console.print(f"candidate {rep['algorithm']} (fold-in holdout nDCG@10 {rep['candidate']['ndcg@10']:.4f}) vs active "
                  + (f"v{rep['active_version']} ({act['ndcg@10']:.4f})" if act else "none"))
    verdict = "[green]promoted[/green]" if rep["promoted"] else "[yellow]kept as candidate[/yellow]"
    console.print(f"{rep['name']} v{rep['version']}: {verdict} — {rep['reason']}")


def train(
    name: NameOpt = "recommender",
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="Algorithm(s) to compare (repeatable); default: the pipeline's set.")] = None,
    split: Annotated[str, typer.Option(help="Holdout: temporal, random or stratified.")] = "temporal",
    min_gain: Annotated[float, typer.Option(help="Promote only when the candidate's nDCG@10 beats the active one by more than this.")] = 0.0,
    every: Annotated[float | None, typer.Option("--every", help="Retrain every SECONDS (runs until interrupted).", min=1)] = None,
    schedule: Annotated[str | None, typer.Option("--schedule", help="Retrain on a cron schedule, e.g. '0 3 * * *' (UTC).")] = None,
    max_runs: Annotated[int | None, typer.Option("--max-runs", help="Stop a scheduled loop after this many runs.", min=1)] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build a new recommender version, compare it with the active one on a holdout, promote it only if better."""
    from persona.api.retrain import retrain

    if every is not None and schedule is not None:
        raise InputError("--every and --schedule exclude each other", hint="pick one")
    if schedule is not None:
        from croniter import croniter

        if not croniter.is_valid(schedule):
            raise InputError(f"--schedule {schedule!r} is not a cron expression", hint="five fields: minute hour day month weekday, e.g. '0 3 * * *'")
    names = [n.strip() for m in (model or []) for n in m.split(",") if n.strip()] or None
    runs = 0
    while True:
        if schedule is not None:
            time.sleep(_next_run(schedule, None, datetime.now(UTC)))
        store = _store(workspace)
        try:
            rep = retrain(store, name=name, models=names, split=split, min_gain=min_gain, seed=store.settings.seed)
        finally:
            store.dispose()
        _print_report(rep, as_json)
        runs += 1
        if (every is None and schedule is None) or (max_runs is not None and runs >= max_runs):
            return
        if every is not None:
            time.sleep(every)


@models_app.command("list")
def list_(name: Annotated[str | None, typer.Argument(help="Only this model.")] = None, workspace: WorkspaceOpt = None,
          as_json: JsonOpt = False) -> None:
    """Every version with its status and headline metrics."""
    from persona.registry import list_models

    store = _store(workspace)
    try:
        rows = [mv.to_dict() for mv in list_models(store, name)]
    finally:
        store.dispose()
    if as_json:
        emit(rows, True)
        return
    table = [{"name": r["name"], "version": r["version"], "status": r["status"], "algorithm": r["params"].get("algorithm"),
              "ndcg@10": r["metrics"].get("ndcg@10"), "created_at": r["created_at"]} for r in rows]
    emit(table, False, title="models")


@models_app.command("promote")
def promote_(name: Annotated[str, typer.Argument(help="Model name.")], version: Annotated[int, typer.Argument(help="Version to activate.")],
             workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Make VERSION the active one (running services switch within seconds)."""
    from persona.registry import promote

    store = _store(workspace)
    try:
        emit(promote(store, name, version).to_dict(), as_json, title="active")
    finally:
        store.dispose()


@models_app.command("rollback")
def rollback_(name: Annotated[str, typer.Argument(help="Model name.")] = "recommender", workspace: WorkspaceOpt = None,
              as_json: JsonOpt = False) -> None:
    """Re-activate the version that was active before the current one."""
    from persona.registry import rollback

    store = _store(workspace)
    try:
        emit(rollback(store, name).to_dict(), as_json, title="active")
    finally:
        store.dispose()


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.add_typer(models_app, name="models")
