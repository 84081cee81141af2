"""Workspace locks: one holder at a time; on PostgreSQL the holder's connection waits idle, outside a transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from persona.errors import BusyError
from persona.store.locks import advisory_key, workspace_lock


def _lock(store, name: str = "job"):
    return workspace_lock(store, store.settings, name, busy="the job is running", hint="wait for it")


def test_a_second_holder_is_refused_until_the_first_lets_go(any_store):
    with _lock(any_store):
        with pytest.raises(BusyError, match="the job is running"), _lock(any_store):
            pass
    with _lock(any_store):  # released
        pass


@pytest.mark.postgres
def test_postgres_the_lock_connection_is_idle_not_idle_in_transaction(pg_store):
    key = advisory_key("job")
    probe = "SELECT a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' " \
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = (:k)::bigint"
    with _lock(pg_store), pg_store.engine.connect() as other:
        assert other.execute(text(probe), {"k": key}).scalar() == "idle"
    with pg_store.engine.connect() as other:
        assert other.execute(text(probe), {"k": key}).scalar() is None
