"""A running service and a campaign worker follow `persona privacy rotate-key` instead of writing under the retired key."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from api_helpers import auth
from shop_fixtures import seed_shop

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from persona.api.keys import create_key  # noqa: E402
from persona.api.main import create_app  # noqa: E402
from persona.campaigns.planner import plan_campaign  # noqa: E402
from persona.campaigns.spec import parse_spec  # noqa: E402
from persona.campaigns.tracking import Signer  # noqa: E402
from persona.campaigns.worker import Worker  # noqa: E402
from persona.config import load_settings  # noqa: E402
from persona.privacy.crypto import PIICipher, generate_key, load_key_file  # noqa: E402
from persona.privacy.keyfiles import next_key_path  # noqa: E402
from persona.privacy.keysource import ROTATED_MESSAGE, KeyRotatedError  # noqa: E402
from persona.privacy.rotate import rotate_key  # noqa: E402
from persona.store import open_store  # noqa: E402
from persona.store.workspace import init_workspace  # noqa: E402

OUTBOX = "\nchannels: [outbox]\n"


def _event(cid: str, n: int) -> dict[str, Any]:
    return {"events": [{"event_id": f"rot{cid}{n}", "customer_id": cid, "product_id": "p1", "event_type": "view",
                        "timestamp": "2026-11-20T10:00:00Z"}]}


def _key(store: Any, cid: str) -> str:
    return str(store.read_frame("SELECT customer_key FROM customers WHERE customer_id = :c", {"c": cid})["customer_key"].iloc[0])


def _links(settings: Any, campaign: str) -> tuple[str, str, str]:
    """The To: address, click path and unsubscribe path of one message the worker wrote to the outbox."""
    msg = message_from_bytes(next((settings.workspace / "outbox" / campaign).glob("*.eml")).read_bytes())
    body = msg.get_payload()[1].get_payload(decode=True).decode()
    click = re.search(r'href="http://127.0.0.1:8000(/t/click/[^"]+)"', body).group(1).replace("&amp;", "&")
    unsub = re.search(r"<http://127.0.0.1:8000(/t/unsub/[^>]+)>", msg["List-Unsubscribe"]).group(1)
    return str(msg["To"]), click, unsub


class Clock:
    """A monotonic clock that moves only when told (ahead of the real one, so the first call looks at the key)."""

    def __init__(self) -> None:
        self.t = time.monotonic() + 10.0

    def __call__(self) -> float:
        return self.t


def test_a_running_service_and_worker_follow_a_key_rotation(api) -> None:  # noqa: ANN001
    client, keys, store, settings = api
    st = client.app.state.persona
    clock = st.keys.clock = Clock()
    w = auth(keys["write"])
    worker = Worker(store, settings)  # kept across the rotation, as `persona campaign worker` keeps it
    plan_campaign(store, settings, parse_spec("name: before\ngroups:\n  - {name: all, strategy: coupon}" + OUTBOX))
    worker.run("before")
    _, old_click, old_unsub = _links(settings, "before")
    old = PIICipher(load_key_file(settings.key_path))
    assert client.post("/v1/events", json=_event("n1", 1), headers=w).json()["accepted"] == 1
    assert _key(store, "n1") == old.pseudonym("n1")

    rotate_key(store, settings)
    new = PIICipher(load_key_file(settings.key_path))
    assert _key(store, "n1") == new.pseudonym("n1")  # the rotation rewrote the stub written before it

    # within the second after the rotation the service has not looked yet: a stub gets the old pseudonym ...
    assert client.post("/v1/events", json=_event("n2", 1), headers=w).json()["accepted"] == 1
    assert _key(store, "n2") == old.pseudonym("n2")
    clock.t += 1.0
    # ... and the next write, which sees the new key, re-keys it; new customers get the new key's pseudonym
    assert client.post("/v1/events", json=_event("n3", 1), headers=w).json()["accepted"] == 1
    assert _key(store, "n3") == new.pseudonym("n3") and _key(store, "n2") == new.pseudonym("n2")
    assert _key(store, "n1") == new.pseudonym("n1")
    assert st.keys.cipher().fingerprint == new.fingerprint

    # consent rows carry no key-derived value (their row hash is unkeyed SHA-256): written as before
    r = client.post("/v1/customers/c00001/consents", json={"channel": "email", "granted": False}, headers=w)
    assert r.status_code == 200 and r.json()["granted"] is False

    # links signed before the rotation still verify; new ones are signed with the new key
    assert client.get(old_click, follow_redirects=False).status_code == 302
    assert client.post(old_unsub).status_code == 200
    assert st.keys.signer().sign("m", "x") == Signer.for_cipher(new, settings).sign("m", "x") != Signer.for_cipher(old, settings).sign("m", "x")

    # the worker kept across the rotation decrypts addresses and signs links with the new key
    plan_campaign(store, settings, parse_spec("name: after\ngroups:\n  - {name: all, strategy: coupon}" + OUTBOX))
    stats = worker.run("after")
    assert stats.sent > 0 and worker.cipher.fingerprint == new.fingerprint
    to, new_click, _ = _links(settings, "after")
    assert re.fullmatch(r"c\d{5}@example.org", to)
    assert client.get(new_click, follow_redirects=False).status_code == 302


def test_writes_wait_while_a_rotation_is_in_progress(api) -> None:  # noqa: ANN001
    client, keys, store, settings = api
    st = client.app.state.persona
    st.keys.check_seconds = 0.0
    pending = next_key_path(settings.key_path)
    pending.write_text(generate_key() + "\n")
    r = client.post("/v1/events", json=_event("n9", 1), headers=auth(keys["write"]))
    assert r.status_code == 503 and r.json()["error"]["code"] == "key_rotation_pending"
    assert store.read_frame("SELECT customer_id FROM customers WHERE customer_id = 'n9'").empty
    assert client.get("/v1/customers/c00001/profile", headers=auth(keys["read"])).status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and "in progress" in ready.json()["checks"]["key"]
    pending.unlink()  # what `rotate-key --resume` does when the rotation had not committed
    assert client.post("/v1/events", json=_event("n9", 1), headers=auth(keys["write"])).json()["accepted"] == 1
    assert client.get("/readyz").json()["checks"]["key"] == "ok"


@pytest.fixture
def env_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str], Any, Any]]:
    """The API over a workspace keyed by PERSONA_SECRET_KEY (no key file)."""
    for var in ("PERSONA_WORKSPACE", "PERSONA_DATABASE_URL", "PERSONA_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings(tmp_path / "ws", progress=False, global_holdout=0.0, secret_key=generate_key())
    init_workspace(settings)
    store = open_store(settings)
    seed_shop(store, settings, 10)
    keys = {scope: create_key(store, scope)["key"] for scope in ("read", "write", "admin")}
    with TestClient(create_app(settings, store=store)) as client:
        yield client, keys, store, settings
    store.dispose()


def test_with_the_key_in_the_environment_a_rotation_stops_writes_until_restart(env_api, tmp_path: Path) -> None:  # noqa: ANN001
    client, keys, store, settings = env_api
    st = client.app.state.persona
    clock = st.keys.clock = Clock()
    w = auth(keys["write"])
    assert client.post("/v1/events", json=_event("n1", 1), headers=w).status_code == 200
    worker = Worker(store, settings)
    rotate_key(store, settings, new_key_file=tmp_path / "new.key")
    clock.t += st.keys.rotation_check_seconds
    r = client.post("/v1/events", json=_event("n2", 1), headers=w)
    assert r.status_code == 503 and r.json()["error"] == {"code": "key_rotated", "message": ROTATED_MESSAGE, "hint": r.json()["error"]["hint"]}
    assert store.read_frame("SELECT customer_id FROM customers WHERE customer_id = 'n2'").empty
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["key"] == ROTATED_MESSAGE
    assert client.get("/v1/customers/c00001/profile", headers=auth(keys["read"])).status_code == 200  # reads go on
    assert client.get("/v1/customers/c00001/predictions", headers=auth(keys["read"])).status_code == 200
    with pytest.raises(KeyRotatedError):
        worker.run()


def test_the_campaign_worker_command_stops_when_its_environment_key_was_rotated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from persona.cli.main import app

    for var in ("PERSONA_WORKSPACE", "PERSONA_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    secret = generate_key()
    monkeypatch.setenv("PERSONA_SECRET_KEY", secret)
    settings = load_settings(tmp_path / "ws", progress=False, secret_key=secret)
    init_workspace(settings)
    store = open_store(settings)
    try:
        rotate_key(store, settings, new_key_file=tmp_path / "new.key")
    finally:
        store.dispose()
    out = CliRunner().invoke(app, ["campaign", "worker", "--workspace", str(settings.workspace), "--interval", "0.01"])
    assert out.exit_code != 0 and ROTATED_MESSAGE in out.output.replace("\n", " ")
