"""SentimentModel: estimator contract, persistence, shipped weights and cross-domain sanity."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from persona.errors import DataFileError, InputError, NotFittedError
from persona.text import SentimentModel, detect_language, load_default, score_texts
from persona.text.sentiment import default_weights_path

HERE = Path(__file__).parent
CROSS = json.loads((HERE / "cross_domain_reviews.json").read_text(encoding="utf-8"))

POS_EN = ["great product, works perfectly", "love it, excellent quality", "fantastic, highly recommend",
          "very good value and fast shipping", "amazing, my favorite purchase", "wonderful and comfortable"]
NEG_EN = ["terrible, broke after a day", "awful quality, waste of money", "horrible, returned it",
          "bad product, very disappointed", "worst purchase ever, useless", "poor and cheap, do not buy"]


def _tiny(lang: str = "en") -> tuple[list[str], np.ndarray]:
    texts = POS_EN * 3 + NEG_EN * 3
    return texts, np.array([1] * 18 + [0] * 18)


def test_fit_predict_roundtrip_and_save_load(tmp_path: Path) -> None:
    texts, y = _tiny()
    m = SentimentModel("en", min_df=1, C=1.0).fit(texts, y)
    assert m.fit(texts, y) is m
    assert (m.predict(texts) == y).mean() == 1.0
    proba = m.predict_proba(["great, love it", "awful, broke"])
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert proba[0, 1] > 0.5 > proba[1, 1]
    path = m.save(tmp_path / "m")
    assert path.suffix == ".npz"
    m2 = SentimentModel.load(path)
    probe = ["not good at all", "pretty great", "", "works perfectly"]
    assert np.allclose(m.decision_function(probe), m2.decision_function(probe), atol=1e-5)
    assert m2.get_params() == {**m.get_params(), "char_ngrams": tuple(m.char_ngrams)}
    top = m.top_features(3)
    assert len(top["positive"]) == 3 and len(top["negative"]) == 3


def test_estimator_errors() -> None:
    with pytest.raises(NotFittedError, match="call fit first"):
        SentimentModel("en").predict(["x"])
    texts, y = _tiny()
    with pytest.raises(InputError, match="both positive and negative"):
        SentimentModel("en", min_df=1).fit(texts, np.ones(len(texts), dtype=int))
    with pytest.raises(InputError, match="0 \\(negative\\) or 1"):
        SentimentModel("en", min_df=1).fit(texts, np.full(len(texts), 2))
    with pytest.raises(InputError, match="labels"):
        SentimentModel("en", min_df=1).fit(texts, y[:-1])
    with pytest.raises(InputError, match="unsupported language"):
        SentimentModel("fr").fit(texts, y)
    with pytest.raises(InputError, match="one string"):
        SentimentModel("en", min_df=1).fit(texts, y).predict("a single string")


def test_load_refuses_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(DataFileError):
        SentimentModel.load(bad)
    with pytest.raises(DataFileError, match="no sentiment model"):
        SentimentModel.load(tmp_path / "missing.npz")


def test_chinese_model_fits_with_jieba_and_negation() -> None:
    pos = ["质量很好，非常满意", "物流很快，推荐购买", "很喜欢，做工精致"] * 4
    neg = ["质量太差了，很失望", "用了两天就坏了", "客服态度差，不推荐"] * 4
    m = SentimentModel("zh", min_df=1, C=1.0).fit(pos + neg, [1] * 12 + [0] * 12)
    assert m.predict(["非常满意，推荐"])[0] == 1
    assert m.predict(["太差了，坏了"])[0] == 0


def test_shipped_weights_are_small_and_load_fast() -> None:
    load_default.cache_clear()
    for lang in ("en", "zh"):
        p = default_weights_path(lang)
        assert p.is_file(), f"shipped weights missing: {p}"
        assert p.stat().st_size < 4 * 1024 * 1024
        t0 = time.perf_counter()
        m = load_default(lang)
        assert time.perf_counter() - t0 < 10.0
        assert load_default(lang) is m  # cached once per process
        assert m.metrics_["holdout"]["n"] > 0


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_cross_domain_sanity(lang: str) -> None:
    """Hand-written electronics / clothing / food / hotel reviews the model never saw: >= 0.85 accuracy."""
    rows = CROSS[lang]
    texts = [t for _, t in rows]
    y = np.array([label for label, _ in rows])
    pred = (score_texts(texts, lang="auto") > 0).astype(int)
    acc = (pred == y).mean()
    neg_recall = (pred[y == 0] == 0).mean()
    wrong = [t for t, p, lab in zip(texts, pred, y, strict=True) if p != lab]
    assert acc >= 0.85, f"{lang} cross-domain accuracy {acc:.3f}; wrong: {wrong}"
    assert neg_recall >= 0.8, f"{lang} negatives recognised {neg_recall:.3f}; wrong: {wrong}"


def test_negations_flip_polarity() -> None:
    s = score_texts(["This is good.", "This is not good.", "这个很好。", "这个不太好。"])
    assert s[0] > s[1] and s[2] > s[3]
    assert s[1] < 0 and s[3] < 0


def test_score_texts_auto_language_and_empty() -> None:
    texts = ["Excellent quality, I love it", "质量很差，非常失望", "", None]
    s = score_texts(texts)
    assert s.shape == (4,)
    assert s[0] > 0 > s[1]
    assert s[2] == 0.0 and s[3] == 0.0
    assert np.all((s >= -1) & (s <= 1))
    assert score_texts([]).shape == (0,)
    assert detect_language("质量很好 good") == "zh" and detect_language("good") == "en"
    with pytest.raises(InputError):
        score_texts(["x"], lang="fr")


def test_nbsvm_companion_mix_and_persistence(tmp_path: Path) -> None:
    texts, y = _tiny()
    plain = SentimentModel("en", min_df=1, C=1.0).fit(texts, y)
    mixed = SentimentModel("en", min_df=1, C=1.0, nb_C=0.5, nb_mix=0.5).fit(texts, y)
    assert mixed.nb_coef_.shape == (mixed.n_features_ - len(mixed.lex_mean_),)
    assert (mixed.predict(texts) == y).all()
    probe = ["great quality, love it", "broke after a day, awful", "not good at all", ""]
    # the mix is the average of the two probabilities; nb_mix 0 leaves the TF-IDF model alone
    p_plain, p_mix = plain.predict_proba(probe)[:, 1], mixed.predict_proba(probe)[:, 1]
    z_nb = mixed._ngram_presence(mixed._features(probe, fit=False)) @ mixed.nb_coef_ + mixed.nb_intercept_
    assert np.allclose(p_mix, 0.5 * p_plain + 0.5 / (1 + np.exp(-z_nb)), atol=1e-9)
    assert np.allclose(mixed.set_params(nb_mix=0.0).predict_proba(probe)[:, 1], p_plain, atol=1e-9)
    mixed.set_params(nb_mix=0.5)
    m2 = SentimentModel.load(mixed.save(tmp_path / "mix.npz"))
    assert m2.nb_C == 0.5 and np.allclose(m2.decision_function(probe), mixed.decision_function(probe), atol=1e-4)
    with pytest.raises(InputError, match="nb_C"):
        SentimentModel("en", min_df=1, nb_C=0).fit(texts, y)
    with pytest.raises(InputError, match="nb_mix"):
        SentimentModel("en", min_df=1, nb_C=1.0, nb_mix=1.5).fit(texts, y)


def test_numpy_parameters_and_metrics_are_saved_as_numbers(tmp_path: Path) -> None:
    texts, y = _tiny()
    m = SentimentModel("en", min_df=np.int64(1), C=np.float64(2.0)).fit(texts, y)  # e.g. from a grid search
    metrics = {"accuracy": np.float64(0.875), "n": np.int64(36), "balanced": np.bool_(True),
               "per_class": np.array([0.5, 1.0]), "auc": np.float64("nan")}
    m2 = SentimentModel.load(m.save(tmp_path / "np", metrics=metrics))
    assert m2.metrics_ == {"accuracy": 0.875, "n": 36, "balanced": True, "per_class": [0.5, 1.0], "auc": None}
    assert type(m2.metrics_["n"]) is int and type(m2.get_params()["C"]) is float and m2.get_params()["C"] == 2.0
    assert m2.get_params()["min_df"] == 1
