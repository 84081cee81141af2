"""Personal data where it should not be: e-mail addresses and phone numbers in free columns and texts.

Used by ingest (to warn about a file's extra columns, kept as plain-text attributes) and by the privacy
report (attributes, event contexts, review texts).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from persona.data.interactions import as_dict

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# a phone number: optional +country, then 8-15 digits with the usual separators, no letters around it
PHONE = re.compile(r"(?<![\w.])\+?\d[\d \-().]{6,18}\d(?![\w.])")
#: an attribute is PII-like when at least this share of its non-empty values match
ATTRIBUTE_MATCH_SHARE = 0.5


def pii_kind(values: pd.Series) -> str | None:
    """'email' or 'phone' when most non-empty values look like one, else None."""
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""]
    if not len(text):
        return None
    for kind, pattern in (("email", EMAIL), ("phone", PHONE)):
        if text.map(lambda t, p=pattern: bool(p.fullmatch(t))).mean() >= ATTRIBUTE_MATCH_SHARE:
            return kind
    return None


def pii_like_keys(records: pd.Series) -> dict[str, dict[str, Any]]:
    """The keys of JSON objects (one per row) whose values mostly look like e-mail addresses or phone numbers.

    Returns:
        ``{key: {"kind": "email"|"phone", "rows": n}}``.
    """
    frame = pd.DataFrame([as_dict(v) for v in records])
    out = {}
    for key in frame.columns:
        kind = pii_kind(frame[key])
        if kind is not None:
            out[str(key)] = {"kind": kind, "rows": int(frame[key].notna().sum())}
    return out


def texts_with_pii(texts: pd.Series) -> dict[str, int]:
    """How many texts contain an e-mail address, and how many a phone number."""
    t = texts.dropna().astype(str)
    return {"email": int(t.str.contains(EMAIL).sum()), "phone": int(t.str.contains(PHONE).sum())}
