"""``persona train`` (once, ``--every SECONDS`` or ``--schedule CRON``) and ``persona models list|promote|rollback|prune``."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit, err_console, settings_for
from persona.errors import NotFoundError

log = logging.getLogger(__name__)
models_app = typer.Typer(help="The model registry: versions, promotion, rollback, retention.", no_args_is_help=True)
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
    """Every version with its status and headline metrics (pruned versions too: their artifact is gone, their record
    stays)."""
    from persona.registry import list_models

    store = _store(workspace)
    try:
        rows = [mv.to_dict() for mv in list_models(store, name)]
        if name is not None and not rows:
            known = sorted({mv.name for mv in list_models(store)})
            raise NotFoundError(f"no model named {name!r} is registered",
                                hint=f"registered: {known}" if known else "no model is registered yet")
    finally:
        store.dispose()
    if as_json:
        emit(rows, True)
        return
    if not rows:  # an unknown NAME is an error (above); an empty registry is not
        console.print("no model is registered yet (`persona run` or `persona recommend train` registers one)")
        return
    table = [{"name": r["name"], "version": r["version"], "status": r["status"], "algorithm": r["params"].get("algorithm"),
              "ndcg@10": r["metrics"].get("ndcg@10"), "created_at": r["created_at"], "pruned_at": r["pruned_at"]}
             for r in rows]
    columns = ["name", "version", "status", "algorithm", "ndcg@10", "created_at"]
    emit(table, False, title="models", columns=columns + (["pruned_at"] if any(r["pruned_at"] for r in rows) else []))


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


def _size(n: int) -> str:
    """Bytes as people read them: 812 B, 4.2 KiB, 37.5 MiB, 1.3 GiB."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


@models_app.command("prune")
def prune_(
    name: Annotated[str | None, typer.Argument(help="Only this model (default: every model).", show_default=False)] = None,
    keep: Annotated[int | None, typer.Option("--keep", help="How many of the newest versions of each model keep their "
                                             "artifacts (at least 1).", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be deleted and the space it frees.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete the artifacts of old versions beyond the KEEP newest; their records stay in `persona models list`.

    Never deleted: the version in production, the one `rollback` would return to, and versions that an experiment,
    the stored predictions or a recent interleaving test name. A pruned version cannot be loaded or promoted again.
    """
    from persona.errors import InputError
    from persona.registry import prune

    if keep is None:
        raise InputError("persona models prune needs --keep N", hint="e.g. --keep 3 keeps the three newest versions "
                         "of each model (and any still in use); add --dry-run to see the plan first")
    store = _store(workspace)
    try:
        report = prune(store, name, keep=keep, dry_run=dry_run)
    finally:
        store.dispose()
    if as_json:
        emit(report.to_dict(), True)
    else:
        _print_prune(report)
    if report.errors:
        for path, why in report.errors.items():
            err_console.print(f"warning: could not delete {path}: {why} (its version is pruned; fix the permissions and "
                              "run `persona models prune` again to delete it)", style="yellow", markup=False,
                              highlight=False, soft_wrap=True)
        raise typer.Exit(4)


def _print_prune(report: Any) -> None:
    verb = "would prune" if report.dry_run else "pruned"
    rows = [{"name": m.name, "version": v.version, "status": v.status,
             "action": verb if v.action == "prune" else "keep", "why": "; ".join(v.why),
             "size": _size(v.bytes) if v.action == "prune" else ""} for m in report.models for v in m.versions]
    if rows:
        emit(rows, False, title=f"model retention: keep the {report.keep} newest" + (" (dry run)" if report.dry_run else ""))
    n, names = len(report.pruned), sum(1 for m in report.models if m.pruned)
    if not n:
        console.print(f"nothing to prune: no model has versions beyond the {report.keep} newest that are not in use")
        return
    what = f"{n} version{'s' if n != 1 else ''} of {names} model{'s' if names != 1 else ''}"
    if report.dry_run:
        console.print(f"would prune {what}, freeing {_size(report.freed_bytes)} (dry run: nothing was changed)")
    else:
        console.print(f"pruned {what}: freed {_size(report.freed_bytes)}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.add_typer(models_app, name="models")
