"""Rating prediction on MovieLens 100K: Persona's ``rating-knn`` beside ``surprise``, in one run on the same split.

``rating-knn`` (baselines plus item-kNN on their residuals) is the algorithm of ``surprise``'s ``KNNBaseline`` with
item-based ``pearson_baseline`` similarity, so the two must give the same RMSE and MAE; the figures to compare are
their times. ``surprise``'s ``BaselineOnly`` (the biases alone) and ``SVD`` (biased matrix factorisation, its
default settings) show where the neighbourhood term stands. Splits: the recommender benchmark's (75% of each item's
ratings train, seed 42) and five random 80/20 folds over all ratings (``surprise``'s usual protocol).

    python bench/bench_ratings.py            # needs the bench extra: pip install -e ".[bench]"
    python bench/bench_ratings.py --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_movielens import DEFAULT_DATA, SEED, load_ml100k, training_set  # noqa: E402

from persona.evaluate import stratified_split  # noqa: E402
from persona.recommend import make_recommender  # noqa: E402


def _errors(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"rmse": float(np.sqrt(np.mean((y - p) ** 2))), "mae": float(np.mean(np.abs(y - p)))}


def persona_row(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """Persona's rating-knn: fit, predict the test pairs."""
    t0 = time.perf_counter()
    model = make_recommender("rating-knn").fit(training_set(train, None))
    t1 = time.perf_counter()
    pred = model.predict_ratings(test["user_id"].tolist(), test["item_id"].tolist())
    t2 = time.perf_counter()
    return {"model": "persona rating-knn", **_errors(test["rating"].to_numpy(), pred), "fit_s": t1 - t0, "predict_s": t2 - t1}


def surprise_rows(train: pd.DataFrame, test: pd.DataFrame) -> list[dict[str, Any]]:
    """surprise's KNNBaseline (same settings as rating-knn), BaselineOnly and SVD, fitted and used directly."""
    import surprise

    data = surprise.Dataset.load_from_df(train[["user_id", "item_id", "rating"]], surprise.Reader(rating_scale=(1, 5)))
    trainset = data.build_full_trainset()
    bsl = {"method": "als", "reg_i": 10, "reg_u": 15, "n_epochs": 10}
    algos = {
        "surprise KNNBaseline": surprise.KNNBaseline(k=40, sim_options={"name": "pearson_baseline", "user_based": False},
                                                     bsl_options=bsl, verbose=False),
        "surprise BaselineOnly": surprise.BaselineOnly(bsl_options=bsl, verbose=False),
        "surprise SVD": surprise.SVD(random_state=SEED),
    }
    out = []
    for label, algo in algos.items():
        t0 = time.perf_counter()
        algo.fit(trainset)
        t1 = time.perf_counter()
        pred = np.array([algo.predict(u, i).est for u, i in zip(test["user_id"], test["item_id"], strict=True)])
        t2 = time.perf_counter()
        out.append({"model": label, **_errors(test["rating"].to_numpy(), pred), "fit_s": t1 - t0, "predict_s": t2 - t1})
    return out


def splits(df: pd.DataFrame, folds: int) -> dict[str, list[tuple[pd.DataFrame, pd.DataFrame]]]:
    """The benchmark's stratified split, and ``folds`` random folds of all ratings."""
    strat = [stratified_split(df, 0.75, filter_by="item", seed=SEED)]
    order = np.random.default_rng(SEED).permutation(len(df))
    parts = np.array_split(order, folds)
    kfold = [(df.iloc[np.concatenate([p for j, p in enumerate(parts) if j != f])], df.iloc[parts[f]]) for f in range(folds)]
    return {"stratified 75/25 by item": strat, f"{folds}-fold random": kfold}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ml-100k.inter (RecBole atomic file) path")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not args.data.exists():
        print(f"no data at {args.data}: pass --data", file=sys.stderr)
        return 2
    df = load_ml100k(args.data)
    result: dict[str, list[dict[str, Any]]] = {}
    for name, parts in splits(df, args.folds).items():
        rows: dict[str, list[dict[str, Any]]] = {}
        for train, test in parts:
            for row in [persona_row(train, test), *surprise_rows(train, test)]:
                rows.setdefault(row["model"], []).append(row)
        result[name] = [{"model": m, **{c: float(np.mean([r[c] for r in rs])) for c in ("rmse", "mae", "fit_s", "predict_s")}}
                        for m, rs in rows.items()]
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for name, rows in result.items():
        print(f"\n{name} ({len(df):,} ratings; test pairs predicted one by one for surprise, at once for Persona)")
        print(f"{'model':24s} {'RMSE':>7s} {'MAE':>7s} {'fit s':>7s} {'predict s':>10s}")
        for r in rows:
            print(f"{r['model']:24s} {r['rmse']:7.4f} {r['mae']:7.4f} {r['fit_s']:7.2f} {r['predict_s']:10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
