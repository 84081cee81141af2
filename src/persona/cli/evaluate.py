"""``persona evaluate …``: offline evaluation of models, printed as a table and written as an HTML report.

Each subcommand is one function below. Other modules may add subcommands: a module listed in
``EXTENSIONS`` that defines ``register_evaluate(app)`` is called with this Typer app (a missing
module is skipped), so ``evaluate clv`` or ``evaluate sentiment`` can live beside their domain.
"""

from __future__ import annotations

import html
import importlib
from pathlib import Path
from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit, model_progress, settings_for

app = typer.Typer(help="Offline evaluation: recommenders compared on a held-out split, with an HTML report.",
                  no_args_is_help=True)
EXTENSIONS: tuple[str, ...] = ("persona.cli.evaluate_clv", "persona.cli.evaluate_sentiment")
#: models compared by ``evaluate recommend`` unless --models says otherwise
EVALUATE_MODELS = ("popular", "itemknn", "userknn", "als", "bpr", "ease", "dlae", "ease-local", "gfcf", "transition",
                   "category", "rating-knn", "hybrid")
TABLE_COLUMNS = ["model", "ndcg@10", "recall@10", "precision@10", "map@10", "coverage", "fit_s", "recommend_s"]


def _interactions_from_file(path: Path) -> Any:
    """Interactions from a CSV / TSV / Parquet file with user and item columns (rating and time optional)."""
    import pandas as pd

    from persona.data import Interactions
    from persona.errors import DataFileError, SchemaError

    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, sep=None, engine="python")
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise DataFileError(f"cannot read {path}: {exc}", hint="pass a CSV, TSV or Parquet file") from exc
    df.columns = [str(c).split(":", 1)[0] for c in df.columns]  # RecBole headers: name:type

    def pick(options: tuple[str, ...]) -> str | None:
        return next((c for c in options if c in df.columns), None)

    user = pick(("user_id", "customer_id", "user", "userId"))
    item = pick(("item_id", "product_id", "item", "movieId"))
    if user is None or item is None:
        raise SchemaError(f"{path} needs a user and an item column; it has {list(df.columns)}",
                          hint="name them user_id and item_id (or customer_id and product_id)")
    weight = pick(("rating", "value", "weight"))
    time = pick(("timestamp", "ts", "time"))
    if weight is not None and not pd.api.types.is_numeric_dtype(df[weight]):
        weight = None
    return Interactions.from_frame(df, user=user, item=item, weight=weight, time=time)


def _interactions_from_adapter(name: str, path: Path) -> Any:
    """Interactions (with item side data) from a dataset adapter, events in source order, weighted by event type
    as a workspace weighs them (:meth:`~persona.data.Interactions.from_store`: a rating counts its value)."""
    import pandas as pd

    from persona.data import Interactions
    from persona.ingest.adapters import get_adapter

    chunks = get_adapter(name).read(path)
    events = pd.concat(list(chunks["events"]), ignore_index=True)
    items = pd.concat(list(chunks["products"]), ignore_index=True) if "products" in chunks else None
    users = pd.concat(list(chunks["customers"]), ignore_index=True) if "customers" in chunks else None
    weight = "value" if "value" in events.columns and events["value"].notna().any() else None
    kind = "event_type" if "event_type" in events.columns and events["event_type"].notna().any() else None
    return Interactions.from_frame(events, user="customer_id", item="product_id", weight=weight, time="timestamp",
                                   event_type=kind, items=items, users=users)


@app.command("recommend")
def recommend(
    path: Annotated[Path | None, typer.Argument(help="Dataset folder or file (with --adapter), instead of the workspace.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Interactions file or dataset folder instead of the workspace.")] = None,
    adapter: Annotated[str | None, typer.Option("--adapter", help="Read PATH with a dataset adapter, e.g. movielens.")] = None,
    models: Annotated[str | None, typer.Option("--models", help="Comma-separated models; default: popular, itemknn, userknn, als, bpr, ease, dlae, ease-local and transition (with timestamps), gfcf, category (with product categories), rating-knn (with ratings: also RMSE and MAE of the held-out ratings), hybrid.")] = None,
    split: Annotated[str | None, typer.Option("--split", help="temporal (latest 20% per customer), random, stratified, or global (latest 20% of all events); default: stratified 75/25 by item for MovieLens, the benchmark protocol; temporal otherwise (random where events carry no time).")] = None,
    k: Annotated[int, typer.Option("--k", help="List length.", min=1, max=100)] = 10,
    out: Annotated[Path | None, typer.Option("--out", help="HTML report path (default WORKSPACE/reports/evaluate-recommend.html).")] = None,
    repeats: Annotated[bool, typer.Option("--repeats", help="Keep held-out products the customer already had (viewed before, bought again) and let every model recommend seen products too; adds the repeat model to the default set.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Also compare each model's accuracy across customer groups: comma-separated attributes (gender, age, country, language, occupation, segment), or 'auto' for those the users carry.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare recommenders on a held-out split: ranking metrics, coverage, novelty, timings, and an HTML report."""
    from persona.errors import InputError
    from persona.evaluate.report import comparison_figure, paired_html, table_html, timing_figure, write_html
    from persona.evaluate.selection import SPLITS, applicable_models, compare
    from persona.pipeline.stage import Section

    if path is not None and data is not None:
        raise InputError("give the dataset once: as PATH or as --data", hint="drop one of them")
    source = data or path
    if adapter is not None and source is None:
        raise InputError(f"--adapter {adapter} needs the dataset's path", hint=f"e.g. persona evaluate recommend --adapter {adapter} ./ml-100k")
    settings = settings_for(workspace)
    if source is not None:
        if not source.exists():
            raise InputError(f"{source} does not exist", hint="pass an interactions file or a dataset folder")
        name = adapter or ("movielens" if source.is_dir() or source.suffix == ".inter" else None)
        inter = _interactions_from_adapter(name, source) if name else _interactions_from_file(source)
        label = f"{name or 'file'}:{source}"
    else:
        from persona.cli.profiles import open_workspace_store
        from persona.data import Interactions

        store = open_workspace_store(workspace)
        try:
            inter = Interactions.from_store(store)
        finally:
            store.dispose()
        label = f"workspace {settings.workspace}"
        name = None
    if inter.nnz == 0:
        raise InputError("no interactions to evaluate on", hint="ingest events or pass --data")
    chosen = split or ("stratified" if name == "movielens" else "temporal")
    if chosen not in SPLITS:
        raise InputError(f"unknown split {chosen!r}", hint=f"use one of {', '.join(SPLITS)}")
    note = None
    if split is None and chosen == "temporal" and not inter.has_time:  # an explicit temporal split fails instead
        chosen, note = "random", "the events carry no time, so a random split stands in for the temporal default"
    fraction = 0.25 if chosen == "stratified" else 0.2
    skipped: dict[str, str] = {}
    if models:
        names = [m.strip() for m in models.split(",") if m.strip()]
    else:
        names, skipped = applicable_models((*EVALUATE_MODELS, "repeat") if repeats else EVALUATE_MODELS, inter)

    groups = None
    if by is not None:  # checked before the models are trained
        from persona.fairness.workspace import data_groups

        groups = data_groups(inter, None if by.strip() == "auto" else [a.strip() for a in by.split(",") if a.strip()])
    with model_progress(len(names), as_json=as_json, bar=settings.progress, lines=console, k=k) as on_result:
        cmp = compare(inter, names, split=chosen, fraction=fraction, k=k, seed=settings.seed, on_result=on_result,
                      repeats=repeats)
    if cmp.best is None:
        raise InputError("no model could be evaluated: " + "; ".join(f"{r.name}: {r.error}" for r in cmp.reports),
                         hint="fix what each message names, or choose other --models")
    rows = cmp.table()
    paired = cmp.versus_best([f"ndcg@{k}", f"recall@{k}"])
    best = cmp.best
    lists = cmp.lists_summary(k)
    section = Section(
        title=f"{chosen} split: {inter.n_users:,} users × {inter.n_items:,} items, {len(inter.log):,} events",
        html=(f"<p>{html.escape(note[0].upper() + note[1:])}.</p>" if note else "")
             + f"<p>Source: {label}. Held out {fraction:.0%} ({len(cmp.test):,} user-item pairs); top-{k} over "
             + ("any item, those each user already had included (repeats kept in the test).</p>" if repeats
                else "items each user has not interacted with in training.</p>") + table_html(rows)
             + paired_html(best.name if best else "", paired)
             + (f"<p>Top-{k} lists: {html.escape(lists['sentence'])}.</p>" if lists else "")
             + "".join(f"<p>Left out {html.escape(n)}: {html.escape(why)}.</p>" for n, why in skipped.items()),
    )
    section.add_figure(comparison_figure(rows, metrics=(f"ndcg@{k}", f"recall@{k}", f"precision@{k}", f"map@{k}"),
                                         title=f"{chosen} split, top-{k}"))
    section.add_figure(timing_figure(rows))
    sections = [section]
    fairness = _by_group(cmp, groups, k) if groups is not None else None
    if fairness is not None:
        sections.append(Section(title=f"Accuracy by customer group ({', '.join(fairness.attributes)})", html=fairness.html()))
    report = out or (settings.workspace / "reports" / "evaluate-recommend.html")
    write_html(report, "Persona: recommender evaluation", sections)
    result = {"source": label, "split": chosen, "repeats": repeats, "k": k, "users": inter.n_users, "items": inter.n_items,
              "events": len(inter.log), "test_pairs": len(cmp.test), "best": best.name if best else None,
              "report": str(report), "models": rows,
              "versus_best": {n: {m: d.to_dict() for m, d in ms.items()} for n, ms in paired.items()},
              "lists_versus_runner_up": lists,
              "skipped": skipped}
    if note:
        result["note"] = note
    if fairness is not None:
        result["by_group"] = {"attributes": fairness.attributes, "findings": fairness.findings,
                              "comparisons": fairness.parts.get("recommendations", [])}
    if as_json:
        emit(result, True)
        return
    cols = [c.replace("@10", f"@{k}") for c in TABLE_COLUMNS]
    if any("rmse" in r for r in rows):  # a model predicted the held-out ratings
        cols[-2:-2] = ["rmse", "mae"]
    emit(rows, False, title=f"{chosen} split, top-{k}: {len(cmp.test):,} held-out pairs", columns=cols)
    if note:
        console.print(f"[yellow]{note}[/yellow]")
    for n, why in skipped.items():
        console.print(f"[dim]left out {n}: {why}[/dim]")
    for r in rows:
        if r.get("unserved"):
            console.print(f"[yellow]{r['model']} returned no list for {r['unserved']} held-out customers: "
                          "they count as misses[/yellow]")
    console.print(f"best: [bold]{result['best']}[/bold]; report written to {report}")
    for line in _paired_lines(result["best"], paired):
        console.print(line)
    if lists:
        console.print(f"  top-{k} lists: {lists['sentence']}", markup=False, highlight=False)
    if fairness is not None:
        for it in fairness.parts.get("recommendations", []):
            if it["model"] == result["best"]:
                console.print(f"{it['model']}: {it['sentence']}", markup=False, highlight=False)


def _by_group(cmp: Any, groups: Any, k: int) -> Any:
    """Every evaluated model's per-user nDCG@k and recall@k compared across the groups (see persona.fairness)."""
    from persona.fairness import FairnessReport, recommendation_fairness

    report = FairnessReport(list(groups.columns))
    for rep in cmp.reports:
        if rep.per_user is not None and len(rep.per_user):
            per_user = rep.per_user.set_axis(rep.per_user.index.astype(str))
            for c in recommendation_fairness(per_user, groups, metrics=(f"ndcg@{k}", f"recall@{k}")):
                report.add("recommendations", c, model=rep.name)
    return report


def _paired_lines(best: str | None, paired: dict[str, dict[str, Any]]) -> list[str]:
    """One line per model: the best model's lead over it, user by user, and whether the split can tell."""
    lines = []
    for name, diffs in paired.items():
        parts = [f"{m} {d.diff:+.4f} (95% CI {d.low:+.4f} to {d.high:+.4f}, p={d.p:.2g})" for m, d in diffs.items()]
        verdict = "ahead" if all(d.significant and d.diff > 0 for d in diffs.values()) else "not clearly ahead"
        lines.append(f"  {best} vs {name}: {'; '.join(parts)}: {verdict}")
    return lines


def _extend() -> None:
    for module in EXTENSIONS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        register = getattr(mod, "register_evaluate", None)
        if register is not None:
            register(app)


_extend()
