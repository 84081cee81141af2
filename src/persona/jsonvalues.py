"""Python, numpy and pandas values as JSON, with their types: one encoder for everything stored or reported as JSON.

``json.dumps(..., default=str)`` turned ``np.int64(3)`` into ``"3"`` and ``np.bool_(True)`` into ``"True"``: text where a
number or a boolean was meant. Here numpy integers, floats and booleans (and their arrays) become JSON numbers and
booleans, timestamps and dates ISO 8601 text, Decimals numbers, sets lists; NaN, ±inf, ``NaT``, ``pd.NA`` become
``null`` (the store's rule: JSON has no such numbers, and NaN is missing). Text is never parsed: ``"007"`` stays
``"007"``. Only objects none of these cover fall back to ``str``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np


def jsonable(o: Any) -> Any:
    """The JSON-native value for ``o``, an object :mod:`json` cannot encode itself (its ``default=`` hook).

    Args:
        o: any object; containers returned hold only JSON-native values.

    Returns:
        An int, float (None when not finite), bool, str, list, dict or None.
    """
    import pandas as pd  # here, not at the top: the API's event path imports this module and needs no pandas

    if o is None or o is pd.NA or o is pd.NaT:
        return None
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        f = float(o)
        return f if math.isfinite(f) else None
    if isinstance(o, np.datetime64 | np.timedelta64):
        return None if np.isnat(o) else jsonable(pd.Timestamp(o) if isinstance(o, np.datetime64) else pd.Timedelta(o))
    if isinstance(o, datetime | date | time):  # pd.Timestamp is a datetime
        return o.isoformat()
    if isinstance(o, timedelta):  # pd.Timedelta is a timedelta
        return pd.Timedelta(o).isoformat()
    if isinstance(o, Decimal):
        if not o.is_finite():
            return None
        return int(o) if o.as_tuple().exponent >= 0 else float(o)  # type: ignore[operator]
    if isinstance(o, np.ndarray | pd.Series | pd.api.extensions.ExtensionArray):
        return _finite(o.tolist())
    if isinstance(o, set | frozenset):
        return _finite(list(o))
    if isinstance(o, Mapping):
        return _finite(dict(o))
    if isinstance(o, np.generic):  # np.str_ / np.bytes_ and the like
        return jsonable(o.item()) if _foreign(o.item()) else o.item()
    return str(o)


def _foreign(x: Any) -> bool:
    """Whether ``x`` is outside what :mod:`json` encodes natively."""
    return not (x is None or isinstance(x, str | int | float | list | tuple | dict)) or isinstance(x, np.generic)


def _finite(v: Any) -> Any:
    """``v`` with every NaN and ±inf float as None, and every mapping key as JSON allows it (recursively)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, Mapping):
        return {_key(k): _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    if _foreign(v):
        return jsonable(v)
    return v


def _key(k: Any) -> Any:
    if k is None or isinstance(k, str | int | float | bool) and not isinstance(k, np.generic):
        return k
    v = jsonable(k)
    return v if isinstance(v, str | int | float | bool) or v is None else str(v)


def dumps(value: Any, *, compact: bool = True, indent: int | None = None) -> str:
    """``value`` as JSON text, numbers as numbers (see the module's rules); UTF-8 characters kept as they are.

    Args:
        value: any value; nested dicts, lists, numpy and pandas values included.
        compact: no spaces after ``,`` and ``:`` (how the store keeps JSON); False: ``json.dumps``' default layout.
        indent: pretty-print with this indent (implies the default layout).

    Returns:
        The JSON text; NaN and ±inf anywhere in ``value`` are ``null``.
    """
    seps = (",", ":") if compact and indent is None else None
    try:  # the common case in C: only values json cannot encode reach jsonable
        return json.dumps(value, ensure_ascii=False, separators=seps, indent=indent, default=jsonable, allow_nan=False)
    except (ValueError, TypeError):  # NaN/±inf inside, or a key json refuses (a numpy number, a date)
        return json.dumps(_finite(value), ensure_ascii=False, separators=seps, indent=indent, default=jsonable,
                          allow_nan=False)


def plain(value: Any) -> Any:
    """``value`` as JSON-native Python values (what :func:`dumps` would write, read back): for ORM JSON columns."""
    return json.loads(dumps(value))


def utc_iso(value: Any) -> str | None:
    """A stored timestamp as ISO 8601 UTC text, the same from either database.

    Args:
        value: a ``datetime`` / ``pd.Timestamp`` (PostgreSQL gives them aware, SQLite naive: naive means UTC), the text
            SQLite gives back through a plain query, or None / NaT.

    Returns:
        ``"2026-12-07T01:00:00+00:00"``-style text, or None.
    """
    import pandas as pd

    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        return None
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).isoformat()
