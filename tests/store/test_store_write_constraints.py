"""Writes outside the bulk writer (ORM sessions, Core transactions) refuse bad rows as a ConstraintError too.

They used to surface SQLAlchemy's ``IntegrityError``: a traceback, and on PostgreSQL a DETAIL quoting the row.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from db_rules import add_check

from persona.errors import ConstraintError, StoreError
from persona.predict.repository import read_predictions, save_predictions
from persona.segments.service import Segmentation, list_segments, save_segmentation
from persona.store.models import Assignment, Experiment
from persona.text.reviews import write_sentiment

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PII = ("alice@example.com", "bob@example.com")  # customer ids that look like what DETAIL would leak


def _refused(err: ConstraintError, table: str) -> str:
    """The checks every refusal shares; returns the whole text a user sees (message and hint)."""
    assert isinstance(err, StoreError) and err.exit_code == 4 and err.http_status == 422
    assert err.table == table and f"refused rows for {table}" in err.message
    assert "nothing of it was written" in err.message
    shown = str(err)
    assert not any(v in shown for v in PII), shown
    return shown


def _segmentation(sizes: list[int | None]) -> Segmentation:
    labels = pd.Series(["s0", "s1"], index=list(PII))
    explanation = {f"s{i}": {"name": f"segment of {PII[i]}", "size": n} for i, n in enumerate(sizes)}
    return Segmentation("rfm", labels, explanation)


def test_a_session_write_missing_a_required_column_raises_and_keeps_what_was_stored(any_store) -> None:  # noqa: ANN001
    assert save_segmentation(any_store, _segmentation([1, 1])) == 2
    with pytest.raises(ConstraintError) as info:
        save_segmentation(any_store, _segmentation([1, None]))  # deletes the old rows, then inserts a segment of no size
    err = info.value
    assert (err.rule, err.column) == ("NOT NULL", "size") and "segments.size" in _refused(err, "segments")
    assert err.__cause__ is not None  # the database's own error stays chained, for the logs
    assert sorted(s["segment_id"] for s in list_segments(any_store, "rfm")) == ["s0", "s1"]  # the delete rolled back
    assert any_store.count("segment_memberships") == 2


def test_an_orm_flush_referring_to_a_missing_row_raises_and_writes_nothing(any_store) -> None:  # noqa: ANN001
    with pytest.raises(ConstraintError) as info, any_store.session() as s:
        s.add(Experiment(name="welcome", salt="x", variants={"a": 1.0}, holdout=0.0, status="running", created_at=T0))
        s.add(Assignment(experiment="no-such-experiment", customer_id=PII[0], variant="a", exposed_at=T0))
    err = info.value
    assert err.rule == "FOREIGN KEY" and "FOREIGN KEY" in _refused(err, "assignments")
    assert any_store.count("experiments") == 0  # flushed before the assignment, rolled back with it


def test_a_check_of_the_shop_refuses_predictions_and_keeps_the_old_ones(any_store) -> None:  # noqa: ANN001
    add_check(any_store.engine, "predictions", "probability_range", "name <> 'churn' OR value BETWEEN 0 AND 1")
    save_predictions(any_store, "churn", pd.Series([0.2, 0.9], index=list(PII)))
    with pytest.raises(ConstraintError) as info:
        save_predictions(any_store, "churn", pd.Series([0.4, 1.7], index=list(PII)))
    err = info.value
    assert (err.rule, err.constraint) == ("CHECK", "probability_range") and "probability_range" in _refused(err, "predictions")
    assert read_predictions(any_store, "churn")["value"].tolist() == [0.9, 0.2]


def test_a_core_transaction_outside_the_session_is_translated_too(any_store) -> None:  # noqa: ANN001
    add_check(any_store.engine, "reviews", "sentiment_range", "sentiment BETWEEN -1 AND 1")
    any_store.bulk_insert("reviews", [{"review_id": "r1", "customer_id": PII[0], "product_id": "p1", "text": "fine"}])
    scored = pd.DataFrame({"review_id": ["r1"], "sentiment": [3.0], "lang": ["en"]})
    with pytest.raises(ConstraintError) as info:
        write_sentiment(any_store, scored)  # an UPDATE on store.engine.begin(), no session
    assert info.value.rule == "CHECK" and "sentiment_range" in _refused(info.value, "reviews")
    assert any_store.read_frame("SELECT sentiment FROM reviews")["sentiment"].isna().all()


def test_an_engine_at_a_freed_engines_address_still_translates() -> None:
    # SQLAlchemy keys its listener registry by id(engine): a new engine allocated where a freed one was, while the
    # freed one's dialect still awaits the cyclic collector (held here), was taken for it and went without the hook
    from sqlalchemy import create_engine

    from persona.store.integrity import raise_constraint_errors

    reused, raw = 0, 0
    for _ in range(200):
        engine = raise_constraint_errors(create_engine("sqlite://"))
        address, waiting = id(engine), engine.dialect  # noqa: F841 - the dialect outlives its engine
        del engine
        fresh = [create_engine("sqlite://") for _ in range(20)]
        new = next((e for e in fresh if id(e) == address), None)
        if new is None:
            continue
        reused += 1
        with raise_constraint_errors(new).connect() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER CHECK (x > 0))")
            try:
                conn.exec_driver_sql("INSERT INTO t VALUES (-1)")
            except ConstraintError:
                pass
            except Exception:  # noqa: BLE001 - the raw IntegrityError this test is about
                raw += 1
    if not reused:
        pytest.skip("the allocator never reused a freed engine's address here")
    assert raw == 0, f"{raw} of {reused} engines at a freed engine's address raised the raw IntegrityError"
