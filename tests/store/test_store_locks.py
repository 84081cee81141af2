"""Workspace locks: one holder at a time; on PostgreSQL the holder's connection waits idle, outside a transaction."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from persona.errors import BusyError
from persona.store.locks import advisory_key, workspace_lock

#: advisory locks are per database, and parallel tests hold theirs in databases of their own: probes look at this one
THIS_DATABASE = "(SELECT oid FROM pg_database WHERE datname = current_database())"


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
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = (:k)::bigint AND l.database = " + THIS_DATABASE
    with _lock(pg_store), pg_store.engine.connect() as other:
        assert other.execute(text(probe), {"k": key}).scalar() == "idle"
    with pg_store.engine.connect() as other:
        assert other.execute(text(probe), {"k": key}).scalar() is None


@pytest.mark.postgres
def test_postgres_a_server_idle_session_timeout_does_not_end_a_held_lock(pg_store):
    key = advisory_key("job")
    probe = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted " \
            "AND ((classid::bigint << 32) | objid::bigint) = (:k)::bigint AND database = " + THIS_DATABASE
    with pg_store.engine.connect() as conn:
        db = conn.execute(text("SELECT current_database()")).scalar()
        conn.execute(text(f'ALTER DATABASE "{db}" SET idle_session_timeout = \'300ms\''))
        conn.commit()
    pg_store.engine.dispose()  # new connections get the timeout
    try:
        with _lock(pg_store):
            time.sleep(1.0)  # the holder sits idle for longer than the server allows
            with pg_store.engine.connect() as other:
                assert other.execute(text(probe), {"k": key}).scalar() == 1
            with pytest.raises(BusyError):  # still held: a second holder is refused
                with _lock(pg_store):
                    pass
        with pg_store.engine.connect() as other:
            assert other.execute(text(probe), {"k": key}).scalar() == 0
    finally:
        with pg_store.engine.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{db}" RESET idle_session_timeout'))
            conn.commit()
