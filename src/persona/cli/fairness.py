"""``persona fairness``: do recommendations, scores and campaigns treat customer groups alike?"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit
from persona.errors import InputError


def fairness(
    by: Annotated[str | None, typer.Option("--by", help="Customer attributes to group by, comma-separated: gender, age, country, "
                                                        "language, occupation, segment (default: those of gender, age, "
                                                        "country, occupation the customers carry).")] = None,
    campaign: Annotated[list[str] | None, typer.Option("--campaign", "-c", help="Audit this campaign's latest run (repeatable; "
                                                                                 "default: every campaign with a run).")] = None,
    top_share: Annotated[float, typer.Option("--top-share", help="Share of top-scored customers a campaign would target.")] = 0.1,
    min_group: Annotated[int, typer.Option("--min-group", help="Groups with fewer customers are listed, not judged.")] = 30,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Audit the workspace by customer group: the active recommender's lists, the stored churn and purchase
    scores, and each campaign's audience, contacts and discounts. Gaps are tested against the other customers.

    JSON output: {"attributes", "min_group", "findings": (sentences of significant gaps), "recommendations",
    "predictions", "campaigns": [{"attribute", "measure", "groups": [...], "summary", "sentence"}, ...]}.
    Accuracy by group (held-out nDCG, backtest AUC) is in the report of `persona run`.
    """
    from persona.cli.profiles import open_workspace_store
    from persona.errors import NotFoundError
    from persona.fairness.workspace import audit_workspace
    from persona.registry import load

    attributes = _attributes(by)
    if not 0 < top_share < 1:
        raise InputError(f"--top-share must lie strictly between 0 and 1, got {top_share:g}", hint="e.g. --top-share 0.1")
    if min_group < 2:
        raise InputError(f"--min-group must be at least 2, got {min_group}", hint="e.g. --min-group 30")
    store = open_workspace_store(workspace)
    try:
        try:
            model: Any = load(store, "recommender")
        except NotFoundError:
            model = None
        report = audit_workspace(store, attributes, campaigns=campaign, recommender=model, top_share=top_share,
                                 min_group=min_group, seed=store.settings.seed)
    finally:
        store.dispose()
    if as_json:
        emit(report.to_dict(), True)
        return
    if not report.parts:
        console.print("nothing to audit yet: no recommender, stored scores or campaign runs (run `persona run` first)")
        return
    found = report.findings
    console.print(f"groups by {', '.join(report.attributes)} (judged from {report.min_group} customers up)")
    for part, items in report.parts.items():
        console.print(f"\n[bold]{part}[/bold]")
        for it in items:
            where = " ".join(str(it[k]) for k in ("model", "campaign") if it.get(k))
            console.print(f"- {where}: {it['sentence']}", markup=False, highlight=False)
    console.print("\n" + (f"[red]{len(found)} significant gap(s)[/red]" if found else "[green]no significant gap between groups[/green]"))


def _attributes(by: str | None) -> list[str] | None:
    """The attributes --by names (None when not given), refused when empty or unknown, before any work."""
    from persona.fairness.groups import ATTRIBUTES

    if by is None:
        return None
    attributes = [a.strip() for a in by.split(",") if a.strip()]
    if not attributes:
        raise InputError(f"--by is empty: name attributes such as gender, age (one or more of: {', '.join(ATTRIBUTES)})",
                         hint="or leave --by out to group by those of gender, age, country, occupation the customers carry")
    unknown = [a for a in attributes if a not in ATTRIBUTES]
    if unknown:
        raise InputError(f"--by names unknown attribute(s) {', '.join(map(repr, unknown))}: use one or more of "
                         f"{', '.join(ATTRIBUTES)}", hint="e.g. --by gender,age")
    return attributes


def register(app: typer.Typer) -> None:
    app.command("fairness")(fairness)
