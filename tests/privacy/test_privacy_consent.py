"""Consent history: latest row wins, no row means no consent, append-only and de-duplicated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from persona.privacy import consent_state, record_consent

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_latest_row_wins_and_default_is_no(any_store):
    assert record_consent(any_store, "c1", "email", "marketing", True, "signup", ts=T0)
    assert record_consent(any_store, "c1", "email", "marketing", False, "unsubscribe", ts=T0 + timedelta(days=2))
    assert record_consent(any_store, "c2", "Email", "Marketing", True, "signup", ts=T0 + timedelta(days=1))
    assert record_consent(any_store, "c3", "sms", "marketing", True, "signup", ts=T0)
    assert not record_consent(any_store, "c2", "email", "marketing", True, "signup", ts=T0 + timedelta(days=1))  # same row
    assert any_store.count("consents") == 4  # history kept, duplicate not added

    assert consent_state(any_store, "email", "marketing") == {"c1": False, "c2": True}
    assert consent_state(any_store, "email", "marketing", at=T0 + timedelta(days=1)) == {"c1": True, "c2": True}
    assert consent_state(any_store, "email", "marketing", customer_ids=["c2", "c3", "c9"]) == {"c2": True, "c3": False, "c9": False}
    assert consent_state(any_store, "sms", "marketing") == {"c3": True}


def test_naive_timestamps_are_utc(any_store):
    record_consent(any_store, "c1", "email", "marketing", True, "x", ts=datetime(2024, 1, 1, 12))
    record_consent(any_store, "c1", "email", "marketing", False, "y", ts=datetime(2024, 1, 1, 13, tzinfo=UTC))
    assert consent_state(any_store, "email", "marketing", at=datetime(2024, 1, 1, 12, 30, tzinfo=UTC)) == {"c1": True}
    assert consent_state(any_store, "email", "marketing") == {"c1": False}
