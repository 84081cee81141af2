"""RFM names, k-means (k by silhouette, stable ids), DBSCAN (outliers), explanations — on known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.errors import InputError, NotFittedError
from persona.segments import DBSCANSegmenter, KMeansSegmenter, RFMSegmenter, segment_profiles
from persona.segments.rfm import CODE_TO_SEGMENT, RFM_NAMES


def rfm_population(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 500
    df = pd.DataFrame({
        "recency_days": rng.uniform(1, 365, n),
        "frequency": rng.integers(1, 20, n).astype(float),
        "monetary": rng.uniform(10, 2000, n),
    }, index=[f"c{i}" for i in range(n)])
    known = pd.DataFrame({
        "recency_days": [0.5, 400.0, 400.0, 0.5, np.nan],
        "frequency": [50.0, 1.0, 50.0, 1.0, 0.0],
        "monetary": [9000.0, 5.0, 9000.0, 5.0, 0.0],
    }, index=["champ", "lost", "cantlose", "newbie", "never"])
    return pd.concat([df, known])


def test_rfm_known_customers_get_the_business_names() -> None:
    p = rfm_population()
    seg = RFMSegmenter().fit_predict(p)
    assert seg["champ"] == "champions"
    assert seg["lost"] == "lost"
    assert seg["cantlose"] == "cant_lose_them"
    assert seg["newbie"] == "new"
    assert seg["never"] == "prospects"
    scores = RFMSegmenter().fit(p).scores(p)
    assert scores.loc["champ", ["r", "f", "m"]].tolist() == [5, 5, 5]
    assert scores[["r", "f", "m"]].stack().between(1, 5).all()
    # every R×FM code maps to a named segment, and all eleven names are reachable
    assert len(CODE_TO_SEGMENT) == 25 and set(CODE_TO_SEGMENT.values()) == set(RFM_NAMES) - {"prospects"}


def test_rfm_equal_values_get_equal_scores_and_errors() -> None:
    p = rfm_population()
    p.loc[p.index[:100], "frequency"] = 1.0
    s = RFMSegmenter().fit(p).scores(p)
    assert s.loc[p["frequency"] == 1.0, "f"].nunique() == 1
    with pytest.raises(NotFittedError):
        RFMSegmenter().predict(p)
    with pytest.raises(InputError, match="lack"):
        RFMSegmenter().fit(p.drop(columns="monetary"))
    with pytest.raises(InputError, match="no customer has purchased"):
        RFMSegmenter().fit(p.assign(frequency=0.0))


def blobs(n: int = 900, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three clearly separated groups of customers: frequent big spenders, lapsed one-timers, mid browsers."""
    rng = np.random.default_rng(seed)
    k = n // 3
    truth = np.repeat([0, 1, 2], k)
    centers = {
        "frequency": [30, 1, 6], "monetary": [3000, 20, 300], "recency_days": [5, 300, 60],
        "n_views": [200, 2, 50], "tenure_days": [700, 400, 100],
    }
    cols = {}
    for f, c in centers.items():
        mu = np.asarray(c, dtype=float)[truth]
        cols[f] = np.abs(mu * (1 + 0.08 * rng.standard_normal(len(truth))))
    df = pd.DataFrame(cols, index=[f"c{i}" for i in range(len(truth))])
    return df, truth


def _purity(labels: pd.Series, truth: np.ndarray) -> float:
    tab = pd.crosstab(labels.to_numpy(), truth)
    return float(tab.max(axis=1).sum() / len(truth))


def test_kmeans_chooses_k_by_silhouette_and_keeps_ids_stable() -> None:
    df, truth = blobs()
    km = KMeansSegmenter(seed=1)
    lab = km.fit_predict(df)
    assert km.k_ == 3 and max(km.silhouettes_, key=km.silhouettes_.get) == 3
    assert _purity(lab, truth) > 0.99
    # a rebuild on shuffled rows with another seed keeps every customer's segment id
    shuffled = df.sample(frac=1.0, random_state=7)
    km2 = KMeansSegmenter(seed=99, previous=km.centroids())
    lab2 = km2.fit_predict(shuffled)
    assert (lab2.reindex(lab.index) == lab).mean() > 0.99
    # without the previous centroids the ids are just numbered; with them they follow the groups
    assert set(lab2) == set(lab)
    with pytest.raises(InputError, match="k must be"):
        KMeansSegmenter(k=1).fit(df)
    with pytest.raises(NotFittedError):
        KMeansSegmenter().predict(df)


def test_kmeans_new_segment_gets_a_fresh_id() -> None:
    df, truth = blobs()
    prev = KMeansSegmenter(k=2, seed=0).fit(df.iloc[: 600]).centroids()  # only groups 0 and 1 existed
    km = KMeansSegmenter(k=3, seed=0, previous=prev).fit(df)
    assert sorted(km.segment_ids_) == ["k0", "k1", "k2"]
    lab = km.predict(df)
    new_id = ({"k0", "k1", "k2"} - set(prev)).pop()
    assert (lab[truth == 2] == new_id).mean() > 0.99


def test_dbscan_flags_outliers_and_assigns_new_rows() -> None:
    df, truth = blobs(600)
    far = pd.DataFrame({"frequency": [500.0, 0.0], "monetary": [90000.0, 1e6], "recency_days": [1000.0, 1.0],
                        "n_views": [5000.0, 9000.0], "tenure_days": [5.0, 3000.0]}, index=["odd1", "odd2"])
    data = pd.concat([df, far])
    db = DBSCANSegmenter(min_samples=8, sample_size=400, n_components=None, seed=0)
    lab = db.fit_predict(data)
    assert lab["odd1"] == "outliers" and lab["odd2"] == "outliers"
    assert (lab[df.index] != "outliers").mean() > 0.95
    assert db.n_clusters_ == 3
    assert _purity(lab[df.index][lab[df.index] != "outliers"], truth[(lab[df.index] != "outliers").to_numpy()]) > 0.99
    again = db.predict(data)
    assert (again == lab).mean() > 0.97  # the non-sample rows are assigned exactly as in fit


def test_explanations_say_what_distinguishes_a_segment() -> None:
    df, truth = blobs()
    res = segment_profiles(df, "kmeans", seed=0)
    big = max(res.explanation.values(), key=lambda e: e["revenue_share"])
    assert big["revenue_share"] > 0.8 and big["size"] == 300
    texts = " ".join(d["text"] for d in big["distinguishing"])
    assert "more" in texts and "×" in texts
    assert big["rule"]["precision"] > 0.95 and big["rule"]["recall"] > 0.95
    assert big["rule"]["rule"] != "(everyone)"
    assert big["summary"].startswith(big["name"])
    assert sum(e["size"] for e in res.explanation.values()) == len(df)
    assert sum(e["revenue_share"] for e in res.explanation.values()) == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(InputError, match="unknown segmentation method"):
        segment_profiles(df, "hierarchical")


def test_explanations_follow_the_means_they_show_when_the_logged_feature_points_the_other_way():
    """Modest spenders among many who never bought and a few big spenders: above the typical customer (the logged
    feature the segments are measured on), below the mean a few big spenders lift. The words match the numbers."""
    from persona.segments.explain import describe_name, distinguishing

    spend = np.array([0.0] * 60 + [30.0] * 30 + [1000.0] * 10)
    raw = pd.DataFrame({"monetary": spend})
    labels = pd.Series(["none"] * 60 + ["modest"] * 30 + ["big"] * 10)
    feats = distinguishing(raw, np.log1p(raw), labels, top=1)
    modest = feats["modest"][0]
    assert modest["effect_size"] > 0 and modest["higher"] is False  # above in logs, below the plain mean of 109
    assert modest["text"].startswith("spend 3.6× less than average (total spend 30 vs 109)"), modest["text"]
    assert describe_name(feats["modest"]) == "low-spending" and describe_name(feats["big"]) == "high-spending"
