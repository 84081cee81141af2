"""Ingest runs left ``running`` by a process that died (a killed ``persona ingest``/``sync``, a restarted service).

Every run records the process loading it (``host``, ``pid``). A run that still says ``running`` while no process of that
id lives on this host was cut off: :func:`settle_dead_runs` marks it ``interrupted`` and says what to do (run the
same command again: a file resumes after its last committed line, a pulled source's cursor had not moved). Only runs
of this host are judged: another machine's processes cannot be seen from here, so its runs are left as they are. A
process id taken over by a new process makes a dead run look alive: it is then left running, never wrongly settled.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from persona.store.models import IngestRun

log = logging.getLogger(__name__)


def this_process() -> tuple[str, int]:
    """``(host, pid)`` as an ingest run records its owner."""
    return socket.gethostname()[:255], os.getpid()


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def settle_dead_runs(store: Any) -> int:
    """Mark this host's ``running`` ingest runs whose process is gone ``interrupted``, with the reason and the fix.

    Returns:
        How many runs were marked.
    """
    host, _ = this_process()
    marked = 0
    with store.session() as s:
        rows = s.execute(select(IngestRun.id, IngestRun.pid, IngestRun.source)
                         .where(IngestRun.status == "running", IngestRun.host == host, IngestRun.pid.is_not(None))).all()
        for run_id, pid, source in rows:
            if process_alive(int(pid)):
                continue
            error = (f"the process loading it (pid {pid} on {host}) stopped before it finished: killed, restarted or out "
                     "of memory; run the same command again (a file resumes after its last committed line, a pulled "
                     "source's cursor did not move, so nothing is lost)")
            done = s.execute(update(IngestRun).where(IngestRun.id == run_id, IngestRun.status == "running")
                             .values(status="interrupted", error=error, finished_at=datetime.now(UTC)))
            if done.rowcount:
                marked += 1
                log.warning("ingest run=%s status=interrupted source=%s pid=%s", run_id, source, pid)
    return marked
