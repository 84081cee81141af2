"""``persona privacy redact-reviews``: a store loaded before ingest redacted review texts is fixed in place, in
batches, idempotently and audited; without --yes nothing changes and the count is said; the report agrees."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from persona.cli.main import app
from persona.errors import InputError
from persona.privacy.detect import no_pii, texts_with_pii
from persona.privacy.redact import redact_stored_reviews
from persona.privacy.report import privacy_report

runner = CliRunner()
ENV = {"PERSONA_WORKSPACE": "", "PERSONA_GLOBAL_HOLDOUT": "0"}
OLD = [  # review id, text as a load before redaction stored it, text after
    ("r01", "Great! call me on +44 7700 900123 or jane@x.org", "Great! call me on [phone] or [email]"),
    ("r02", "Arrived 2026-11-24, order 123456789, $1,299.00, 5/5", None),
    ("r03", "很好用，电话13812345678", "很好用，电话[phone]"),
    ("r04", "write to a.b@shop.example, twice: a.b@shop.example", "write to [email], twice: [email]"),
    ("r05", "质量很好，2026年11月24日到货", None),
    ("r06", None, None),
]


def _insert_old_reviews(store, n_clean: int = 0) -> None:  # noqa: ANN001
    """Rows as a load before this change left them: plain-text PII in ``text``, a sentiment and a row hash."""
    from persona.store.models import TABLES

    rows = [{"review_id": rid, "customer_id": "c1", "product_id": "p1", "rating": 4.0, "text": text, "lang": "en",
             "ts": datetime(2026, 11, 24, tzinfo=UTC), "sentiment": 0.5, "row_hash": f"hash-{rid}"} for rid, text, _ in OLD]
    rows += [{"review_id": f"x{i:05d}", "customer_id": "c2", "product_id": "p2", "rating": 5.0, "text": f"fine {i}",
              "lang": "en", "ts": None, "sentiment": 0.1, "row_hash": None} for i in range(n_clean)]
    with store.session() as s:
        s.execute(TABLES["reviews"].insert(), rows)


def _insert_texts(store, *texts: str) -> None:  # noqa: ANN001
    """Store one review per text (ids r1, r2, …; ratings 1, 2, …) written before redaction existed."""
    from persona.store.models import TABLES

    with store.session() as s:
        s.execute(TABLES["reviews"].insert(), [
            {"review_id": f"r{i}", "customer_id": "c1", "product_id": "p1", "rating": float(i), "text": t}
            for i, t in enumerate(texts, start=1)])


def _texts(store) -> dict[str, str | None]:  # noqa: ANN001
    got = store.read_frame("SELECT review_id, text FROM reviews WHERE review_id LIKE 'r%' ORDER BY review_id")
    return dict(zip(got["review_id"], got["text"].where(got["text"].notna(), None), strict=True))


def _expected() -> dict[str, str | None]:
    return {rid: (after if after is not None else before) for rid, before, after in OLD}


def test_stored_reviews_are_redacted_in_batches_idempotently_and_audited(any_store) -> None:  # noqa: ANN001
    _insert_old_reviews(any_store, n_clean=7)
    dry = redact_stored_reviews(any_store, apply=False, batch_rows=3)
    assert {k: dry[k] for k in ("reviews", "rows", "email", "phone", "applied")} == {
        "reviews": 12, "rows": 3, "email": 3, "phone": 2, "applied": False}
    assert _texts(any_store)["r01"] == OLD[0][1]  # a dry run writes nothing
    out = redact_stored_reviews(any_store, batch_rows=3, actor="test")
    assert {k: out[k] for k in ("reviews", "rows", "email", "phone", "applied")} == {
        "reviews": 12, "rows": 3, "email": 3, "phone": 2, "applied": True}
    assert _texts(any_store) == _expected()
    other = any_store.read_frame("SELECT rating, sentiment, row_hash, lang FROM reviews WHERE review_id = 'r01'").iloc[0]
    assert (other["rating"], other["sentiment"], other["row_hash"], other["lang"]) == (4.0, 0.5, "hash-r01", "en")
    again = redact_stored_reviews(any_store, batch_rows=3)
    assert (again["rows"], again["email"], again["phone"]) == (0, 0, 0)
    audit = any_store.read_frame("SELECT actor, action, subject, details FROM audit_log")
    assert audit["action"].tolist() == ["redact_reviews"] and audit["actor"].tolist() == ["test"]  # the empty rerun is not logged
    details = audit["details"].iloc[0]
    assert (details if isinstance(details, dict) else json.loads(details)) == {"rows": 3, **no_pii(), "email": 3, "phone": 2, "card": 0, "iban": 0}
    texts = any_store.read_frame("SELECT text FROM reviews")["text"]
    assert texts_with_pii(texts) == no_pii()


def test_a_text_changed_since_it_was_read_is_left_to_the_newer_write(store, monkeypatch: pytest.MonkeyPatch) -> None:
    import persona.privacy.redact as redact

    _insert_old_reviews(store)
    real = redact.redact_texts

    def racing(texts: pd.Series) -> tuple[pd.Series, dict[str, int]]:
        store.read_frame("SELECT 1")
        with store.engine.begin() as conn:  # a load rewrites r01 between the read and the write
            conn.exec_driver_sql("UPDATE reviews SET text = 'new text' WHERE review_id = 'r01'")
        return real(texts)

    monkeypatch.setattr(redact, "redact_texts", racing)
    redact_stored_reviews(store)
    assert _texts(store)["r01"] == "new text" and _texts(store)["r03"] == "很好用，电话[phone]"


def test_batch_rows_must_be_positive(store) -> None:  # noqa: ANN001
    with pytest.raises(InputError, match="batch_rows must be a positive integer, got 0"):
        redact_stored_reviews(store, batch_rows=0)


def test_report_names_the_command_and_it_refuses_without_yes_then_fixes_the_store(workspace_shop) -> None:  # noqa: ANN001
    store, settings = workspace_shop
    _insert_old_reviews(store)
    ws = settings.workspace
    rep = privacy_report(store, settings)
    assert rep["plaintext_pii"]["review_texts"] == {**no_pii(), "email": 2, "phone": 2, "card": 0, "iban": 0, "scanned": 5}
    assert "persona privacy redact-reviews --yes" in rep["plaintext_pii"]["fixes"]
    assert any("review texts hold" in f and "persona privacy redact-reviews --yes" in f for f in rep["findings"])

    r = runner.invoke(app, ["privacy", "redact-reviews", "--workspace", str(ws)], env=ENV)
    assert r.exit_code == 2, r.output
    assert "3 of 5 review texts hold 3 e-mail address(es) and 2 phone number(s)" in r.output and "--yes" in r.output
    assert _texts(store)["r01"] == OLD[0][1]

    r = runner.invoke(app, ["privacy", "redact-reviews", "--yes", "--workspace", str(ws), "--json"], env=ENV)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {k: out[k] for k in ("reviews", "rows", "email", "phone", "applied")} == {
        "reviews": 5, "rows": 3, "email": 3, "phone": 2, "applied": True}
    assert _texts(store) == _expected()

    r = runner.invoke(app, ["privacy", "redact-reviews", "--yes", "--workspace", str(ws)], env=ENV)
    assert r.exit_code == 0 and "nothing to redact" in r.output
    r = runner.invoke(app, ["privacy", "redact-reviews", "--workspace", str(ws)], env=ENV)  # nothing left: no --yes needed
    assert r.exit_code == 0 and "nothing to redact" in r.output
    rep = privacy_report(store, settings)
    assert rep["plaintext_pii"]["review_texts"] == {**no_pii(), "scanned": 5}
    assert not any("review texts" in f for f in rep["findings"]) and rep["access"]["audit_log"] == {"redact_reviews": 1}


def test_a_file_loaded_before_redaction_reloads_as_duplicates_after_the_fix(workspace_shop, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import persona.ingest.writer as writer
    from persona.ingest import ingest_file

    store, _settings = workspace_shop
    f = tmp_path / "amazon.csv"  # no review ids: they are derived from the content
    f.write_text("customer_id,product_id,rating,text,timestamp\nc1,p1,5,\"call +44 7700 900123, jane@x.org\",2026-11-20\n"
                 "c2,p1,2,meh,2026-11-21\n", encoding="utf-8")
    with monkeypatch.context() as m:  # the load before this change: texts stored as read
        m.setattr(writer, "redact_texts", lambda t: (t, {"email": 0, "phone": 0}))
        assert ingest_file(store, "reviews", f).accepted == 2
    assert texts_with_pii(store.read_frame("SELECT text FROM reviews")["text"]) == {**no_pii(), "email": 1, "phone": 1, "card": 0, "iban": 0}
    out = redact_stored_reviews(store)
    assert (out["rows"], out["rekeyed"], out["kept_ids"]) == (1, 1, 0)
    assert store.read_frame("SELECT review_id FROM reviews WHERE text LIKE 'call%'")["review_id"].iloc[0].startswith("k:")
    again = ingest_file(store, "reviews", f)
    assert (again.accepted, again.duplicates) == (0, 2) and store.count("reviews") == 2
    assert sorted(store.read_frame("SELECT text FROM reviews")["text"]) == ["call [phone], [email]", "meh"]


def _amazon(tmp_path: Path) -> Path:
    f = tmp_path / "amazon.csv"  # no review ids: they are derived from the content
    f.write_text("customer_id,product_id,rating,text,timestamp\nc1,p1,5,\"call +44 7700 900123, jane@x.org\",2026-11-20\n"
                 "c2,p1,2,meh,2026-11-21\n", encoding="utf-8")
    return f


def test_a_derived_id_from_a_text_with_pii_is_keyed_and_stable(workspace_shop, tmp_path: Path) -> None:
    """The id of a review whose text held PII cannot be recomputed with the public keys (no brute force of the number);
    a review without PII keeps its public derived id; reloads are duplicates."""
    from persona.ingest import ingest_file
    from persona.ingest.hashing import EVENT_KEYS
    from persona.ingest.writer import review_ids

    store, _settings = workspace_shop
    f = _amazon(tmp_path)
    assert ingest_file(store, "reviews", f).accepted == 2
    ids = dict(zip(store.read_frame("SELECT text, review_id FROM reviews")["text"],
                   store.read_frame("SELECT text, review_id FROM reviews")["review_id"], strict=True))
    assert ids["call [phone], [email]"].startswith("k:") and ids["meh"].startswith("h:")
    raw = pd.read_csv(f).assign(timestamp=lambda d: pd.to_datetime(d["timestamp"], utc=True), rating=lambda d: d["rating"].astype(float))
    public = review_ids(raw, keys=EVENT_KEYS)
    assert ids["meh"] == public.iloc[1] and ids["call [phone], [email]"][2:] != public.iloc[0][2:]
    again = ingest_file(store, "reviews", f)
    assert (again.accepted, again.duplicates) == (0, 2) and store.count("reviews") == 2


def test_rekeying_drops_an_older_copy_loaded_again_since(workspace_shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import persona.ingest.writer as writer
    from persona.ingest import ingest_file

    store, _settings = workspace_shop
    f = _amazon(tmp_path)
    with monkeypatch.context() as m:  # a load before redaction existed
        m.setattr(writer, "redact_texts", lambda t: (t, {"email": 0, "phone": 0}))
        ingest_file(store, "reviews", f)
    ingest_file(store, "reviews", f)  # loaded again after: the redacted copy under its keyed id
    assert store.count("reviews") == 3
    out = redact_stored_reviews(store)
    assert (out["rows"], out["rekeyed"], out["duplicates_removed"]) == (1, 0, 1)
    got = store.read_frame("SELECT review_id, text FROM reviews ORDER BY text")
    assert got["text"].tolist() == ["call [phone], [email]", "meh"] and got["review_id"].iloc[0].startswith("k:")
    assert texts_with_pii(got["text"]) == no_pii()


def test_cards_and_ibans_stored_before_are_redacted_in_place_and_their_ids_rekeyed(any_store, tmp_path: Path,
                                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite and PostgreSQL: a load before card/IBAN redaction left them in plain text under public ``h:`` ids;
    redact-reviews replaces them, rekeys those ids (``k:``), and a reload of the file finds only duplicates."""
    import persona.ingest.writer as writer
    from persona.ingest import ingest_file
    from persona.privacy.crypto import create_key_file

    create_key_file(any_store.settings.key_path)
    f = tmp_path / "cards.csv"  # no review ids: derived from the content
    f.write_text("customer_id,product_id,rating,text,timestamp\n"
                 "c1,p1,1,\"charged twice, card 4111 1111 1111 1111\",2026-11-20\n"
                 "c2,p1,2,我的卡号6222 0212 3456 7890 128,2026-11-21\n"
                 "c3,p2,3,\"refund: GB82 WEST 1234 5698 7654 32, jane@x.org\",2026-11-22\n"
                 "c4,p2,5,\"EAN 4006381333931, order 5555555555554444, great\",2026-11-23\n", encoding="utf-8")
    with monkeypatch.context() as m:  # the load before this change: texts stored as read
        m.setattr(writer, "redact_texts", lambda t: (t, {"email": 0, "phone": 0}))
        assert ingest_file(any_store, "reviews", f).accepted == 4
    assert texts_with_pii(any_store.read_frame("SELECT text FROM reviews")["text"]) == {**no_pii(), "email": 1, "phone": 0, "card": 2, "iban": 1}
    dry = redact_stored_reviews(any_store, apply=False)
    assert {k: dry[k] for k in ("rows", "email", "phone", "card", "iban", "rekeyed")} == {
        "rows": 3, "email": 1, "phone": 0, "card": 2, "iban": 1, "rekeyed": 0}
    out = redact_stored_reviews(any_store, actor="test")
    assert {k: out[k] for k in ("reviews", "rows", "email", "phone", "card", "iban", "rekeyed", "kept_ids")} == {
        "reviews": 4, "rows": 3, "email": 1, "phone": 0, "card": 2, "iban": 1, "rekeyed": 3, "kept_ids": 0}
    got = any_store.read_frame("SELECT review_id, text FROM reviews ORDER BY customer_id")
    assert got["text"].tolist() == ["charged twice, card [card]", "我的卡号[card]", "refund: [iban], [email]",
                                    "EAN 4006381333931, order 5555555555554444, great"]
    assert [i[:2] for i in got["review_id"]] == ["k:", "k:", "k:", "h:"]
    details = any_store.read_frame("SELECT details FROM audit_log WHERE action = 'redact_reviews'")["details"].iloc[0]
    assert (details if isinstance(details, dict) else json.loads(details)) == {"rows": 3, **no_pii(), "email": 1, "phone": 0, "card": 2, "iban": 1}
    again = ingest_file(any_store, "reviews", f)
    assert (again.accepted, again.duplicates) == (0, 4) and any_store.count("reviews") == 4
    rerun = redact_stored_reviews(any_store)
    assert (rerun["rows"], rerun["card"], rerun["iban"], rerun["rekeyed"]) == (0, 0, 0, 0)


def test_cli_redact_reviews_counts_cards_and_ibans_in_json_and_words(workspace_shop) -> None:  # noqa: ANN001
    store, settings = workspace_shop
    _insert_texts(store, "card 4111-1111-1111-1111", "IBAN CH93 0076 2011 6238 5295 7")
    ws = settings.workspace
    r = runner.invoke(app, ["privacy", "redact-reviews", "--workspace", str(ws)], env=ENV)
    assert r.exit_code == 2
    assert ("2 of 2 review texts hold 0 e-mail address(es), 0 phone number(s), 1 card number(s) and 1 IBAN(s)"
            in " ".join(r.output.split()))
    r = runner.invoke(app, ["privacy", "redact-reviews", "--yes", "--workspace", str(ws), "--json"], env=ENV)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {k: out[k] for k in ("reviews", "rows", "email", "phone", "card", "iban", "applied")} == {
        "reviews": 2, "rows": 2, "email": 0, "phone": 0, "card": 1, "iban": 1, "applied": True}
    assert _texts(store) == {"r1": "card [card]", "r2": "IBAN [iban]"}
    assert "4111" not in r.stdout and "CH93" not in r.stdout


def test_group_numbers_glued_and_alphanumeric_accounts_are_counted_by_the_report_and_the_cli(workspace_shop) -> None:  # noqa: ANN001
    store, settings = workspace_shop
    _insert_texts(store, "有问题加群8757013，QQ群 500人", "RIB : 30004 00550 0001234567K 58", "refund to account12345678")
    rep = privacy_report(store, settings)
    assert rep["plaintext_pii"]["review_texts"] == {**no_pii(), "im": 1, "account": 2, "scanned": 3}
    r = runner.invoke(app, ["privacy", "redact-reviews", "--workspace", str(settings.workspace)], env=ENV)
    assert r.exit_code == 2
    assert ("3 of 3 review texts hold 0 e-mail address(es), 0 phone number(s), 1 messaging id(s) and 2 account number(s)"
            in " ".join(r.output.split()))
    r = runner.invoke(app, ["privacy", "redact-reviews", "--yes", "--workspace", str(settings.workspace), "--json"], env=ENV)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {k: out[k] for k in ("rows", "im", "account", "applied")} == {"rows": 3, "im": 1, "account": 2, "applied": True}
    assert _texts(store) == {"r1": "有问题加群[im]，QQ群 500人", "r2": "RIB : [account]", "r3": "refund to account[account]"}
