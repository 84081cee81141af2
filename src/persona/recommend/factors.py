"""Matrix factorisation via the ``implicit`` library (CPU): ALS with confidence weighting, and BPR."""

from __future__ import annotations

import logging
import os
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend.base import Recommender

log = logging.getLogger(__name__)


AUTO_REG_PER_USER = 0.45  # ALS auto regularisation = this × mean users per item


def _threads(n: int) -> int:
    return n if n > 0 else max(1, os.cpu_count() or 1)


class _FactorModel(Recommender):
    """Shared scoring for models with user and item factors (score = U · Vᵀ)."""

    similar_reason: ClassVar[str] = "customers who liked {item} also liked this"

    def _set_factors(self, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
        self.user_factors_ = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(item_factors, dtype=np.float32)
        norms = np.linalg.norm(self.item_factors_, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        self._item_unit_ = self.item_factors_ / norms

    def score(self, user_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.user_factors_[np.asarray(user_idx, dtype=np.int64)] @ self.item_factors_.T

    def _item_similarity(self, item_idx: np.ndarray) -> np.ndarray:
        return self._item_unit_[np.asarray(item_idx, dtype=np.int64)] @ self._item_unit_.T

    def _pair_similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._item_unit_[a] @ self._item_unit_[b].T

    _pair_explain = _pair_similarity

    def _weights(self, data: Interactions) -> sp.csr_matrix:
        x = data.matrix.astype(np.float32).tocsr(copy=True)
        if getattr(self, "binary", False):
            x.data[:] = 1.0
        return x


class ALSRecommender(_FactorModel):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008): confidence 1 + alpha · weight.

    Args:
        factors: latent dimensions.
        regularization: L2 penalty; None (default) scales it to the data: 0.45 × the mean number of
            users per item (20 on MovieLens 100K, where that is the tuned value).
        alpha: confidence scaling of the interaction weights.
        iterations: ALS sweeps.
        binary: use 0/1 interactions instead of the event weights.
        num_threads: CPU threads (0 = all cores).
        seed: random seed of the initial factors.
        progress: show implicit's progress bar.
        engine: ``"local"`` (``implicit`` on this machine's cores) or ``"spark"`` (Spark ML's ALS, with the
            penalty rescaled to Spark's per-interaction form; see :mod:`persona.engines.spark.als`).
    """

    name: ClassVar[str] = "als"

    def __init__(
        self,
        factors: int = 128,
        regularization: float | None = None,
        alpha: float = 2.0,
        iterations: int = 15,
        binary: bool = True,
        num_threads: int = 0,
        seed: int = 42,
        progress: bool = False,
        engine: str = "local",
    ):
        self.progress = progress
        self.engine = engine
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.binary = binary
        self.num_threads = num_threads
        self.seed = seed

    def _validate_params(self) -> None:
        for p in ("factors", "iterations"):
            v = getattr(self, p)
            if not isinstance(v, int) or v < 1:
                raise InputError(f"ALS {p} must be a positive integer, got {v!r}")
        for p in ("regularization", "alpha"):
            v = getattr(self, p)
            if p == "regularization" and v is None:
                continue
            if not isinstance(v, int | float) or v < 0:
                raise InputError(f"ALS {p} must be a non-negative number, got {v!r}")
        from persona.engines import check_engine

        check_engine(self.engine)

    def _fit(self, data: Interactions) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        if self.regularization is None:
            used = max(1, int((np.diff(data.matrix.tocsc().indptr) > 0).sum()))
            self.regularization_ = max(0.1, AUTO_REG_PER_USER * data.nnz / used)
        else:
            self.regularization_ = float(self.regularization)
        if self.engine == "spark":
            from persona.engines.spark.als import spark_als_factors

            self._set_factors(*spark_als_factors(self._weights(data), factors=self.factors, regularization=self.regularization_,
                                                 alpha=float(self.alpha), iterations=self.iterations, seed=self.seed))
            return

        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization_,
                alpha=float(self.alpha),
                iterations=self.iterations,
                calculate_training_loss=False,
                num_threads=_threads(self.num_threads),
                random_state=self.seed,
            )
            model.fit(self._weights(data), show_progress=bool(self.progress))
        self._set_factors(model.user_factors, model.item_factors)


class BPRRecommender(_FactorModel):
    """Bayesian Personalised Ranking (Rendle et al. 2009) by SGD over (user, seen, unseen) triples.

    Args:
        factors: latent dimensions.
        learning_rate: SGD step.
        regularization: L2 penalty.
        iterations: epochs.
        num_threads: CPU threads; 1 (default) makes training deterministic for a seed.
        seed: random seed.
        progress: show implicit's progress bar.
    """

    name: ClassVar[str] = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.001,
        iterations: int = 50,
        num_threads: int = 1,
        seed: int = 42,
        progress: bool = False,
        engine: str = "local",
    ):
        self.progress = progress
        self.engine = engine
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.num_threads = num_threads
        self.seed = seed

    binary = True

    def _validate_params(self) -> None:
        for p in ("factors", "iterations"):
            v = getattr(self, p)
            if not isinstance(v, int) or v < 1:
                raise InputError(f"BPR {p} must be a positive integer, got {v!r}")
        if not isinstance(self.learning_rate, int | float) or self.learning_rate <= 0:
            raise InputError(f"BPR learning_rate must be positive, got {self.learning_rate!r}")

    def _fit(self, data: Interactions) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=float(self.learning_rate),
                regularization=float(self.regularization),
                iterations=self.iterations,
                verify_negative_samples=True,
                num_threads=_threads(self.num_threads),
                random_state=self.seed,
            )
            model.fit(self._weights(data), show_progress=bool(self.progress))
        # implicit appends a bias column to the factors; keep them as they are (score = U · Vᵀ includes it)
        self._set_factors(model.user_factors, model.item_factors)
