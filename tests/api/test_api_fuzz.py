"""Fuzz every operation of the OpenAPI document (schemathesis): no 500, responses match the schema, and every
protected route (found from the document itself) refuses missing and wrong keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")
import schemathesis.checks as sc  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from shop_fixtures import seed_shop  # noqa: E402

from persona.api.keys import create_key  # noqa: E402
from persona.api.main import create_app  # noqa: E402
from persona.config import load_settings  # noqa: E402
from persona.data import Interactions  # noqa: E402
from persona.recommend import make_recommender  # noqa: E402
from persona.registry import register  # noqa: E402
from persona.store import open_store  # noqa: E402
from persona.store.workspace import init_workspace  # noqa: E402

MAX_EXAMPLES = 5
# every default check except positive_data_acceptance: some inputs are valid by the schema and still refused
# by meaning with a 4xx that says why (a tampered tracking signature, a `filters` string that is not a JSON object)
CHECKS = [sc.not_a_server_error, sc.status_code_conformance, sc.content_type_conformance, sc.response_schema_conformance,
          sc.response_headers_conformance, sc.negative_data_rejection, sc.use_after_free, sc.ensure_resource_availability]
PUBLIC = {"/healthz", "/readyz"}  # and the tracking links e-mail clients follow, /t/…
STATE: dict[str, object] = {}


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    ws = tmp_path_factory.mktemp("fuzz") / "ws"
    settings_ = load_settings(ws, progress=False, global_holdout=0.0)
    init_workspace(settings_)
    store = open_store(settings_)
    seed_shop(store, settings_, 20)
    with store.engine.begin() as conn:  # Interactions.from_store refuses an all-NULL value column
        conn.exec_driver_sql("UPDATE events SET value = 1.0")
    register(store, "recommender", "recommender", make_recommender("popular").fit(Interactions.from_store(store)),
             {"algorithm": "popular"}, {}, activate=True)
    STATE["admin"] = create_key(store, "admin")["key"]
    STATE["read"] = create_key(store, "read")["key"]
    app = create_app(settings_, store=store)
    with TestClient(app):  # runs the lifespan: the state stays on the app for schemathesis' own client
        yield app
    store.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzz_app: object) -> object:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def test_fuzz_every_operation_with_a_valid_admin_key(api_schema: object) -> None:
    """Valid key: whatever the input, no 5xx and every response conforms to the documented schema.

    (A loop over the operations rather than schemathesis' pytest plugin, which does not load on this pytest.)
    """
    from hypothesis import given

    headers = {"Authorization": f"Bearer {STATE['admin']}"}
    failures, n_ops, calls = [], 0, [0]
    for result in api_schema.get_all_operations():
        op = result.ok()
        n_ops += 1

        @given(case=op.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def run(case: object) -> None:
            calls[0] += 1
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every operation's failures, report them together
            failures.append(f"{op.label}: {str(exc)[:1500]}")
    assert n_ops >= 25 and calls[0] >= n_ops
    assert not failures, "\n\n".join(failures)


def _protected(doc: dict) -> list[tuple[str, str]]:
    out = []
    for path, ops in doc["paths"].items():
        if path in PUBLIC or path.startswith("/t/") or path.startswith("/ui"):
            continue
        for method in ops:
            if method in ("get", "post", "put", "patch", "delete"):
                out.append((method, path.replace("{", "").replace("}", "")))  # any value fills a path parameter
    return out


def test_every_protected_operation_in_the_document_refuses_missing_and_wrong_keys(fuzz_app: object) -> None:
    client = TestClient(fuzz_app)
    doc = client.get("/openapi.json").json()
    ops = _protected(doc)
    assert len(ops) >= 20, ops  # the document lists the whole API
    for method, path in ops:
        assert client.request(method, path).status_code == 401, (method, path)
        r = client.request(method, path, headers={"X-API-Key": "pk_nope_nope"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", (method, path)
        r = client.request(method, path, headers={"Authorization": "Bearer " + str(STATE["read"])[:-2] + "xx"})
        assert r.status_code == 401, (method, path)
    writes = [(m, p) for m, p in ops if (m != "get" and not p.endswith("/validate")) or p.endswith("/export")]
    assert len(writes) >= 8
    for method, path in writes:  # a read key may not change anything (nor export personal data)
        r = client.request(method, path, headers={"Authorization": f"Bearer {STATE['read']}"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (method, path, r.status_code)
