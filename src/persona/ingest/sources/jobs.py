"""The ``sync_jobs`` table: background pulls of the configured sources, readable by every worker and kept across restarts.

A job is ``running`` only while its runner holds the workspace's sync lock (:func:`persona.ingest.sources.configured
.sync_lock`): the runner writes the row after taking the lock and gives it its final status (done, failed) before
letting the lock go. So whoever takes the lock knows that every row still saying ``running`` belongs to a runner that
died without finishing (a restart, a deploy, an OOM kill) and marks it ``interrupted`` (:func:`interrupt_orphans`);
the lock does that on every acquisition. A job that is finishing still holds the lock, so it is never flipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import delete, select, update

from persona.ingest.runs import this_process
from persona.jsonvalues import utc_iso
from persona.store.models import SyncJobRecord

log = logging.getLogger(__name__)

#: jobs kept in the table; the oldest finished ones go first
KEEP_JOBS = 1000

JobStatus = Literal["running", "done", "failed", "interrupted"]


@dataclass
class SyncJob:
    """One background pull as the API and dashboard show it: which sources, who asked, and how it went."""

    id: str
    sources: list[str]
    full: bool
    actor: str
    status: JobStatus = "running"
    started_at: str = ""
    finished_at: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None
    requested: list[str] = field(default_factory=list)
    host: str | None = None
    pid: int | None = None

    @property
    def seconds(self) -> float | None:
        """How long it ran; None while running, and for an interrupted job (when its process died is not known)."""
        if not self.finished_at or self.status not in ("done", "failed"):
            return None
        return round((datetime.fromisoformat(self.finished_at) - datetime.fromisoformat(self.started_at)).total_seconds(), 3)

    @property
    def failed_sources(self) -> list[str]:
        """The sources whose pull failed."""
        return [r["name"] for r in self.results if r.get("status") == "failed"]

    def as_dict(self) -> dict[str, Any]:
        """The job for JSON, with ``failed_sources`` and ``seconds``."""
        return {"id": self.id, "sources": self.sources, "full": self.full, "actor": self.actor, "status": self.status,
                "started_at": self.started_at, "finished_at": self.finished_at, "results": self.results,
                "error": self.error, "hint": self.hint, "requested": self.requested, "host": self.host, "pid": self.pid,
                "seconds": self.seconds, "failed_sources": self.failed_sources}


def _entity(row: SyncJobRecord) -> SyncJob:
    return SyncJob(id=row.id, sources=list(row.sources or []), full=bool(row.full_pull), actor=row.requested_by,
                   status=cast(JobStatus, row.status), started_at=utc_iso(row.started_at) or "", finished_at=utc_iso(row.finished_at),
                   results=list(row.result or []), error=row.error, hint=row.hint, requested=list(row.requested or []),
                   host=row.host, pid=row.pid)


def create_job(store: Any, job_id: str, *, requested: list[str], sources: list[str], full: bool, actor: str) -> SyncJob:
    """Write a ``running`` job for this process; call only while holding the sync lock (see the module's note).

    The oldest finished jobs beyond :data:`KEEP_JOBS` are removed.
    """
    host, pid = this_process()
    row = SyncJobRecord(id=job_id, status="running", requested=requested, sources=sources, full_pull=full, requested_by=actor,
                        started_at=datetime.now(UTC), result=[], host=host, pid=pid)
    with store.session() as s:
        s.add(row)
        s.flush()
        keep = select(SyncJobRecord.id).order_by(SyncJobRecord.started_at.desc(), SyncJobRecord.id).limit(KEEP_JOBS)
        s.execute(delete(SyncJobRecord).where(SyncJobRecord.status != "running", SyncJobRecord.id.not_in(keep)))
        return _entity(row)


def record_progress(store: Any, job_id: str, results: list[dict[str, Any]]) -> None:
    """Keep the rows of the sources finished so far (an interrupted job still shows them)."""
    with store.session() as s:
        s.execute(update(SyncJobRecord).where(SyncJobRecord.id == job_id).values(result=results))


def finish_job(store: Any, job_id: str, status: JobStatus, results: list[dict[str, Any]], *, error: str | None = None,
               hint: str | None = None) -> None:
    """Give a job its final status; call before letting the sync lock go."""
    with store.session() as s:
        s.execute(update(SyncJobRecord).where(SyncJobRecord.id == job_id).values(
            status=status, result=results, error=error, hint=hint, finished_at=datetime.now(UTC)))


def get_job(store: Any, job_id: str) -> SyncJob | None:
    """The job ``job_id`` as stored, or None."""
    with store.session() as s:
        row = s.get(SyncJobRecord, job_id)
        return None if row is None else _entity(row)


def recent_jobs(store: Any, limit: int = 50) -> list[SyncJob]:
    """The latest ``limit`` jobs, newest first."""
    with store.session() as s:
        rows = s.execute(select(SyncJobRecord).order_by(SyncJobRecord.started_at.desc(), SyncJobRecord.id).limit(limit))
        return [_entity(r) for r in rows.scalars()]


def running_jobs(store: Any) -> list[SyncJob]:
    """The jobs whose row says ``running``, newest first (an orphan among them until someone takes the lock)."""
    with store.session() as s:
        rows = s.execute(select(SyncJobRecord).where(SyncJobRecord.status == "running")
                         .order_by(SyncJobRecord.started_at.desc(), SyncJobRecord.id))
        return [_entity(r) for r in rows.scalars()]


def interrupt_orphans(store: Any) -> int:
    """Mark every ``running`` job ``interrupted``, saying why and what to do; call only while holding the sync lock
    (then no runner is alive for them). Returns how many were marked."""
    marked = 0
    with store.session() as s:
        for row in list(s.execute(select(SyncJobRecord).where(SyncJobRecord.status == "running")).scalars()):
            finished = [r["name"] for r in row.result or []]
            pending = [n for n in row.sources or [] if n not in finished]
            who = f"process {row.pid} on {row.host}" if row.pid else "the service process"
            error = (f"the service stopped during the pull ({who}: a restart, a deploy or a killed worker)"
                     + (f" after {', '.join(finished)} had finished" if finished else "")
                     + f"; start the sync again to pull {', '.join(pending) or 'them'}")
            hint = ("nothing is lost: an unfinished source's cursor did not move, so the next pull resumes where it stood "
                    "(POST /v1/sources/jobs, the dashboard's Sync now, or `persona sync`)")
            done = s.execute(update(SyncJobRecord).where(SyncJobRecord.id == row.id, SyncJobRecord.status == "running")
                             .values(status="interrupted", error=error, hint=hint, finished_at=datetime.now(UTC)))
            if done.rowcount:  # only a row still running: a status written meanwhile is never overwritten
                marked += 1
                log.warning("sync_job=%s status=interrupted host=%s pid=%s", row.id, row.host, row.pid)
    return marked
