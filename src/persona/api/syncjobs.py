"""Pulls of the configured sources that run in the background of the service, with a status to poll.

A pull of a large table takes minutes; held inside an HTTP request it would outlive a proxy's timeout (nginx: 60 s)
and a dashboard click would end in a 504 while the pull went on unseen. ``POST /v1/sources/jobs`` starts the pull in
a thread and answers 202 at once with the job; ``GET /v1/sources/jobs/{id}`` says whether it is running, done or
failed, with the per-source rows of ``persona sync --json``. One job runs at a time in a service; a sync running in
another process (``persona sync``, another worker) makes the job fail with the lock's message (``busy``).
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from persona.errors import BusyError, NotFoundError, PersonaError

#: finished jobs kept for their status (the oldest go first)
KEEP_JOBS = 50


@dataclass
class SyncJob:
    """One background pull: which sources, who asked, and how it went."""

    id: str
    sources: list[str]
    full: bool
    actor: str
    status: Literal["running", "done", "failed"] = "running"
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The job for JSON, with ``failed_sources`` (the rows whose pull failed)."""
        return {**asdict(self), "failed_sources": [r["name"] for r in self.results if r.get("status") == "failed"]}


class SyncJobs:
    """The service's background pulls (one at a time) and the status of recent ones."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, SyncJob] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def start(self, st: Any, names: list[str] | None, *, full: bool, actor: str) -> SyncJob:
        """Check the request (unknown names, no sources, an invalid config.toml fail here, before anything runs),
        then pull in a thread.

        Raises:
            BusyError: a job of this service is running.
            NotFoundError, InputError, ConfigError: as :func:`persona.api.routers.sources.chosen_sources`.
        """
        from persona.api.routers.sources import chosen_sources

        specs = chosen_sources(st, names)
        with self._lock:
            running = self.running()
            if running is not None:
                raise BusyError(f"sync job {running.id} is still running", hint=f"GET /v1/sources/jobs/{running.id}")
            job = SyncJob(id=str(next(self._ids)), sources=[s.name for s in specs], full=full, actor=actor)
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP_JOBS:
                self._jobs.popitem(last=False)
        threading.Thread(target=self._run, args=(st, job, specs), name=f"sync-job-{job.id}", daemon=True).start()
        return job

    def _run(self, st: Any, job: SyncJob, specs: list[Any]) -> None:
        from persona.api.routers.experiments import _clean
        from persona.ingest.sources.configured import sync_sources

        try:
            job.results = _clean([r.as_dict() for r in sync_sources(st.store, specs, full=job.full, progress=False,
                                                                    actor=job.actor)])
            job.status = "done"
        except PersonaError as exc:  # another process holds the sync lock, the store went away
            job.status, job.error, job.hint = "failed", exc.message, exc.hint
        except Exception as exc:  # noqa: BLE001 - a job thread must always end with a status
            job.status, job.error = "failed", f"{type(exc).__name__} (see the service log)"
            raise
        finally:
            job.finished_at = datetime.now(UTC).isoformat()

    def running(self) -> SyncJob | None:
        """The job still running, if any."""
        return next((j for j in reversed(self._jobs.values()) if j.status == "running"), None)

    def get(self, job_id: str) -> SyncJob:
        """The job ``job_id``.

        Raises:
            NotFoundError: no such job (ids are per service process; finished jobs are kept for a while).
        """
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no sync job {job_id!r} in this service",
                                hint="job ids are per service process; GET /v1/sources/jobs lists the recent ones")
        return job

    def recent(self) -> list[SyncJob]:
        """The jobs kept, newest first."""
        return list(reversed(self._jobs.values()))
