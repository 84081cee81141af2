"""``persona keys create|list|revoke``: API keys with scopes (shown once, stored hashed)."""

from __future__ import annotations

from typing import Annotated

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit, settings_for

app = typer.Typer(help="API keys for the HTTP service.", no_args_is_help=True)


def _store(workspace):  # noqa: ANN001, ANN202
    from persona.store import open_store

    return open_store(settings_for(workspace))


@app.command()
def create(
    scope: Annotated[str, typer.Option("--scope", help="read, write or admin.")] = "read",
    name: Annotated[str | None, typer.Option("--name", help="A label for the key.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key. It is printed once; only its hash is stored."""
    from persona.api.keys import create_key

    out = create_key(_store(workspace), scope, name)
    emit(out, as_json, title="new API key")
    if not as_json:
        console.print("store the key now: it cannot be shown again")


@app.command("list")
def list_(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Keys by prefix, scope and last use (never the secret)."""
    from persona.api.keys import list_keys

    emit(list_keys(_store(workspace)), as_json, title="API keys")


@app.command()
def revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix (see `persona keys list`).")], workspace: WorkspaceOpt = None,
           as_json: JsonOpt = False) -> None:
    """Revoke a key; requests with it are refused at once."""
    from persona.api.keys import revoke_key

    revoke_key(_store(workspace), prefix)
    emit({"revoked": prefix}, as_json)
