"""A write the database refuses (outside the bulk writer) answers 422 with the rule broken, never the row."""

from __future__ import annotations

from api_helpers import auth
from db_rules import add_check


def test_a_refused_campaign_is_a_422_naming_the_rule(api) -> None:  # noqa: ANN001
    client, keys, store, _ = api
    add_check(store.engine, "campaigns", "lowercase_names", "name = lower(name)")  # the shop's own rule
    spec = "name: Spring_Sale\ngroups:\n  - {name: all, strategy: new_arrivals}\nchannels: [outbox]\n"
    r = client.post("/v1/campaigns", content=spec, headers={**auth(keys["write"]), "Content-Type": "text/plain"})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "constraint_violation" and "campaigns" in err["message"] and "lowercase_names" in err["message"]
    assert "Spring_Sale" not in r.text and err["hint"]
    assert client.get("/v1/campaigns", headers=auth(keys["read"])).json() == []
