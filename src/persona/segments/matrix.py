"""Profile features → the numeric matrix segmenters cluster (log where skewed, NaN filled, standardized)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from persona.errors import InputError, NotFittedError

SEGMENT_FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "mean_interpurchase_days",
    "discount_share",
    "price_index",
    "n_categories",
    "n_views",
    "email_open_rate",
    "email_click_rate",
    "avg_sentiment",
    "age",
)
"""Profile features used by the clustering segmenters (those absent or constant are dropped)."""
SKEWED = frozenset({"frequency", "monetary", "avg_order_value", "mean_interpurchase_days", "n_views", "n_categories"})


def _numeric(profiles: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The columns as floats (absent ones all-NaN, text coerced), without touching numeric ones twice."""
    x = profiles.reindex(columns=columns)
    for c in columns:
        if x[c].dtype.kind not in "fiub":
            x[c] = pd.to_numeric(x[c], errors="coerce")
    return x.astype(float)


class FeatureMatrix:
    """Learns which features to use, their fill values and scale; then maps profiles to a matrix.

    Args:
        features: candidate profile columns (default :data:`SEGMENT_FEATURES`).
    """

    def __init__(self, features: tuple[str, ...] | None = None) -> None:
        self.features = features

    def raw(self, profiles: pd.DataFrame) -> pd.DataFrame:
        """The chosen features, NaN filled (a never-buyer's recency: beyond the oldest buyer)."""
        if not hasattr(self, "columns_"):
            raise NotFittedError(self)
        return _numeric(profiles, self.columns_).fillna(self.fill_)

    def fit(self, profiles: pd.DataFrame) -> FeatureMatrix:
        """Choose usable columns and learn fill values, log flags and the standard scale.

        Raises:
            InputError: no usable numeric feature or no rows.
        """
        cands = list(self.features or SEGMENT_FEATURES)
        if len(profiles) == 0:
            raise InputError("no profiles to segment", hint="run `persona profiles build` first")
        x = _numeric(profiles, cands)
        lo, hi = x.min(), x.max()
        keep = [c for c in cands if pd.notna(lo[c]) and hi[c] > lo[c]]
        if not keep:
            raise InputError(f"none of the features {cands} varies across customers", hint="segment after ingesting events")
        x = x[keep]
        fill = x.median()
        if "recency_days" in keep:
            fill["recency_days"] = float(x["recency_days"].max()) + 1.0
        self.columns_, self.fill_ = keep, fill
        z = self._logged(x.fillna(fill))
        self.mean_, self.std_ = z.mean(), z.std(ddof=0).replace(0, 1.0)
        return self

    def _logged(self, x: pd.DataFrame) -> pd.DataFrame:
        x = x.copy()
        for c in self.columns_:
            if c in SKEWED:
                x[c] = np.log1p(x[c].clip(lower=0))
        return x

    def logged(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Filled features with the skewed ones log-transformed (the unscaled clustering space)."""
        return self._logged(raw)

    def transform(self, profiles: pd.DataFrame) -> np.ndarray:
        """The standardized matrix (float32, rows in ``profiles`` order)."""
        z = self._logged(self.raw(profiles))
        return ((z - self.mean_) / self.std_).to_numpy(dtype=np.float32)

    def scale(self, logged: pd.DataFrame) -> np.ndarray:
        """Standardize points already in the logged space (e.g. stored centroids)."""
        return ((logged.reindex(columns=self.columns_) - self.mean_) / self.std_).to_numpy(dtype=np.float64)
