"""Numbers and time stamps as people read them, the same in the dashboard, the report and the command line."""

from __future__ import annotations

from typing import Any

from persona.jsonvalues import utc_iso


def number(v: float | None, *, sign: bool = False) -> str:
    """A value as people read it: ``81,200`` and ``237,625`` (never ``8.12e+04``), ``31.98``, ``0.4271``, ``-0.031``;
    ``sign``: with its + or − (an effect)."""
    if v is None:
        return "–"
    v = float(v)
    if v != v:
        return "n/a"
    if abs(v) < 1e-12:  # float noise around zero (1.08e-19) is zero
        v = 0.0
    plus = "+" if sign and v > 0 else ""
    if abs(v) >= 1000 or (v.is_integer() and abs(v) < 1e15):
        return f"{plus}{v:,.0f}"
    if abs(v) >= 1:  # money and counts per day: two decimals at most (31.98, 32.7)
        return plus + f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{plus}{v:.4g}" if abs(v) >= 1e-4 else f"{plus}{v:.2e}"


def when(value: Any) -> str:
    """A stored time stamp as people read it: ``2025-11-29 06:31:16 UTC`` (either database; '' when none)."""
    iso = utc_iso(value)
    return "" if iso is None else f"{iso[:10]} {iso[11:19]} UTC"
