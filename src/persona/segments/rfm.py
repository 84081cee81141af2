"""``RFMSegmenter``: recency, frequency and monetary quintile scores mapped to business segment names."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from persona.errors import InputError, NotFittedError
from persona.persistence import load_estimator, save_estimator

# (segment id, display name, pattern on "<R><FM>"): first match wins. FM is the rounded mean of F and M.
RFM_SEGMENTS: tuple[tuple[str, str, str], ...] = (
    ("champions", "Champions", r"5[45]"),
    ("loyal", "Loyal", r"[34][45]"),
    ("potential_loyalist", "Potential loyalist", r"[45][23]"),
    ("new", "New", r"51"),
    ("promising", "Promising", r"41"),
    ("need_attention", "Need attention", r"33"),
    ("about_to_sleep", "About to sleep", r"3[12]"),
    ("cant_lose_them", "Can't lose them", r"[12]5"),
    ("at_risk", "At risk", r"[12][34]"),
    ("hibernating", "Hibernating", r"2[12]"),
    ("lost", "Lost", r"1[12]"),
)
PROSPECTS = ("prospects", "Prospects (no purchase yet)")
RFM_NAMES = {sid: name for sid, name, _ in RFM_SEGMENTS} | {PROSPECTS[0]: PROSPECTS[1]}


def _code_table() -> dict[str, str]:
    table = {}
    for r in range(1, 6):
        for fm in range(1, 6):
            code = f"{r}{fm}"
            table[code] = next(sid for sid, _, pat in RFM_SEGMENTS if re.fullmatch(pat, code))
    return table


CODE_TO_SEGMENT = _code_table()


class RFMSegmenter:
    """Quintile RFM scores (1–5, 5 best) among buyers, then the classic R × FM segment map.

    Edges are the 20/40/60/80 % quantiles of the buyers' recency, frequency and monetary value, learned in
    ``fit``; equal values always get the same score. Customers who never bought are ``prospects``.

    Args:
        n_bins: number of score levels (5: quintiles).
    """

    def __init__(self, n_bins: int = 5) -> None:
        self.n_bins = n_bins

    def fit(self, profiles: pd.DataFrame) -> RFMSegmenter:
        """Learn the quantile edges from the buyers in ``profiles``.

        Raises:
            InputError: missing columns or no buyer at all.
        """
        if self.n_bins != 5:
            raise InputError(f"n_bins must be 5 for the named RFM segment map, got {self.n_bins!r}")
        missing = {"recency_days", "frequency", "monetary"} - set(profiles.columns)
        if missing:
            raise InputError(f"profiles lack {sorted(missing)}", hint="build profiles with `persona profiles build`")
        buyers = profiles[pd.to_numeric(profiles["frequency"], errors="coerce").fillna(0) > 0]
        if buyers.empty:
            raise InputError("no customer has purchased yet, so RFM scores are undefined", hint="ingest purchase events")
        q = np.linspace(0, 1, self.n_bins + 1)[1:-1]
        self.edges_ = {c: np.quantile(pd.to_numeric(buyers[c], errors="coerce").dropna().to_numpy(float), q) for c in ("recency_days", "frequency", "monetary")}
        return self

    def scores(self, profiles: pd.DataFrame) -> pd.DataFrame:
        """R, F, M and FM scores per customer (NaN for customers who never bought)."""
        if not hasattr(self, "edges_"):
            raise NotFittedError(self)
        rec = pd.to_numeric(profiles["recency_days"], errors="coerce").to_numpy(float)
        freq = pd.to_numeric(profiles["frequency"], errors="coerce").fillna(0).to_numpy(float)
        mon = pd.to_numeric(profiles["monetary"], errors="coerce").fillna(0).to_numpy(float)
        r = self.n_bins - np.searchsorted(self.edges_["recency_days"], rec, side="right")
        f = 1 + np.searchsorted(self.edges_["frequency"], freq, side="left")
        m = 1 + np.searchsorted(self.edges_["monetary"], mon, side="left")
        out = pd.DataFrame({"r": r, "f": f, "m": m}, index=profiles.index).astype(float)
        out["fm"] = np.floor((out["f"] + out["m"]) / 2 + 0.5)
        out[(freq <= 0) | np.isnan(rec)] = np.nan
        return out

    def predict(self, profiles: pd.DataFrame) -> pd.Series:
        """The segment id of each customer."""
        s = self.scores(profiles)
        codes = s["r"].fillna(0).astype(int).astype(str) + s["fm"].fillna(0).astype(int).astype(str)
        seg = codes.map(CODE_TO_SEGMENT).fillna(PROSPECTS[0])
        return seg.rename("segment_id")

    def fit_predict(self, profiles: pd.DataFrame) -> pd.Series:
        """``fit`` then ``predict``."""
        return self.fit(profiles).predict(profiles)

    def segment_names(self) -> dict[str, str]:
        """Display name of each segment id."""
        return dict(RFM_NAMES)

    def save(self, path: Path) -> Path:
        """Write the fitted segmenter with joblib."""
        if not hasattr(self, "edges_"):
            raise NotFittedError(self)
        return save_estimator(self, path)

    @classmethod
    def load(cls, path: Path) -> RFMSegmenter:
        """Read a segmenter written by :meth:`save`."""
        return load_estimator(cls, path)
