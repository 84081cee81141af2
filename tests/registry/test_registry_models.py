"""Model registry: versions, atomic artifacts, load, promote, rollback, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from persona.errors import ConstraintError, InputError, NotFoundError
from persona.registry import get_version, list_models, load, promote, register, rollback


def test_register_versions_and_artifacts(store):
    v1 = register(store, "reco", "recommender", {"w": [1, 2]}, {"k": 10}, {"ndcg@10": 0.4})
    v2 = register(store, "reco", "recommender", {"w": [3]}, {"k": 20}, {"ndcg@10": 0.5})
    assert (v1.version, v2.version) == (1, 2)
    assert v1.status == "candidate"
    root = Path(store.settings.models_dir) / "reco"
    assert sorted(p.name for p in root.iterdir()) == ["v1", "v2"]  # no temporary folders left behind
    assert (root / "v2" / "meta.json").is_file()
    assert [m.version for m in list_models(store, "reco")] == [1, 2]
    assert load(store, "reco") == {"w": [3]}  # none active: the latest
    assert load(store, "reco", 1) == {"w": [1, 2]}
    assert get_version(store, "reco", 1).metrics == {"ndcg@10": 0.4}


def test_promote_and_rollback(store):
    for i in range(3):
        register(store, "churn", "churn", {"i": i}, {}, {})
    promote(store, "churn", 1)
    promote(store, "churn", 3)
    statuses = {m.version: m.status for m in list_models(store, "churn")}
    assert statuses == {1: "retired", 2: "candidate", 3: "active"}
    assert load(store, "churn") == {"i": 2}
    back = rollback(store, "churn")
    assert back.version == 1 and back.status == "active"
    assert load(store, "churn") == {"i": 0}
    # rolling back again steps to the other version that was in use (v3)
    assert rollback(store, "churn").version == 3
    register(store, "solo", "x", 1, activate=True)
    with pytest.raises(NotFoundError, match="no version before"):
        rollback(store, "solo")


def test_register_activate_and_json_params(store):
    import numpy as np

    mv = register(store, "m", "recommender", [1],
                  {"lam": np.float64(2.5), "names": ("a", "b")}, {"n": np.int64(3)}, activate=True)
    assert mv.status == "active"
    assert mv.params == {"lam": 2.5, "names": ["a", "b"]} and mv.metrics == {"n": 3}
    assert mv.to_dict()["created_at"]


def test_errors(store):
    with pytest.raises(NotFoundError, match="no model named"):
        load(store, "nothing")
    register(store, "a", "x", 1)
    with pytest.raises(NotFoundError, match="has no version 7"):
        load(store, "a", 7)
    with pytest.raises(NotFoundError):
        promote(store, "a", 9)
    with pytest.raises(InputError, match="invalid model name"):
        register(store, "../evil", "x", 1)


def test_registers_a_fitted_recommender(store):
    pd = pytest.importorskip("pandas")
    from persona.data import Interactions
    from persona.recommend import make_recommender

    df = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3"], "item_id": ["a", "b", "a", "c", "b"]})
    rec = make_recommender("popular").fit(Interactions.from_frame(df))
    register(store, "recommender", "recommender", rec, rec.get_params(), {"ndcg@10": 0.1}, activate=True)
    back = load(store, "recommender")
    assert back.recommend(["u1"], k=2)["item_id"].tolist() == rec.recommend(["u1"], k=2)["item_id"].tolist()


def test_same_behaviour_on_every_database(any_store):
    a = register(any_store, "pg", "recommender", {"v": 1}, {"p": 1}, {"m": 0.5})
    b = register(any_store, "pg", "recommender", {"v": 2}, activate=True)
    assert (a.version, b.version, b.status) == (1, 2, "active")
    promote(any_store, "pg", 1)
    assert [m.status for m in list_models(any_store, "pg")] == ["active", "retired"]
    assert load(any_store, "pg") == {"v": 1}
    assert rollback(any_store, "pg").version == 2


def test_a_version_taken_meanwhile_is_retried_under_the_next_number(any_store):
    from sqlalchemy import event, insert

    from persona.store.models import ModelVersion as ModelRow

    raced = []

    def another_process_registers_first(conn, cursor, statement, *_args):  # noqa: ANN001, ANN202
        if statement.startswith("INSERT INTO models") and not raced:
            raced.append(statement)
            with any_store.engine.begin() as other:
                other.execute(insert(ModelRow).values(name="reco", version=1, kind="recommender", status="candidate",
                                                      created_at=datetime.now(UTC)))

    event.listen(any_store.engine, "before_cursor_execute", another_process_registers_first)
    try:
        mine = register(any_store, "reco", "recommender", {"w": 1})
    finally:
        event.remove(any_store.engine, "before_cursor_execute", another_process_registers_first)
    assert raced and mine.version == 2
    assert [m.version for m in list_models(any_store, "reco")] == [1, 2]
    assert sorted(p.name for p in (Path(any_store.settings.models_dir) / "reco").iterdir()) == ["v2"]


def test_a_row_the_database_refuses_is_reported_at_once_not_retried(store):
    with pytest.raises(ConstraintError) as info:
        register(store, "reco", None, {"w": 1})  # no kind: models.kind is NOT NULL
    assert (info.value.table, info.value.column, info.value.rule) == ("models", "kind", "NOT NULL")
    assert not list((Path(store.settings.models_dir) / "reco").iterdir())  # its artifact was removed with it
    assert list_models(store, "reco") == []
