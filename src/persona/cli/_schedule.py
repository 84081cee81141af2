"""Repeating a command: once, ``--every SECONDS`` or ``--schedule CRON`` (UTC), as ``persona train`` and ``persona sync`` do."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from persona.errors import InputError


def check_schedule(every: float | None, schedule: str | None) -> None:
    """Refuse ``--every`` with ``--schedule`` and a malformed cron expression, before any work starts.

    Raises:
        InputError: both given, or ``schedule`` is not a five-field cron expression.
    """
    if every is not None and schedule is not None:
        raise InputError("--every and --schedule exclude each other", hint="pick one")
    if schedule is not None:
        from croniter import croniter

        if not croniter.is_valid(schedule):
            raise InputError(f"--schedule {schedule!r} is not a cron expression", hint="five fields: minute hour day month weekday, e.g. '0 3 * * *'")


def next_run(schedule: str | None, every: float | None, now: datetime) -> float:
    """Seconds until the next run: ``every``, else until the cron expression's next time after ``now``."""
    if every is not None:
        return every
    from croniter import croniter

    return max(0.0, (croniter(schedule, now).get_next(datetime) - now).total_seconds())


def repeat(job: Callable[[], None], *, every: float | None, schedule: str | None, max_runs: int | None) -> int:
    """Run ``job`` once, or on the schedule until interrupted (or ``max_runs`` times); the number of runs.

    With ``schedule`` each run waits for the next cron time first; with ``every`` the wait comes after each run.
    """
    check_schedule(every, schedule)
    runs = 0
    while True:
        if schedule is not None:
            time.sleep(next_run(schedule, None, datetime.now(UTC)))
        job()
        runs += 1
        if (every is None and schedule is None) or (max_runs is not None and runs >= max_runs):
            return runs
        if every is not None:
            time.sleep(every)
