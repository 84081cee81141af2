"""``persona profiles build|show``: customer profiles (features and fused embedding)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, emit, settings_for

app = typer.Typer(help="Customer profiles: build them from the store, show one.", no_args_is_help=True)


def busy(message: str, as_json: bool, settings: Any) -> Any:
    """A Rich spinner for people (not for ``--json`` or with progress switched off)."""
    from contextlib import nullcontext

    from persona.cli._common import err_console

    return nullcontext() if as_json or not settings.progress else err_console.status(message)


def open_workspace_store(workspace: Path | None) -> Any:
    """The store of an initialised workspace whose schema is current."""
    from persona.store import open_store
    from persona.store.migrate import check_schema
    from persona.store.workspace import require_workspace

    settings = settings_for(workspace)
    require_workspace(settings)
    store = open_store(settings)
    check_schema(store.engine, settings.workspace)
    return store


@app.command("build")
def build(
    workspace: WorkspaceOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Rebuild every profile, not only customers with new events.")] = False,
    alpha: Annotated[float, typer.Option("--alpha", help="Weight of the interacted items' mean vector in z = x + alpha*y.")] = 0.5,
    lake: Annotated[Path | None, typer.Option("--lake", help="Build from a data lake's Parquet folder (events/, products/, "
                                              "optionally customers/, reviews/, messages/) instead of the store's events; "
                                              "always a full build.", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build profiles: all of them the first time (or with --full), then only customers with new events."""
    import math

    from persona.errors import InputError
    from persona.profiles import build_and_store

    if not math.isfinite(alpha) or alpha < 0:  # checked up front: an incremental build would not reach the model's check
        raise InputError(f"--alpha must be a finite number >= 0, got {alpha!r}", hint="use e.g. --alpha 0.5")

    store = open_workspace_store(workspace)
    try:
        data = None
        if lake is not None:
            from persona.engines import open_lake
            from persona.privacy.tombstones import erased_customers

            data = open_lake(lake, store.settings, erased=erased_customers(store))
        with busy("building profiles…", as_json, store.settings):
            out = build_and_store(store, full=full or lake is not None, alpha=alpha, seed=store.settings.seed, data=data)
    finally:
        store.dispose()
    if lake is not None:
        out["lake"] = str(lake)
    emit(out, as_json, title="profiles")


@app.command("show")
def show(
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one customer's profile (no PII: features, embedding size, build time)."""
    from persona.profiles import get_profile

    store = open_workspace_store(workspace)
    try:
        prof = get_profile(store, customer_id)
    finally:
        store.dispose()
    if as_json:
        emit(prof, True)
        return
    row = {"customer_id": prof["customer_id"], "updated_at": prof["updated_at"], **prof["features"],
           "embedding": f"{len(prof['embedding'] or [])} dimensions"}
    emit(row, False, title=f"profile of {customer_id}")
