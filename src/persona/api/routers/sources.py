"""The sources configured in ``config.toml`` over HTTP: their cursors and latest runs, and pulling them now.

Admin scope: a source's description names internal hosts. ``POST …/sync`` pulls inside the request and answers with
the rows; ``POST /v1/sources/jobs`` pulls in the background and answers 202 at once (for pulls that outlast a proxy's
timeout; see :mod:`persona.api.syncjobs`). One sync per workspace at a time (the lock ``persona sync`` takes too: a
second one gets 409), and each is written to the audit log by key.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from persona.api.deps import AppState, require, state
from persona.errors import NotFoundError
from persona.jsonvalues import plain

router = APIRouter(prefix="/v1/sources", tags=["sources"])
NAME = Path(..., max_length=128, description="The source's name, as in its [sources.NAME] table.")


class SyncBody(BaseModel):
    """Options of a pull."""

    model_config = ConfigDict(extra="forbid")

    full: bool = Field(False, description="Incremental sources read everything this once and store a fresh cursor.")


def chosen_sources(st: AppState, names: list[str] | None) -> list[Any]:
    """The configured sources ``names`` (all when None), in dependency order.

    Raises:
        NotFoundError: a name is not configured (the hint lists the configured ones).
        InputError: no source is configured.
        ConfigError: ``config.toml`` is invalid.
    """
    from persona.ingest.sources.configured import load_sources, select_sources

    specs = load_sources(st.settings)
    known = [s.name for s in specs]
    unknown = [n for n in names or [] if n not in known]
    if specs and unknown:
        raise NotFoundError(f"no configured source {unknown[0]!r}",
                            hint=f"configured: {', '.join(sorted(known))}")
    return select_sources(specs, names)


def run_sync(st: AppState, names: list[str] | None, *, full: bool, actor: str) -> list[dict[str, Any]]:
    """Pull the configured sources ``names`` (all when None) now, and audit who asked; the rows of ``persona sync --json``.

    Raises:
        NotFoundError, InputError, ConfigError: as :func:`chosen_sources`.
        BusyError: another sync of this workspace is running.
    """
    from persona.ingest.sources.configured import sync_sources

    rows = [r.as_dict() for r in sync_sources(st.store, chosen_sources(st, names), full=full, progress=False, actor=actor)]
    return plain(rows)


class JobBody(SyncBody):
    """What a background pull pulls."""

    sources: list[str] | None = Field(None, max_length=100, description="Source names (default: all, in dependency order).")


@router.get("", dependencies=[Depends(require("admin"))])
def list_sources(st: AppState = Depends(state)) -> dict[str, Any]:
    """Every configured source (no secrets) with its kind, entity, stored cursor and latest runs; ``other_runs``
    holds the latest runs of files and one-off pulls."""
    from persona.ingest.sources.configured import load_sources
    from persona.ingest.sources.status import sources_status

    return plain(sources_status(st.store, load_sources(st.settings)))


@router.post("/sync")
def sync_all(body: SyncBody | None = None, key: str = Depends(require("admin")),
             st: AppState = Depends(state)) -> list[dict[str, Any]]:
    """Pull every configured source now, in dependency order; a failing one is reported and the others still run."""
    return run_sync(st, None, full=bool(body and body.full), actor=f"api:{key}")


@router.post("/{name}/sync")
def sync_one(name: str = NAME, body: SyncBody | None = None, key: str = Depends(require("admin")),
             st: AppState = Depends(state)) -> list[dict[str, Any]]:
    """Pull one configured source now."""
    return run_sync(st, [name], full=bool(body and body.full), actor=f"api:{key}")


@router.post("/jobs", status_code=202)
def start_job(body: JobBody | None = None, key: str = Depends(require("admin")), st: AppState = Depends(state)) -> dict[str, Any]:
    """Start pulling now in the background and answer at once (202) with the job: for pulls that outlast a proxy's
    timeout. Poll ``GET /v1/sources/jobs/{id}`` (any worker answers). One sync per workspace at a time (409 while a
    job, ``persona sync`` or a key rotation runs)."""
    job = st.jobs.start(st, body.sources if body else None, full=bool(body and body.full), actor=f"api:{key}")
    return {**job.as_dict(), "url": f"/v1/sources/jobs/{job.id}"}


@router.get("/jobs", dependencies=[Depends(require("admin"))])
def list_jobs(limit: int = Query(50, ge=1, le=1000, description="How many jobs, newest first."),
              st: AppState = Depends(state)) -> list[dict[str, Any]]:
    """The workspace's recent background pulls, newest first (whichever worker ran them)."""
    return [j.as_dict() for j in st.jobs.recent(st, limit)]


@router.get("/jobs/{job_id}", dependencies=[Depends(require("admin"))])
def get_job(job_id: str = Path(..., max_length=32), st: AppState = Depends(state)) -> dict[str, Any]:
    """A background pull: running, done (with each source's counts, as ``persona sync --json``), failed, or
    interrupted (the service stopped during the pull: start it again, nothing is lost)."""
    return st.jobs.get(st, job_id).as_dict()
