"""Tiny server-side SVG charts (bars, lines, intervals) so the dashboard needs no JavaScript build."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from persona.display import number

PALETTE = ("#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#ca8a04", "#4b5563")


def bars(labels: Sequence[str], values: Sequence[float], *, width: int = 640, bar_h: int = 22, unit: str = "") -> str:
    """Horizontal bar chart."""
    if not values:
        return "<p class='muted'>no data</p>"
    top = max(max(values), 1e-9)
    label_w = 200
    h = bar_h * len(values) + 10
    parts = [f"<svg role='img' class='chart' width='{width}' height='{h}' viewBox='0 0 {width} {h}'>"]
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        y = 5 + i * bar_h
        w = (width - label_w - 90) * (v / top)
        parts.append(f"<text x='{label_w - 6}' y='{y + bar_h * 0.65:.1f}' text-anchor='end' font-size='12'>{escape(str(lab))[:32]}</text>")
        parts.append(f"<rect x='{label_w}' y='{y + 3}' width='{max(w, 1):.1f}' height='{bar_h - 6}' fill='{PALETTE[i % len(PALETTE)]}'/>")
        parts.append(f"<text x='{label_w + w + 4:.1f}' y='{y + bar_h * 0.65:.1f}' font-size='12'>{number(v)}{unit}</text>")
    parts.append("</svg>")
    return "".join(parts)


def line(xs: Sequence[str], series: dict[str, Sequence[float]], *, width: int = 640, height: int = 200) -> str:
    """Line chart of one or more series over the same x labels."""
    if not xs or not series:
        return "<p class='muted'>no data</p>"
    top = max(max((max(v) if len(v) else 0) for v in series.values()), 1e-9)
    pad_l, pad_b = 40, 22
    iw, ih = width - pad_l - 10, height - pad_b - 10
    n = max(len(xs) - 1, 1)
    out = [f"<svg role='img' class='chart' width='{width}' height='{height}' viewBox='0 0 {width} {height}'>",
           f"<line x1='{pad_l}' y1='{10 + ih}' x2='{pad_l + iw}' y2='{10 + ih}' stroke='#999'/>",
           f"<text x='4' y='16' font-size='11'>{number(top)}</text>"]
    for j, (name, vals) in enumerate(series.items()):
        pts = " ".join(f"{pad_l + iw * i / n:.1f},{10 + ih - ih * (v / top):.1f}" for i, v in enumerate(vals))
        color = PALETTE[j % len(PALETTE)]
        out.append(f"<polyline fill='none' stroke='{color}' stroke-width='1.8' points='{pts}'/>")
        out.append(f"<text x='{pad_l + 8 + 110 * j}' y='{height - 4}' font-size='11' fill='{color}'>{escape(name)}</text>")
    out.append(f"<text x='{pad_l + iw}' y='{height - 4}' font-size='10' text-anchor='end'>{escape(xs[0])} … {escape(xs[-1])}</text>")
    out.append("</svg>")
    return "".join(out)


def intervals(labels: Sequence[str], est: Sequence[float], lo: Sequence[float], hi: Sequence[float], *, width: int = 640,
              row_h: int = 26) -> str:
    """Point estimates with confidence intervals around a zero line."""
    if not est:
        return "<p class='muted'>no data</p>"
    span = max(max(abs(x) for x in list(lo) + list(hi)), 1e-9)
    label_w = 160
    iw = width - label_w - 20
    h = row_h * len(est) + 20
    zx = label_w + iw / 2
    out = [f"<svg role='img' class='chart' width='{width}' height='{h}' viewBox='0 0 {width} {h}'>",
           f"<line x1='{zx}' y1='0' x2='{zx}' y2='{h}' stroke='#999' stroke-dasharray='3,3'/>"]
    for i, (lab, e, a, b) in enumerate(zip(labels, est, lo, hi, strict=True)):
        y = 12 + i * row_h

        def x(v: float) -> float:
            return zx + (iw / 2) * v / span

        color = "#16a34a" if a > 0 else "#dc2626" if b < 0 else "#4b5563"
        out.append(f"<text x='{label_w - 6}' y='{y + 4}' text-anchor='end' font-size='12'>{escape(lab)}</text>")
        out.append(f"<line x1='{x(a):.1f}' y1='{y}' x2='{x(b):.1f}' y2='{y}' stroke='{color}' stroke-width='3'/>")
        out.append(f"<circle cx='{x(e):.1f}' cy='{y}' r='5' fill='{color}'/>")
        out.append(f"<text x='{x(b) + 6:.1f}' y='{y + 4}' font-size='11'>{number(e, sign=True)} [{number(a, sign=True)}, {number(b, sign=True)}]</text>")
    out.append("</svg>")
    return "".join(out)
