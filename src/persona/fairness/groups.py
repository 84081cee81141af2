"""Customer groups for fairness checks: gender, age band, country, language, occupation, segment.

Every customer gets one label per attribute; a missing value is ``"unknown"``. Age comes from ``birth_year``
(or an ``age`` column) and is banded, so single years never identify anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from persona.errors import InputError

#: attributes a shop usually holds that a fairness check looks at; ``age`` is derived from ``birth_year``
ATTRIBUTES = ("gender", "age", "country", "language", "occupation", "segment")
#: the attributes audited by default (those of them the customers carry)
DEFAULT_ATTRIBUTES = ("gender", "age", "country", "occupation")
#: age bands (lower bound inclusive)
AGE_BANDS: tuple[tuple[int, str], ...] = ((0, "under 25"), (25, "25-34"), (35, "35-44"), (45, "45-54"), (55, "55-64"), (65, "65+"))
UNKNOWN = "unknown"


def age_band(age: pd.Series) -> pd.Series:
    """Ages (years, numbers or NaN) as the labels of :data:`AGE_BANDS`; a missing or implausible age is ``unknown``."""
    a = pd.to_numeric(age, errors="coerce").to_numpy(dtype=np.float64)
    bounds = np.array([b for b, _ in AGE_BANDS], dtype=np.float64)
    labels = np.array([lab for _, lab in AGE_BANDS] + [UNKNOWN], dtype=object)
    idx = np.searchsorted(bounds, np.nan_to_num(a, nan=-1.0), side="right") - 1
    ok = np.isfinite(a) & (a >= 0) & (a < 120)
    return pd.Series(labels[np.where(ok, idx, len(AGE_BANDS))], index=age.index, dtype=object)


def _labels(customers: pd.DataFrame, attribute: str, as_of_year: int) -> pd.Series:
    if attribute == "age":
        if "birth_year" in customers and customers["birth_year"].notna().any():
            return age_band(as_of_year - pd.to_numeric(customers["birth_year"], errors="coerce"))
        return age_band(customers["age"]) if "age" in customers else pd.Series(UNKNOWN, index=customers.index, dtype=object)
    col = customers[attribute]
    text = col.astype(object).where(col.notna(), None).map(lambda v: str(v).strip() if v is not None else "")
    return text.where(text != "", UNKNOWN).astype(object)


def present_attributes(customers: pd.DataFrame) -> list[str]:
    """The attributes of :data:`ATTRIBUTES` that the customers carry with at least two known values."""
    out = []
    for a in ATTRIBUTES:
        if a == "age" and not ({"birth_year", "age"} & set(customers.columns)):
            continue
        if a != "age" and a not in customers:
            continue
        labels = _labels(customers, a, datetime.now(UTC).year)
        if labels[labels != UNKNOWN].nunique() >= 2:
            out.append(a)
    return out


def customer_groups(
    customers: pd.DataFrame,
    attributes: Sequence[str] | None = None,
    *,
    id_column: str = "customer_id",
    as_of_year: int | None = None,
) -> pd.DataFrame:
    """One group label per customer and attribute (index: customer id; ``unknown`` where the value is missing).

    Args:
        customers: one row per customer with ``id_column`` and the attribute columns (``birth_year`` or ``age``
            for ``age``).
        attributes: which of :data:`ATTRIBUTES` (default: those of :data:`DEFAULT_ATTRIBUTES` the customers
            carry, see :func:`present_attributes`).
        as_of_year: the year ages are computed in (default: this year).

    Raises:
        InputError: an unknown attribute, one the customers do not carry (the message lists those they do), an
            empty ``attributes``, or no default attribute to group by.
    """
    if id_column not in customers:
        raise InputError(f"customers need a {id_column!r} column", hint=f"columns there are: {', '.join(map(str, customers.columns))}")
    present = present_attributes(customers)
    chosen = list(attributes) if attributes is not None else [a for a in DEFAULT_ATTRIBUTES if a in present]
    if attributes is not None and not chosen:
        raise InputError("no attribute named to group the customers by",
                         hint=f"name one or more of {', '.join(ATTRIBUTES)}, or none at all for the default ones")
    if not chosen:
        raise InputError("the customers carry no attribute to group them by",
                         hint="ingest customers with gender, birth_year, country or occupation to audit fairness")
    for a in chosen:
        if a not in ATTRIBUTES:
            raise InputError(f"unknown customer attribute {a!r} for a fairness check", hint=f"use one of: {', '.join(ATTRIBUTES)}")
        if a not in present:
            raise InputError(f"the customers carry no {a!r} with two or more known values",
                             hint=f"attributes they carry: {', '.join(present) or 'none'} (ingest customers with gender, birth_year, country…)")
    year = int(as_of_year) if as_of_year is not None else datetime.now(UTC).year
    frame = customers.drop_duplicates(id_column).set_index(id_column)
    return pd.DataFrame({a: _labels(frame, a, year) for a in chosen}, index=frame.index)
