"""``KMeansSegmenter``: k-means on standardized profile features, k by silhouette, ids stable across rebuilds."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from persona.errors import InputError, NotFittedError
from persona.persistence import load_estimator, save_estimator
from persona.segments.matrix import FeatureMatrix

log = logging.getLogger(__name__)


def _sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= size else np.sort(rng.choice(n, size, replace=False))


class KMeansSegmenter:
    """Mini-batch k-means with k chosen by silhouette on a sample; segment ids matched to a previous run.

    Args:
        k: fixed number of segments, or None to choose it by silhouette over ``k_range``.
        k_range: inclusive (min, max) candidates for k.
        sample_size: rows used to fit the candidates of the k search.
        fit_size: rows the final clusters are fitted on (every row is then assigned to its nearest centre).
        silhouette_size: rows on which each candidate's silhouette is measured.
        n_init: k-means restarts (the best inertia wins).
        batch_size: mini-batch size of the final fit.
        previous: centroids of an earlier run, ``{segment_id: {feature: value}}`` in the logged feature
            space (as :meth:`centroids` returns); new clusters take the ids of their Hungarian matches.
        seed: seed of every stochastic step.
        n_threads: OpenMP/BLAS threads (None: library default); 1 avoids spinning threads fighting other
            processes for the cores.
    """

    def __init__(
        self,
        k: int | None = None,
        k_range: tuple[int, int] = (2, 10),
        sample_size: int = 20_000,
        silhouette_size: int = 3_000,
        fit_size: int = 100_000,
        n_init: int = 3,
        batch_size: int = 8192,
        previous: dict[str, dict[str, float]] | None = None,
        seed: int = 42,
        n_threads: int | None = 1,
    ) -> None:
        self.k = k
        self.k_range = k_range
        self.sample_size = sample_size
        self.silhouette_size = silhouette_size
        self.fit_size = fit_size
        self.n_init = n_init
        self.batch_size = batch_size
        self.previous = previous
        self.seed = seed
        self.n_threads = n_threads

    def _validate(self, n: int) -> tuple[int, int]:
        lo, hi = (self.k, self.k) if self.k is not None else self.k_range
        if not (isinstance(lo, int | np.integer) and isinstance(hi, int | np.integer) and 2 <= lo <= hi):
            raise InputError(f"k must be an integer >= 2 (or k_range a pair lo <= hi, lo >= 2), got k={self.k!r}, k_range={self.k_range!r}")
        if n < lo + 1:
            raise InputError(f"{n} customers are too few for {lo} segments", hint="segment after more customers have data")
        return int(lo), int(min(hi, n - 1))

    def fit(self, profiles: pd.DataFrame) -> KMeansSegmenter:
        """Choose k, fit the clusters on all rows and assign stable segment ids."""
        with threadpool_limits(limits=getattr(self, "n_threads", 1)):
            return self._fit(profiles)

    def _fit(self, profiles: pd.DataFrame) -> KMeansSegmenter:
        rng = np.random.default_rng(self.seed)
        lo, hi = self._validate(len(profiles))
        self.matrix_ = FeatureMatrix().fit(profiles)
        x = self.matrix_.transform(profiles)
        self.silhouettes_: dict[int, float] = {}
        if lo == hi:
            best = lo
        else:
            fit_rows = x[_sample(len(x), self.sample_size, rng)]
            sil_idx = _sample(len(fit_rows), self.silhouette_size, rng)
            for k in range(lo, hi + 1):
                km = MiniBatchKMeans(n_clusters=k, n_init=self.n_init, batch_size=min(self.batch_size, len(fit_rows)), random_state=self.seed)
                labels = km.fit_predict(fit_rows)
                sub = labels[sil_idx]
                self.silhouettes_[k] = float(silhouette_score(fit_rows[sil_idx], sub)) if len(np.unique(sub)) > 1 else -1.0
            best = max(self.silhouettes_, key=lambda k: (self.silhouettes_[k], -k))
        self.k_ = best
        fit_rows = x[_sample(len(x), self.fit_size, rng)]
        self.model_ = MiniBatchKMeans(
            n_clusters=best, n_init=self.n_init, batch_size=min(self.batch_size, len(fit_rows)), random_state=self.seed
        ).fit(fit_rows)
        self.labels_ = np.concatenate([self.model_.predict(x[i : i + 200_000]) for i in range(0, len(x), 200_000)])
        self.segment_ids_ = self._match_ids()
        return self

    def _match_ids(self) -> list[str]:
        """Segment id per cluster: the previous run's id of its Hungarian match, else a fresh one."""
        k = self.model_.n_clusters
        prev = self.previous or {}
        prev = {sid: c for sid, c in prev.items() if isinstance(c, dict) and set(self.matrix_.columns_) <= set(c)}
        ids: list[str | None] = [None] * k
        if prev:
            pid = list(prev)
            old = self.matrix_.scale(pd.DataFrame([prev[p] for p in pid]))
            cost = np.linalg.norm(self.model_.cluster_centers_[:, None, :] - old[None, :, :], axis=2)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                ids[r] = pid[c]
        used = {int(s[1:]) for s in prev if s.startswith("k") and s[1:].isdigit()}
        nxt = 0
        for i in range(k):
            if ids[i] is None:
                while nxt in used:
                    nxt += 1
                ids[i] = f"k{nxt}"
                used.add(nxt)
        return [str(s) for s in ids]

    def predict(self, profiles: pd.DataFrame) -> pd.Series:
        """The segment id of each customer."""
        if not hasattr(self, "model_"):
            raise NotFittedError(self)
        with threadpool_limits(limits=getattr(self, "n_threads", 1)):
            lab = self.model_.predict(self.matrix_.transform(profiles))
        return pd.Series(np.asarray(self.segment_ids_, dtype=object)[lab], index=profiles.index, name="segment_id")

    def fit_predict(self, profiles: pd.DataFrame) -> pd.Series:
        """``fit`` then the ids of the fitted rows."""
        self.fit(profiles)
        return pd.Series(np.asarray(self.segment_ids_, dtype=object)[self.labels_], index=profiles.index, name="segment_id")

    def centroids(self) -> dict[str, dict[str, float]]:
        """Each segment's centre in the logged (unscaled) feature space, for matching the next run."""
        if not hasattr(self, "model_"):
            raise NotFittedError(self)
        c = self.model_.cluster_centers_ * self.matrix_.std_.to_numpy() + self.matrix_.mean_.to_numpy()
        return {sid: dict(zip(self.matrix_.columns_, map(float, row), strict=True)) for sid, row in zip(self.segment_ids_, c, strict=True)}

    def params(self) -> dict[str, Any]:
        """What was chosen: k, silhouettes, features."""
        return {"k": int(self.k_), "silhouette": {str(k): round(v, 4) for k, v in self.silhouettes_.items()}, "features": self.matrix_.columns_}

    def save(self, path: Path) -> Path:
        """Write the fitted segmenter with joblib (without the training labels)."""
        if not hasattr(self, "model_"):
            raise NotFittedError(self)
        return save_estimator(self, path, exclude=("labels_",))

    @classmethod
    def load(cls, path: Path) -> KMeansSegmenter:
        """Read a segmenter written by :meth:`save`."""
        return load_estimator(cls, path)
