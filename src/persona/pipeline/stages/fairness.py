"""Stage ``fairness``: do this run's recommendations, predictions and campaigns treat customer groups alike?

Uses what the earlier stages left: the recommend stage's held-out comparison (per-customer accuracy of the
served model) and the served model itself (what it recommends to whom), the predict stage's outcome models
(their backtests) and the campaigns in the store (who was selected, contacted, offered a discount). Groups
come from the customers' gender, age band (from ``birth_year``), country and occupation, where known; see
:func:`persona.fairness.workspace.audit_workspace`.
"""

from __future__ import annotations

from persona.pipeline.stage import RunContext, Section, Stage, StageResult


def run(ctx: RunContext) -> StageResult:
    from persona.errors import InputError
    from persona.fairness.workspace import audit_workspace

    try:
        report = audit_workspace(ctx.store, recommender=ctx.artifacts.get("recommender"),
                                 comparison=ctx.artifacts.get("recommend_comparison"),
                                 outcome_models=ctx.artifacts.get("outcome_models"), seed=ctx.seed)
    except InputError as exc:  # no attribute to group customers by
        return StageResult(status="skipped", message=str(exc))
    if not report.parts:
        return StageResult(status="skipped", message="nothing to audit: no recommender, prediction or campaign in this run")
    found = report.findings
    message = (f"{len(found)} significant gap{'s' if len(found) != 1 else ''} between customer groups"
               if found else "no significant gap between customer groups")
    return StageResult(figures=report.to_dict(), message=message,
                       sections=[Section(title="Fairness: do customer groups get the same treatment?", html=report.html())])


FAIRNESS = Stage(name="fairness", title="Fairness", run=run)
