"""The hybrid: weights learned on a validation split of the training data, adaptive model set, blending."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.errors import InputError, NotFittedError
from persona.recommend import make_recommender
from persona.recommend.hybrid import HybridRecommender, _ndcg_recall, _zscore, default_members

FAST = {"als": {"factors": 8, "iterations": 5}}


def _groups(n_users: int = 80, n_items: int = 30, seed: int = 0) -> Interactions:
    """Two taste groups with a popularity slope inside each; every user has 8-12 items."""
    rng = np.random.default_rng(seed)
    rows = []
    half = n_items // 2
    for u in range(n_users):
        home = np.arange(half) if u % 2 == 0 else np.arange(half, n_items)
        p = 1.0 / (1 + np.arange(half))
        chosen = rng.choice(home, size=int(rng.integers(8, 13)), replace=False, p=p / p.sum())
        rows += [(f"u{u}", f"i{j}", 1_700_000_000 + 60 * n + u) for n, j in enumerate(chosen)]
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]), time="ts")


def test_zscore_ignores_seen_columns():
    import scipy.sparse as sp

    s = np.array([[1.0, 2.0, 3.0, 100.0]])
    z = _zscore(s, sp.csr_matrix(np.array([[0, 0, 0, 1]])))
    np.testing.assert_allclose(z[0, :3], [-1.2247449, 0.0, 1.2247449], rtol=1e-5)


def test_ndcg_recall_helper_matches_definition():
    blend = np.array([[3.0, 2.0, 1.0, 0.0]])
    labels = np.array([[1.0, 0.0, 1.0, 0.0]])
    nd, rc = _ndcg_recall(blend, labels, np.array([3]), 2)
    assert nd == pytest.approx((1 / np.log(2)) / (1 / np.log(2) + 1 / np.log(3)))
    assert rc == pytest.approx(1 / 3)


def test_learns_weights_on_training_data_only():
    data = _groups()
    rec = HybridRecommender(models={"itemknn": {}, "popular": {}, "als": FAST["als"]}, validation="random").fit(data)
    w = rec.weights_
    # itemknn also enters with a recency-weighted history (the data has timestamps)
    assert set(w) == {"itemknn", "itemknn~recent", "popular", "als"}
    assert sum(w.values()) == pytest.approx(1.0, abs=1e-5)  # each weight is rounded to 6 decimals
    # popularity ignores the two taste groups: a personalised model must carry more weight
    assert max(w["itemknn"] + w["itemknn~recent"], w["als"]) > w["popular"]
    assert rec.validation_["users"] > 0 and rec.validation_["folds"] == rec.validation_folds
    out = rec.recommend(["u0", "u1"], k=5)
    assert len(out) == 10 and list(out.columns) == ["user_id", "item_id", "score", "rank", "reason"]
    # user u0 (even: items i0-i14) gets mostly its own group's items
    top = out[out["user_id"] == "u0"]["item_id"].str[1:].astype(int)
    assert (top < 15).mean() >= 0.6


def test_fixed_weights_skip_learning_and_zero_weight_models_are_not_fitted():
    data = _groups()
    rec = HybridRecommender(models=["itemknn", "popular"], weights={"itemknn": 1.0, "popular": 0.0}).fit(data)
    assert list(rec.models_) == ["itemknn"]
    only = make_recommender("itemknn").fit(data)
    assert rec.score(np.arange(5)).shape == (5, data.n_items)
    assert rec.recommend(["u3"], k=4)["item_id"].tolist() == only.recommend(["u3"], k=4)["item_id"].tolist()
    with pytest.raises(InputError, match="weights name models"):
        HybridRecommender(models=["itemknn"], weights={"ease": 1.0}).fit(data)


class _NaNForSome(HybridRecommender):
    """A hybrid whose member "broken" scores every other customer NaN (as the sequential model once did)."""

    def _make(self, name, params):
        if name != "broken":
            return super()._make(name, params)
        from persona.recommend.popular import PopularRecommender

        class Broken(PopularRecommender):
            def score(self, user_idx):
                s = super().score(user_idx).astype(np.float32)
                s[::2] = np.nan
                return s

        return Broken()


def test_a_member_with_scores_that_are_not_finite_is_left_out_not_blended(caplog):
    # one NaN used to stall the weights' fit where it started: every member ended with the same weight
    data = _groups()
    with caplog.at_level("WARNING", logger="persona.recommend.hybrid"):
        rec = _NaNForSome(models={"itemknn": {}, "broken": {}}, validation="random", recency=False).fit(data)
    assert rec.weights_ == {"itemknn": 1.0}
    assert "broken left out" in caplog.text and "not finite" in caplog.text
    assert np.isfinite(rec.score(np.arange(data.n_users))).all()
    with pytest.raises(InputError, match="no base model"):
        _NaNForSome(models={"broken": {}}, validation="random").fit(data)


def test_default_set_adapts_to_catalogue_size_and_timestamps():
    data = _groups()
    rec = HybridRecommender(max_ease_items=10, max_userknn_users=10)
    assert list(rec._base_specs(data)) == ["als", "rp3beta", "itemknn", "period"]
    assert list(HybridRecommender(max_rp3beta_items=10)._base_specs(data)) == [
        "ease", "dlae", "ease-local", "gfcf", "als", "itemknn", "userknn", "period"]
    assert list(HybridRecommender()._base_specs(data)) == [
        "ease", "dlae", "ease-local", "gfcf", "als", "rp3beta", "itemknn", "userknn", "period"]
    # without timestamps the windowed EASE has nothing to work on
    log = data.log
    frame = pd.DataFrame({"user_id": data.user_ids[log["user_idx"]], "item_id": data.item_ids[log["item_idx"]]})
    untimed = Interactions.from_frame(frame)
    assert "ease-local" not in HybridRecommender()._base_specs(untimed)
    named = HybridRecommender(models=["ease-local", "itemknn"], tune=False).fit(untimed)  # named anyway: left out
    assert list(named.models_) == ["itemknn"] and "ease-local" not in named.weights_


def test_temporal_validation_holds_out_the_latest_items_once_and_blends_the_next_item_model():
    data = _groups()
    assert "transition" not in HybridRecommender()._base_specs(data)  # guarded: random held-out items first
    assert list(HybridRecommender(validation="temporal")._base_specs(data))[-1] == "transition"
    assert default_members("temporal")[-1] == "transition" and "transition" not in default_members("guarded")
    assert "transition" not in HybridRecommender(validation="temporal", max_ease_items=10)._base_specs(data)
    folds = HybridRecommender(validation="temporal")._folds(data)
    assert [f.mode for f in folds] == ["temporal"]  # a second temporal fold would hold out the same items
    log = data.log
    untimed = Interactions.from_frame(
        pd.DataFrame({"user_id": data.user_ids[log["user_idx"]], "item_id": data.item_ids[log["item_idx"]]}))
    assert "transition" not in HybridRecommender(validation="temporal")._base_specs(untimed)
    assert len(HybridRecommender(validation="temporal")._folds(untimed)) == HybridRecommender().validation_folds


def _chains(n_users: int = 120, n_items: int = 24, seed: int = 0) -> Interactions:
    """Each customer walks a stretch of one fixed path i0 → i1 → … from a random start (order is all there is)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(0, n_items - 8))
        rows += [(f"u{u}", f"i{start + n}", 1_700_000_000 + 60 * n) for n in range(int(rng.integers(5, 9)))]
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]), time="ts")


def test_on_latest_items_the_next_item_model_takes_the_weight_where_order_is_all_there_is():
    data = _chains()
    rec = HybridRecommender(models=["itemknn", "transition"], validation="temporal", tune=False, seed=1).fit(data)
    assert rec.weights_["transition"] > rec.weights_.get("itemknn", 0.0)
    # the next step of each customer's path comes first
    log = data.log.assign(user_id=lambda f: data.user_ids[f["user_idx"]], item=lambda f: f["item_idx"])
    last = log.sort_values("time").groupby("user_id")["item_idx"].last()
    top = rec.recommend(list(last.index[:30]), k=1).set_index("user_id")["item_id"]
    want = {u: f"i{int(data.item_ids[i][1:]) + 1}" for u, i in last.iloc[:30].items()}
    assert sum(top[u] == w for u, w in want.items()) >= 27


def test_a_frozen_copy_refits_the_weighted_members_without_learning_again():
    data = _groups()
    fitted = HybridRecommender(models={"itemknn": {}, "als": FAST["als"], "popular": {}}, seed=3).fit(data)
    copy = fitted.frozen()
    assert not hasattr(copy, "weights_")  # unfitted
    again = copy.fit(data)
    assert again.validation_ == {} and again.weights_ == fitted.weights_
    assert set(again.models_) == set(fitted.models_)
    users = np.arange(data.n_users)
    np.testing.assert_allclose(again.score(users), fitted.score(users), rtol=1e-5, atol=1e-6)
    with pytest.raises(NotFittedError):
        HybridRecommender().frozen()


def test_similar_items_come_from_the_heaviest_member_that_relates_items_by_who_had_them():
    data = _groups()
    rec = HybridRecommender(models=["popular", "itemknn"], weights={"popular": 0.7, "itemknn": 0.3}).fit(data)
    assert rec.lead_ == "itemknn"
    sim = rec.similar_items(["i0"], k=5)
    expected = rec.models_["itemknn"].similar_items(["i0"], k=5)
    assert list(sim["similar_item_id"]) == list(expected["similar_item_id"])
    assert set(sim["reason"]) == {rec.models_["itemknn"].similar_reason.format(item="i0")}
    alone = HybridRecommender(models=["popular"], weights={"popular": 1.0}).fit(data)
    assert alone.lead_ == "popular" and alone.similar_reason == alone.models_["popular"].similar_reason


def test_bad_parameters_and_not_fitted():
    with pytest.raises(NotFittedError):
        HybridRecommender().recommend(["u0"])
    data = _groups()
    for bad in ({"validation": "future"}, {"validation_fraction": 1.5}, {"models": []}, {"models": ["hybrid"]},
                {"tune": "maybe"}, {"candidates": 0}, {"recency_tau": 0}, {"recency_tau": "soon"},
                {"recency_tolerance": 1.0}, {"recency_tolerance": "auto"}, {"objective": "mrr"}, {"significance": -1}):
        with pytest.raises(InputError):
            HybridRecommender(**bad).fit(data)


def test_deterministic_and_save_load(tmp_path):
    data = _groups()
    a = HybridRecommender(models={"itemknn": {}, "als": FAST["als"]}, seed=3).fit(data)
    b = HybridRecommender(models={"itemknn": {}, "als": FAST["als"]}, seed=3).fit(data)
    assert a.weights_ == b.weights_
    path = a.save(tmp_path / "h.joblib")
    back = HybridRecommender.load(path)
    pd.testing.assert_frame_equal(back.recommend(["u5"], k=5), a.recommend(["u5"], k=5))


@pytest.mark.slow
def test_beats_paper_ease_on_movielens_benchmark_split():
    """The benchmark claim, on the Microsoft Recommenders protocol (stratified by item, seed 42)."""
    from shared_data import shared_data

    from persona.evaluate import stratified_split
    from persona.evaluate.offline import evaluate_recommender

    df = pd.read_csv(shared_data("ml-100k", "ml-100k.inter"), sep="\t")
    df.columns = ["user_id", "item_id", "rating", "timestamp"]
    tr, te = stratified_split(df, 0.75, filter_by="item", seed=42)
    train = Interactions.from_frame(tr, weight="rating", time="timestamp")
    hyb = evaluate_recommender(make_recommender("hybrid"), train, te, beyond=False)
    ease = evaluate_recommender(make_recommender("ease", lambda_=500.0), train, te, beyond=False)
    assert ease.metrics["ndcg@10"] == pytest.approx(0.4827, abs=5e-4)
    assert hyb.metrics["ndcg@10"] > ease.metrics["ndcg@10"]
    assert hyb.metrics["recall@10"] > ease.metrics["recall@10"]
    assert hyb.fit_seconds < 120  # about 20 s on an idle 2-core machine


def test_recency_history_weights_latest_items_most():
    from persona.recommend.hybrid import recency_history

    df = pd.DataFrame({"user_id": ["a", "a", "a", "b"], "item_id": ["x", "y", "z", "x"], "ts": [30, 10, 20, 5]})
    data = Interactions.from_frame(df, time="ts")
    h = recency_history(data, tau=0.5).toarray()
    a, b = data.user_index(["a", "b"])
    x, y, z = data.item_index(["x", "y", "z"])
    # a: x newest (weight 1), then z (exp(-1/1.5)), then y (exp(-2/1.5)); b's only item has weight 1
    np.testing.assert_allclose(h[a, [x, z, y]], [1.0, np.exp(-1 / 1.5), np.exp(-2 / 1.5)], rtol=1e-6)
    assert h[b, x] == 1.0 and h[b, y] == 0.0
    untimed = Interactions.from_frame(df[["user_id", "item_id"]])
    assert (recency_history(untimed, 0.5).toarray() == (untimed.matrix.toarray() > 0)).all()


def test_guarded_validation_keeps_random_holdout_score_within_tolerance():
    """Default validation: random folds pick the blend, recency members only join within the tolerance."""
    data = _groups(n_users=120)
    rec = HybridRecommender(models={"itemknn": {}, "ease": {}}, recency_tolerance=0.01).fit(data)
    v = rec.validation_
    assert v["folds"] == rec.validation_folds + 1  # random folds and one of each user's latest items
    assert v["random_objective"] >= v["random_objective_unguarded"] * (1 - 0.01) - 1e-9
    assert {"ease~recent", "itemknn~recent"} <= set(rec.weights_)
    # scoring with a recency member reuses its base model's item matrix on the recency-weighted history
    fixed = HybridRecommender(models=["ease"], weights={"ease~recent": 1.0}).fit(data)
    assert list(fixed.models_) == ["ease"] and fixed.recent_history_ is not None
    assert fixed.recommend(["u0"], k=3)["item_id"].str[1:].astype(int).lt(15).all()


def test_tuning_grids_scale_with_interactions_per_item_and_start_with_the_default():
    from persona.recommend.hybrid import tuning_grid

    small = _groups()
    frame = pd.DataFrame({"user_id": small.user_ids[small.log["user_idx"]], "item_id": small.item_ids[small.log["item_idx"]]})
    dense = Interactions.from_frame(pd.concat([frame.assign(user_id=frame["user_id"] + f"-{c}") for c in range(4)]))
    per_small = small.nnz / small.n_items
    per_dense = dense.nnz / dense.n_items
    assert per_dense == pytest.approx(4 * per_small)
    ease_small = [g["lambda_"] for g in tuning_grid("ease", small)]
    ease_dense = [g["lambda_"] for g in tuning_grid("ease", dense)]
    assert ease_small[0] == pytest.approx(10 * per_small, rel=1e-3) and sorted(ease_small)[1] == ease_small[0]
    assert ease_dense == pytest.approx([4 * v for v in ease_small], rel=1e-3)
    assert tuning_grid("als", small)[0]["regularization"] == pytest.approx(0.45 * per_small, rel=1e-2)
    assert tuning_grid("period", small) == []
    dlae = tuning_grid("dlae", small)
    assert [g["dropout"] for g in dlae] == [0.5, 0.33, 0.67]
    assert dlae[0]["lambda_"] == pytest.approx(5 * per_small, rel=1e-3)


def test_dlae_member_is_tuned_and_brings_its_recency_twin():
    data = _groups(n_users=120)
    rec = HybridRecommender(models=["dlae", "itemknn"], tune=True).fit(data)
    assert [g["params"]["dropout"] for g in rec.validation_["grids"]["dlae"]] == [0.5, 0.33, 0.67]
    assert "dlae~recent" in rec.validation_["models"] and "dlae~recent" in rec.weights_
    recs = rec.recommend(list(data.user_ids[:5]), k=3)
    assert len(recs) == 15 and recs["score"].notna().all()


def test_tuning_picks_settings_on_the_validation_folds_and_refits_with_them():
    data = _groups(n_users=120)
    rec = HybridRecommender(models=["itemknn", "rp3beta"], tune=True, recency=False).fit(data)
    grids = rec.validation_["grids"]
    assert [g["params"] for g in grids["itemknn"]] == [{"k": 200}, {"k": 50}]
    assert {"beta": 0.5} == grids["rp3beta"][0]["params"]
    for name, model in rec.models_.items():
        assert model.get_params() | rec.params_[name] == model.get_params()  # the refit uses the chosen setting
    off = HybridRecommender(models=["itemknn", "rp3beta"], tune=False, recency=False).fit(data)
    assert "grids" not in off.validation_ and off.params_ == {"itemknn": {}, "rp3beta": {}}


def test_auto_tuning_searches_only_small_logs_and_catalogues():
    data = _groups(n_users=120)
    common = {"models": ["itemknn"], "recency": False}
    assert "grids" in HybridRecommender(**common).fit(data).validation_  # "auto" on a small log: searched
    assert "grids" not in HybridRecommender(**common, tune_max_items=data.n_items - 1).fit(data).validation_
    assert "grids" not in HybridRecommender(**common, tune_max_nnz=data.nnz - 1).fit(data).validation_


def test_significance_guard_keeps_the_grid_default_when_nothing_clearly_helps():
    data = _groups(n_users=120)
    strict = HybridRecommender(models=["itemknn", "rp3beta"], tune=True, recency=False, significance=1e6).fit(data)
    assert strict.params_ == {"itemknn": {"k": 200}, "rp3beta": {"beta": 0.5}}


def test_guard_path_is_reported_and_stops_where_the_random_folds_would_lose():
    data = _groups(n_users=120)
    v = HybridRecommender(models={"itemknn": {}, "ease": {}}, tune=False).fit(data).validation_
    path = v["guard_path"]
    assert path and [p["mu"] for p in path] == sorted((p["mu"] for p in path), reverse=True)
    assert all(p["keeps"] for p in path[:-1])  # the walk stops at the first guard weight that loses
    assert all(p["random"] >= v["random_objective_unguarded"] - 1e-5 for p in path if p["keeps"])


def test_recency_decay_is_chosen_on_the_latest_items_fold():
    from persona.recommend.hybrid import DEFAULT_RECENCY_TAU, RECENCY_TAUS

    data = _groups(n_users=120)
    rec = HybridRecommender(models=["itemknn"], tune=True).fit(data)
    tried = rec.validation_["recency_tau"]
    assert set(tried) == {str(t) for t in RECENCY_TAUS}
    assert rec.recency_tau_ in RECENCY_TAUS and tried[str(rec.recency_tau_)] == max(tried.values())
    assert rec.validation_["temporal_objective"] == tried[str(rec.recency_tau_)]
    fixed = HybridRecommender(models=["itemknn"], tune=True, recency_tau=0.3).fit(data)
    assert fixed.recency_tau_ == 0.3 and set(fixed.validation_["recency_tau"]) == {"0.3"}
    untuned = HybridRecommender(models=["itemknn"], tune=False).fit(data)  # large data: no search
    assert untuned.recency_tau_ == DEFAULT_RECENCY_TAU and set(untuned.validation_["recency_tau"]) == {"0.25"}


def test_default_guard_keeps_the_random_folds_score():
    data = _groups(n_users=120)
    v = HybridRecommender(models={"itemknn": {}, "ease": {}}, tune=False).fit(data).validation_
    assert v["random_objective"] >= v["random_objective_unguarded"] - 1e-5  # both rounded to 5 places
    # None: the random folds may lose what the validation cannot tell from noise (one standard error)
    noisy = HybridRecommender(models={"itemknn": {}, "ease": {}}, tune=False, recency_tolerance=None).fit(data)
    assert noisy.validation_["random_objective"] > 0 and sum(noisy.weights_.values()) == pytest.approx(1.0, abs=1e-5)


def test_curve_weights_extrapolate_along_the_log_size_line():
    from persona.recommend.hybrid import curve_weights

    # normalised 0.5 / 0.5 on the folds, 0.8 / 0.2 on less data: each share moves on by steps × its change
    out = curve_weights({"a": 2.0, "b": 2.0}, {"a": 0.8, "b": 0.2}, 0.5)
    assert out == pytest.approx({"a": 4.0 * 0.35, "b": 4.0 * 0.65})
    # a share that would go negative becomes zero; a member missing from the smaller blend had weight zero there
    assert curve_weights({"a": 1.0, "b": 1.0}, {"a": 0.1, "b": 0.9}, 2.0) == pytest.approx({"a": 2.0, "b": 0.0})
    assert curve_weights({"a": 1.0, "b": 3.0}, {"b": 1.0}, 1.0) == pytest.approx({"a": 0.5 * 4, "b": 0.5 * 4})
    # no change between the two sizes, or nothing to extrapolate from: the folds' weights stand
    assert curve_weights({"a": 1.0, "b": 3.0}, {"a": 0.5, "b": 1.5}, 1.0) == pytest.approx({"a": 1.0, "b": 3.0})
    assert curve_weights({"a": 1.0, "b": 3.0}, {}, 1.0) == {"a": 1.0, "b": 3.0}


def test_without_drops_the_marked_cells_from_matrix_and_log():
    from persona.recommend.hybrid import _held_share, _without

    data = _groups(n_users=10)
    m = data.matrix.tocsr()
    held = _held_share(m, np.random.default_rng(0).random(m.nnz), 0.25)
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    # a quarter of each user's items (rounded), never from users with fewer than three
    assert (np.bincount(rows[held], minlength=m.shape[0]) == np.round(0.25 * counts)).all()
    small = _without(data, held)
    assert small.nnz == data.nnz - held.sum()
    assert (small.matrix.toarray() > 0).sum() == small.nnz
    gone = set(zip(rows[held], m.indices[held], strict=True))
    log_pairs = set(zip(small.log["user_idx"], small.log["item_idx"], strict=True))
    assert not gone & log_pairs and len(log_pairs) == small.nnz


def _overlapping_tastes(n_users: int = 300, n_items: int = 60, seed: int = 0) -> Interactions:
    """Each user draws from two overlapping taste groups and from a global popularity curve."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / (1 + np.arange(n_items)) ** 1.2
    rows = []
    for u in range(n_users):
        g, h = u % 6, (u // 6) % 5
        picks = [*rng.choice(np.arange(10 * g, 10 * g + 10), 4, replace=False),
                 *rng.choice(np.arange(12 * h, 12 * h + 12), 3, replace=False),
                 *rng.choice(n_items, 4, replace=False, p=pop / pop.sum())]
        rows += [(f"u{u}", f"i{j}", 1_700_000_000 + 60 * n + u) for n, j in enumerate(dict.fromkeys(picks))]
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]), time="ts")


def test_learning_curve_refits_members_on_less_data_and_extrapolates():
    from persona.recommend.hybrid import CURVE_SHARE, curve_weights

    data = _groups(n_users=120)
    specs = {"itemknn": {}, "popular": {}, "ease": {}}
    rec = HybridRecommender(models=specs, learning_curve=True)
    folds = rec._folds(data)
    assert [f.mode for f in folds] == ["random", "random", "temporal"]
    fitted_on = []
    fit_member = rec._member

    def member(name, params, on):
        fitted_on.append((name, [f.inner.nnz for f in on]))
        return fit_member(name, params, on)

    rec._member = member
    report: dict = {}
    given = {"itemknn": 0.6, "popular": 0.4, "itemknn~recent": 0.5, "ease": 0.0}
    out = rec._learning_curve(folds, specs, given, report)
    # every base member is fitted again on every fold, each time without a quarter of each user's inner items
    assert [name for name, _ in fitted_on] == ["itemknn", "popular", "ease"]
    for _, sizes in fitted_on:
        for small, fold in zip(sizes, folds, strict=True):
            counts = np.diff(fold.inner.matrix.tocsr().indptr)
            assert small == (counts - np.where(counts < 3, 0, np.round((1 - CURVE_SHARE) * counts))).sum()
    curve = report["learning_curve"]
    assert curve["steps"] == pytest.approx(np.log(1 / 0.8) / np.log(1 / CURVE_SHARE), abs=1e-4)
    assert {n: v for n, v in curve["folds"].items() if v} == {"itemknn": 0.6, "popular": 0.4}
    assert sum(curve["smaller"].values()) == pytest.approx(1.0, abs=1e-4)
    moved = curve_weights({"itemknn": 0.6, "popular": 0.4, "ease": 0.0}, curve["smaller"], curve["steps"])
    # the base members' weights move (at the same total); the recency member keeps its weight
    assert out == pytest.approx({**moved, "itemknn~recent": 0.5}, abs=1e-4)
    assert {n: v for n, v in curve["extrapolated"].items() if v} == pytest.approx(
        {n: v for n, v in moved.items() if v}, abs=1e-4)
    # one base member alone has nothing to extrapolate
    assert rec._learning_curve(folds, specs, {"itemknn": 1.0, "popular": 0.0}, {}) == {"itemknn": 1.0, "popular": 0.0}


def test_learning_curve_sets_the_final_weights_when_switched_on():
    data = _overlapping_tastes()
    models = {"itemknn": {}, "popular": {}, "userknn": {}}
    on = HybridRecommender(models=models, recency=False, learning_curve=True).fit(data)
    off = HybridRecommender(models=models, recency=False).fit(data)
    assert "learning_curve" not in off.validation_
    curve = on.validation_["learning_curve"]
    assert sum(v > 0 for v in curve["folds"].values()) >= 2  # item-kNN and user-kNN on this data
    assert curve["extrapolated"] != pytest.approx(curve["folds"], abs=0.05)  # the smaller data's blend differs
    assert {n: w for n, w in off.weights_.items() if w > 0} == pytest.approx(
        {n: v for n, v in curve["folds"].items() if v > 0}, abs=1e-4)
    assert {n: w for n, w in on.weights_.items() if w > 0} == pytest.approx(
        {n: v for n, v in curve["extrapolated"].items() if v > 0}, abs=1e-4)


def test_blend_report_sets_the_blend_beside_its_best_member_on_the_validation_folds():
    from persona.recommend.hybrid import blend_line, blend_summary

    data = _groups()
    # one member: the blend is that member, so it adds nothing
    alone = HybridRecommender(models=["itemknn"], tune=False, recency=False).fit(data)
    rep = alone.validation_
    assert rep["blend"]["best_member"] == "itemknn"
    assert rep["blend"]["ndcg"] == pytest.approx(rep["models"]["itemknn"]["ndcg"], abs=1e-5)
    assert rep["blend"]["ndcg_gain"] == pytest.approx(0.0, abs=1e-5)
    assert rep["blend"]["recall_gain"] == pytest.approx(0.0, abs=1e-5)

    rec = HybridRecommender(models={"itemknn": {}, "popular": {}, "als": FAST["als"]}, tune=False).fit(data)
    b, members = rec.validation_["blend"], rec.validation_["models"]
    best = max(members, key=lambda n: members[n]["ndcg"] + members[n]["recall"])
    assert b["best_member"] == best and "itemknn~recent" in members  # recency members are candidates too
    assert b["ndcg_gain"] == pytest.approx(b["ndcg"] - members[best]["ndcg"], abs=2e-5)
    assert b["recall_gain"] == pytest.approx(b["recall"] - members[best]["recall"], abs=2e-5)
    assert 0.0 < b["ndcg"] <= 1.0 and 0.0 < b["recall"] <= 1.0

    summary = blend_summary(rec)
    assert list(summary["weights"]) == sorted(summary["weights"], key=lambda n: -summary["weights"][n])
    assert sum(summary["weights"].values()) == pytest.approx(1.0, abs=1e-5) and summary["k"] == 10
    line = blend_line(summary)
    assert line.startswith("hybrid blend: ") and f"best member, {best}" in line
    assert blend_summary(make_recommender("itemknn").fit(data)) is None  # not a hybrid
