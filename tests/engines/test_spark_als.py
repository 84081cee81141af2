"""ALS trained on Spark: as good as ``implicit``'s on planted tastes, chosen by the engine setting, served locally."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.evaluate.offline import evaluate_recommender
from persona.recommend import make_recommender


def _planted(seed: int = 0) -> tuple[Interactions, pd.DataFrame]:
    """300 users in 5 taste groups of 30 items each; 70% of each user's picks train, 30% test."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for u in range(300):
        group = u % 5
        picks = rng.choice(np.arange(group * 30, group * 30 + 30), size=12, replace=False)
        noise = rng.choice(150, size=2, replace=False)
        for j, it in enumerate(np.concatenate([picks, noise])):
            (test if j in (0, 1, 2, 3) else train).append({"user_id": f"u{u}", "item_id": f"i{it}"})
    tr, te = pd.DataFrame(train).drop_duplicates(), pd.DataFrame(test)
    te = te.merge(tr, how="left", indicator=True).query("_merge == 'left_only'").drop(columns="_merge")
    return Interactions.from_frame(tr, "user_id", "item_id"), te


def test_spark_als_recommends_as_well_as_implicit(spark):
    train, test = _planted()
    reports = {eng: evaluate_recommender(make_recommender("als", factors=16, iterations=10, seed=3, engine=eng), train, test,
                                         k=10, name=eng) for eng in ("local", "spark")}
    local, on_spark = (reports[e].metrics["recall@10"] for e in ("local", "spark"))
    assert local > 0.3  # the planted tastes are learnable
    assert on_spark > 0.9 * local, (on_spark, local)
    model = make_recommender("als", factors=16, iterations=10, seed=3, engine="spark").fit(train)
    assert model.user_factors_.shape == (train.n_users, 16) and model.item_factors_.shape == (train.n_items, 16)
    assert model.regularization_ > 0 and np.abs(model.user_factors_).sum() > 0


def test_bad_engine_is_refused():
    from persona.errors import ConfigError

    train, _ = _planted()
    with pytest.raises(ConfigError, match="unknown engine 'gpu'"):
        make_recommender("als", engine="gpu").fit(train)


def test_recommend_train_follows_the_engine_setting(spark, workspace_shop, monkeypatch):
    """`PERSONA_ENGINE=spark persona recommend train --model als` trains on Spark; the served model needs no Spark."""
    from shop_fixtures import seed_shop
    from typer.testing import CliRunner

    from persona.cli.main import app
    from persona.registry import get_version

    store, settings = workspace_shop
    ids = seed_shop(store, settings, 120)
    rng = np.random.default_rng(2)
    rows = [{"event_id": f"v{u}-{k}", "customer_id": cid, "product_id": f"p{(u % 4) * 5 + int(rng.integers(0, 5))}",
             "event_type": "view", "ts": pd.Timestamp("2026-06-01", tz="UTC").to_pydatetime() + pd.Timedelta(hours=u * 10 + k).to_pytimedelta()}
            for u, cid in enumerate(ids) for k in range(6)]
    store.bulk_insert("events", rows)
    monkeypatch.setenv("PERSONA_ENGINE", "spark")
    res = CliRunner().invoke(app, ["recommend", "train", "--model", "als", "--workspace", str(settings.workspace), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["best"] == "als" and out["engine"] == "spark"
    assert get_version(store, "recommender").params["engine"] == "spark"
    res = CliRunner().invoke(app, ["recommend", "for", ids[0], "-k", "3", "--workspace", str(settings.workspace), "--json"])
    assert res.exit_code == 0, res.output
    recs = json.loads(res.output)["recommendations"]
    assert len(recs) == 3 and all(r["reason"] for r in recs)
