"""The registry over HTTP after a prune: pruned versions are listed with when, and promoting one is 410 Gone."""

from __future__ import annotations

from persona.registry import prune, register


def test_a_pruned_version_is_listed_and_promoting_it_is_gone(api) -> None:  # noqa: ANN001
    client, keys, store, _settings = api
    for i in range(1, 5):
        register(store, "churn_probability", "churn", {"w": i}, activate=True)
    assert [v.version for v in prune(store, "churn_probability", keep=1).pruned] == [1, 2]
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    listed = client.get("/v1/models", headers={"Authorization": f"Bearer {keys['read']}"}).json()["versions"]
    assert [(v["version"], v["status"], bool(v["pruned_at"])) for v in listed] == [
        (1, "pruned", True), (2, "pruned", True), (3, "retired", False), (4, "active", False)]
    res = client.post("/v1/models/churn_probability/promote/1", headers=admin)
    assert res.status_code == 410
    error = res.json()["error"]
    assert error["code"] == "pruned" and error["message"].startswith("cannot promote model 'churn_probability' v1")
    assert error["hint"].startswith("loadable versions of 'churn_probability': [3, 4]")
    assert client.post("/v1/models/churn_probability/rollback", headers=admin).json()["version"] == 3
