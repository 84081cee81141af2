"""``persona train`` (once, ``--every SECONDS`` or ``--schedule CRON``) and ``persona models list|promote|rollback``."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit, settings_for

log = logging.getLogger(__name__)
models_app = typer.Typer(help="The model registry: versions, promotion, rollback.", no_args_is_help=True)
NameOpt = Annotated[str, typer.Option("--name", help="Registry name of the served recommender.")]


def _store(workspace: Any) -> Any:
    from persona.store import open_store

    return open_store(settings_for(workspace))


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
    sync: Annotated[bool, typer.Option("--sync", help="Pull the workspace's configured sources before each run (see persona sync).")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build a new recommender version, compare it with the active one on a holdout, promote it only if better.

    With --sync each run first pulls the sources configured in the workspace's config.toml (see `persona sync`).
    """
    from persona.api.retrain import retrain
    from persona.cli._schedule import check_schedule, repeat

    check_schedule(every, schedule)
    names = [n.strip() for m in (model or []) for n in m.split(",") if n.strip()] or None
    if sync:
        from persona.ingest.sources.configured import load_sources, select_sources

        select_sources(load_sources(settings_for(workspace)), None)  # no source configured: fail before the loop

    def once() -> None:
        store = _store(workspace)
        try:
            pulled = _sync_all(store, as_json) if sync else None
            rep = retrain(store, name=name, models=names, split=split, min_gain=min_gain, seed=store.settings.seed)
        finally:
            store.dispose()
        if pulled is not None and as_json:
            rep = {"sync": pulled, **rep}
        _print_report(rep, as_json)

    repeat(once, every=every, schedule=schedule, max_runs=max_runs)


def _sync_all(store: Any, as_json: bool) -> list[dict[str, Any]]:
    """Pull every configured source; the per-source rows (printed as a table unless ``as_json``)."""
    from persona.cli.sync import show_results
    from persona.ingest.sources.configured import load_sources, sync_sources

    results = [r.as_dict() for r in sync_sources(store, load_sources(store.settings))]
    if not as_json:
        show_results(results)
    return results


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
