"""``persona campaign …``: validate, create, plan, preview, send, run the worker, show status."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit, err_console, settings_for

app = typer.Typer(help="Campaigns: audiences, strategies, personal messages, exactly-once delivery.", no_args_is_help=True)

SpecArg = Annotated[str, typer.Argument(help="A campaign YAML file, or the name of a stored campaign.")]


def _open(workspace: Path | None):  # noqa: ANN202
    from persona.store import open_store

    settings = settings_for(workspace)
    return settings, open_store(settings)


def _is_file_ref(ref: str) -> bool:
    p = Path(ref)
    return p.suffix in (".yaml", ".yml") or p.is_file()


def _spec(store, ref: str):  # noqa: ANN001, ANN202
    from persona.campaigns.spec import CampaignSpec, load_spec
    from persona.errors import NotFoundError
    from persona.store.models import Campaign

    if _is_file_ref(ref):
        return load_spec(Path(ref))
    with store.session() as s:
        row = s.get(Campaign, ref)
    if row is None:
        raise NotFoundError(f"no campaign {ref!r} and no file of that name", hint="pass a YAML file or `persona campaign list`")
    return CampaignSpec.model_validate(row.spec)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Campaign YAML file.")],
    workspace: WorkspaceOpt = None,
    offline: Annotated[bool, typer.Option("--offline", help="Check the file alone, without the workspace's segments and fields.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check a campaign file: syntax, fields, segments, predicates and templates, with locations.

    Exit code 2 when the file has problems; with --json they are also printed on stdout as
    {"valid": false, "file": FILE, "problems": ["FILE:LINE:COLUMN: field: problem", ...]}.
    """
    from persona.campaigns.planner import validate_campaign
    from persona.campaigns.spec import load_spec
    from persona.errors import InputError

    try:
        spec = load_spec(file)
        validate_campaign(None if offline else _open(workspace)[1], spec)
    except InputError as exc:
        if as_json:
            emit({"valid": False, "file": str(file), "problems": getattr(exc, "problems", None) or [str(exc)]}, True)
        raise
    emit({"valid": True, "name": spec.name, "groups": [g.name for g in spec.groups], "channels": [c.type for c in spec.channels]}, as_json,
         title="campaign is valid")


@app.command()
def create(file: Annotated[Path, typer.Argument(help="Campaign YAML file.")], workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Validate and store a campaign (active: the worker plans and sends it on schedule)."""
    from persona.campaigns.planner import save_campaign, validate_campaign
    from persona.campaigns.spec import load_spec

    _, store = _open(workspace)
    spec = load_spec(file)
    validate_campaign(store, spec)
    save_campaign(store, spec)
    emit({"created": spec.name, "schedule": spec.schedule.type}, as_json, title="campaign stored")


@app.command("list")
def list_(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Stored campaigns with their status and message counts."""
    _, store = _open(workspace)
    df = store.read_frame(
        "SELECT c.name, c.status, COUNT(m.id) AS messages, SUM(CASE WHEN m.status = 'sent' THEN 1 ELSE 0 END) AS sent "
        "FROM campaigns c LEFT JOIN messages m ON m.campaign = c.name GROUP BY c.name, c.status ORDER BY c.name"
    )
    emit(df.fillna(0).to_dict(orient="records"), as_json, title="campaigns")


@app.command()
def plan(spec_ref: SpecArg, workspace: WorkspaceOpt = None, run_key: Annotated[str | None, typer.Option(help="Run identifier (default NAME:once).")] = None, as_json: JsonOpt = False) -> None:
    """Plan a run: select the audience and write one outbox row per customer and channel (idempotent).

    A FILE is stored as an active campaign together with its run; when planning fails nothing is stored.
    """
    from persona.campaigns.planner import plan_campaign, validate_campaign

    settings, store = _open(workspace)
    spec = _spec(store, spec_ref)
    if _is_file_ref(spec_ref):  # every mistake of the file, located, before anything is stored
        validate_campaign(store, spec)
    res = plan_campaign(store, settings, spec, run_key=run_key)
    out = res.to_dict()
    out["fairness"] = _fairness_findings(store, res.campaign)
    if as_json:
        emit(out, True)
        return
    emit({k: v for k, v in out.items() if k != "parity"}, False, title=f"campaign {res.campaign}: run {res.run_key}")
    if res.parity is not None:
        from persona.campaigns.parity import parity_lines

        for line in parity_lines(res.parity):
            console.print(line, style=None if res.parity.get("feasible") else "yellow", markup=False, highlight=False, soft_wrap=True)
    for f in out["fairness"]:
        console.print(f"fairness: {f}", style="yellow", markup=False, highlight=False)


def _fairness_findings(store: Any, campaign: str) -> list[str]:
    """Significant gaps between customer groups in who this run selects, contacts and offers discounts to
    (empty when the customers carry no gender, age, country or occupation; see ``persona fairness``)."""
    from persona.errors import InputError
    from persona.fairness import campaign_fairness, campaign_selection
    from persona.fairness.workspace import workspace_groups

    try:
        groups = workspace_groups(store)
    except InputError:
        return []
    sel = campaign_selection(store, campaign, groups.index)
    return [] if sel is None else [c.sentence for c in campaign_fairness(sel, groups) if c.summary.get("significant")]


@app.command()
def preview(
    spec_ref: SpecArg,
    customer: Annotated[str, typer.Option("--customer", "-c", help="Customer id.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Render exactly what one customer would receive (subject, text and HTML), without sending."""
    from persona.campaigns.preview import preview as do_preview

    settings, store = _open(workspace)
    msg = do_preview(store, settings, _spec(store, spec_ref), customer)
    data = {"message_id": msg.message_id, "to": msg.to_address, "subject": msg.subject, "text": msg.text, "html": msg.html,
            "strategy": msg.payload.get("strategy"), "offer": msg.payload.get("offer"), "items": msg.payload.get("items")}
    if as_json:
        emit(data, True)
    else:
        console.print(f"[bold]To:[/bold] {msg.to_address}\n[bold]Subject:[/bold] {msg.subject}\n")
        console.print(msg.text, markup=False, highlight=False)


@app.command()
def send(
    name: Annotated[str | None, typer.Argument(help="Campaign name (default: every campaign with due messages).")] = None,
    workspace: WorkspaceOpt = None,
    max_messages: Annotated[int | None, typer.Option("--max", help="Stop after this many messages (at least 1).", min=1)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Deliver the due outbox messages now (consent, caps and quiet hours checked per message).

    A channel that cannot start (an SMTP password or webhook secret variable not set) holds back its campaign's
    messages, which wait for the next run; the others go out, and the exit code is 2 with a line per such channel.
    """
    from persona.campaigns.worker import Worker

    settings, store = _open(workspace)
    if name is not None:
        from persona.campaigns.status import stored_campaign

        stored_campaign(store, name)  # a mistyped name: say so instead of "sent 0"
    delivery = Worker(store, settings)
    stats = delivery.run(name, max_messages=max_messages)
    emit(stats.to_dict(), as_json, title="delivery")
    for (camp, channel), why in delivery.unusable.items():
        err_console.print(f"error[config]: the {channel} channel of {camp} cannot start: {why}", markup=False,
                          highlight=False, soft_wrap=True)
    if delivery.unusable:
        raise typer.Exit(2)


@app.command()
def worker(
    workspace: WorkspaceOpt = None,
    once: Annotated[bool, typer.Option("--once", help="One pass (plan due runs, deliver), then exit.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes (more than 0).")] = 60.0,
    as_json: JsonOpt = False,
) -> None:
    """Run schedules and triggers: plan due runs of active campaigns and deliver, every INTERVAL seconds.

    A campaign that cannot be planned (e.g. its audience names a segment that no longer exists) is skipped with a
    note on stderr ("skipped" in the JSON output) and the other campaigns are planned and delivered all the same;
    fix its file and store it again with `persona campaign create FILE`. With --once the exit code is then 1 (0 when
    every due campaign was planned); without --once the worker keeps running.

    A key rotation is followed (a pass waits while one runs); with PERSONA_SECRET_KEY the worker stops once the key
    was rotated (it must be restarted with the new one).
    """
    from persona.campaigns.scheduler import plan_due
    from persona.campaigns.worker import Worker
    from persona.errors import InputError
    from persona.privacy.keysource import KeyRotationPending

    if not 0 < interval < math.inf:  # checked before any pass: 0 would spin without pause, a negative one fail after a pass
        raise InputError(f"--interval must be a number of seconds above 0, got {interval:g}", hint="e.g. --interval 60")
    settings, store = _open(workspace)
    delivery = Worker(store, settings)
    while True:
        try:
            delivery.keys.writable(store, force=True)  # before planning too: coupon codes are derived from the key
            report = plan_due(store, settings)
            stats = delivery.run()
        except KeyRotationPending as exc:
            if once:
                raise
            err_console.print(f"pass skipped: {exc.message}", markup=False, highlight=False)
            time.sleep(interval)
            continue
        for name, why in report.failed.items():
            err_console.print(f"campaign {name!r} skipped: {why}; fix its file and store it again with `persona campaign create FILE`",
                              style="yellow", markup=False, highlight=False, soft_wrap=True)
        summary = {"planned_runs": [p.run_key for p in report.planned], "skipped": report.failed, **stats.to_dict()}
        if once:
            emit(summary, as_json, title="worker pass")
            if report.failed:
                raise typer.Exit(1)
            return
        if not as_json:
            console.print(f"planned {len(report.planned)} run(s), skipped {len(report.failed)} campaign(s), sent {stats.sent}, "
                          f"failed {stats.failed}, suppressed {stats.suppressed}")
        time.sleep(interval)


@app.command()
def status(name: Annotated[str, typer.Argument(help="Campaign name.")], workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Planned, sent, failed, suppressed (with reasons), opened, clicked, converted and revenue."""
    from persona.campaigns.status import campaign_status

    _, store = _open(workspace)
    emit(campaign_status(store, name), as_json, title=f"campaign {name}")
