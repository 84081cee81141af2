"""``persona serve``: the HTTP API and dashboard (FastAPI + uvicorn, extra ``api``)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from persona.cli._common import WorkspaceOpt, settings_for


def serve(
    workspace: WorkspaceOpt = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (use several on PostgreSQL).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    precompute: Annotated[int, typer.Option(help="Compute the lists of this many customers at start (0: on first request).", min=0)] = 0,
    redis_url: Annotated[str | None, typer.Option("--redis-url", envvar="PERSONA_REDIS_URL", help="Share hot lists between workers in Redis.")] = None,
) -> None:
    """Serve the JSON API (/v1, OpenAPI at /docs), tracking links (/t) and the dashboard (/ui)."""
    import uvicorn

    from persona.store import open_store

    settings = settings_for(workspace)
    open_store(settings).dispose()  # fail fast, with the fix, on a missing workspace or old schema
    os.environ["PERSONA_WORKSPACE"] = str(settings.workspace)
    if settings.database_url:
        os.environ["PERSONA_DATABASE_URL"] = settings.database_url
    if precompute:
        os.environ["PERSONA_PRECOMPUTE"] = str(precompute)
    if redis_url:
        os.environ["PERSONA_REDIS_URL"] = redis_url
    if workers > 1 and settings.is_sqlite:
        typer.echo("note: several workers on SQLite share one writer; use PostgreSQL for write-heavy loads", err=True)
    uvicorn.run("persona.api.main:create_app", factory=True, host=host, port=port, workers=workers, log_level=log_level,
                access_log=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
