"""The empty-table fast path (suspend_keys / restore_keys) on a table that other tables' foreign keys point at."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import text

from persona.errors import ConstraintError
from persona.store.bulk import encode_rows

psycopg = pytest.importorskip("psycopg")

T0 = datetime(2026, 3, 1, tzinfo=UTC)
_CONSTRAINTS = ("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid::regclass::text IN ('campaign_runs', 'messages') ORDER BY 1, 2")


def _runs(keys: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"id": range(1, len(keys) + 1), "campaign": "spring", "run_key": keys, "planned_at": T0,
                         "status": "done"})


def _message(run_id: int, n: int = 0) -> dict:
    return {"message_id": f"m{run_id}-{n}", "run_id": run_id, "campaign": "spring", "customer_id": f"c{n}",
            "channel": "email", "status": "planned", "attempts": 0, "created_at": T0}


def _constraints(store) -> list[tuple]:  # noqa: ANN001
    with store.engine.connect() as c:
        return [tuple(r) for r in c.execute(text(_CONSTRAINTS)).all()]


@pytest.mark.postgres
def test_referenced_table_loads_with_keys_suspended_and_foreign_keys_come_back(pg_store) -> None:  # noqa: ANN001
    before = _constraints(pg_store)
    assert any(r[0] == "messages" and "REFERENCES campaign_runs(id) ON DELETE CASCADE" in r[2] for r in before)
    pg_store.bulk_insert("campaigns", [{"name": "spring", "spec": {}, "status": "active", "created_at": T0, "updated_at": T0}])
    with pg_store.bulk() as w:
        assert w.suspend_keys("campaign_runs") is True
        rows = _runs(["r1", "r2", "r1", "r3"])  # r1 repeated: the first copy (id 1) stays
        w.insert("campaign_runs", encode_rows("campaign_runs", rows, "postgresql", unique_key="run_key"), key=["run_key"])
        assert w.restore_keys("campaign_runs") == 1
    assert _constraints(pg_store) == before  # same keys, same foreign keys, same definitions
    assert pg_store.read_frame("SELECT id, run_key FROM campaign_runs ORDER BY id").values.tolist() == [[1, "r1"], [2, "r2"], [4, "r3"]]

    assert pg_store.bulk_insert("messages", [_message(1), _message(4)]) == 2
    with pytest.raises(ConstraintError, match="fk_messages_run_id_campaign_runs"):  # the foreign key is enforced again
        pg_store.bulk_insert("messages", [_message(3)])
    with pg_store.engine.begin() as c:  # and cascades as before
        c.execute(text("DELETE FROM campaign_runs WHERE id = 1"))
    assert pg_store.read_frame("SELECT run_id FROM messages")["run_id"].tolist() == [4]


@pytest.mark.postgres
def test_a_failed_load_of_a_referenced_table_leaves_every_constraint(pg_store) -> None:  # noqa: ANN001
    before = _constraints(pg_store)
    with pytest.raises(RuntimeError), pg_store.bulk() as w:
        assert w.suspend_keys("campaign_runs") is True
        raise RuntimeError("killed mid-load")
    assert _constraints(pg_store) == before


@pytest.mark.postgres
def test_restore_refuses_rows_that_break_a_dropped_foreign_key(pg_store) -> None:  # noqa: ANN001
    """Rows written to a referencing table while the keys were suspended are checked when its foreign key returns."""
    pg_store.bulk_insert("campaigns", [{"name": "spring", "spec": {}, "status": "active", "created_at": T0, "updated_at": T0}])
    with pytest.raises(ConstraintError, match="fk_messages_run_id_campaign_runs"), pg_store.bulk() as w:
        assert w.suspend_keys("campaign_runs") is True
        w.insert("campaign_runs", encode_rows("campaign_runs", _runs(["r1"]), "postgresql", unique_key="run_key"), key=["run_key"])
        w.insert("messages", [_message(7)], on_conflict="error")  # run 7 does not exist
        w.restore_keys("campaign_runs")
    assert pg_store.count("messages") == 0 and pg_store.count("campaign_runs") == 0


def test_sqlite_never_suspends(store) -> None:  # noqa: ANN001
    with store.bulk() as w:
        assert w.suspend_keys("campaign_runs") is False
