"""The Spark engine against the local engine and the libraries a user would pick, side by side in one run.

Three jobs, each on the same data for every row:

1. **Profile features** of a generated demo shop (``--customers``; 20,000 customers ≈ 1M events): Persona
   local (pandas) vs Persona on Spark, and the largest difference between the two frames.
2. **Frequent itemsets** of that shop's orders: Persona local (bitset Eclat) vs Persona on Spark (FP-growth)
   vs mlxtend's fpgrowth, with the itemset counts (they must agree).
3. **Implicit ALS** on MovieLens 100K, the Microsoft Recommenders stratified split (when ``../shared`` has it):
   ``implicit`` used directly vs Persona ALS local vs Persona ALS on Spark, nDCG@10 / Recall@10 and fit time.

Spark runs ``local[*]`` on this machine: the figures show its overhead on one machine, which is the price
of a job that can also run on a cluster. Usage::

    OPENBLAS_NUM_THREADS=1 python bench/bench_spark.py [--customers 20000] [--min-support 0.002]
        [--als-interactions 1000000] [--json]
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
ML100K = ROOT.parent / "shared" / "data" / "ml-100k" / "ml-100k.inter"


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _max_diff(a: pd.DataFrame, b: pd.DataFrame) -> float:
    num = a.select_dtypes("number").columns
    d = (a[num].astype(float) - b[num].astype(float)).abs().to_numpy()
    return float(np.nanmax(d)) if d.size else 0.0


def bench_profiles(spark: Any, customers: int, seed: int) -> tuple[list[dict[str, Any]], Any]:
    from persona.demo.shop import build_shop
    from persona.engines.spark.shop import SparkShop
    from persona.profiles.features import compute_features
    from persona.profiles.source import ShopData

    shop = build_shop(customers=customers, products=max(200, customers // 20), days=365, seed=seed)
    data = ShopData(events=shop.events, customers=shop.customers, products=shop.products, reviews=shop.reviews)
    as_of = data.last_event_ts
    local, t_local = _timed(lambda: compute_features(data, as_of))
    sshop, t_send = _timed(lambda: SparkShop.from_shop_data(spark, data))
    sshop.events.cache().count()
    remote, t_spark = _timed(lambda: sshop.features(as_of))
    diff = _max_diff(local, remote)
    same_lists = bool(local["category_shares"].fillna(0).equals(remote["category_shares"].fillna(0)))
    rows = [
        {"job": "profile features", "engine": "persona local (pandas)", "seconds": round(t_local, 2), "rows": len(local),
         "check": f"{len(data.events):,} events"},
        {"job": "profile features", "engine": "persona spark", "seconds": round(t_spark, 2), "rows": len(remote),
         "check": f"max abs diff {diff:.1e}, shares equal: {same_lists} (+{t_send:.1f} s to send the frames)"},
    ]
    return rows, data


def bench_itemsets(data: Any, min_support: float) -> list[dict[str, Any]]:
    from persona.basket import frequent_itemsets
    from persona.basket.baskets import baskets_from_events
    from persona.engines.spark.basket import as_spark_baskets, spark_itemsets

    buys = data.events[data.events["event_type"] == "purchase"]
    baskets = baskets_from_events(buys.assign(ts=buys["ts"]))
    rows = []
    local, t = _timed(lambda: frequent_itemsets(baskets, min_support))
    rows.append({"job": "frequent itemsets", "engine": "persona local (bitset Eclat)", "seconds": round(t, 2), "rows": len(local),
                 "check": f"{len(baskets):,} orders, min_support {min_support}"})
    sdf = as_spark_baskets(baskets).cache()
    sdf.count()
    remote, t = _timed(lambda: spark_itemsets(sdf, min_support))
    same = sorted(map(tuple, remote.to_frame()["itemsets"].map(sorted))) == sorted(map(tuple, local.to_frame()["itemsets"].map(sorted)))
    rows.append({"job": "frequent itemsets", "engine": "persona spark (FP-growth)", "seconds": round(t, 2), "rows": len(remote),
                 "check": f"same itemsets: {same}"})
    try:
        from mlxtend.frequent_patterns import fpgrowth
        from mlxtend.preprocessing import TransactionEncoder
    except ImportError:
        return rows
    te = TransactionEncoder()
    onehot = pd.DataFrame.sparse.from_spmatrix(te.fit(baskets).transform(baskets, sparse=True), columns=te.columns_)
    peer, t = _timed(lambda: fpgrowth(onehot, min_support=min_support))
    rows.append({"job": "frequent itemsets", "engine": "peer: mlxtend fpgrowth", "seconds": round(t, 2), "rows": len(peer),
                 "check": ""})
    return rows


def bench_als(spark: Any) -> list[dict[str, Any]]:
    if not ML100K.exists():
        print(f"# {ML100K} not found: the ALS rows are skipped", file=sys.stderr)
        return []
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_movielens as bm

    from persona.evaluate import stratified_split
    from persona.evaluate.offline import evaluate_recommender
    from persona.recommend import make_recommender

    df = bm.load_ml100k(ML100K)
    train_df, test_df = stratified_split(df, 0.75, filter_by="item", seed=42)
    train = bm.training_set(train_df, None)
    peers = bm.peer_models(train_df, with_cornac=False)
    models = {"peer: implicit ALS (direct)": peers["peer-implicit-als"],
              "persona ALS local (implicit)": lambda: make_recommender("als", seed=42),
              "persona ALS spark (Spark ML)": lambda: make_recommender("als", seed=42, engine="spark")}
    rows = []
    for label, make in models.items():
        rep = evaluate_recommender(make(), train, test_df, k=10, name=label)
        m = rep.metrics
        rows.append({"job": "ALS, MovieLens 100K stratified", "engine": label, "seconds": round(rep.fit_seconds, 2),
                     "rows": train.nnz, "check": f"nDCG@10 {m['ndcg@10']:.4f}  Recall@10 {m['recall@10']:.4f}"})
    return rows


def bench_als_scale(interactions: int) -> list[dict[str, Any]]:
    """Fit time of Persona's default ALS, local vs Spark, on the synthetic log of ``bench_recommend_scale.py``."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_recommend_scale import synthetic_log

    from persona.data import Interactions
    from persona.recommend import make_recommender

    log = synthetic_log(interactions, max(1000, interactions // 20), max(500, interactions // 50))
    data = Interactions.from_frame(log, "user_id", "item_id")
    rows = []
    for label, engine in (("persona ALS local (implicit)", "local"), ("persona ALS spark (Spark ML)", "spark")):
        model, t = _timed(lambda engine=engine: make_recommender("als", seed=42, engine=engine).fit(data))
        rows.append({"job": f"ALS fit, synthetic {data.nnz:,} interactions", "engine": label, "seconds": round(t, 2),
                     "rows": data.nnz, "check": f"{data.n_users:,} users x {data.n_items:,} items, 128 factors"})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=20_000, help="demo shop size for the profile and itemset jobs")
    ap.add_argument("--min-support", type=float, default=0.002)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--als-interactions", type=int, default=0,
                    help="also time ALS fits on a synthetic log of this many interactions (e.g. 1000000)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from persona.engines.spark.session import spark_available, spark_session

    reason = spark_available()
    if reason:
        print(f"the Spark engine cannot run here: {reason} (pip install 'persona[spark]' and a Java 17 runtime)",
              file=sys.stderr)
        return 2
    spark, t_start = _timed(lambda: spark_session())
    print(f"# Spark {spark.version} {spark.sparkContext.master}, session started in {t_start:.1f} s", file=sys.stderr)
    rows, data = bench_profiles(spark, args.customers, args.seed)
    rows += bench_itemsets(data, args.min_support)
    rows += bench_als(spark)
    if args.als_interactions:
        rows += bench_als_scale(args.als_interactions)
    if args.json:
        print(json.dumps({"spark": spark.version, "master": spark.sparkContext.master, "session_start_s": round(t_start, 2),
                          "rows": rows}, indent=2))
        return 0
    print("| job | engine | seconds | rows | check |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['job']} | {r['engine']} | {r['seconds']} | {r['rows']:,} | {r['check']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
