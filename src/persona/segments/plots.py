"""Segment plots for the report: a 2-D PCA scatter and bars of size and revenue share."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def segment_figure(x: np.ndarray, labels: pd.Series, explanation: dict[str, dict[str, Any]], *, title: str, seed: int = 42, sample: int = 5000) -> Any:
    """A matplotlib figure: PCA scatter of a sample (left), size vs revenue share per segment (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    idx = np.arange(len(x)) if len(x) <= sample else np.sort(rng.choice(len(x), sample, replace=False))
    pts = PCA(n_components=2, random_state=seed).fit_transform(x[idx]) if x.shape[1] >= 2 else np.c_[x[idx], np.zeros(len(idx))]
    lab = labels.astype(str).to_numpy()[idx]
    order = sorted(explanation, key=lambda s: -explanation[s]["size"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    cmap = plt.get_cmap("tab20")
    for i, sid in enumerate(order):
        m = lab == sid
        ax1.scatter(pts[m, 0], pts[m, 1], s=6, alpha=0.6, color=cmap(i % 20), label=explanation[sid]["name"][:28])
    ax1.set_title(f"{title}: customers on the first two principal components")
    ax1.set_xlabel("PC1")
    ax1.set_ylabel("PC2")
    ax1.legend(fontsize=7, markerscale=2, loc="best")
    pos = np.arange(len(order))
    ax2.barh(pos - 0.2, [explanation[s]["share"] for s in order], height=0.4, label="customers")
    ax2.barh(pos + 0.2, [explanation[s]["revenue_share"] for s in order], height=0.4, label="revenue")
    ax2.set_yticks(pos, [explanation[s]["name"][:28] for s in order], fontsize=8)
    ax2.invert_yaxis()
    ax2.set_xlabel("share")
    ax2.set_title("size and revenue share")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig
