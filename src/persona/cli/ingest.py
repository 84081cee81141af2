"""``persona ingest ENTITY FILE`` and ``persona ingest --adapter NAME PATH``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, emit, settings_for
from persona.errors import InputError


def ingest(
    entity: Annotated[str | None, typer.Argument(metavar="ENTITY", help="customers, products, events, reviews or consents.", show_default=False)] = None,
    path: Annotated[Path | None, typer.Argument(metavar="FILE", help="CSV, JSON-lines or Parquet file (with --adapter: the dataset's file or folder).", show_default=False)] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", "-m", help="Rename a column: THEIR=OUR (repeatable).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="csv, jsonl or parquet (default: from the file).")] = None,
    adapter: Annotated[str | None, typer.Option("--adapter", "-a", help="Read a known dataset layout (e.g. movielens) from PATH.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load a data file into the workspace: validated, de-duplicated, PII encrypted, rejects quarantined.

    JSON output: {"read", "accepted", "duplicates", "rejected", "quarantine", ...}; read = accepted + duplicates + rejected.
    """
    from persona.ingest.mapping import parse_map
    from persona.store import open_store

    mapping = parse_map(map_)
    settings = settings_for(workspace)
    if adapter:
        if path is None and entity is not None:  # `--adapter NAME PATH`: the one positional is the path
            entity, path = None, Path(entity)
        if entity is not None or path is None:
            raise InputError("--adapter takes exactly one PATH and no entity",
                             hint="e.g. persona ingest --adapter movielens data/ml-100k")
        store = open_store(settings)
        try:
            result = ingest_adapter(store, adapter, path)
        finally:
            store.dispose()
        if as_json:
            emit(result, True)
        else:
            emit([{"entity": k, **{c: v[c] for c in ("read", "accepted", "duplicates", "rejected", "quarantine")}}
                  for k, v in result["entities"].items()], False, title=f"ingested {path} ({adapter})")
        return
    if entity is None or path is None:
        raise InputError("persona ingest needs an ENTITY and a FILE (or --adapter NAME PATH)",
                         hint="e.g. persona ingest events events.csv")
    from persona.ingest import get_spec, ingest_file

    get_spec(entity)  # unknown entity: fail before touching the store
    store = open_store(settings)
    try:
        report = ingest_file(store, entity, path, mapping=mapping, fmt=fmt)
    finally:
        store.dispose()
    d = report.as_dict()
    if as_json:
        emit(d, True)
    else:
        emit({k: d[k] for k in ("entity", "source", "read", "accepted", "duplicates", "rejected", "quarantine", "stubs", "seconds")},
             False, title=f"ingested {path}")
    for col, kind in report.plaintext_pii.items():
        from persona.cli._common import err_console

        err_console.print(f"warning: column {col!r} looks like {kind} and is stored unencrypted as an attribute: reload with "
                          f"--map {col}={'email' if kind == 'email' else 'phone'} to encrypt it", markup=False, highlight=False)


def ingest_adapter(store: Any, name: str, path: Path) -> dict[str, Any]:
    """Run a dataset adapter and ingest each entity it yields, in dependency order."""
    from persona.ingest import ENTITY_ORDER, ingest_frames

    try:
        from persona.ingest.adapters import get_adapter
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("persona.ingest.adapters"):
            raise InputError("dataset adapters are not available in this installation") from exc
        raise
    path = Path(path).expanduser()
    if not path.exists():
        from persona.errors import DataFileError

        raise DataFileError(f"path not found: {path}", hint="give the dataset's folder or file")
    ad = get_adapter(name)
    streams = ad.read(path)
    unknown = [e for e in streams if e not in ENTITY_ORDER]
    if unknown:
        raise InputError(f"adapter {ad.name!r} produced unknown entities {unknown}")
    out: dict[str, Any] = {}
    for entity in ENTITY_ORDER:
        if entity in streams:
            out[entity] = ingest_frames(store, entity, streams[entity], source=f"{ad.name}:{path}").as_dict()
    totals = {k: sum(v[k] for v in out.values()) for k in ("read", "accepted", "duplicates", "rejected")}
    return {"adapter": ad.name, "path": str(path), **totals, "entities": out}


def register(app: typer.Typer) -> None:
    """Add ``ingest`` to the main app."""
    app.command("ingest")(ingest)
