"""Review sentiment for English and Chinese: a calibrated linear model on robust, general features.

Features per language: TF-IDF of word 1-2-grams with negation scope (jieba words for Chinese),
TF-IDF of character n-grams (spelling- and segmentation-robust), and a few standardized lexicon
signals (VADER for English, a general Chinese lexicon) that carry the model to shops it never saw.
A logistic regression with balanced class weights turns them into ``P(positive)``. Optionally an NB-SVM
companion (Wang & Manning 2012: a logistic regression on binary n-gram presence scaled by the naive-Bayes
log-count ratios, over the same vocabularies) is fitted too and the two probabilities are averaged; the
two views err on different reviews, so the mix is more accurate than either. The learned state is plain
arrays, saved as one ``.npz`` (no pickle), so loading is safe and fast.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from persona.errors import DataFileError, InputError, NotFittedError
from persona.jsonvalues import dumps
from persona.text.language import check_lang, detect_languages
from persona.text.lexicon import lexicon_feature_names, lexicon_features
from persona.text.tokenize import char_text, tokenize

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
WEIGHTS_PACKAGE = "persona.text.weights"


def _word_ngrams(tokens: list[str], n_max: int) -> list[str]:
    out = list(tokens)
    for n in range(2, n_max + 1):
        out.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return out


class SentimentModel:
    """Binary review sentiment (1 positive, 0 negative) for one language, scikit-learn style.

    Args:
        lang: ``"en"`` or ``"zh"``.
        word_ngrams: longest word n-gram (1 = unigrams only).
        char_ngrams: ``(min, max)`` character n-gram lengths; ``None`` disables them.
        min_df: minimum document frequency of a kept word or character n-gram.
        max_features: cap on each vocabulary (most frequent kept).
        lexicon: add the general-domain lexicon features.
        lexicon_weight: scale of the standardized lexicon features (larger = relied on more).
        C: inverse L2 regularization strength of the logistic regression.
        class_weight: ``"balanced"`` (recommended: review corpora are mostly positive) or ``None``.
        positive_prior: share of positive reviews assumed where the model is used. With balanced class
            weights the classifier itself assumes 0.5; the log prior odds are added to its decision.
        nb_C: inverse L2 regularization of the NB-SVM companion; ``None`` (default) fits none.
        nb_mix: weight of the NB-SVM probability in the mix (0 = the TF-IDF model alone).
        seed: random seed of the solver.
    """

    def __init__(
        self,
        lang: str = "en",
        *,
        word_ngrams: int = 2,
        char_ngrams: tuple[int, int] | None = (2, 5),
        min_df: int = 2,
        max_features: int = 150_000,
        lexicon: bool = True,
        lexicon_weight: float = 1.0,
        C: float = 4.0,
        class_weight: str | None = "balanced",
        positive_prior: float = 0.5,
        nb_C: float | None = None,
        nb_mix: float = 0.5,
        seed: int = 42,
    ) -> None:
        self.lang = lang
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.max_features = max_features
        self.lexicon = lexicon
        self.lexicon_weight = lexicon_weight
        self.C = C
        self.class_weight = class_weight
        self.positive_prior = positive_prior
        self.nb_C = nb_C
        self.nb_mix = nb_mix
        self.seed = seed

    # --- parameters -----------------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters (scikit-learn protocol)."""
        return {k: getattr(self, k) for k in ("lang", "word_ngrams", "char_ngrams", "min_df", "max_features",
                                             "lexicon", "lexicon_weight", "C", "class_weight", "positive_prior", "nb_C",
                                             "nb_mix", "seed")}

    def set_params(self, **params: Any) -> SentimentModel:
        """Set constructor parameters (scikit-learn protocol)."""
        for k, v in params.items():
            if k not in self.get_params():
                raise InputError(f"unknown parameter {k!r} for SentimentModel", hint=f"use one of {sorted(self.get_params())}")
            setattr(self, k, v)
        return self

    def _validate(self) -> None:
        self.lang = check_lang(self.lang, allow_auto=False)
        if not (isinstance(self.word_ngrams, int) and 1 <= self.word_ngrams <= 3):
            raise InputError(f"word_ngrams must be 1, 2 or 3, got {self.word_ngrams!r}")
        if self.char_ngrams is not None:
            lo, hi = self.char_ngrams
            if not (1 <= lo <= hi <= 8):
                raise InputError(f"char_ngrams must be (min, max) with 1 <= min <= max <= 8, got {self.char_ngrams!r}")
        if self.C <= 0 or self.lexicon_weight < 0 or self.min_df < 1 or self.max_features < 1:
            raise InputError("C must be > 0, lexicon_weight >= 0, min_df >= 1 and max_features >= 1")
        if not 0.0 < float(self.positive_prior) < 1.0:
            raise InputError(f"positive_prior must be strictly between 0 and 1, got {self.positive_prior!r}")
        if self.nb_C is not None and not float(self.nb_C) > 0:
            raise InputError(f"nb_C must be > 0 or None (no NB-SVM companion), got {self.nb_C!r}")
        if not 0.0 <= float(self.nb_mix) <= 1.0:
            raise InputError(f"nb_mix must be between 0 and 1, got {self.nb_mix!r}")
        if self.class_weight not in (None, "balanced"):
            raise InputError(f"class_weight must be 'balanced' or None, got {self.class_weight!r}")

    # --- features -------------------------------------------------------------------------------
    def _char_analyzer(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        kind = "char" if self.lang == "zh" else "char_wb"
        return TfidfVectorizer(analyzer=kind, ngram_range=tuple(self.char_ngrams), preprocessor=char_text,
                               lowercase=False, sublinear_tf=True, min_df=self.min_df,
                               max_features=self.max_features, dtype=np.float32)

    def _word_vectorizer(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        n = self.word_ngrams
        return TfidfVectorizer(analyzer=lambda toks: _word_ngrams(toks, n), sublinear_tf=True,
                               min_df=self.min_df, max_features=self.max_features, dtype=np.float32)

    def _features(self, texts: list[str], *, fit: bool) -> sp.csr_matrix:
        """Word and character TF-IDF blocks, then the scaled lexicon block (its columns come last)."""
        tokens = [tokenize(t, self.lang) for t in texts]
        blocks = []
        blocks.append(self.word_vec_.fit_transform(tokens) if fit else self.word_vec_.transform(tokens))
        if self.char_ngrams is not None:
            blocks.append(self.char_vec_.fit_transform(texts) if fit else self.char_vec_.transform(texts))
        if self.lexicon:
            lex = lexicon_features(texts, self.lang, tokens if self.lang == "zh" else None)
            if fit:
                self.lex_mean_ = lex.mean(axis=0)
                sd = lex.std(axis=0)
                self.lex_scale_ = np.where(sd > 1e-9, sd, 1.0)
            blocks.append(sp.csr_matrix((lex - self.lex_mean_) / self.lex_scale_ * self.lexicon_weight))
        return sp.hstack(blocks, format="csr", dtype=np.float64)

    # --- estimator API --------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], y: Sequence[int]) -> SentimentModel:
        """Learn vocabularies, lexicon scaling and the classifier from labelled reviews.

        Args:
            texts: reviews.
            y: labels, 1 positive and 0 negative.

        Returns:
            self.

        Raises:
            InputError: bad parameters, lengths that differ, labels other than 0/1, or one class only.
        """
        from sklearn.linear_model import LogisticRegression

        self._validate()
        texts = _as_texts(texts)
        y_arr = np.asarray(y)
        if len(texts) != len(y_arr):
            raise InputError(f"got {len(texts)} texts but {len(y_arr)} labels", hint="pass one label per text")
        if not np.isin(y_arr, [0, 1]).all():
            raise InputError("labels must be 0 (negative) or 1 (positive)", hint="map ratings to 0/1 first")
        y_arr = y_arr.astype(int)
        if len(np.unique(y_arr)) < 2:
            raise InputError("training needs both positive and negative reviews", hint="add reviews of the missing class")
        t0 = time.perf_counter()
        self.word_vec_ = self._word_vectorizer()
        if self.char_ngrams is not None:
            self.char_vec_ = self._char_analyzer()
        X = self._features(texts, fit=True)
        clf = LogisticRegression(C=self.C, class_weight=self.class_weight, solver="lbfgs",
                                 random_state=self.seed, max_iter=3000)
        clf.fit(X, y_arr)
        self.coef_ = clf.coef_.ravel().astype(np.float64)
        self.intercept_ = float(clf.intercept_[0])
        self.n_features_ = X.shape[1]
        if self.nb_C is not None:
            self._fit_nbsvm(X, y_arr)
        self.classes_ = np.array([0, 1])
        log.info("sentiment fit lang=%s n=%d features=%d seconds=%.1f", self.lang, len(texts), X.shape[1],
                 time.perf_counter() - t0)
        return self

    def _ngram_presence(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """Binary presence of each word / character n-gram (the lexicon columns dropped)."""
        n_lex = len(lexicon_feature_names(self.lang)) if self.lexicon else 0
        B = X[:, : X.shape[1] - n_lex].tocsr(copy=True)
        B.data[:] = 1.0
        B.eliminate_zeros()
        return B

    def _fit_nbsvm(self, X: sp.csr_matrix, y: np.ndarray) -> None:
        """NB-SVM companion: logistic regression on n-gram presence scaled by naive-Bayes log-count ratios.

        The ratio ``r`` is folded into the learned weights (``nb_coef_ = w * r``), so scoring needs only
        the presence matrix and one dot product.
        """
        from sklearn.linear_model import LogisticRegression

        B = self._ngram_presence(X)
        pos = 1.0 + np.asarray(B[y == 1].sum(axis=0)).ravel()
        neg = 1.0 + np.asarray(B[y == 0].sum(axis=0)).ravel()
        r = np.log((pos / pos.sum()) / (neg / neg.sum()))
        clf = LogisticRegression(C=float(self.nb_C), class_weight=self.class_weight, solver="lbfgs",
                                 random_state=self.seed, max_iter=3000)
        clf.fit(B.multiply(r).tocsr(), y)
        self.nb_coef_ = clf.coef_.ravel() * r
        self.nb_intercept_ = float(clf.intercept_[0])

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError(self)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Log-odds of a positive review for each text."""
        self._check_fitted()
        texts = _as_texts(texts)
        if not texts:
            return np.zeros(0)
        X = self._features(texts, fit=False)
        z = X @ self.coef_ + self.intercept_
        if getattr(self, "nb_coef_", None) is not None:
            z_nb = self._ngram_presence(X) @ self.nb_coef_ + self.nb_intercept_
            w = float(self.nb_mix)
            p = np.clip((1.0 - w) * _sigmoid(z) + w * _sigmoid(z_nb), 1e-12, 1.0 - 1e-12)
            z = np.log(p / (1.0 - p))
        prior = float(self.positive_prior)
        return z + np.log(prior / (1.0 - prior))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities ``[P(negative), P(positive)]``, one row per text."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(texts)))
        return np.column_stack([1.0 - p, p])

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Labels: 1 positive, 0 negative."""
        return (self.decision_function(texts) > 0).astype(int)

    def score_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Sentiment scores in [-1, 1] (``2·P(positive) − 1``)."""
        return 2.0 * self.predict_proba(texts)[:, 1] - 1.0

    def top_features(self, k: int = 20) -> dict[str, list[tuple[str, float]]]:
        """The ``k`` most positive and most negative features with their weights (for explanations)."""
        self._check_fitted()
        names = self.feature_names()
        order = np.argsort(self.coef_)
        return {"positive": [(names[i], float(self.coef_[i])) for i in order[::-1][:k]],
                "negative": [(names[i], float(self.coef_[i])) for i in order[:k]]}

    def feature_names(self) -> list[str]:
        """Names of every feature, in the order of ``coef_``."""
        self._check_fitted()
        names = list(self.word_vec_.get_feature_names_out())
        if self.char_ngrams is not None:
            names += [f"char:{c}" for c in self.char_vec_.get_feature_names_out()]
        if self.lexicon:
            names += [f"lex:{n}" for n in lexicon_feature_names(self.lang)]
        return names

    # --- persistence ----------------------------------------------------------------------------
    def save(self, path: str | Path, *, metrics: dict[str, Any] | None = None) -> Path:
        """Write the fitted model to one compressed ``.npz`` (arrays and JSON only; no pickle).

        Args:
            path: file to write (``.npz`` is appended when missing).
            metrics: optional evaluation figures stored alongside (shown by ``persona text info``).

        Returns:
            The path written.
        """
        self._check_fitted()
        p = Path(path)
        if p.suffix != ".npz":
            p = p.with_suffix(p.suffix + ".npz") if p.suffix else p.with_suffix(".npz")
        p.parent.mkdir(parents=True, exist_ok=True)
        params = self.get_params()
        params["char_ngrams"] = list(self.char_ngrams) if self.char_ngrams is not None else None
        meta = {
            "format": FORMAT_VERSION,
            "params": params,
            "word_vocab": list(self.word_vec_.get_feature_names_out()),
            "char_vocab": list(self.char_vec_.get_feature_names_out()) if self.char_ngrams is not None else [],
            "metrics": metrics or getattr(self, "metrics_", {}) or {},
        }
        arrays: dict[str, np.ndarray] = {
            "meta": np.frombuffer(dumps(meta).encode("utf-8"), dtype=np.uint8),
            "coef": self.coef_.astype(np.float32),
            "intercept": np.array([self.intercept_]),
            "word_idf": self.word_vec_.idf_.astype(np.float32),
        }
        if self.char_ngrams is not None:
            arrays["char_idf"] = self.char_vec_.idf_.astype(np.float32)
        if getattr(self, "nb_coef_", None) is not None:
            arrays["nb_coef"] = self.nb_coef_.astype(np.float32)
            arrays["nb_intercept"] = np.array([self.nb_intercept_])
        if self.lexicon:
            arrays["lex_mean"] = self.lex_mean_
            arrays["lex_scale"] = self.lex_scale_
        tmp = p.with_name(p.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> SentimentModel:
        """Read a model written by :meth:`save` (never unpickles anything).

        Raises:
            DataFileError: the file is missing, not a Persona sentiment model, or of a newer format.
        """
        p = Path(path)
        if not p.is_file():
            raise DataFileError(f"no sentiment model at {p}", hint="train one with scripts/train_sentiment.py")
        try:
            with np.load(p, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
            meta = json.loads(data["meta"].tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError) as exc:
            raise DataFileError(f"{p} is not a Persona sentiment model: {exc}") from exc
        if meta.get("format") != FORMAT_VERSION:
            raise DataFileError(f"{p} has model format {meta.get('format')!r}; this Persona reads {FORMAT_VERSION}",
                                hint="retrain with scripts/train_sentiment.py")
        params = dict(meta["params"])
        if params.get("char_ngrams") is not None:
            params["char_ngrams"] = tuple(params["char_ngrams"])
        model = cls(**params)
        model._validate()
        model.word_vec_ = model._word_vectorizer()
        model.word_vec_.vocabulary = {w: i for i, w in enumerate(meta["word_vocab"])}
        model.word_vec_.idf_ = data["word_idf"].astype(np.float64)
        if model.char_ngrams is not None:
            model.char_vec_ = model._char_analyzer()
            model.char_vec_.vocabulary = {w: i for i, w in enumerate(meta["char_vocab"])}
            model.char_vec_.idf_ = data["char_idf"].astype(np.float64)
        if model.lexicon:
            model.lex_mean_ = data["lex_mean"]
            model.lex_scale_ = data["lex_scale"]
        model.coef_ = data["coef"].astype(np.float64)
        model.intercept_ = float(data["intercept"][0])
        if model.nb_C is not None:
            if "nb_coef" not in data:
                raise DataFileError(f"{p} names an NB-SVM companion but lacks its weights",
                                    hint="retrain with scripts/train_sentiment.py")
            model.nb_coef_ = data["nb_coef"].astype(np.float64)
            model.nb_intercept_ = float(data["nb_intercept"][0])
        model.n_features_ = model.coef_.shape[0]
        model.classes_ = np.array([0, 1])
        model.metrics_ = meta.get("metrics", {})
        return model


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500.0, 500.0)))


def _as_texts(texts: Sequence[str] | Any) -> list[str]:
    if isinstance(texts, str):
        raise InputError("expected a list of texts, got one string", hint="wrap it in a list: [text]")
    return ["" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t) for t in texts]


def default_weights_path(lang: str) -> Path:
    """Path of the shipped weights for ``lang`` inside the installed package."""
    lang = check_lang(lang, allow_auto=False)
    return Path(str(resources.files(WEIGHTS_PACKAGE).joinpath(f"sentiment_{lang}.npz")))


@lru_cache(maxsize=4)
def load_default(lang: str = "en") -> SentimentModel:
    """The shipped model for ``lang`` (``"en"`` or ``"zh"``), loaded once per process.

    Raises:
        InputError: unsupported language.
        DataFileError: the package lacks its weights (a broken install).
    """
    lang = check_lang(lang, allow_auto=False)
    t0 = time.perf_counter()
    model = SentimentModel.load(default_weights_path(lang))
    log.info("sentiment weights lang=%s loaded seconds=%.2f", lang, time.perf_counter() - t0)
    return model


def score_texts(texts: Sequence[str], lang: str = "auto") -> np.ndarray:
    """Sentiment in [-1, 1] (``2·P(positive) − 1``) for each text, with the shipped models.

    Args:
        texts: reviews; empty ones score 0.0 (neutral).
        lang: ``"en"``, ``"zh"`` or ``"auto"`` (per text, by the share of CJK characters).

    Returns:
        A float array, one score per text.
    """
    lang = check_lang(lang)
    texts = _as_texts(texts)
    out = np.zeros(len(texts))
    if not texts:
        return out
    langs = detect_languages(texts) if lang == "auto" else np.full(len(texts), lang, dtype=object)
    empty = np.array([not t.strip() for t in texts])
    for code in ("en", "zh"):
        idx = np.flatnonzero((langs == code) & ~empty)
        if idx.size:
            out[idx] = load_default(code).score_texts([texts[i] for i in idx])
    return out


def predict_labels(texts: Sequence[str], lang: str = "auto") -> np.ndarray:
    """0/1 labels from :func:`score_texts` (positive when the score is above 0)."""
    return (score_texts(texts, lang) > 0).astype(int)
