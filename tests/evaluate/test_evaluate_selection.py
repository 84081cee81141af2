"""Choosing and serving a recommender: the repeat wrapper is added only where customers come back."""

from __future__ import annotations

import numpy as np
import pandas as pd

from persona.data import Interactions
from persona.evaluate.selection import REPEAT_SERVING_SHARE, compare, serve_repeats
from persona.recommend import make_recommender
from persona.recommend.repeat import RepeatRecommender


def _shop(p_back: float, timed: bool = True, seed: int = 2, n_items: int = 200) -> Interactions:
    """Customers who come back to a product of theirs with probability ``p_back`` between new finds."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(50):
        mine: list[int] = []
        for n in range(20):
            j = int(rng.choice(mine)) if mine and rng.random() < p_back else int(rng.integers(n_items))
            mine.append(j)
            rows.append((f"u{u}", f"i{j}", u * 1000 + n))
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    return Interactions.from_frame(df, time="ts" if timed else None)


def test_a_shop_whose_customers_come_back_is_served_inside_the_repeat_model():
    data = _shop(0.5)
    share = compare(data, ["popular"]).repeat_share
    assert share > REPEAT_SERVING_SHARE
    base = make_recommender("itemknn").fit(data)
    served = serve_repeats(base, data, share)
    assert isinstance(served, RepeatRecommender) and served.base_ is base
    users = list(data.user_ids[:10])
    pd.testing.assert_frame_equal(served.recommend(users, k=5), base.recommend(users, k=5))
    assert served.recommend(users, k=5, exclude_seen=False)["reason"].str.startswith("you ").any()


def test_models_are_served_as_they_are_without_comebacks_or_timestamps():
    data = _shop(0.0, n_items=5000)
    base = make_recommender("popular").fit(data)
    assert serve_repeats(base, data, compare(data, ["popular"]).repeat_share) is base
    untimed = _shop(0.5, timed=False)
    plain = make_recommender("popular").fit(untimed)
    assert serve_repeats(plain, untimed, 0.5) is plain
    wrapped = RepeatRecommender(base="popular").fit(_shop(0.5))
    assert serve_repeats(wrapped, wrapped.data_, 0.5) is wrapped


def test_a_split_holding_out_only_comebacks_says_so():
    import pytest

    from persona.errors import InputError

    # each customer's latest events are all products they had: nothing new to score
    rows = [(f"u{u}", f"i{u}_{n % 4}", u * 100 + n) for u in range(20) for n in range(10)]
    data = Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]), time="ts")
    with pytest.raises(InputError, match="already had") as exc:
        compare(data, ["popular"])
    assert "--repeats" in exc.value.hint
    assert compare(data, ["popular"], repeats=True).repeat_share == 1.0


def test_the_comparison_keeps_only_its_best_model_fitted_on_its_training_part():
    data = _shop(0.5)
    cmp = compare(data, ["popular", "itemknn", "ease"])
    assert cmp.best_fitted is not None and cmp.best_fitted.name == cmp.best.name
    inner, held, fitted = cmp.holdout()
    assert fitted is cmp.best_fitted and fitted.data_ is inner is cmp.train
    assert held.shape == data.matrix.shape and held.nnz >= len(cmp.test)  # repeats are held out too
    # every held-out pair is a later event of that customer
    users = data.user_ids[held.nonzero()[0]]
    items = data.item_ids[held.nonzero()[1]]
    log = pd.DataFrame({"user_id": data.user_ids[data.log["user_idx"]], "item_id": data.item_ids[data.log["item_idx"]]})
    assert set(zip(users, items, strict=True)) <= set(zip(log["user_id"], log["item_id"], strict=True))
    assert compare(data, ["popular"], split="random").holdout() is None  # only a temporal split stands in


def test_serving_repeats_learns_the_comeback_scale_on_the_comparisons_split_without_another_fit(monkeypatch):
    data = _shop(0.5)
    cmp = compare(data, ["itemknn"])
    base = make_recommender("itemknn").fit(data)
    fits = []
    monkeypatch.setattr(RepeatRecommender, "_base", lambda self: fits.append(1) or make_recommender("itemknn"))
    served = serve_repeats(base, data, cmp.repeat_share, holdout=cmp.holdout())
    assert isinstance(served, RepeatRecommender) and served.base_ is base and not fits
    assert served.validation_["users"] > 0 and served.curves_["seen"][0] > 0
    # without the holdout the model fits its discovery model once more on its own split
    own = serve_repeats(base, data, cmp.repeat_share)
    assert len(fits) == 1 and own.curves_.keys() == served.curves_.keys()
    users = list(data.user_ids[:10])
    pd.testing.assert_frame_equal(served.recommend(users, k=5), base.recommend(users, k=5))


def test_a_holdout_from_other_data_is_refused():
    import pytest

    from persona.errors import InputError

    data, other = _shop(0.5), _shop(0.5, seed=3, n_items=150)
    base = make_recommender("itemknn").fit(data)
    with pytest.raises(InputError, match="holdout"):
        RepeatRecommender().fit_around(base, data, holdout=compare(other, ["itemknn"]).holdout())


def test_the_hybrid_learns_its_weights_on_items_held_out_like_the_split_it_is_judged_on(monkeypatch):
    import pytest

    from persona.errors import InputError
    from persona.evaluate import selection
    from persona.evaluate.selection import build_models

    assert build_models(["hybrid"], split="temporal")["hybrid"]().validation == "temporal"
    for split in ("random", "stratified"):
        assert build_models(["hybrid"], split=split)["hybrid"]().validation == "guarded"
    assert build_models(["hybrid"])["hybrid"]().validation == "guarded"  # no split: the class default
    assert build_models(["repeat"], split="temporal")["repeat"]()._base().validation == "temporal"
    assert build_models(["itemknn"], split="temporal")["itemknn"]().get_params() == make_recommender("itemknn").get_params()
    with pytest.raises(InputError, match="unknown split"):
        build_models(["hybrid"], split="future")
    from persona.evaluate.selection import SPLITS
    from persona.recommend.hybrid import SPLIT_VALIDATION

    assert set(SPLIT_VALIDATION) == set(SPLITS)  # every split the evaluation offers has its validation
    # compare builds its models for its own split
    seen: list[str | None] = []
    real = selection.build_models

    def spy(names, seed=42, engine=None, split=None):
        seen.append(split)
        return real(names, seed, engine, split)

    monkeypatch.setattr(selection, "build_models", spy)
    compare(_shop(0.0), ["popular"], split="random")
    assert seen == ["random"]


def test_the_global_split_holds_out_everything_after_one_cutoff_new_customers_included():
    import pytest

    from persona.errors import InputError
    from persona.evaluate.selection import split_interactions

    data = _shop(0.0)
    train, test = split_interactions(data, "global", fraction=0.2)
    lg = train.log
    cutoff = float(pd.to_numeric(lg["time"]).max())
    held = data.log[~data.log.index.isin(lg.index)]
    assert len(lg) == round(0.8 * len(data.log)) and float(pd.to_numeric(held["time"]).min()) > cutoff
    # the customers whose every event comes after the cut-off (here the last ones) are in the test
    new = set(test["user_id"]) - set(data.user_ids[lg["user_idx"].to_numpy()])
    assert new and new <= {f"u{u}" for u in range(40, 50)}
    cmp = compare(data, ["popular"], split="global")
    assert cmp.best is not None and cmp.best.metrics["ndcg@10"] >= 0
    with pytest.raises(InputError, match="global split needs event times"):
        compare(_shop(0.0, timed=False), ["popular"], split="global")


def test_a_model_that_predicts_ratings_is_also_scored_by_rmse_and_mae():
    rng = np.random.default_rng(3)
    # generous and strict customers, good and poor products
    rows = [(f"u{u}", f"i{i}", float(np.clip(3 + (u % 3 - 1) + (i % 3 - 1) + rng.integers(-1, 2) * (rng.random() < 0.2), 1, 5)),
             u * 100 + i) for u in range(40) for i in range(25) if rng.random() < 0.4]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "stars", "ts"]).assign(kind="rating")
    data = Interactions.from_frame(df, weight="stars", time="ts", event_type="kind")
    cmp = compare(data, ["popular", "rating-knn"], split="random")
    assert cmp.test["rating"].notna().all() and set(cmp.test["rating"]) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    knn = next(r for r in cmp.reports if r.name == "rating-knn")
    pop = next(r for r in cmp.reports if r.name == "popular")
    assert 0 < knn.metrics["mae"] <= knn.metrics["rmse"] < 1.0 and "rmse" not in pop.metrics
    # the mean rating as every prediction does worse than the model
    truth = cmp.test["rating"].to_numpy()
    mean = float(cmp.train.ratings().data.mean())
    assert knn.metrics["rmse"] < 0.8 * float(np.sqrt(np.mean((truth - mean) ** 2)))
    implicit = compare(_shop(0.0), ["popular"], split="random")
    assert "rating" not in implicit.test.columns
