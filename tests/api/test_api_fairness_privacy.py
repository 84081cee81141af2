"""`GET /v1/fairness` and `GET /v1/privacy/report`: the workspace audits over HTTP, with their key scopes and input checks."""

from __future__ import annotations

from datetime import UTC, datetime


def test_fairness_endpoint_audits_stored_scores_and_refuses_bad_input(api) -> None:  # noqa: ANN001
    client, keys, store, _ = api
    ids = store.read_frame("SELECT customer_id, country FROM customers ORDER BY customer_id")
    now = datetime.now(UTC)
    # scores that single out one country: FR customers all score high
    store.bulk_insert("predictions", [{"customer_id": c, "name": "churn_probability", "value": 0.9 if k == "FR" else 0.1 + i / 1000,
                                       "updated_at": now} for i, (c, k) in enumerate(zip(ids["customer_id"], ids["country"], strict=True))])
    assert client.get("/v1/fairness").status_code == 401
    r = client.get("/v1/fairness", params={"min_group": 10}, headers={"x-api-key": keys["read"]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["attributes"] == ["country"] and out["min_group"] == 10
    mean = next(it for it in out["predictions"] if it["measure"] == "mean score")
    assert mean["summary"]["highest"] == "FR" and mean["summary"]["significant"]
    assert any("churn_probability: mean score, by country" in f for f in out["findings"])
    r = client.get("/v1/fairness", params={"by": "height"}, headers={"x-api-key": keys["read"]})
    assert r.status_code in (400, 422) and "unknown customer attribute" in r.text
    r = client.get("/v1/fairness", params={"top_share": 2}, headers={"x-api-key": keys["read"]})
    assert r.status_code == 422


def test_privacy_report_needs_an_admin_key(api) -> None:  # noqa: ANN001
    client, keys, _, _ = api
    assert client.get("/v1/privacy/report", headers={"x-api-key": keys["read"]}).status_code == 403
    r = client.get("/v1/privacy/report", params={"k": 3}, headers={"x-api-key": keys["admin"]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["pii_at_rest"]["customers"] == 30 and out["reidentification"]["precise"]["k"] == 3
    assert out["erasure"]["complete"] is True and out["access"]["active_keys"] == {"admin": 1, "read": 1, "write": 1}
    assert client.get("/v1/privacy/report", params={"k": 1}, headers={"x-api-key": keys["admin"]}).status_code == 422
