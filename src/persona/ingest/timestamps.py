"""Timestamp parsing that detects the format once per column and then stays vectorized.

Accepted: ISO 8601 (with or without zone, ``T`` or space, ``Z``/``UTC`` suffix), unix time in
seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude), compact
``YYYYMMDD`` dates, and day/month layouts with ``/``, ``.`` or ``-`` (``01/12/2010 08:26``,
``1.12.2010``, ``12-01-2010``…). Everything comes back as UTC.

Zones: each value is read on its own terms. A time with an offset (``+08:00``, ``Z``, ``UTC``) is
converted by that offset; a time without one is taken as UTC, whatever the other rows of the
column or chunk carry and in whatever order they come.

Day/month order of ``a/b/yyyy`` dates (and ``a.b.yyyy``, ``a-b-yyyy``) is one decision per column
per file (one :class:`TimestampParser`), made from the data, never guessed:

* The first date in the file (in row order, up to the end of the chunk being parsed) with a field
  above 12 proves the order (``25/01/2025``: day first; ``01/25/2025``: month first); from then on
  every date of that column is read in that order, in this chunk and all later ones.
* Until such a date has been seen, a date whose two fields are both 12 or less and differ
  (``01/02/2025``) is ambiguous: it is refused (NaT) with a reason saying so and how to fix it (write
  ISO 8601 dates, or ingest again with a ``chunk_size`` large enough to take in a date with a day
  above 12; a rerun stores the rows it can now read and counts the others as duplicates). A date
  whose fields are equal (``05/05/2025``) reads the same either way and is accepted.
* A later date that proves the opposite order (the file mixes both) is refused with a reason
  naming the value that fixed the order, never read in a different order than the rows before it.

Refused rows are the ones :attr:`TimestampParser.refused` lists after :meth:`TimestampParser.parse`;
the ingest runner puts that reason on them in the quarantine file instead of the generic
"unparseable" one (a caller that does not ask, such as the API's event sink, keeps the generic one). A resumed run first shows the parser the rows committed before
(:meth:`TimestampParser.observe`) so that it keeps the order the interrupted run had found.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Day/month layouts: {a}/{b} is %d/%m or %m/%d, decided per file (see the module docstring).
DM_FORMATS = ("{a}/{b}/%Y %H:%M:%S", "{a}/{b}/%Y %H:%M", "{a}/{b}/%Y", "{a}/{b}/%y %H:%M", "{a}/{b}/%y",
              "{a}.{b}.%Y %H:%M:%S", "{a}.{b}.%Y %H:%M", "{a}.{b}.%Y", "{a}-{b}-%Y %H:%M:%S", "{a}-{b}-%Y %H:%M",
              "{a}-{b}-%Y")
SLASH_FORMATS = DM_FORMATS[:5]  # kept for callers of the old name
# Layouts tried, after ISO 8601 and the day/month ones, on values that are not numbers (no day/month question).
OTHER_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%d %b %Y %H:%M:%S", "%d %b %Y", "%b %d %Y", "%Y%m%d%H%M%S")
_TZ_WORD = r"\s*(?:UTC|GMT|utc|gmt)$"
_NUMBER = r"-?\d+(?:\.\d+)?"
# a time of day followed by an offset or Z: the value carries its own zone (a date's "-01" is no offset)
_ZONED = r"[Tt\s]\d{1,2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
# two fields of 1-2 digits, the same separator, a year of 2 or 4 digits: day/month or month/day
_DM = r"^(\d{1,2})([/.\-])(\d{1,2})\2(?:\d{4}|\d{2})(?:\s|$)"
_LO, _HI = pd.Timestamp("1900-01-01", tz="UTC"), pd.Timestamp("2200-01-01", tz="UTC")
_FIX = "write the dates as ISO 8601 (YYYY-MM-DD)"


class TimestampParser:
    """Parses one column of one file; remembers the layout (``layout``) and day/month order (``dayfirst``) it found.

    ``refused`` holds, after each :meth:`parse`, the reason of each value it refused on purpose (ambiguous or
    contradicting day/month order), indexed like the values; None when it refused none.
    """

    def __init__(self) -> None:
        self.layout: str | None = None
        self.dayfirst: bool | None = None
        self.proof: str | None = None  #: the value that decided ``dayfirst``
        self.refused: pd.Series | None = None

    def parse(self, values: pd.Series) -> pd.Series:
        """Parse ``values`` to ``datetime64[ns, UTC]``; unparseable, refused or out-of-range values become NaT."""
        self.refused = None
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
            out[todo] = _iso(rest)
            left = todo & out.isna().to_numpy()
            if left.any():
                looks_num = left & s.str.fullmatch(_NUMBER).fillna(False).to_numpy(dtype=bool)
                other = left & ~looks_num
                if other.any():
                    cleaned = s[other].str.replace(_TZ_WORD, "", regex=True).astype(object)
                    out[other] = self._layouts(cleaned)
        if looks_num.any():
            txt = s[looks_num].astype(object)
            out[looks_num] = self._from_numbers(pd.to_numeric(txt, errors="coerce").astype("float64"), txt)
        return out.where((out >= _LO) & (out < _HI))

    def observe(self, values: pd.Series) -> None:
        """Learn the day/month order from values parsed before (a resumed run's committed rows), parsing nothing."""
        if self.dayfirst is not None or pd.api.types.is_numeric_dtype(values.dtype) or len(values) == 0:
            return
        from persona.ingest.coerce import as_text

        s = as_text(values)
        self._decide(s[s.notna()].astype(object))

    def explain(self, reasons: pd.Series, column: str) -> None:
        """Put the reasons of the values the last :meth:`parse` refused on the rows whose reason is the generic
        ``unparseable <column> …`` one (a row with an earlier problem keeps that); ``reasons`` is changed in place."""
        if self.refused is None:
            return
        generic = reasons.reindex(self.refused.index).astype(object)
        mask = generic.map(lambda r: isinstance(r, str) and r.startswith(f"unparseable {column} '"))
        idx = self.refused.index[mask.to_numpy(dtype=bool)]
        if len(idx):
            reasons.loc[idx] = self.refused.loc[idx].to_numpy()

    def _refuse(self, index: pd.Index, reasons: pd.Series) -> None:
        got = pd.Series(reasons.to_numpy(dtype=object), index=index, dtype=object)
        self.refused = got if self.refused is None else pd.concat([self.refused, got])

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
        if self.layout is not None:  # never a day/month layout before the order is proven (see _search)
            got = pd.to_datetime(s, format=self.layout, utc=True, errors="coerce")
            if got.notna().all():
                return got
            self.layout = None  # this chunk disagrees: look again for the values left
            left = got.isna()
            got[left] = self._search(s[left])
            return got
        return self._search(s)

    def _decide(self, s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
        """Day/month fields of ``s`` (NaN where not such a date); sets ``dayfirst`` from the first value in row order
        that proves an order, if none did before. Returns (first field, second field, proves day-first, proves
        month-first)."""
        parts = s.astype(object).str.extract(_DM)
        a = pd.to_numeric(parts[0], errors="coerce")
        b = pd.to_numeric(parts[2], errors="coerce")
        day_first = ((a > 12) & (a <= 31) & (b >= 1) & (b <= 12)).to_numpy(dtype=bool)
        month_first = ((b > 12) & (b <= 31) & (a >= 1) & (a <= 12)).to_numpy(dtype=bool)
        if self.dayfirst is None and (day_first.any() or month_first.any()):
            i_d = int(np.argmax(day_first)) if day_first.any() else len(s)
            i_m = int(np.argmax(month_first)) if month_first.any() else len(s)
            self.dayfirst = i_d < i_m
            self.proof = str(s.iat[min(i_d, i_m)])[:60]
        return a, b, pd.Series(day_first, index=s.index), pd.Series(month_first, index=s.index)

    def _search(self, s: pd.Series) -> pd.Series:
        out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
        a, b, proves_d, proves_m = self._decide(s)
        dm = a.notna() & b.notna()
        shown = s.astype(str).str.slice(0, 60)
        if self.dayfirst is None:  # no value so far proved an order: refuse the dates it would change
            refuse = dm & (a != b) & (a >= 1) & (a <= 12) & (b >= 1) & (b <= 12)
            if refuse.any():
                self._refuse(s.index[refuse.to_numpy()], "ambiguous day/month order in '" + shown[refuse] + "': "
                             "no date read so far from this file has a day above 12 to tell dd/mm from mm/dd ("
                             + _FIX + ", or ingest the file again with a chunk_size that takes in such a date)")
        else:
            refuse = proves_m if self.dayfirst else proves_d
            if refuse.any():
                order, other = ("day", "month") if self.dayfirst else ("month", "day")
                self._refuse(s.index[refuse.to_numpy()], "day/month order in '" + shown[refuse] + "' contradicts "
                             f"'{self.proof}', read before in this file as {order} first: the file mixes both orders "
                             f"({_FIX})")
        left = s[~refuse.to_numpy()]
        order = ("%d", "%m") if self.dayfirst in (True, None) else ("%m", "%d")
        ordered = [f.format(a=order[0], b=order[1]) for f in DM_FORMATS]
        candidates = ordered + list(OTHER_FORMATS)
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
            if self.layout is None and (self.dayfirst is not None or best_fmt not in ordered):
                self.layout = best_fmt  # the layout most values use: tried first on later chunks
            out[best.index] = best.where(best.notna(), out[best.index])
            left = left[best.isna()]
            candidates = [c for c in candidates if c != best_fmt]
        return out


def _iso(text: pd.Series) -> pd.Series:
    """ISO 8601 values as UTC, each on its own terms: the ones with an offset by that offset, the others as UTC.

    Parsed in two groups because pandas, given both in one array, reads a zone-less value in the offset of a zoned
    value before it (its result depends on row order); a group that still mixes is parsed value by value.
    """
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    zoned = text.str.contains(_ZONED).fillna(False).to_numpy(dtype=bool)
    if zoned.any():
        vals = text[zoned].to_numpy(dtype=object, na_value=None)
        out[zoned] = pd.to_datetime(vals, format="ISO8601", utc=True, errors="coerce")
    naive = ~zoned
    if naive.any():
        vals = text[naive].to_numpy(dtype=object, na_value=None)
        try:
            got = pd.to_datetime(vals, format="ISO8601", errors="coerce")
        except (ValueError, TypeError):
            got = None
        if isinstance(got, pd.DatetimeIndex) and got.tz is None:
            out[naive] = got.tz_localize("UTC")
        else:  # an offset the pattern did not see: one value at a time, so none borrows another's zone
            out[naive] = pd.DatetimeIndex([pd.to_datetime(v, format="ISO8601", utc=True, errors="coerce") for v in vals],
                                          dtype="datetime64[ns, UTC]")
    return out
