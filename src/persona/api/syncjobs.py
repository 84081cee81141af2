"""Pulls of the configured sources that run in the background of the service, with a status to poll.

A pull of a large table takes minutes; held inside an HTTP request it would outlive a proxy's timeout (nginx: 60 s)
and a dashboard click would end in a 504 while the pull went on unseen. ``POST /v1/sources/jobs`` starts the pull in
a thread and answers 202 at once with the job; ``GET /v1/sources/jobs/{id}`` says whether it is running, done, failed
or interrupted, with the per-source rows of ``persona sync --json``.

Jobs live in the ``sync_jobs`` table (:mod:`persona.ingest.sources.jobs`), so any worker of the service answers for
any job and a restart forgets none. The workspace's sync lock decides who runs: the runner thread takes it before it
writes its job and keeps it until the job's final status is written, so a second job (from any worker), a
``persona sync`` or a key rotation meanwhile gets 409, and a job whose process died is found out by the next taker
of the lock, or by a reader's probe of it, and reported ``interrupted``.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from persona.errors import BusyError, NotFoundError, PersonaError
from persona.ingest.sources.jobs import (
    SyncJob,
    create_job,
    finish_job,
    get_job,
    recent_jobs,
    record_progress,
    running_jobs,
)

log = logging.getLogger(__name__)

__all__ = ["SyncJob", "SyncJobs"]


@dataclass
class _Launch:
    """What the runner thread tells the request that started it: the job written, or why none was."""

    ready: threading.Event = field(default_factory=threading.Event)
    job: SyncJob | None = None
    error: BaseException | None = None


class SyncJobs:
    """The workspace's background pulls: starting one (in a thread of this process) and reading any, from the store."""

    def start(self, st: Any, names: list[str] | None, *, full: bool, actor: str) -> SyncJob:
        """Check the request (unknown names, no sources, an invalid config.toml fail here, before anything runs), then
        pull in a thread that holds the workspace's sync lock for the job's whole life.

        Returns:
            The job, already written as running (every worker sees it from now on).

        Raises:
            BusyError: a sync of this workspace is running (a job of any worker, ``persona sync``, a key rotation).
            NotFoundError, InputError, ConfigError: as :func:`persona.api.routers.sources.chosen_sources`.
        """
        from persona.api.routers.sources import chosen_sources

        specs = chosen_sources(st, names)
        launch = _Launch()
        job_id = secrets.token_hex(12)  # 24 characters, unguessable
        threading.Thread(target=self._run, args=(st.store, job_id, list(names or []), specs, full, actor, launch),
                         name=f"sync-job-{job_id}", daemon=True).start()
        launch.ready.wait()
        if isinstance(launch.error, BusyError):
            raise self._busy(st.store, launch.error)
        if launch.error is not None:
            raise launch.error
        assert launch.job is not None
        return launch.job

    @staticmethod
    def _busy(store: Any, exc: BusyError) -> BusyError:
        """The 409 naming the running job when a job holds the lock (else the lock's own message)."""
        running = running_jobs(store)
        if running:
            return BusyError(f"sync job {running[0].id} is still running", hint=f"GET /v1/sources/jobs/{running[0].id}")
        return exc

    def _run(self, store: Any, job_id: str, requested: list[str], specs: list[Any], full: bool, actor: str,
             launch: _Launch) -> None:
        from persona.ingest.sources import configured

        try:
            with configured.sync_lock(store):  # held until the job's final status is written: see the module's note
                launch.job = create_job(store, job_id, requested=requested, sources=[s.name for s in specs], full=full,
                                        actor=actor)
                launch.ready.set()
                self._pull(store, launch.job, specs)
        except BaseException as exc:  # noqa: BLE001 - the starter must learn why no job began; later ones are logged
            if not launch.ready.is_set():
                launch.error = exc
            else:
                log.exception("sync_job=%s could not record its status", job_id)
        finally:
            launch.ready.set()

    @staticmethod
    def _pull(store: Any, job: SyncJob, specs: list[Any]) -> None:
        """Pull (the caller holds the sync lock), keeping each finished source's row, and write the final status."""
        from persona.ingest.sources import configured
        from persona.jsonvalues import plain

        rows: list[dict[str, Any]] = []

        def finished(res: Any) -> None:
            rows.append(plain(res.as_dict()))
            record_progress(store, job.id, rows)

        try:
            results = configured.sync_sources(store, specs, full=job.full, progress=False, actor=job.actor, locked=True,
                                              on_result=finished)
            finish_job(store, job.id, "done", plain([r.as_dict() for r in results]))
        except PersonaError as exc:  # the store went away, the audit could not be written
            finish_job(store, job.id, "failed", rows, error=exc.message, hint=exc.hint)
        except Exception as exc:  # noqa: BLE001 - a job must always end with a status
            log.exception("sync_job=%s failed", job.id)
            finish_job(store, job.id, "failed", rows, error=f"{type(exc).__name__} (see the service log)")

    def get(self, st: Any, job_id: str) -> SyncJob:
        """The job ``job_id``; one that says running while nobody holds the sync lock comes back ``interrupted``.

        Raises:
            NotFoundError: no such job.
        """
        job = get_job(st.store, job_id)
        if job is None:
            raise NotFoundError(f"no sync job {job_id!r}",
                                hint="GET /v1/sources/jobs lists the recent ones (the oldest are removed after a while)")
        if job.status == "running" and self._probe(st.store):
            job = get_job(st.store, job_id) or job
        return job

    def running(self, st: Any) -> SyncJob | None:
        """The job running now, if any (an orphan found on the way is marked interrupted)."""
        jobs = running_jobs(st.store)
        if jobs and self._probe(st.store):
            jobs = running_jobs(st.store)
        return jobs[0] if jobs else None

    def recent(self, st: Any, limit: int = 50) -> list[SyncJob]:
        """The latest ``limit`` jobs, newest first, orphans marked interrupted."""
        jobs = recent_jobs(st.store, limit)
        if any(j.status == "running" for j in jobs) and self._probe(st.store):
            jobs = recent_jobs(st.store, limit)
        return jobs

    @staticmethod
    def _probe(store: Any) -> bool:
        """Try the sync lock without waiting: taking it marks every orphaned job interrupted (the lock's sweep).

        Returns:
            True when the lock was free (so the rows were settled and must be read again); False when a runner holds it.
        """
        from persona.ingest.sources.configured import sync_lock

        try:
            with sync_lock(store):
                return True
        except BusyError:
            return False
