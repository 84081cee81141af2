"""``persona text sentiment|keywords|quality``: review sentiment, keywords/aspects and product signals."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit, settings_for

app = typer.Typer(help="Review text: sentiment (en, zh), keywords and aspects per product, product quality.",
                  no_args_is_help=True)

LangOpt = Annotated[str, typer.Option("--lang", help="Language: auto (per review), en or zh.")]


def _open_store(workspace: Path | None) -> Any:
    from persona.store import open_store

    return open_store(settings_for(workspace))


def _read_texts(path: Path) -> list[str]:
    """Reviews of a file: CSV/TSV with a 'text' (or 'review'/'reviewText') column, JSON lines, or one per line."""
    import pandas as pd

    from persona.errors import DataFileError, SchemaError
    from persona.text.corpora import read_utf8_text

    raw = read_utf8_text(path, hint="pass a CSV/TSV with a text column, JSON lines, or a .txt")
    lines = [ln for ln in raw.splitlines() if ln.strip()]
    if not lines:
        raise DataFileError(f"{path} is empty", hint="put one review per line, or a CSV with a text column")
    names = ("text", "review", "reviewtext", "review_text", "content", "comment", "body")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        try:
            recs = [json.loads(ln) for ln in lines]
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{path} is not JSON lines: {exc.msg}") from exc
        keys = {k.lower(): k for r in recs[:1] for k in r}
        key = next((keys[n] for n in names if n in keys), None)
        if key is None:
            raise SchemaError(f"{path}: no text field among {sorted(keys.values())}", hint=f"name it one of {names}")
        return [str(r.get(key) or "") for r in recs]
    if suffix in (".csv", ".tsv"):
        delim = "\t" if suffix == ".tsv" or "\t" in lines[0] else ","
        try:  # parse the text already decoded (and checked to be UTF-8) above
            df = pd.read_csv(io.StringIO(raw), sep=delim, dtype=str, keep_default_na=False, engine="python",
                             quoting=csv.QUOTE_NONE if delim == "\t" else csv.QUOTE_MINIMAL)
        except (pd.errors.ParserError, ValueError) as exc:
            raise DataFileError(f"cannot parse {path}: {exc}", hint="use a CSV or TSV with a text column") from exc
        cols = {str(c).strip().lower(): c for c in df.columns}
        key = next((cols[n] for n in names if n in cols), None)
        if key is None:
            raise SchemaError(f"{path}: no text column among {list(df.columns)}", hint=f"name it one of {names}")
        return df[key].astype(str).tolist()
    return lines


def _check_output(output: Path) -> None:
    """Refuse an --output that cannot be written before any scoring is done."""
    from persona.errors import InputError

    if output.is_dir():
        raise InputError(f"--output {output} is a folder, not a file", hint="name a CSV file, e.g. --output scores.csv")
    if not output.parent.is_dir():
        raise InputError(f"--output {output}: folder {output.parent} does not exist", hint="create it first or name another file")


@app.command("sentiment")
def sentiment(
    path: Annotated[Path | None, typer.Argument(help="Reviews file (CSV/TSV with a text column, JSON lines, or one review per line). Without FILE or --text: the workspace's reviews.")] = None,
    text: Annotated[str | None, typer.Option("--text", help="Score this one text.")] = None,
    lang: LangOpt = "auto",
    only_unscored: Annotated[bool, typer.Option("--only-unscored", help="Workspace: score only reviews without a score yet.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="FILE mode: write the scores as CSV here.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sentiment in [-1, 1] of one text, of a file of reviews, or of the workspace's reviews (written to reviews.sentiment)."""
    import numpy as np
    import pandas as pd

    from persona.errors import InputError
    from persona.text.language import check_lang, detect_languages
    from persona.text.sentiment import score_texts

    code = check_lang(lang)
    if text is not None and path is not None:
        raise InputError("pass either FILE or --text, not both", hint="score a file, or one text with --text")
    if text is not None or path is not None:
        if output is not None:
            _check_output(output)
        texts = [text] if text is not None else _read_texts(path)  # type: ignore[arg-type]
        scores = score_texts(texts, lang=code)
        langs = detect_languages(texts) if code == "auto" else np.full(len(texts), code, dtype=object)
        rows = [{"text": t, "lang": lg, "sentiment": round(float(s), 4), "label": "positive" if s > 0 else "negative"}
                for t, lg, s in zip(texts, langs, scores, strict=True)]
        if text is not None:
            emit(rows[0], as_json, title="sentiment")
            return
        if output is not None:
            tmp = output.with_name(f".{output.name}.tmp")
            try:  # whole or not at all: a failed or interrupted write leaves no half-written --output
                pd.DataFrame(rows).to_csv(tmp, index=False)
                tmp.replace(output)
            finally:
                tmp.unlink(missing_ok=True)
        summary = {"n": len(rows), "mean_sentiment": float(np.mean(scores)) if len(rows) else None,
                   "share_negative": float(np.mean(scores <= 0)) if len(rows) else None}
        if as_json:
            emit({**summary, "output": str(output) if output else None, "reviews": rows}, True)
            return
        emit([{**r, "text": r["text"][:80]} for r in rows[:30]], False, title=f"sentiment of {path}",
             columns=["sentiment", "label", "lang", "text"])
        console.print(f"{summary['n']:,} reviews, mean {summary['mean_sentiment']:.3f}, "
                      f"{summary['share_negative']:.1%} negative" + (f"; written to {output}" if output else ""))
        return
    from persona.text.reviews import score_reviews

    store = _open_store(workspace)
    try:
        scored = score_reviews(store, lang=code, only_unscored=only_unscored, progress=not as_json)
    finally:
        store.dispose()
    s = scored["sentiment"].dropna() if len(scored) else pd.Series(dtype=float)
    out = {
        "n_scored": int(s.size),
        "n_empty": int(len(scored) - s.size),
        "mean_sentiment": float(s.mean()) if s.size else None,
        "share_negative": float((s < 0).mean()) if s.size else None,
        "by_lang": {str(k): int(v) for k, v in scored["lang"].value_counts().items()} if len(scored) else {},
    }
    emit(out, as_json, title="reviews scored (reviews.sentiment)")


@app.command("keywords")
def keywords(
    product: Annotated[str | None, typer.Option("--product", help="Only this product id.")] = None,
    k: Annotated[int, typer.Option("--k", help="Keywords per product.")] = 10,
    aspects: Annotated[bool, typer.Option("--aspects", help="Also the sentiment of each keyword used as an aspect.")] = False,
    lang: LangOpt = "auto",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Top keywords (class-based TF-IDF) of each product's reviews, and optionally aspect sentiment."""
    from persona.errors import NotFoundError
    from persona.text.keywords import aspect_sentiment, product_keywords

    store = _open_store(workspace)
    try:
        reviews = store.read_frame("SELECT product_id, text, lang FROM reviews")
    finally:
        store.dispose()
    kw = product_keywords(reviews, k=k, lang=lang)
    if product is not None:
        if product not in set(reviews["product_id"].astype(str)):
            raise NotFoundError(f"no reviews for product {product!r}", hint="list products with reviews via `persona text quality`")
        kw = kw[kw["product_id"] == product]
    asp = None
    if aspects:
        sub = reviews if product is None else reviews[reviews["product_id"].astype(str) == product]
        asp = aspect_sentiment(sub, k=k, lang=lang, min_mentions=1)
    if as_json:
        out: dict[str, Any] = {"keywords": kw.to_dict(orient="records")}
        if asp is not None:
            out["aspects"] = asp.to_dict(orient="records")
        emit(out, True)
        return
    grouped = [{"product_id": pid, "keywords": ", ".join(g["term"])} for pid, g in kw.groupby("product_id", sort=True)]
    emit(grouped[:50], False, title="top keywords per product", columns=["product_id", "keywords"])
    if asp is not None:
        emit(asp.head(60), False, title="aspect sentiment")


@app.command("quality")
def quality(
    top: Annotated[int, typer.Option("--top", help="Rows to show (best and worst).", min=1)] = 20,
    min_reviews: Annotated[int, typer.Option("--min-reviews", help="Leave out products with fewer reviews.", min=1)] = 1,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Product quality from reviews: average sentiment, share negative, average rating."""
    from persona.text.reviews import product_quality

    store = _open_store(workspace)
    try:
        pq = product_quality(store, min_reviews=min_reviews)
    finally:
        store.dispose()
    if as_json:
        emit(pq.to_dict(orient="records"), True)
        return
    emit(pq.head(top), False, title="best products by review sentiment")
    if len(pq) > top:
        emit(pq.tail(top).iloc[::-1], False, title="worst products by review sentiment")


@app.command("info")
def info(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """The shipped sentiment models: size, vocabulary and their held-out figures."""
    from persona.text.sentiment import default_weights_path, load_default

    out = []
    for code in ("en", "zh"):
        p = default_weights_path(code)
        m = load_default(code)
        out.append({"lang": code, "file": p.name, "size_kb": round(p.stat().st_size / 1024, 1),
                    "features": int(m.n_features_), "metrics": m.metrics_})
    if as_json:
        emit(out, True)
        return
    rows = []
    for r in out:
        h = r["metrics"].get("holdout", {})
        rows.append({"lang": r["lang"], "size_kb": r["size_kb"], "features": r["features"], "held-out n": h.get("n"),
                     "accuracy": h.get("accuracy"), "macro_f1": h.get("macro_f1"),
                     "balanced_acc": h.get("balanced_accuracy")})
    emit(rows, False, title="shipped sentiment models (figures on their held-out 20 %)")
