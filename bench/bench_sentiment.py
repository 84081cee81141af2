"""Review sentiment: Persona vs VADER (English), SnowNLP (Chinese) and a plain TF-IDF + LR baseline.

Measured in one run on the fixed held-out 20 % (stratified, seed 42) of each training corpus, plus the
hand-written cross-domain sanity set of tests/text (electronics, clothing, food, hotels). Persona uses
its shipped weights, which were fitted on the other 80 % only. The plain baseline (TF-IDF word 1-2-grams
+ logistic regression, scikit-learn defaults) is fitted here on the same 80 %.

SnowNLP's bundled classifier was trained on the whole corpus that reviews-zh comes from, held-out
part included, so its held-out figure is NOT a fair comparison (it has seen those reviews).

    .venv/bin/python bench/bench_sentiment.py [--json] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from persona.text.corpora import holdout_split, load_amazon_beauty, load_reviews_zh  # noqa: E402
from persona.text.evaluation import evaluate_scorer  # noqa: E402
from persona.text.sentiment import load_default, score_texts  # noqa: E402
from persona.text.tokenize import tokenize_zh  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CROSS = ROOT / "tests" / "text" / "cross_domain_reviews.json"


def vader_scorer() -> Callable[[list[str]], np.ndarray] | None:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return None
    v = SentimentIntensityAnalyzer()
    # VADER's documented rule: compound >= 0.05 positive; shift so that score > 0 means positive.
    return lambda texts: np.array([v.polarity_scores(t)["compound"] - 0.0499 for t in texts])


def snownlp_scorer() -> Callable[[list[str]], np.ndarray] | None:
    try:
        from snownlp import SnowNLP
    except ImportError:
        return None
    return lambda texts: np.array([2 * SnowNLP(t).sentiments - 1 if t.strip() else 0.0 for t in texts])


def tfidf_lr_scorer(train_texts: list[str], y: np.ndarray, lang: str) -> Callable[[list[str]], np.ndarray]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    if lang == "zh":
        vec = TfidfVectorizer(tokenizer=lambda t: tokenize_zh(t, negation=False), token_pattern=None, lowercase=False,
                              ngram_range=(1, 2))
    else:
        vec = TfidfVectorizer(ngram_range=(1, 2))
    pipe = make_pipeline(vec, LogisticRegression(max_iter=2000)).fit(train_texts, y)
    return lambda texts: 2 * pipe.predict_proba(texts)[:, 1] - 1


def run(limit: int | None) -> list[dict]:
    rows: list[dict] = []
    cross = json.loads(CROSS.read_text(encoding="utf-8"))
    for lang, (rel, loader) in {"en": ("amazon-beauty/All_Beauty_5.json", load_amazon_beauty),
                                "zh": ("reviews-zh/train.tsv", load_reviews_zh)}.items():
        tr, te = holdout_split(loader(DATA / rel))
        if limit:
            te = te.groupby("label", group_keys=False).apply(lambda g: g.head(limit // 2))
        load_default(lang)  # load time is reported by `persona text info`, not counted as throughput
        baseline = tfidf_lr_scorer(tr["text"].tolist(), tr["label"].to_numpy(), lang)
        systems: dict[str, Callable | None] = {
            "persona": lambda texts, lang=lang: score_texts(texts, lang=lang),
            "tfidf+lr (plain)": baseline,
        }
        if lang == "en":
            systems["vader"] = vader_scorer()
        else:
            systems["snownlp (saw held-out: unfair)"] = snownlp_scorer()
        cx = [t for _, t in cross[lang]]
        cy = np.array([label for label, _ in cross[lang]])
        for name, scorer in systems.items():
            if scorer is None:
                rows.append({"lang": lang, "system": name, "set": "-", "note": "not installed"})
                continue
            for set_name, texts, y in (("held-out", te["text"].tolist(), te["label"].to_numpy()),
                                       ("cross-domain", cx, cy)):
                t0 = time.perf_counter()
                rep = evaluate_scorer(scorer, texts, y)
                rows.append({"lang": lang, "system": name, "set": set_name, "n": rep["n"],
                             "negatives": rep["n_negative"], "accuracy": rep["accuracy"],
                             "macro_f1": rep["macro_f1"], "balanced_accuracy": rep["balanced_accuracy"],
                             "neg_recall": rep["negative"]["recall"], "roc_auc": rep.get("roc_auc"),
                             "reviews_per_s": rep["reviews_per_second"],
                             "seconds": round(time.perf_counter() - t0, 2)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--limit", type=int, default=None, help="at most N held-out reviews per language (quick runs)")
    args = ap.parse_args(argv)
    rows = run(args.limit)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    cols = ["lang", "system", "set", "n", "negatives", "accuracy", "macro_f1", "balanced_accuracy", "neg_recall",
            "roc_auc", "reviews_per_s"]
    widths = [4, 31, 12, 5, 9, 8, 8, 17, 10, 7, 13]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for r in rows:
        cells = []
        for c, w in zip(cols, widths, strict=True):
            v = r.get(c, r.get("note", "") if c == "set" else "")
            cells.append((f"{v:.3f}" if isinstance(v, float) and c != "reviews_per_s" else
                          (f"{v:,.0f}" if isinstance(v, float) else str(v if v is not None else "")))[:w].ljust(w))
        print("  ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
