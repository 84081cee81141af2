"""Stage ``text``: score the reviews (reviews.sentiment), product quality signals and keywords per product."""

from __future__ import annotations

import html
import logging
from typing import Any

import numpy as np
import pandas as pd

from persona.pipeline.stage import RunContext, Section, Stage, StageResult

log = logging.getLogger(__name__)


def _table(df: pd.DataFrame, columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r[c]))}</td>" for c in columns) + "</tr>" for _, r in df.iterrows()
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float | np.floating):
        return f"{float(v):.3f}"
    return str(v)


def _plot(scored: pd.DataFrame) -> Any:
    """Sentiment by star rating (box plot) and the share of negative reviews per rating."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    rated = scored.dropna(subset=["rating", "sentiment"])
    stars = sorted(rated["rating"].round().astype(int).unique())
    if stars:
        data = [rated.loc[rated["rating"].round() == s, "sentiment"].to_numpy() for s in stars]
        axes[0].boxplot(data, showfliers=False)
        axes[0].set_xticks(range(1, len(stars) + 1), [str(s) for s in stars])
        neg = [float((d < 0).mean()) if len(d) else 0.0 for d in data]
        axes[1].bar([str(s) for s in stars], neg, color="#c0504d")
    axes[0].set_xlabel("star rating")
    axes[0].set_ylabel("review sentiment (-1 … 1)")
    axes[0].set_title("Sentiment vs rating")
    axes[1].set_xlabel("star rating")
    axes[1].set_ylabel("share of negative reviews")
    axes[1].set_title("Negative reviews per rating")
    fig.tight_layout()
    return fig


def run_text(ctx: RunContext) -> StageResult:
    """Score every review, store the scores, and summarise sentiment, product quality and keywords."""
    from persona.text.keywords import product_keywords
    from persona.text.reviews import product_quality, score_reviews

    if ctx.store.count("reviews") == 0:
        return StageResult(status="skipped", message="no reviews in the store")
    scored = score_reviews(ctx.store, progress=ctx.progress)
    s = scored["sentiment"]
    rated = scored.dropna(subset=["rating", "sentiment"])
    corr = float(rated["rating"].corr(rated["sentiment"], method="spearman")) if len(rated) > 2 else None
    agree = None
    polar = rated[rated["rating"] != 3]
    if len(polar):
        agree = float(((polar["rating"] >= 4) == (polar["sentiment"] > 0)).mean())
    quality = product_quality(ctx.store)
    kw = product_keywords(scored, k=8)
    ctx.artifacts["review_sentiment"] = scored[["review_id", "customer_id", "product_id", "sentiment"]]
    ctx.artifacts["product_quality"] = quality
    ctx.artifacts["product_keywords"] = kw
    figures = {
        "reviews": int(len(scored)),
        "scored": int(s.notna().sum()),
        "by_lang": {str(k): int(v) for k, v in scored["lang"].value_counts().items()},
        "mean_sentiment": float(s.mean()),
        "share_negative": float((s < 0).mean()),
        "spearman_rating_sentiment": corr,
        "agreement_with_rating": agree,
        "products": int(len(quality)),
    }
    kw_top = (kw[kw["product_id"].isin(quality["product_id"].head(5).tolist() + quality["product_id"].tail(5).tolist())]
              .groupby("product_id")["term"].apply(lambda t: ", ".join(t.head(6))).rename("keywords"))
    show = pd.concat([quality.head(5), quality.tail(5)]).drop_duplicates("product_id").merge(
        kw_top, left_on="product_id", right_index=True, how="left")
    text = (
        f"<p>{figures['scored']:,} reviews scored ({', '.join(f'{k}: {v:,}' for k, v in figures['by_lang'].items())}); "
        f"mean sentiment {figures['mean_sentiment']:.3f}, {figures['share_negative']:.1%} negative. "
        + (f"Spearman correlation with the star rating {corr:.3f}; " if corr is not None else "")
        + (f"sentiment sign agrees with the rating (4-5 vs 1-2 stars) for {agree:.1%} of reviews." if agree is not None else "")
        + "</p><p>Best and worst products by review sentiment (shrunk toward the mean when they have few reviews):</p>"
        + _table(show, ["product_id", "n_reviews", "avg_sentiment", "share_negative", "avg_rating", "keywords"])
    )
    section = Section(title="Review sentiment", html=text)
    section.add_figure(_plot(scored))
    return StageResult(figures=figures, sections=[section])


TEXT = Stage(name="text", title="Review text", run=run_text, requires=("ingest",))
