"""Tables, plots and a standalone HTML page for recommender comparisons."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from persona.persistence import write_text_atomic

#: Columns of a comparison table, in order; a ranking metric ("ndcg") stands for it at whatever list length the
#: rows hold ("ndcg@10", "ndcg@5").
SHOWN = ("map", "ndcg", "precision", "recall", "mrr", "hit_rate", "rmse", "mae", "coverage", "novelty",
         "avg_popularity", "diversity", "fit_s", "recommend_s")


def shown_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The :data:`SHOWN` columns that ``rows`` hold, ``model`` first; a ranking metric at every list length found."""
    keys = list(dict.fromkeys(c for r in rows for c in r))
    return ["model", *[c for s in SHOWN for c in keys if c == s or c.startswith(f"{s}@")]]


def table_html(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """An HTML table of comparison rows (``model`` first), best value per metric in bold."""
    if not rows:
        return "<p>no results</p>"
    cols = list(columns) if columns else shown_columns(rows)
    lower_better = {"fit_s", "recommend_s", "avg_popularity", "rmse", "mae"}
    best: dict[str, float] = {}
    for c in cols[1:]:
        vals = [r[c] for r in rows if isinstance(r.get(c), int | float)]
        if vals:
            best[c] = min(vals) if c in lower_better else max(vals)
    out = ["<table><thead><tr>", *[f"<th>{html.escape(c)}</th>" for c in cols], "</tr></thead><tbody>"]
    for r in rows:
        out.append("<tr>")
        for c in cols:
            v = r.get(c)
            text = f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v))
            if c == "model" and r.get("error"):
                text += f" (failed: {r['error']})"
            cell = html.escape(text)
            if c in best and v == best[c]:
                cell = f"<b>{cell}</b>"
            out.append(f"<td>{cell}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def paired_html(best: str, paired: dict[str, dict[str, Any]]) -> str:
    """How far ``best`` leads each model, paired by user (:meth:`Comparison.versus_best`), as an HTML table."""
    if not paired:
        return ""
    rows = [{"model": name, **{f"{best} − model, {m}": f"{d.diff:+.4f} [{d.low:+.4f}, {d.high:+.4f}] p={d.p:.2g}"
                               for m, d in diffs.items()}} for name, diffs in paired.items()]
    columns = list(dict.fromkeys(c for r in rows for c in r))  # "model" first, then one column per metric
    return (f"<p>Paired by user: how far {html.escape(best)} leads each model, with a 95% confidence interval and "
            "the paired t-test's p-value (an interval that spans zero is a gap this split cannot tell from "
            "noise).</p>" + table_html(rows, columns))


def comparison_figure(rows: Sequence[dict[str, Any]], metrics: Sequence[str] = ("ndcg@10", "recall@10", "precision@10", "map@10"),
                      title: str = "") -> Any:
    """A grouped bar chart of ranking metrics per model (a matplotlib Figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ok = [r for r in rows if not r.get("error")]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(ok) + 3), 3.6))
    x = np.arange(len(ok))
    width = 0.8 / max(len(metrics), 1)
    for j, m in enumerate(metrics):
        ax.bar(x + j * width - 0.4 + width / 2, [r.get(m, 0.0) or 0.0 for r in ok], width, label=m)
    ax.set_xticks(x, [r["model"] for r in ok], rotation=20, ha="right")
    ax.set_ylabel("score")
    ax.set_title(title or "recommenders on the held-out split")
    ax.legend(fontsize=8, ncol=len(metrics))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def timing_figure(rows: Sequence[dict[str, Any]]) -> Any:
    """Fit and recommend seconds per model (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ok = [r for r in rows if not r.get("error")]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(ok) + 3), 3.2))
    x = np.arange(len(ok))
    ax.bar(x - 0.2, [max(r.get("fit_s") or 1e-3, 1e-3) for r in ok], 0.4, label="fit s")
    ax.bar(x + 0.2, [max(r.get("recommend_s") or 1e-3, 1e-3) for r in ok], 0.4, label="recommend s")
    ax.set_yscale("log")
    ax.set_xticks(x, [r["model"] for r in ok], rotation=20, ha="right")
    ax.legend(fontsize=8)
    ax.set_title("time")
    fig.tight_layout()
    return fig


def write_html(path: Path, title: str, sections: Sequence[Any]) -> Path:
    """Write a self-contained page of report sections (``title``, ``html``, base64 ``images``) atomically."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;"
        "font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}td:first-child{text-align:left}"
        "img{max-width:100%;margin:1em 0}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>",
    ]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>{s.html}")
        parts.extend(f"<img src='data:image/png;base64,{img}'>" for img in s.images)
    parts.append("</body></html>")
    return write_text_atomic(path, "".join(parts))
