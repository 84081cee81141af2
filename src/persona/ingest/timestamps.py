"""Timestamp parsing that detects the format once per column and then stays vectorized.

Accepted: ISO 8601 (with or without zone, ``T`` or space, ``Z``/``UTC`` suffix), unix time in
seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude), compact
``YYYYMMDD`` dates, and common day/month layouts (``01/12/2010 08:26``, ``1.12.2010``…).
Day-first versus month-first is decided from the data (a first field above 12) and then kept for
the whole file. Naive times are taken as UTC; everything comes back as UTC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Layouts tried, after ISO 8601, on values that are not numbers. (%d/%m vs %m/%d is decided per file.)
SLASH_FORMATS = ("{a}/{b}/%Y %H:%M:%S", "{a}/{b}/%Y %H:%M", "{a}/{b}/%Y", "{a}/{b}/%y %H:%M", "{a}/{b}/%y")
OTHER_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%d-%m-%Y %H:%M:%S",
                 "%d-%m-%Y", "%d %b %Y %H:%M:%S", "%d %b %Y", "%b %d %Y", "%Y%m%d%H%M%S")
_TZ_WORD = r"\s*(?:UTC|GMT|utc|gmt)$"
_NUMBER = r"-?\d+(?:\.\d+)?"
_LO, _HI = pd.Timestamp("1900-01-01", tz="UTC"), pd.Timestamp("2200-01-01", tz="UTC")


class TimestampParser:
    """Parses one column of one file; remembers the layout it found (``layout``) across chunks."""

    def __init__(self) -> None:
        self.layout: str | None = None
        self.dayfirst: bool | None = None

    def parse(self, values: pd.Series) -> pd.Series:
        """Parse ``values`` to ``datetime64[ns, UTC]``; unparseable or out-of-range values become NaT."""
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            return values.dt.tz_convert("UTC")
        if pd.api.types.is_datetime64_dtype(values.dtype):
            return values.dt.tz_localize("UTC")
        if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
            from persona.ingest.coerce import as_text

            return self._from_numbers(values.astype("float64"), as_text(values))
        from persona.ingest.coerce import as_text

        s = as_text(values)
        out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
        todo = s.notna().to_numpy(dtype=bool)
        if not todo.any():
            return out
        sample = s[todo].head(200)
        if sample.str.fullmatch(_NUMBER).all():  # epochs or YYYYMMDD: no date-string parsing at all
            looks_num = s.str.fullmatch(_NUMBER).fillna(False).to_numpy(dtype=bool)
        else:
            looks_num = np.zeros(len(s), dtype=bool)
            rest = s[todo]
            if rest.str.contains(_TZ_WORD).any():
                rest = rest.str.replace(_TZ_WORD, "+00:00", regex=True)
            iso = pd.to_datetime(rest.to_numpy(dtype=object, na_value=None), format="ISO8601", utc=True, errors="coerce")
            out[todo] = iso
            left = todo & out.isna().to_numpy()
            if left.any():
                lefts = s[left]
                looks_num = left & s.str.fullmatch(_NUMBER).fillna(False).to_numpy(dtype=bool)
                other = left & ~looks_num
                if other.any():
                    cleaned = s[other].str.replace(_TZ_WORD, "", regex=True).astype(object)
                    out[other] = self._layouts(cleaned)
                del lefts
        if looks_num.any():
            txt = s[looks_num].astype(object)
            out[looks_num] = self._from_numbers(pd.to_numeric(txt, errors="coerce").astype("float64"), txt)
        return out.where((out >= _LO) & (out < _HI))

    def _from_numbers(self, num: pd.Series, text: pd.Series) -> pd.Series:
        out = pd.Series(pd.NaT, index=num.index, dtype="datetime64[ns, UTC]")
        text = text.astype("string[pyarrow]")
        ymd = text.str.fullmatch(r"(?:19|20|21)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])").fillna(False).to_numpy(dtype=bool)
        ymd = pd.Series(ymd, index=num.index)
        if ymd.any():
            out[ymd] = pd.to_datetime(text[ymd].astype(object), format="%Y%m%d", utc=True, errors="coerce")
        rest = ~ymd & num.notna()
        if rest.any():
            v = num[rest].to_numpy(dtype="float64")
            a = np.abs(v)
            # magnitude tells the unit: seconds until ~2286, then ms, us, ns
            factor = np.where(a < 1e10, 1e9, np.where(a < 1e13, 1e6, np.where(a < 1e16, 1e3, 1.0)))
            ok = np.isfinite(v) & (a * factor < 9.2e18)
            if np.all(np.mod(v[ok], 1) == 0):  # integers: exact int64 arithmetic, no float rounding
                ns = np.where(ok, v, 0).astype("int64") * factor.astype("int64")
            else:
                ns = np.where(ok, v * factor, 0).astype("int64")
            conv = pd.to_datetime(ns, unit="ns", utc=True)
            conv = pd.Series(conv, index=num[rest].index).where(ok)
            out[rest] = conv
        return out

    def _layouts(self, s: pd.Series) -> pd.Series:
        if self.layout is not None:
            got = pd.to_datetime(s, format=self.layout, utc=True, errors="coerce")
            if got.notna().all():
                return got
            self.layout = None  # this chunk disagrees: look again for the values left
            left = got.isna()
            got[left] = self._search(s[left])
            return got
        return self._search(s)

    def _search(self, s: pd.Series) -> pd.Series:
        if self.dayfirst is None and s.str.contains("/", regex=False).any():
            first = pd.to_numeric(s.str.extract(r"^(\d{1,2})/", expand=False), errors="coerce")
            second = pd.to_numeric(s.str.extract(r"^\d{1,2}/(\d{1,2})/", expand=False), errors="coerce")
            if (first > 12).any():
                self.dayfirst = True
            elif (second > 12).any():
                self.dayfirst = False
        order = ("%d", "%m") if self.dayfirst in (True, None) else ("%m", "%d")
        candidates = [f.format(a=order[0], b=order[1]) for f in SLASH_FORMATS] + list(OTHER_FORMATS)
        out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
        left = s
        while len(left):
            best: pd.Series | None = None
            best_fmt = None
            for fmt in candidates:
                got = pd.to_datetime(left, format=fmt, utc=True, errors="coerce")
                n = int(got.notna().sum())
                if n and (best is None or n > int(best.notna().sum())):
                    best, best_fmt = got, fmt
                    if n == len(left):
                        break
            if best is None:
                break
            if self.layout is None:
                self.layout = best_fmt  # the layout most values use: tried first on later chunks
            out[best.index] = best.where(best.notna(), out[best.index])
            left = left[best.isna()]
            candidates = [c for c in candidates if c != best_fmt]
        return out
