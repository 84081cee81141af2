"""The offline harness: splitting Interactions, comparing models on one split, picking the best."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.errors import InputError
from persona.evaluate.offline import best_model, comparison_frame, evaluate_recommender
from persona.evaluate.selection import compare, split_interactions
from persona.recommend import make_recommender


def _data(seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(50):
        home = np.arange(10) if u % 2 == 0 else np.arange(10, 20)
        for n, j in enumerate(rng.choice(home, size=8, replace=False)):
            rows.append((f"u{u}", f"i{j}", 1000 * u + n))
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]), time="ts")


@pytest.mark.parametrize("split", ["temporal", "random", "stratified"])
def test_split_interactions_keeps_vocabularies_and_drops_seen(split):
    data = _data()
    train, test = split_interactions(data, split, fraction=0.25, seed=1)
    assert (train.n_users, train.n_items) == (data.n_users, data.n_items)
    assert train.nnz + len(test) == data.nnz
    tr_pairs = set(zip(train.user_ids[train.matrix.tocoo().row], train.item_ids[train.matrix.tocoo().col], strict=True))
    assert not tr_pairs & set(zip(test["user_id"], test["item_id"], strict=True))
    if split == "temporal":  # each user's 2 newest events (25% of 8) are held out
        assert test.groupby("user_id").size().eq(2).all()
        newest = data.log.sort_values("time").groupby("user_idx").tail(2)
        assert set(zip(data.user_ids[newest["user_idx"]], data.item_ids[newest["item_idx"]], strict=True)) == \
            set(zip(test["user_id"], test["item_id"], strict=True))


def test_split_errors():
    with pytest.raises(InputError, match="unknown split"):
        split_interactions(_data(), "sideways")
    no_time = Interactions.from_frame(pd.DataFrame({"user_id": ["a", "a"], "item_id": ["x", "y"]}))
    with pytest.raises(InputError, match="needs event times"):
        split_interactions(no_time, "temporal")


def test_compare_ranks_personalised_above_popularity():
    cmp = compare(_data(), ["popular", "itemknn"], split="random", fraction=0.25, seed=0)
    by = {r.name: r for r in cmp.reports}
    assert by["itemknn"].metrics["ndcg@10"] > by["popular"].metrics["ndcg@10"]
    assert cmp.best.name == "itemknn"
    frame = comparison_frame(cmp.reports)
    assert list(frame["model"]) == ["popular", "itemknn"] and "fit_s" in frame.columns
    assert {"coverage", "novelty", "diversity", "gini", "avg_popularity"} <= set(by["itemknn"].metrics)
    # each model keeps its per-user rows (their means are the metrics); the best leads the other, paired by user
    rows = by["itemknn"].per_user
    assert rows["ndcg@10"].mean() == pytest.approx(by["itemknn"].metrics["ndcg@10"])
    lead = cmp.versus_best(["ndcg@10", "recall@10"])
    assert set(lead) == {"popular"} and lead["popular"]["ndcg@10"].diff == pytest.approx(
        by["itemknn"].metrics["ndcg@10"] - by["popular"].metrics["ndcg@10"])
    assert lead["popular"]["ndcg@10"].significant
    # the best model's lists against the runner-up's: the one-sided hits account for the whole recall difference
    runner, lists = cmp.lists_versus_runner_up(10)
    assert runner == "popular" and lists.users == len(rows)
    assert lists.recall_only_a - lists.recall_only_b == pytest.approx(
        by["itemknn"].metrics["recall@10"] - by["popular"].metrics["recall@10"])


def test_compare_keeps_the_lists_of_the_best_two_only():
    cmp = compare(_data(), ["popular", "itemknn", "userknn"], split="random", fraction=0.25, seed=0)
    ranked = sorted(cmp.reports, key=lambda r: -r.metrics["ndcg@10"])
    assert [r.recs is not None for r in ranked] == [True, True, False]
    assert cmp.lists_versus_runner_up(5)[0] == ranked[1].name
    summary = cmp.lists_summary(5)
    assert summary["model"] == ranked[1].name and summary["k"] == 5
    assert summary["sentence"].startswith(f"{ranked[0].name} and {ranked[1].name} ")  # "share …" or "recommend the same …"


def test_one_model_has_no_runner_up_to_compare_lists_with():
    cmp = compare(_data(), ["popular"], split="random", fraction=0.25, seed=0)
    assert cmp.lists_versus_runner_up() is None and cmp.lists_summary() is None


def test_per_user_rows_only_when_asked():
    data = _data()
    train, test = split_interactions(data, "random", fraction=0.25, seed=0)
    assert evaluate_recommender(make_recommender("popular"), train, test).per_user is None
    rep = evaluate_recommender(make_recommender("popular"), train, test, per_user=True)
    assert len(rep.per_user) == test["user_id"].nunique()


def test_customers_left_without_a_list_count_as_misses():
    # Microsoft Recommenders' metrics average over the users that got a list: a model returning nothing for its
    # hard customers (the sequential model once scored them NaN) would look better for it
    data = _data()
    train, test = split_interactions(data, "random", fraction=0.25, seed=0)
    full = make_recommender("itemknn").fit(train)

    class Partial:
        def fit(self, data):  # noqa: ANN001, ANN202
            self.inner = make_recommender("itemknn").fit(data)
            return self

        def recommend(self, user_ids, k=10, *, exclude_seen=True):  # noqa: ANN001, ANN202
            out = self.inner.recommend(user_ids, k=k, exclude_seen=exclude_seen)
            return out[~out["user_id"].isin(["u0", "u1", "u2"])]

    whole = evaluate_recommender(full, train, test, fit=False, per_user=True)
    part = evaluate_recommender(Partial(), train, test, per_user=True)
    assert whole.unserved == 0 and "unserved" not in whole.row()
    assert part.unserved == 3 and part.row()["unserved"] == 3
    assert len(part.per_user) == len(whole.per_user) == test["user_id"].nunique()
    assert (part.per_user.loc[["u0", "u1", "u2"]] == 0).all().all()
    kept = whole.per_user.drop(["u0", "u1", "u2"])
    assert part.metrics["ndcg@10"] == pytest.approx(kept["ndcg@10"].sum() / len(whole.per_user))
    assert part.metrics["ndcg@10"] < kept["ndcg@10"].mean()
    cmp = compare(data, {"partial": Partial, "itemknn": lambda: make_recommender("itemknn")}, split="random",
                  fraction=0.25, seed=0)
    rows = {r["model"]: r for r in cmp.table()}
    assert rows["partial"]["unserved"] >= 1 and "unserved" not in rows["itemknn"]


def test_a_failing_model_is_reported_not_raised():
    class Broken:
        def fit(self, data):  # noqa: ANN001, ANN202
            raise RuntimeError("boom")

    data = _data()
    train, test = split_interactions(data, "random")
    rep = evaluate_recommender(Broken(), train, test, name="broken")
    assert rep.error == "RuntimeError: boom" and rep.metrics == {}
    assert best_model([rep]) is None


def test_repeats_kept_in_the_test_and_seen_items_scored():
    from persona.evaluate.selection import split_interactions
    from persona.recommend import make_recommender

    rows = [(f"u{u}", f"i{n % 3}", n) for u in range(6) for n in range(10)]
    data = Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]), time="ts")
    with pytest.raises(InputError, match="already had.*nothing to score"):
        split_interactions(data, "temporal")  # every held-out item was seen before
    train, test = split_interactions(data, "temporal", repeats=True)
    assert len(test) == 6 * 2
    seen_only = evaluate_recommender(make_recommender("popular"), train, test, k=3)
    assert seen_only.metrics["hit_rate@3"] == 0.0
    with_seen = evaluate_recommender(make_recommender("popular"), train, test, k=3, exclude_seen=False)
    assert with_seen.metrics["hit_rate@3"] == 1.0
