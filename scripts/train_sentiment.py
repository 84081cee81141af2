"""Train the shipped sentiment weights (src/persona/text/weights/sentiment_{en,zh}.npz), reproducibly.

Data (only these): ../shared/data/reviews-zh/train.tsv and the de-duplicated
../shared/data/amazon-beauty/All_Beauty_5.json (4-5 stars positive, 1-2 negative, 3 dropped).
Each is split 80/20, stratified by label, seed 42 (``persona.text.corpora.holdout_split``); the model is
fitted on the 80 % only, so the held-out figures printed here (and stored in the weights) are honest.

    .venv/bin/python scripts/train_sentiment.py            # both languages, writes the weights
    .venv/bin/python scripts/train_sentiment.py --lang en --cv 5 --dry-run --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from persona.text.corpora import class_counts, holdout_split, load_amazon_beauty, load_reviews_zh  # noqa: E402
from persona.text.evaluation import classification_report  # noqa: E402
from persona.text.sentiment import SentimentModel, default_weights_path  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SOURCES = {
    "en": ("amazon-beauty/All_Beauty_5.json", load_amazon_beauty),
    "zh": ("reviews-zh/train.tsv", load_reviews_zh),
}
# Chosen for held-out quality *and* transfer to other shops. English: only ~45 negative training
# reviews, so a modest C with the lexicon block scaled up (lexicon_weight 3) keeps beauty-specific
# n-grams from overruling the general signal on products the corpus never mentions; balanced class
# weights teach the negatives, and positive_prior 0.6 (most shop reviews are positive) moves the
# decision back a little toward the usual mix. Chinese: the corpus is balanced and broad (books,
# hotels, laptops), so a weaker regularization wins held-out and the prior stays 0.5. Its bag-of-words
# models all plateau near 0.85 (jieba words, char n-grams, LR, NB-SVM alike); averaging the TF-IDF model
# with an NB-SVM companion over the same vocabularies (nb_C 0.1, mix 0.5) adds ~0.7 point in 5-fold CV on
# the 80 % (0.8476 -> 0.8548; C and mix chosen there, never on the held-out 20 %).
PARAMS = {
    "en": {"word_ngrams": 2, "char_ngrams": (2, 5), "min_df": 2, "max_features": 60_000, "lexicon": True,
           "lexicon_weight": 3.0, "C": 1.0, "class_weight": "balanced", "positive_prior": 0.6},
    "zh": {"word_ngrams": 2, "char_ngrams": (1, 3), "min_df": 2, "max_features": 120_000, "lexicon": True,
           "lexicon_weight": 1.0, "C": 4.0, "class_weight": "balanced", "positive_prior": 0.5,
           "nb_C": 0.1, "nb_mix": 0.5},
}


def cross_validate(df, lang: str, folds: int, seed: int) -> dict:
    """Stratified k-fold figures on the whole corpus (a steadier estimate than one small held-out part)."""
    from sklearn.model_selection import StratifiedKFold

    pred = np.zeros(len(df), dtype=int)
    prob = np.zeros(len(df))
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(df["text"], df["label"]):
        m = SentimentModel(lang, seed=seed, **PARAMS[lang]).fit(df["text"].iloc[tr].tolist(), df["label"].to_numpy()[tr])
        p = m.predict_proba(df["text"].iloc[te].tolist())[:, 1]
        prob[te] = p
        pred[te] = (p > 0.5).astype(int)
    return classification_report(df["label"].to_numpy(), pred, prob)


def train(lang: str, *, seed: int, cv: int, dry_run: bool) -> dict:
    rel, loader = SOURCES[lang]
    df = loader(DATA / rel)
    train_df, test_df = holdout_split(df, test_size=0.2, seed=seed)
    t0 = time.perf_counter()
    model = SentimentModel(lang, seed=seed, **PARAMS[lang]).fit(train_df["text"].tolist(), train_df["label"].to_numpy())
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    p = model.predict_proba(test_df["text"].tolist())[:, 1]
    pred_s = time.perf_counter() - t0
    holdout = classification_report(test_df["label"].to_numpy(), (p > 0.5).astype(int), p)
    holdout["reviews_per_second"] = round(len(test_df) / pred_s, 1)
    out = {
        "lang": lang,
        "data": rel,
        "rows": len(df),
        "classes": class_counts(df["label"]),
        "split": {"test_size": 0.2, "seed": seed, "stratified": True, "train": len(train_df), "holdout": len(test_df)},
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in PARAMS[lang].items()},
        "fit_seconds": round(fit_s, 1),
        "holdout": holdout,
    }
    if cv:
        out["cv"] = {"folds": cv, **cross_validate(df, lang, cv, seed)}
    if not dry_run:
        path = model.save(default_weights_path(lang), metrics={k: out[k] for k in ("data", "rows", "classes", "split", "holdout")})
        out["weights"] = str(path.relative_to(ROOT))
        out["weights_kb"] = round(path.stat().st_size / 1024, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lang", choices=["en", "zh", "all"], default="all")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cv", type=int, default=0, help="also report k-fold cross-validation on the whole corpus")
    ap.add_argument("--dry-run", action="store_true", help="do not write the weights")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    langs = ["en", "zh"] if args.lang == "all" else [args.lang]
    results = [train(lang, seed=args.seed, cv=args.cv, dry_run=args.dry_run) for lang in langs]
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for r in results:
            h = r["holdout"]
            print(f"{r['lang']}: rows={r['rows']} {r['classes']} holdout n={h['n']} accuracy={h['accuracy']:.4f} "
                  f"macro_f1={h['macro_f1']:.4f} balanced_accuracy={h['balanced_accuracy']:.4f} "
                  f"roc_auc={h['roc_auc']:.4f} confusion={h['confusion_matrix']} fit={r['fit_seconds']}s "
                  + (f"-> {r['weights']} ({r['weights_kb']} KB)" if "weights" in r else "(not written)"))
            if "cv" in r:
                c = r["cv"]
                print(f"   {c['folds']}-fold CV: accuracy={c['accuracy']:.4f} macro_f1={c['macro_f1']:.4f} "
                      f"balanced_accuracy={c['balanced_accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
