"""Type coercion and validation of one chunk against an entity's canonical columns.

Every row that fails a check gets one clear reason (the first problem found); the rest come
back typed: strings stripped (empty means missing), numbers as float, booleans as bool,
timestamps as UTC. Non-canonical columns are gathered into one dict per row (the entity's
``attributes``/``context``).

A chunk whose ``frame.attrs["decimal"]`` is ``","`` (the CSV reader sets it for ``;``-separated files, as
European spreadsheets export them) has numbers with a decimal comma: ``32,99``, ``1.234,56``, ``1 234,56``.
A value like ``1.250`` is read by what the rest of its column shows (decimal commas: 1250; decimal points:
1.25) and quarantined as ambiguous when the column shows neither or both. Other files never get this reading.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from persona.ingest.schema import EntitySpec, range_reasons
from persona.ingest.timestamps import TimestampParser

TRUE = {"true", "t", "yes", "y", "1", "1.0", "on", "opt-in", "opt_in", "optin", "granted", "subscribed"}
FALSE = {"false", "f", "no", "n", "0", "0.0", "off", "opt-out", "opt_out", "optout", "denied", "revoked", "unsubscribed"}
TS_HINT = "expected ISO 8601, unix seconds/ms, YYYYMMDD or dd/mm/yyyy"


@dataclass
class Coerced:
    """A validated chunk: ``frame`` (canonical columns present + ``_extras``) and per-row ``reasons`` (None: ok)."""

    frame: pd.DataFrame
    reasons: pd.Series
    extras: list[str]

    @property
    def ok(self) -> pd.Series:
        return self.reasons.isna()


STRING = pd.StringDtype("pyarrow")


def as_text(values: pd.Series) -> pd.Series:
    """Values as stripped Arrow-backed strings; missing and empty become NA; whole floats lose their ``.0``."""
    if values.dtype == STRING:
        s = values
    elif pd.api.types.is_float_dtype(values.dtype):
        v = values.to_numpy(dtype="float64", na_value=np.nan)
        fin = np.isfinite(v)
        if np.all(np.mod(v[fin], 1) == 0):
            ints = pd.Series(pd.array(np.where(fin, v, 0).astype("int64"), dtype="Int64"), index=values.index).mask(~fin)
            s = ints.astype(STRING)
        else:
            s = values.astype(STRING)
    elif values.dtype == object:
        obj = values.to_numpy(dtype=object, na_value=None)
        if not all(isinstance(x, str) for x in obj):
            obj = np.array([None if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA
                            else (x if isinstance(x, str) else str(x)) for x in obj], dtype=object)
        s = pd.Series(pd.array(obj, dtype=STRING), index=values.index)
    else:
        s = values.astype(STRING)
    st = s.str.strip()
    return st.mask(st == "")


def _fast_float(text: pd.Series) -> pd.Series | None:
    """Arrow's C++ string-to-float cast (20x faster than pandas); None when a value needs the lenient path."""
    if text.dtype != STRING:
        return None
    try:
        arr = pc.cast(text.array.__arrow_array__(), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
        return None
    return pd.Series(arr.to_numpy(), index=text.index, dtype="float64")


def to_objects(s: pd.Series) -> pd.Series:
    """A column as Python objects with None for missing (what per-row code such as encryption expects)."""
    return pd.Series(s.to_numpy(dtype=object, na_value=None), index=s.index, dtype=object)


class ChunkCoercer:
    """Coerces the chunks of one file; keeps per-column timestamp parsers so the layout is found once."""

    def __init__(self, spec: EntitySpec, columns: dict[str, str]) -> None:
        self.spec = spec
        self.columns = columns  # source -> target
        self.parsers: dict[str, TimestampParser] = {}
        #: decimal-comma chunks: per number column, whether decimal commas / decimal points were seen so far
        self.decimal_seen: dict[str, tuple[bool, bool]] = {}

    def coerce(self, raw: pd.DataFrame) -> Coerced:
        """Rename, type and validate one chunk."""
        spec = self.spec
        comma = raw.attrs.get("decimal") == ","
        frame = raw.rename(columns=self.columns)
        n = len(frame)
        reasons = pd.Series([None] * n, index=frame.index, dtype=object)

        def fail(mask: pd.Series | np.ndarray, reason: str | pd.Series) -> None:
            m = mask if isinstance(mask, pd.Series) else pd.Series(mask, index=frame.index)
            m = m.fillna(False).astype(bool) & reasons.isna()
            if m.any():
                reasons[m] = reason[m] if isinstance(reason, pd.Series) else reason

        out = pd.DataFrame(index=frame.index)
        for col, kind in spec.columns.items():
            if col not in frame.columns:
                continue
            src = frame[col]
            if kind == "ts":
                parser = self.parsers.setdefault(col, TimestampParser())
                ts = parser.parse(src)
                text = as_text(src) if src.dtype in (object, STRING) else None
                present = text.notna() if text is not None else src.notna()
                bad = present & ts.isna()
                if bad.any():
                    shown = (text if text is not None else src.astype(str))[bad].str.slice(0, 60)
                    fail(bad, "unparseable " + col + " '" + shown + "' (" + TS_HINT + ")")
                out[col] = ts
                continue
            if kind == "float" or kind == "int":
                text = as_text(src) if not pd.api.types.is_numeric_dtype(src.dtype) or pd.api.types.is_bool_dtype(src.dtype) else None
                ambiguous = None
                if comma and text is not None:
                    text, ambiguous = self._decimal_comma(col, text)
                num = _fast_float(text) if text is not None else None
                if num is None:
                    num = pd.to_numeric(text.to_numpy(dtype=object, na_value=None) if text is not None else src, errors="coerce")
                    num = pd.Series(num, index=frame.index).astype("float64")
                present = text.notna() if text is not None else src.notna()
                if ambiguous is not None and ambiguous.any():
                    v = as_text(src)[ambiguous]
                    fail(ambiguous, col + " '" + v + "' is ambiguous in a ';'-separated file: write " + v.str.replace(".", "", regex=False)
                         + " if '.' groups thousands, or " + v.str.replace(".", ",", regex=False) + " for a decimal comma")
                    num = num.mask(ambiguous)
                bad = present & (num.isna() | ~np.isfinite(num.fillna(0)))
                if ambiguous is not None:
                    bad &= ~ambiguous
                if bad.any():
                    shown = (text if text is not None else src.astype(str))[bad].astype(str).str.slice(0, 60)
                    fail(bad, col + " is not a number: '" + shown + "'")
                if kind == "int":
                    frac = present & ~bad & (num % 1 != 0)
                    fail(frac, col + " must be a whole number")
                    if col == "birth_year":
                        rng = present & ~bad & ((num < 1900) | (num > 2100))
                        fail(rng, "birth_year out of range 1900-2100: " + num.astype(str))
                out[col] = num.where(~bad)
                continue
            if kind == "bool":
                if pd.api.types.is_bool_dtype(src.dtype):
                    out[col] = src.astype(object)
                    continue
                text = as_text(src)
                low = text.str.lower()
                is_t, is_f = low.isin(TRUE).fillna(False).to_numpy(bool), low.isin(FALSE).fillna(False).to_numpy(bool)
                val = pd.Series(np.where(is_t, True, np.where(is_f, False, None)), index=frame.index, dtype=object)
                bad = text.notna() & val.isna()
                if bad.any():
                    fail(bad, col + " is not true/false: '" + text[bad].str.slice(0, 60) + "'")
                out[col] = val
                continue
            text = as_text(src)
            if kind == "etype":
                text = text.str.lower().str.replace(r"[\s\-]+", "_", regex=True)
            if kind == "pii" and col == "email":
                bad = text.notna() & ~text.str.fullmatch(r"[^@\s]+@[^@\s]+").fillna(False).astype(bool)
                fail(bad, "invalid email address (expected name@domain)")
            limit = spec.max_len.get(col)
            if limit:
                long = text.notna() & (text.str.len() > limit)
                fail(long, f"{col} longer than {limit} characters")
            out[col] = text
        for col in spec.required:
            if col in out.columns:
                fail(out[col].isna(), f"missing {col}")
            else:  # a later JSON-lines chunk without the key at all
                fail(np.ones(n, dtype=bool), f"missing {col}")
        if spec.bounds:  # a price, quantity or revenue below zero, a rating off the 1-5 scale (schema.range_reasons)
            out_of_range = range_reasons(spec, out)
            fail(out_of_range.notna(), out_of_range)
        extras = [c for c in frame.columns if c not in spec.columns]
        if extras and spec.extras:
            fast = extras_json(frame[extras]) if spec.name == "events" else None  # events' context is stored as is
            out["_extras"] = fast if fast is not None else _extras(frame[extras])
        return Coerced(frame=out, reasons=reasons, extras=extras)

    def _decimal_comma(self, col: str, text: pd.Series) -> tuple[pd.Series, pd.Series]:
        """Number text with a decimal comma rewritten with a decimal point; and the values whose '.' may group
        thousands or mark decimals with nothing in the column (so far) to tell which."""
        comma = text.str.fullmatch(_COMMA_DECIMAL).fillna(False).astype(bool)
        grouped = text.str.fullmatch(_GROUPED).fillna(False).astype(bool)
        maybe = text.str.fullmatch(_ONE_GROUP).fillna(False).astype(bool)
        dot = text.str.fullmatch(_DOT_DECIMAL).fillna(False).astype(bool) & ~maybe
        seen_comma, seen_dot = self.decimal_seen.get(col, (False, False))
        seen_comma, seen_dot = seen_comma or bool((comma | grouped).any()), seen_dot or bool(dot.any())
        self.decimal_seen[col] = (seen_comma, seen_dot)
        if seen_comma and not seen_dot:  # 1.250 among 32,99 and 1.234,56: thousands
            grouped, ambiguous = grouped | maybe, maybe & False
        elif seen_dot and not seen_comma:  # 1.250 among 0.5 and 12.75: a decimal point
            ambiguous = maybe & False
        else:
            ambiguous = maybe
        fix = comma | grouped
        if not fix.any():
            return text, ambiguous
        fixed = text[fix].str.replace(_GROUPING, "", regex=True).str.replace(",", ".", regex=False)
        out = text.copy()
        out[fix] = fixed
        return out, ambiguous


_SIGN = r"[+-]?"
_SPACES = " \u00a0\u202f"  # literal characters: the patterns run in Arrow's RE2 as well as Python's re
_GROUPS = r"[1-9]\d{0,2}(?:\.\d{3})+|[1-9]\d{0,2}(?:[" + _SPACES + r"]\d{3})+"
#: a decimal comma, with or without thousands grouped by '.' or spaces: 32,99  1.234,56  1 234,5
_COMMA_DECIMAL = _SIGN + r"(?:\d+|" + _GROUPS + r"),\d+"
#: whole numbers grouped unmistakably: 1.234.567  1 234
_GROUPED = _SIGN + r"(?:[1-9]\d{0,2}(?:\.\d{3}){2,}|[1-9]\d{0,2}(?:[" + _SPACES + r"]\d{3})+)"
#: 1.250: one '.' group, thousands or a decimal point
_ONE_GROUP = _SIGN + r"[1-9]\d{0,2}\.\d{3}"
#: a number with a decimal point: 0.5  12.75  .5  1.5e3
_DOT_DECIMAL = _SIGN + r"\d*\.\d+(?:[eE][+-]?\d+)?"
_GROUPING = "[." + _SPACES + "]"


_JSON_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
_OTHER_CONTROL = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f]"


def extras_json(frame: pd.DataFrame) -> pd.Series | None:
    """The non-canonical text columns of each row as JSON object text, built column by column in Arrow.

    The text ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))`` gives for :func:`_extras`'s
    dict (keys in column order, missing values left out, None when all are missing), without a Python
    object per row. None (use the dicts) unless every column is text with no control characters other
    than tab, newline and carriage return.
    """
    frags = []
    for c in frame.columns:
        src = frame[c]
        if src.dtype not in (object, STRING) or _has_nested(src) or (src.dtype == object and not _all_text(src)):
            return None
        arr = pa.array(as_text(src).array, pa.string())
        if pc.any(pc.match_substring_regex(arr, _OTHER_CONTROL)).as_py():
            return None
        for old, new in _JSON_ESCAPES:
            arr = pc.replace_substring(arr, old, new)
        # '"key":"value",' or "" when missing; every value ends in '"', so only these commas trail a row
        frags.append(pc.fill_null(pc.binary_join_element_wise(json.dumps(str(c), ensure_ascii=False) + ':"', arr, '",', ""), ""))
    body = pc.utf8_rtrim(pc.binary_join_element_wise(*frags, ""), ",")
    text = pc.if_else(pc.equal(body, ""), pa.scalar(None, pa.string()), pc.binary_join_element_wise("{", body, "}", ""))
    return pd.Series(pd.arrays.ArrowStringArray(text), index=frame.index)


def _extras(frame: pd.DataFrame) -> pd.Series:
    """Non-canonical columns of each row as a dict without missing values (None when all are missing).

    Vectorized per column; Python only touches rows that have at least one extra value.
    """
    cols = list(frame.columns)
    values: dict[str, pd.Series] = {}
    for c in cols:
        src = frame[c]
        if src.dtype == STRING or (src.dtype == object and not _has_nested(src) and _all_text(src)):
            values[c] = as_text(src)
        elif src.dtype == object and not _has_nested(src):
            values[c] = _text_stripped(src)  # JSON numbers and booleans beside text: kept as they are
        else:
            values[c] = src
    present = pd.DataFrame({c: values[c].notna().to_numpy(dtype=bool) for c in cols}, index=frame.index)
    out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    rows = present.any(axis=1).to_numpy()
    if not rows.any():
        return out
    idx = np.flatnonzero(rows)
    lists = {c: values[c].iloc[idx].to_numpy(dtype=object, na_value=None).tolist() for c in cols}
    masks = {c: present[c].to_numpy()[idx].tolist() for c in cols}
    recs = []
    for j in range(len(idx)):
        d = {}
        for c in cols:
            if masks[c][j]:
                v = lists[c][j]
                d[c] = v.item() if isinstance(v, np.generic) else v
        recs.append(d)
    out.iloc[idx] = pd.Series(recs, dtype=object).to_numpy()
    return out


def _all_text(s: pd.Series) -> bool:
    """True when every present value of an object column is text (a CSV column; not JSON numbers or booleans)."""
    return all(isinstance(v, str) or v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
               for v in s.to_numpy(dtype=object))


def _text_stripped(s: pd.Series) -> pd.Series:
    """An object column with its text stripped (empty: missing, as :func:`as_text`) and other values as they are."""
    out = []
    for v in s.to_numpy(dtype=object):
        if isinstance(v, str):
            v = v.strip() or None
        elif v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            v = None
        out.append(v)
    return pd.Series(out, index=s.index, dtype=object)


def _has_nested(s: pd.Series) -> bool:
    """True when an object column holds dicts, lists or arrays (JSON lines, Parquet lists): keep them as they are."""
    if s.dtype != object:
        return False
    return any(isinstance(v, dict | list | np.ndarray) for v in s.head(100))
