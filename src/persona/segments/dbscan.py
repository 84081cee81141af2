"""``DBSCANSegmenter``: density-based groups and outliers, eps from the k-distance knee, scalable by sampling."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import DBSCAN
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from persona.errors import InputError, NotFittedError
from persona.persistence import load_estimator, save_estimator
from persona.segments.matrix import FeatureMatrix

log = logging.getLogger(__name__)
OUTLIERS = "outliers"


def knee_eps(x: np.ndarray, min_samples: int) -> float:
    """eps at the knee of the sorted k-distance curve (the point farthest from the chord).

    Args:
        x: standardized points.
        min_samples: k of the k-distance (DBSCAN's ``min_samples``, the point itself included).
    """
    nn = NearestNeighbors(n_neighbors=min(min_samples, len(x))).fit(x)
    d = np.sort(nn.kneighbors(x)[0][:, -1])
    if len(d) < 3 or d[-1] <= d[0]:
        return float(max(d[-1], 1e-6))
    xs = np.linspace(0.0, 1.0, len(d))
    ys = (d - d[0]) / (d[-1] - d[0])
    return float(max(d[int(np.argmax(xs - ys))], 1e-6))


class DBSCANSegmenter:
    """DBSCAN on a sample of standardized (PCA-reduced) profiles; other rows join their nearest core point.

    A row farther than eps from every core point of the sample is an outlier (segment ``outliers``).

    Args:
        eps: neighbourhood radius; None picks it at the knee of the k-distance curve.
        min_samples: DBSCAN's density threshold.
        sample_size: rows DBSCAN itself runs on.
        n_components: PCA dimensions the density is measured in (None: all features).
        max_core_points: core points kept for assigning the other rows (a seeded subset when DBSCAN finds more).
        seed: seed of the sample.
        n_threads: OpenMP/BLAS threads (None: library default).
    """

    def __init__(
        self,
        eps: float | None = None,
        min_samples: int = 10,
        sample_size: int = 10_000,
        n_components: int | None = 6,
        max_core_points: int = 4_000,
        seed: int = 42,
        n_threads: int | None = 1,
    ) -> None:
        self.eps = eps
        self.min_samples = min_samples
        self.sample_size = sample_size
        self.n_components = n_components
        self.max_core_points = max_core_points
        self.seed = seed
        self.n_threads = n_threads

    def _space(self, profiles: pd.DataFrame) -> np.ndarray:
        x = self.matrix_.transform(profiles)
        return self.pca_.transform(x).astype(np.float32) if self.pca_ is not None else x

    def fit(self, profiles: pd.DataFrame) -> DBSCANSegmenter:
        """Pick eps, run DBSCAN on the sample and keep its core points."""
        with threadpool_limits(limits=getattr(self, "n_threads", 1)):
            return self._fit(profiles)

    def _fit(self, profiles: pd.DataFrame) -> DBSCANSegmenter:
        if self.eps is not None and not (np.isfinite(self.eps) and self.eps > 0):
            raise InputError(f"eps must be a positive number or None (automatic), got {self.eps!r}")
        if int(self.min_samples) < 2:
            raise InputError(f"min_samples must be >= 2, got {self.min_samples!r}")
        if len(profiles) < self.min_samples:
            raise InputError(f"{len(profiles)} customers are too few for min_samples={self.min_samples}")
        rng = np.random.default_rng(self.seed)
        self.matrix_ = FeatureMatrix().fit(profiles)
        full = self.matrix_.transform(profiles)
        idx = np.arange(len(full)) if len(full) <= self.sample_size else np.sort(rng.choice(len(full), self.sample_size, replace=False))
        nc = self.n_components
        self.pca_ = PCA(n_components=nc, random_state=self.seed).fit(full[idx]) if nc and nc < full.shape[1] else None
        x = self.pca_.transform(full).astype(np.float32) if self.pca_ is not None else full
        sample = x[idx]
        self.eps_ = float(self.eps) if self.eps is not None else knee_eps(sample, self.min_samples)
        db = DBSCAN(eps=self.eps_, min_samples=self.min_samples).fit(sample)
        core = db.core_sample_indices_
        if len(core) > self.max_core_points:
            core = np.sort(rng.choice(core, self.max_core_points, replace=False))
        self.core_points_ = sample[core]
        self.core_labels_ = db.labels_[core]
        labels = self._assign(x)
        labels[idx] = db.labels_  # the sample keeps DBSCAN's own answer (border points included)
        self.labels_ = labels
        self.n_clusters_ = int(len(set(db.labels_.tolist()) - {-1}))
        return self

    def _assign(self, x: np.ndarray, chunk: int = 200_000) -> np.ndarray:
        out = np.full(len(x), -1, dtype=np.int64)
        if len(self.core_points_) == 0:
            return out
        nn = NearestNeighbors(n_neighbors=1).fit(self.core_points_)
        for i in range(0, len(x), chunk):
            d, j = nn.kneighbors(x[i : i + chunk])
            lab = self.core_labels_[j[:, 0]]
            out[i : i + chunk] = np.where(d[:, 0] <= self.eps_, lab, -1)
        return out

    @staticmethod
    def _ids(labels: np.ndarray) -> np.ndarray:
        return np.where(labels < 0, OUTLIERS, np.char.add("d", labels.astype(str))).astype(object)

    def predict(self, profiles: pd.DataFrame) -> pd.Series:
        """Segment id of each customer: its nearest core point's group, or ``outliers``."""
        if not hasattr(self, "core_points_"):
            raise NotFittedError(self)
        return pd.Series(self._ids(self._assign(self._space(profiles))), index=profiles.index, name="segment_id")

    def fit_predict(self, profiles: pd.DataFrame) -> pd.Series:
        """``fit`` then the ids of the fitted rows."""
        self.fit(profiles)
        return pd.Series(self._ids(self.labels_), index=profiles.index, name="segment_id")

    def save(self, path: Path) -> Path:
        """Write the fitted segmenter with joblib (without the training labels)."""
        if not hasattr(self, "core_points_"):
            raise NotFittedError(self)
        return save_estimator(self, path, exclude=("labels_",))

    @classmethod
    def load(cls, path: Path) -> DBSCANSegmenter:
        """Read a segmenter written by :meth:`save`."""
        return load_estimator(cls, path)
