"""Where each configured source stands: its stored cursor and its latest ingest runs, and the runs of everything else.

A configured source is matched to its runs and its cursor by the names its reader gives them
(:meth:`~persona.ingest.sources.configured.SourceSpec.identity`): the same text and the same key, computed without
connecting. A one-off ``persona ingest --sql/--url`` of the same query or endpoint is the same source and counts as
one of its runs. Nothing here shows a secret: no password, header value or secret query value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, not_, or_, select

from persona.errors import PersonaError
from persona.ingest.runs import settle_dead_runs
from persona.ingest.sources.configured import SourceSpec, describe
from persona.ingest.sources.cursor import list_cursors
from persona.store.models import IngestRun

#: runs shown per configured source, and of everything else
SOURCE_RUNS = 5
OTHER_RUNS = 20


def sources_status(store: Any, specs: list[SourceSpec], *, runs: int = SOURCE_RUNS,
                   other_runs: int = OTHER_RUNS) -> dict[str, Any]:
    """Every configured source with its cursor and latest runs, and the latest runs of no configured source.

    Returns:
        ``{"sources": [{"name", "entity", "kind", "source", "incremental", "cursor_column", "cursor_key", "cursor",
        "problem", "last_run", "runs"}], "other_runs": [...]}``; a run is ``{"id", "entity", "source", "status",
        "started_at", "finished_at", "read", "accepted", "duplicates", "rejected", "quarantine", "error"}``, newest
        first; ``cursor`` is the stored one (``{"value", "type", "updated_at", "run_id"}``) or None; ``problem`` says
        why the cursor cannot be looked up in this process (a ``db_env`` variable not set here), else None.
    """
    settle_dead_runs(store)  # a run its process left running when it died reads interrupted, with what to do
    cursors = {c["key"]: c for c in list_cursors(store)}
    shown, named = [], []
    for spec in specs:
        row: dict[str, Any] = {**describe(spec), "incremental": spec.incremental,
                               "cursor_column": spec.since_column or spec.since_field, "cursor_key": None,
                               "cursor": None, "problem": None}
        try:
            ident = spec.identity()
            source = ident.source
            row["cursor_key"] = ident.cursor_key
            found = cursors.get(ident.cursor_key or "")
            if found is not None:
                row["cursor"] = {k: _plain(found[k]) for k in ("value", "type", "updated_at", "run_id")}
        except PersonaError as exc:
            source, row["problem"] = spec.run_source(), exc.message
        named.append((spec.entity, source))
        row["runs"] = _runs(store, and_(IngestRun.entity == spec.entity, IngestRun.source == source), runs)
        row["last_run"] = row["runs"][0] if row["runs"] else None
        shown.append(row)
    others = not_(or_(*(and_(IngestRun.entity == e, IngestRun.source == s) for e, s in named))) if named else None
    return {"sources": shown, "other_runs": _runs(store, others, other_runs)}


def _runs(store: Any, where: Any, limit: int) -> list[dict[str, Any]]:
    query = select(IngestRun).order_by(IngestRun.id.desc()).limit(limit)
    if where is not None:
        query = query.where(where)
    with store.session() as s:
        return [{"id": r.id, "entity": r.entity, "source": r.source, "status": r.status,
                 "started_at": _plain(r.started_at), "finished_at": _plain(r.finished_at), "read": r.read,
                 "accepted": r.accepted, "duplicates": r.duplicates, "rejected": r.rejected,
                 "quarantine": r.quarantine, "error": r.error} for r in s.execute(query).scalars()]


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v
