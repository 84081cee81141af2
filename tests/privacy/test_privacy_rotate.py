"""``persona privacy rotate-key``: every key-derived value moves to a new key, all or nothing, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from typer.testing import CliRunner

from persona.cli.main import app
from persona.config import load_settings
from persona.errors import ConfigError, InputError
from persona.privacy.crypto import PIICipher, _decode_key, generate_key, load_key_file

runner = CliRunner()

CUSTOMERS = {
    "c1": ("ann@example.com", "+44 7700 900111", "Ann Lee"),
    "c2": ("bob@example.com", None, "Bob Chan"),
    "c3": ("eve@example.com", "+44 7700 900333", "Eve Park"),  # erased below
    "c4": (None, "+44 7700 900444", None),
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shop(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, Path]]:
    """An initialised workspace (SQLite, or PostgreSQL) holding every kind of key-derived value; and its data folder."""
    yield from _shop(tmp_path, monkeypatch, request.getfixturevalue("pg_url") if request.param == "postgres" else None)


@pytest.fixture
def sqlite_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, Path]]:
    yield from _shop(tmp_path, monkeypatch, None)


def _shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str | None, secret: str | None = None
          ) -> Iterator[tuple[Any, Any, Path]]:
    from persona.store import open_store
    from persona.store.workspace import init_workspace

    for var in ("PERSONA_WORKSPACE", "PERSONA_DATABASE_URL", "PERSONA_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings(tmp_path / "ws", database_url=url, progress=False, secret_key=secret)
    init_workspace(settings)
    store = open_store(settings)
    _fill(store, settings, tmp_path)
    yield store, settings, tmp_path
    store.dispose()


def _fill(store: Any, settings: Any, data: Path) -> None:
    from persona.api.keys import create_key
    from persona.ingest import ingest_file
    from persona.privacy.gdpr import erase_customer
    from persona.store.models import Campaign, CampaignRun, Message, Prediction, Profile, SegmentMembership

    lines = ["customer_id,email,phone,name,city"]
    lines += [",".join([cid, *(v or "" for v in vals), "Leeds"]) for cid, vals in CUSTOMERS.items()]
    (data / "customers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (data / "events.csv").write_text("customer_id,product_id,event_type,timestamp\nc1,p1,purchase,2026-11-01\n"
                                     "c3,p2,view,2026-11-02\n", encoding="utf-8")
    (data / "reviews.csv").write_text("customer_id,product_id,rating,text,timestamp\n"
                                      "c1,p1,5,\"call +44 7700 900123, jane@x.org\",2026-11-20\nc2,p1,2,meh,2026-11-21\n",
                                      encoding="utf-8")
    (data / "consents.csv").write_text("customer_id,channel,purpose,granted\nc1,email,marketing,true\n", encoding="utf-8")
    for entity in ("customers", "events", "reviews", "consents"):
        ingest_file(store, entity, data / f"{entity}.csv")
    erase_customer(store, settings, "c3")
    now = datetime.now(UTC)
    with store.session() as s:
        s.add(Campaign(name="spring", spec={}, status="done", created_at=now, updated_at=now))
        s.flush()
        run = CampaignRun(campaign="spring", run_key="spring:1", planned_at=now, status="done")
        s.add(run)
        s.flush()
        s.add(Message(message_id="m1", run_id=run.id, campaign="spring", customer_id="c1", channel="email", status="sent",
                      created_at=now, sent_at=now))
        s.add(Profile(customer_id="c1", features={"orders": 1}, updated_at=now))
        s.add(Prediction(customer_id="c1", name="churn_probability", value=0.25, updated_at=now))
        s.add(SegmentMembership(customer_id="c1", method="rfm", segment_id="champions"))
    (data / "api.key").write_text(create_key(store, "admin", "ops")["key"], encoding="ascii")


def _unsubscribe_link(settings: Any) -> tuple[str, str]:
    from persona.campaigns.tracking import Signer, unsubscribe_url

    url = urlparse(unsubscribe_url("https://shop.test", Signer.from_settings(settings), "m1"))
    return url.path.rsplit("/", 1)[1], parse_qs(url.query)["s"][0]


def _state(store: Any) -> dict[str, Any]:
    cust = store.read_frame("SELECT customer_id, customer_key, email_enc, phone_enc, name_enc, email_hash, erased_at "
                            "FROM customers ORDER BY customer_id")
    return {"customers": cust.set_index("customer_id"),
            "reviews": sorted(store.read_frame("SELECT review_id FROM reviews")["review_id"]),
            "subjects": store.read_frame("SELECT action, subject FROM audit_log WHERE subject IS NOT NULL")}


def test_rotation_moves_every_derived_value_and_nothing_is_lost(shop) -> None:  # noqa: ANN001
    from persona.api.keys import verify_key
    from persona.campaigns.tracking import Signer, record_unsubscribe
    from persona.ingest import ingest_file
    from persona.privacy.consent import consent_state
    from persona.privacy.report import privacy_report
    from persona.privacy.rotate import rotate_key

    store, settings, data = shop
    old = PIICipher.from_settings(settings)
    mid, sig = _unsubscribe_link(settings)  # a link in an e-mail sent before the rotation
    before = _state(store)
    assert any(r.startswith("k:") for r in before["reviews"]) and any(r.startswith("h:") for r in before["reviews"])

    out = rotate_key(store, settings, actor="test")

    new = PIICipher.from_settings(settings)
    assert new.fingerprint == out["new_fingerprint"] != old.fingerprint == out["old_fingerprint"]
    assert out["rows"] == {"email_enc": 2, "phone_enc": 2, "name_enc": 2} and out["pseudonyms"] == 4
    assert (out["audit_subjects"], out["audit_subjects_kept"], out["review_ids_rekeyed"]) == (1, 0, 1)
    after = _state(store)
    cust = after["customers"]
    for cid, vals in CUSTOMERS.items():
        row = cust.loc[cid]
        assert row["customer_key"] == new.pseudonym(cid) != before["customers"].loc[cid, "customer_key"]
        if cid == "c3":  # erased: nothing to decrypt, the tombstone keeps its id and a new-key pseudonym
            assert row["email_enc"] is None and row["erased_at"] is not None
            continue
        for col, plain in zip(("email_enc", "phone_enc", "name_enc"), vals, strict=True):
            if plain is None:
                assert row[col] is None
                continue
            assert new.decrypt(row[col]) == plain
            with pytest.raises(InputError):
                old.decrypt(row[col])
        assert row["email_hash"] == new.email_hash(vals[0])
    # the erasure's audit record names the person by the new pseudonym
    assert after["subjects"].set_index("action")["subject"]["erase"] == new.pseudonym("c3")
    # keyed review ids rekeyed, public ones kept
    assert [r for r in after["reviews"] if r.startswith("h:")] == [r for r in before["reviews"] if r.startswith("h:")]
    assert {r for r in after["reviews"] if r.startswith("k:")}.isdisjoint(before["reviews"])
    # joins by customer: profile, prediction and segment still found through the new pseudonym
    joined = store.read_frame("SELECT p.value, m.segment_id, f.features FROM customers c JOIN predictions p ON p.customer_id = "
                              "c.customer_id JOIN segment_memberships m ON m.customer_id = c.customer_id JOIN profiles f ON "
                              "f.customer_id = c.customer_id WHERE c.customer_key = :k", {"k": new.pseudonym("c1")})
    assert len(joined) == 1 and joined["value"].iloc[0] == 0.25
    # key files: the new key in use, the old kept (0600), nothing pending
    key_path = settings.key_path
    assert not (key_path.parent / "secret.key.next").exists()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600 and stat.S_IMODE(Path(out["old_key_kept"]).stat().st_mode) == 0o600
    assert PIICipher(load_key_file(Path(out["old_key_kept"]))).fingerprint == old.fingerprint
    # an unsubscribe link from before still works; API keys still authenticate
    assert record_unsubscribe(store, Signer.from_settings(settings), mid, sig) == "c1"
    assert consent_state(store, "email", "marketing", ["c1"])["c1"] is False
    assert not Signer.from_settings(settings).check("0" * 24, mid, "unsubscribe")
    assert verify_key(store, (data / "api.key").read_text(encoding="ascii")) is not None
    # re-ingest: every live row changed once (its row hash was keyed), then duplicates; the erased customer stays erased
    first = ingest_file(store, "customers", data / "customers.csv")
    assert (first.accepted, first.duplicates) == (3, 1)
    second = ingest_file(store, "customers", data / "customers.csv")
    assert (second.accepted, second.duplicates) == (0, 4)
    tomb = store.read_frame("SELECT email_enc, name_enc, city, erased_at FROM customers WHERE customer_id = 'c3'").iloc[0]
    assert tomb["email_enc"] is None and tomb["name_enc"] is None and tomb["city"] is None and tomb["erased_at"] is not None
    assert new.decrypt(store.read_frame("SELECT email_enc FROM customers WHERE customer_id = 'c1'")["email_enc"].iloc[0]) \
        == "ann@example.com"
    # the report says when, and that the key in use is the rotated one
    rep = privacy_report(store, settings)
    assert rep["key"]["last_rotated"] and rep["key"]["matches_last_rotation"] is True
    # nothing says the key is wrong (on PostgreSQL the old ciphertexts' row versions may be pending a vacuum: that
    # finding names `persona privacy vacuum`, once the server's statistics have caught up with the rotation)
    assert not [f for f in rep["findings"] if "key" in f and "persona privacy vacuum" not in f]
    assert rep["pii_at_rest"]["email"]["unreadable"] == 0


def test_an_erased_customer_is_not_brought_back_by_a_changed_row(sqlite_shop) -> None:  # noqa: ANN001
    from persona.ingest import ingest_file

    store, _settings, data = sqlite_shop
    (data / "c3.csv").write_text("customer_id,email,city\nc3,eve@new.example,York\n", encoding="utf-8")
    rep = ingest_file(store, "customers", data / "c3.csv")
    assert (rep.accepted, rep.duplicates) == (0, 1)
    row = store.read_frame("SELECT email_enc, city, erased_at FROM customers WHERE customer_id = 'c3'").iloc[0]
    assert row["email_enc"] is None and row["city"] is None and row["erased_at"] is not None


def test_a_crash_after_the_commit_is_finished_on_resume(sqlite_shop, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import persona.privacy.rotate as rotate

    store, settings, _data = sqlite_shop
    old = PIICipher.from_settings(settings)
    with monkeypatch.context() as m:
        m.setattr(rotate, "promote_next_key", lambda _p: (_ for _ in ()).throw(OSError("power cut")))
        with pytest.raises(OSError):
            rotate.rotate_key(store, settings)
    pending = settings.key_path.parent / "secret.key.next"
    assert pending.exists()
    with pytest.raises(ConfigError, match="rotate-key --resume"):
        PIICipher.from_settings(settings)
    res = runner.invoke(app, ["privacy", "rotate-key", "--resume", "--json", "--workspace", str(settings.workspace)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["resumed"] == "finished" and not pending.exists()
    new = PIICipher.from_settings(settings)
    assert new.fingerprint != old.fingerprint
    token = store.read_frame("SELECT email_enc FROM customers WHERE customer_id = 'c1'")["email_enc"].iloc[0]
    assert new.decrypt(token) == "ann@example.com"
    assert len(list(settings.key_path.parent.glob("secret.key.old-*"))) == 1


def test_a_failure_before_the_commit_changes_nothing(shop, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import persona.privacy.rotate as rotate

    store, settings, _data = shop
    before = _state(store)
    real = rotate._rewrite

    def rewrite_then_fail(*a: Any, **k: Any) -> Any:
        real(*a, **k)  # every row rewritten inside the transaction…
        raise RuntimeError("killed")  # …which then never commits

    monkeypatch.setattr(rotate, "_rewrite", rewrite_then_fail)
    with pytest.raises(RuntimeError):
        rotate.rotate_key(store, settings)
    assert not (settings.key_path.parent / "secret.key.next").exists()
    assert not list(settings.key_path.parent.glob("secret.key.old-*"))
    after = _state(store)
    assert after["reviews"] == before["reviews"] and after["customers"]["customer_key"].equals(before["customers"]["customer_key"])
    cipher = PIICipher.from_settings(settings)
    assert cipher.decrypt(after["customers"].loc["c1", "email_enc"]) == "ann@example.com"


def test_a_process_killed_before_the_commit_leaves_a_key_that_resume_discards(sqlite_shop) -> None:  # noqa: ANN001
    from persona.privacy.keyfiles import write_key_file
    from persona.privacy.rotate import resume_rotation

    store, settings, _data = sqlite_shop
    pending = settings.key_path.parent / "secret.key.next"
    write_key_file(pending, generate_key())  # what a kill -9 during the transaction leaves behind
    res = runner.invoke(app, ["privacy", "report", "--workspace", str(settings.workspace)])
    assert res.exit_code == 2 and "--resume" in res.output
    assert resume_rotation(store, settings)["resumed"] == "discarded" and not pending.exists()
    assert PIICipher.from_settings(settings).decrypt(_state(store)["customers"].loc["c1", "email_enc"]) == "ann@example.com"
    assert resume_rotation(store, settings)["resumed"] == "nothing"


def test_a_process_killed_between_commit_and_rename_recovers(sqlite_shop) -> None:  # noqa: ANN001
    """A real process dies (os._exit) right after the commit; the CLI's --resume finishes the rotation."""
    store, settings, _data = sqlite_shop
    code = ("import os, persona.privacy.rotate as r\n"
            "r.promote_next_key = lambda p: os._exit(9)\n"
            "from persona.cli.main import main\n"
            "main(['privacy', 'rotate-key', '--yes', '--workspace', os.environ['WS']])\n")
    env = {**os.environ, "WS": str(settings.workspace), "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert (settings.key_path.parent / "secret.key.next").exists()
    res = runner.invoke(app, ["privacy", "rotate-key", "--resume", "--workspace", str(settings.workspace)])
    assert res.exit_code == 0 and "finished" in res.output, res.output
    token = store.read_frame("SELECT email_enc FROM customers WHERE customer_id = 'c1'")["email_enc"].iloc[0]
    assert PIICipher.from_settings(settings).decrypt(token) == "ann@example.com"


def test_without_yes_it_counts_and_writes_nothing(sqlite_shop) -> None:  # noqa: ANN001
    store, settings, _data = sqlite_shop
    key = settings.key_path.read_text()
    res = runner.invoke(app, ["privacy", "rotate-key", "--json", "--workspace", str(settings.workspace)])
    assert res.exit_code == 2
    plan = json.loads(res.stdout[: res.stdout.rindex("}") + 1])
    assert plan["customers"] == 4 and plan["email_enc"] == 2 and plan["keyed_review_ids"] == 1 and plan["audit_subjects"] == 1
    assert settings.key_path.read_text() == key and not list(settings.key_path.parent.glob("secret.key.*"))
    res = runner.invoke(app, ["privacy", "rotate-key", "--yes", "--json", "--workspace", str(settings.workspace)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["rotated"] and out["rows"]["email_enc"] == 2 and out["seconds"] >= 0 and "secret.key.old-" in out["old_key_kept"]
    assert key.strip() not in res.stdout
    audit = store.read_frame("SELECT details FROM audit_log WHERE action = 'rotate_key'")["details"].iloc[0]
    assert key.strip() not in str(audit) and settings.key_path.read_text().strip() not in str(audit)


def test_one_rotation_at_a_time(sqlite_shop) -> None:  # noqa: ANN001
    from persona.errors import BusyError
    from persona.privacy.rotate import rotate_key
    from persona.store.locks import workspace_lock

    store, settings, _data = sqlite_shop
    with workspace_lock(store, settings, "rotate-key", busy="busy", hint="wait"), pytest.raises(BusyError):
        rotate_key(store, settings)
    assert not (settings.key_path.parent / "secret.key.next").exists()


def test_a_rotation_settles_the_sync_job_a_dead_process_left_running(sqlite_shop) -> None:  # noqa: ANN001
    from persona.ingest.sources.jobs import create_job, get_job
    from persona.privacy.rotate import rotate_key

    store, settings, _data = sqlite_shop
    orphan = create_job(store, "orphan0000000000", requested=[], sources=["crm"], full=False, actor="ui:dead")
    rotate_key(store, settings)
    assert get_job(store, orphan.id).status == "interrupted"


def test_with_the_key_in_the_environment_the_new_key_goes_to_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from persona.campaigns.tracking import Signer, record_unsubscribe
    from persona.privacy.report import privacy_report
    from persona.privacy.rotate import rotate_key

    secret = generate_key()
    gen = _shop(tmp_path, monkeypatch, None, secret=secret)
    store, settings, _data = next(gen)
    mid, sig = _unsubscribe_link(settings)
    with pytest.raises(ConfigError, match="--new-key-file"):
        rotate_key(store, settings)
    target = tmp_path / "new.key"
    out = rotate_key(store, settings, new_key_file=target)
    assert out["env"] and stat.S_IMODE(target.stat().st_mode) == 0o600 and out["new_key_file"] == str(target)
    assert load_key_file(Path(out["old_key_kept"])) == _decode_key(secret, "test")
    # the operator sets PERSONA_SECRET_KEY to the new key and restarts
    moved = load_settings(settings.workspace, progress=False, secret_key=target.read_text().strip())
    token = store.read_frame("SELECT email_enc FROM customers WHERE customer_id = 'c1'")["email_enc"].iloc[0]
    assert PIICipher.from_settings(moved).decrypt(token) == "ann@example.com"
    assert record_unsubscribe(store, Signer.from_settings(moved), mid, sig) == "c1"
    stale = privacy_report(store, settings)  # a service still on the old key is told so
    assert stale["key"]["matches_last_rotation"] is False and any("PERSONA_SECRET_KEY" in f for f in stale["findings"])
    gen.close()

