"""The workspace side of review text: score the reviews table, and derive product and customer signals."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, update

from persona.store.models import Review
from persona.text.language import check_lang, detect_languages
from persona.text.sentiment import score_texts

log = logging.getLogger(__name__)

NEGATIVE_BELOW = 0.0  # a review is negative when its score in [-1, 1] is below this


def read_reviews(store: Any, *, only_unscored: bool = False) -> pd.DataFrame:
    """Reviews of the workspace ``[review_id, customer_id, product_id, rating, text, lang, sentiment]``."""
    sql = "SELECT review_id, customer_id, product_id, rating, text, lang, sentiment FROM reviews"
    if only_unscored:
        sql += " WHERE sentiment IS NULL"
    return store.read_frame(sql)


def score_frame(reviews: pd.DataFrame, *, lang: str = "auto", chunk_size: int = 5000,
                progress: bool = False) -> pd.DataFrame:
    """Add ``lang`` (detected where missing) and ``sentiment`` in [-1, 1] to a reviews DataFrame.

    Args:
        reviews: DataFrame with a ``text`` column (``lang`` optional: used when ``lang="auto"``).
        lang: ``"en"``, ``"zh"`` or ``"auto"``.
        chunk_size: reviews scored per batch.
        progress: show a Rich progress bar.

    Returns:
        A copy with ``lang`` and ``sentiment`` columns (empty texts get ``NaN`` sentiment).
    """
    lang = check_lang(lang)
    out = reviews.copy()
    texts = out["text"].fillna("").astype(str).tolist()
    if lang == "auto":
        langs = detect_languages(texts)
        if "lang" in out.columns:
            given = out["lang"].fillna("").astype(str).str.lower().str[:2].to_numpy()
            langs = np.where(np.isin(given, ["en", "zh"]), given, langs)
    else:
        langs = np.full(len(texts), lang, dtype=object)
    scores = np.full(len(texts), np.nan)
    starts = range(0, len(texts), max(1, chunk_size))
    bar = None
    if progress and len(texts) > chunk_size:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("scoring reviews", total=len(texts))
    try:
        for s in starts:
            e = min(s + chunk_size, len(texts))
            for code in ("en", "zh"):
                idx = [i for i in range(s, e) if langs[i] == code and texts[i].strip()]
                if idx:
                    scores[idx] = score_texts([texts[i] for i in idx], lang=code)
            if bar is not None:
                bar.update(task, advance=e - s)
    finally:
        if bar is not None:
            bar.stop()
    out["lang"] = langs
    out["sentiment"] = scores
    return out


def write_sentiment(store: Any, scored: pd.DataFrame, *, chunk_size: int = 5000) -> int:
    """Write ``sentiment`` (and ``lang``) of scored reviews into ``reviews``; returns rows updated."""
    rows = [
        {"rid": str(r), "s": None if pd.isna(s) else float(s), "l": str(lg)}
        for r, s, lg in zip(scored["review_id"], scored["sentiment"], scored["lang"], strict=True)
    ]
    stmt = (update(Review).where(Review.review_id == bindparam("rid"))
            .values(sentiment=bindparam("s"), lang=bindparam("l")))
    n = 0
    for s in range(0, len(rows), chunk_size):
        batch = rows[s : s + chunk_size]
        with store.engine.begin() as conn:
            conn.execute(stmt, batch)
        n += len(batch)
    return n


def score_reviews(store: Any, *, lang: str = "auto", only_unscored: bool = False,
                  progress: bool = False) -> pd.DataFrame:
    """Score the workspace's reviews and store the scores in ``reviews.sentiment``.

    Args:
        store: the workspace store.
        lang: ``"en"``, ``"zh"`` or ``"auto"``.
        only_unscored: score only reviews whose sentiment is still empty (incremental runs).
        progress: show a progress bar.

    Returns:
        The scored reviews (``review_id, customer_id, product_id, rating, text, lang, sentiment``).
    """
    reviews = read_reviews(store, only_unscored=only_unscored)
    if reviews.empty:
        return reviews.assign(sentiment=pd.Series(dtype=float))
    scored = score_frame(reviews, lang=lang, progress=progress)
    n = write_sentiment(store, scored)
    log.info("scored reviews n=%d negative=%d", n, int((scored["sentiment"] < NEGATIVE_BELOW).sum()))
    return scored


def _with_scores(store: Any) -> pd.DataFrame:
    reviews = read_reviews(store)
    missing = reviews["sentiment"].isna() & reviews["text"].fillna("").str.strip().ne("")
    if missing.any():
        part = score_frame(reviews[missing])
        reviews.loc[missing, "sentiment"] = part["sentiment"].to_numpy()
    return reviews


def product_quality(store: Any, *, min_reviews: int = 1) -> pd.DataFrame:
    """A product quality signal from its reviews: average sentiment, share negative, average rating.

    Reviews not yet scored are scored on the fly (not written back; ``persona text sentiment`` does that).

    Args:
        store: the workspace store.
        min_reviews: leave out products with fewer scored reviews.

    Returns:
        DataFrame ``[product_id, n_reviews, avg_sentiment, share_negative, avg_rating, quality]``
        sorted by ``quality`` (a shrunken average sentiment: few reviews pull it toward the overall mean).
    """
    cols = ["product_id", "n_reviews", "avg_sentiment", "share_negative", "avg_rating", "quality"]
    reviews = _with_scores(store).dropna(subset=["sentiment"])
    if reviews.empty:
        return pd.DataFrame(columns=cols)
    g = reviews.groupby("product_id")
    out = pd.DataFrame({
        "n_reviews": g.size(),
        "avg_sentiment": g["sentiment"].mean(),
        "share_negative": g["sentiment"].apply(lambda s: float((s < NEGATIVE_BELOW).mean())),
        "avg_rating": g["rating"].mean(),
    }).reset_index()
    prior, strength = float(reviews["sentiment"].mean()), 5.0  # empirical-Bayes style shrinkage
    out["quality"] = (out["avg_sentiment"] * out["n_reviews"] + prior * strength) / (out["n_reviews"] + strength)
    out = out[out["n_reviews"] >= min_reviews]
    return out.sort_values(["quality", "product_id"], ascending=[False, True]).reset_index(drop=True)[cols]


def customer_sentiment(store: Any) -> pd.DataFrame:
    """Average review sentiment per customer ``[customer_id, n_reviews, avg_sentiment, share_negative]``."""
    cols = ["customer_id", "n_reviews", "avg_sentiment", "share_negative"]
    reviews = _with_scores(store).dropna(subset=["sentiment"])
    if reviews.empty:
        return pd.DataFrame(columns=cols)
    g = reviews.groupby("customer_id")["sentiment"]
    return pd.DataFrame({"n_reviews": g.size(), "avg_sentiment": g.mean(),
                         "share_negative": g.apply(lambda s: float((s < NEGATIVE_BELOW).mean()))}).reset_index()[cols]
