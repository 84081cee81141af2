"""``persona doctor``: check that the workspace is ready to run, and say how to fix what is not."""

from __future__ import annotations

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit, settings_for


def doctor(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Check the workspace, its database and schema, the secret key (file mode, a rotation left unfinished, whether it
    opens the stored data), the configured sources' environment variables, the engine, Redis and free disk space.

    Exit code 1 when a check fails (a warning alone exits 0). JSON output: [{"name", "status", "detail", "fix"}].
    """
    from persona.doctor import diagnose

    checks = [c.as_dict() for c in diagnose(settings_for(workspace))]
    if as_json:
        emit(checks, True)
    else:
        emit(checks, False, title="persona doctor", columns=["name", "status", "detail", "fix"])
        bad = [c for c in checks if c["status"] != "ok"]
        console.print(f"{len(checks) - len(bad)} of {len(checks)} checks ok"
                      + (f"; {sum(c['status'] == 'fail' for c in bad)} failed" if bad else ""), markup=False)
    if any(c["status"] == "fail" for c in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to the main app."""
    app.command("doctor")(doctor)
