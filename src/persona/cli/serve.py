"""``persona serve``: the HTTP API and dashboard (FastAPI + uvicorn, extra ``api``)."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, err_console, settings_for


def serve(
    workspace: WorkspaceOpt = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port, reported on start).", min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (use several on PostgreSQL).", min=1)] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level: critical, error, warning, info, debug or trace.")] = "warning",
    precompute: Annotated[int, typer.Option(help="Compute the lists of this many customers at start (0: on first request).", min=0)] = 0,
    redis_url: Annotated[str | None, typer.Option("--redis-url", envvar="PERSONA_REDIS_URL", help="Share hot lists between workers in Redis.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Serve the JSON API (/v1, OpenAPI at /docs), tracking links (/t) and the dashboard (/ui).

    Once the port is bound it prints where the service listens (``--json``: one JSON line on stdout with the
    URL, the bound port, the workspace, the database and the workers; a supervisor or a script reads the port
    from it when ``--port 0`` picked a free one), then serves until stopped.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from persona.store import open_store

    _check_options(host, log_level, redis_url)
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
        err_console.print("note: several workers on SQLite share one writer; use PostgreSQL for write-heavy loads")
    config = uvicorn.Config("persona.api.main:create_app", factory=True, host=host, port=port, workers=workers,
                            log_level=log_level.lower(), access_log=False)
    try:
        sock = config.bind_socket()
    except SystemExit:  # uvicorn logs the OS error (address in use, permission) and exits
        from persona.errors import ConfigError

        raise ConfigError(f"cannot listen on {host}:{port}",
                          hint="another process holds the port, or it needs privileges: pick another --port (0 picks a free one)") from None
    sock.listen(config.backlog)  # connections queue from now on; they are answered once the app has started
    _announce(sock.getsockname(), host, settings, workers, as_json)
    server = uvicorn.Server(config)
    try:
        if workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    if workers == 1 and not server.started:
        raise typer.Exit(3)


def _check_options(host: str, log_level: str, redis_url: str | None) -> None:
    """Refuse, before anything starts, a log level uvicorn lacks, a host that names no address and a Redis URL
    that is not one.

    Raises:
        InputError: which option, and what it takes.
    """
    import socket

    from uvicorn.config import LOG_LEVELS

    from persona.errors import InputError

    if log_level.lower() not in LOG_LEVELS:
        raise InputError(f"--log-level {log_level!r} is not a log level", hint=f"use one of {', '.join(LOG_LEVELS)}")
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        raise InputError(f"--host {host!r} is not an address or a name this machine can resolve",
                         hint="use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one of its addresses") from None
    if redis_url:
        import redis

        try:
            redis.Redis.from_url(redis_url)  # parses only: an unreachable server is reported by the service
        except ValueError as exc:
            raise InputError(f"--redis-url {redis_url!r} is not a Redis URL: {exc}",
                             hint="e.g. redis://127.0.0.1:6379/0") from None


def _announce(bound: Any, host: str, settings: Any, workers: int, as_json: bool) -> None:
    """Say where the service listens: one JSON line (``--json``) or a line for people on stderr."""
    port = int(bound[1])
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    info = {"status": "listening", "url": url, "host": host, "port": port, "workers": workers,
            "workspace": str(settings.workspace), "database": "sqlite" if settings.is_sqlite else "postgresql",
            "api": f"{url}/v1", "docs": f"{url}/docs", "dashboard": f"{url}/ui", "ready": f"{url}/readyz", "pid": os.getpid()}
    if as_json:
        sys.stdout.write(json.dumps(info, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    else:
        err_console.print(f"Persona listening on {url} (dashboard {url}/ui, API docs {url}/docs); Ctrl+C stops it")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
