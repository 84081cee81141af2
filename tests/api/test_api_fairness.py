"""``GET /v1/fairness``: the workspace audit over HTTP, with its key scope and input checks."""

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
