"""The MineThatData (Hillstrom) e-mail experiment: reading it and turning it into uplift inputs.

64,000 customers randomly split into Mens E-Mail / Womens E-Mail / No E-Mail, with visits,
conversions and spend in the following two weeks — the standard public uplift benchmark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from persona.errors import DataFileError, SchemaError

COLUMNS = ["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel",
           "segment", "visit", "conversion", "spend"]
CONTROL = "No E-Mail"


def read_hillstrom(path: str | Path) -> pd.DataFrame:
    """Read ``hillstrom.csv`` and check its columns."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"Hillstrom file not found: {path}", hint="see ../shared/data/README.md")
    df = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise SchemaError(f"{path} lacks Hillstrom columns {missing}")
    return df


def hillstrom_uplift_inputs(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Covariates (numeric + one-hot zip_code and channel) and treatment = any e-mail (1) vs none (0)."""
    X = df[["recency", "history", "mens", "womens", "newbie"]].astype(float)
    X = pd.concat([X, pd.get_dummies(df[["zip_code", "channel"]], dtype=float)], axis=1)
    X.columns = [c.replace(" ", "_").replace("-", "_") for c in X.columns]
    t = (df["segment"] != CONTROL).to_numpy(dtype=int)
    return X, t
