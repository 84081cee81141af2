"""Segmenting 1,000,000 customers: Persona's RFM / k-means / DBSCAN segmenters vs plain scikit-learn.

Persona's k-means chooses k by silhouette (on a sample, k = 2..10), fits mini-batch k-means on a sample
and assigns everyone; its DBSCAN runs on a sample and assigns the rest to the nearest core point. Both
also explain every segment (surrogate trees, distinguishing features). The peers are what a user would
write by hand: ``KMeans(k)`` on all rows (with k given, no search, no explanation) and ``DBSCAN`` on all
rows (measured on a subset, since it does not finish on a million rows in reasonable memory).

Usage: python bench/bench_segments.py [--n 1000000] [--threads 2] [--dbscan-peer-n 100000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd
from sklearn.cluster import DBSCAN, KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from threadpoolctl import threadpool_limits

from persona.segments.service import segment_profiles


def synthetic_profiles(n: int, seed: int = 0) -> pd.DataFrame:
    """Profiles of ``n`` customers from five behavioural groups (skewed, with never-buyers)."""
    rng = np.random.default_rng(seed)
    # group: share, orders mean, order value, recency, tenure, discount share, open rate
    groups = np.array([
        [0.45, 0.0, 0, 0, 400, 0.0, 0.05],    # never bought
        [0.25, 1.5, 30, 200, 500, 0.5, 0.08],  # one-off bargain hunters
        [0.15, 5.0, 45, 60, 600, 0.2, 0.15],   # regulars
        [0.10, 15.0, 80, 10, 900, 0.1, 0.30],  # loyal big spenders
        [0.05, 3.0, 150, 300, 1000, 0.05, 0.02],  # lapsed premium
    ])
    g = rng.choice(len(groups), n, p=groups[:, 0])
    p = groups[g]
    freq = np.where(p[:, 1] > 0, 1 + rng.poisson(np.maximum(p[:, 1] - 1, 0.1)), 0).astype(float)
    aov = np.where(freq > 0, p[:, 2] * rng.lognormal(0, 0.3, n), np.nan)
    rec = np.where(freq > 0, p[:, 3] * rng.lognormal(0, 0.5, n) + 1, np.nan)
    df = pd.DataFrame({
        "recency_days": rec,
        "frequency": freq,
        "monetary": np.nan_to_num(freq * aov),
        "avg_order_value": aov,
        "tenure_days": p[:, 4] * rng.lognormal(0, 0.3, n),
        "mean_interpurchase_days": np.where(freq > 1, 365 / np.maximum(freq, 1) * rng.lognormal(0, 0.3, n), np.nan),
        "discount_share": np.where(freq > 0, np.clip(p[:, 5] + 0.15 * rng.standard_normal(n), 0, 1), np.nan),
        "price_index": np.where(freq > 0, rng.lognormal(0, 0.25, n), np.nan),
        "n_categories": np.minimum(freq, rng.integers(1, 6, n)).astype(float),
        "n_views": rng.poisson(5 + 8 * freq).astype(float),
        "email_open_rate": np.clip(p[:, 6] + 0.05 * rng.standard_normal(n), 0, 1),
        "age": rng.integers(18, 80, n).astype(float),
    }, index=pd.Index([f"C{i:07d}" for i in range(n)], name="customer_id"))
    return df


def timed(fn):  # noqa: ANN001, ANN201
    """(result, wall seconds); CPU seconds of the last call are left in ``LAST_CPU``."""
    global LAST_CPU
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    LAST_CPU = time.process_time() - c
    return out, time.perf_counter() - t


LAST_CPU = 0.0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=2, help="OpenMP/BLAS threads for every contender (the target is 2 cores)")
    ap.add_argument("--dbscan-peer-n", type=int, default=100_000, help="rows given to plain DBSCAN")
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    prof, t_gen = timed(lambda: synthetic_profiles(args.n))
    rows = []
    res = {}
    for method in ("rfm", "kmeans", "dbscan"):
        r, t = timed(lambda m=method: segment_profiles(prof, m, seed=0, n_threads=args.threads))
        res[method] = r
        extra = {k: v for k, v in r.params.items() if k in ("k", "eps", "clusters")}
        rows.append({"contender": f"persona {method}", "rows": args.n, "seconds": round(t, 2), "cpu_seconds": round(LAST_CPU, 2), "segments": len(r.explanation),
                     "explained": True, **extra})
        print(f"persona {method}: {t:.1f} s ({r.seconds})", file=sys.stderr, flush=True)

    x = res["kmeans"].matrix
    k = res["kmeans"].params["k"]
    rng = np.random.default_rng(1)
    sil_idx = rng.choice(len(x), min(10_000, len(x)), replace=False)
    km_lab = pd.factorize(res["kmeans"].labels)[0]
    quality = {"persona_kmeans_silhouette_10k": round(float(silhouette_score(x[sil_idx], km_lab[sil_idx])), 4)}
    if not args.skip_peers:
        with threadpool_limits(limits=args.threads):
            km, t = timed(lambda: KMeans(n_clusters=k, n_init=3, random_state=0).fit(x))
        rows.append({"contender": f"sklearn KMeans(k={k}) on all rows, k given", "rows": args.n, "seconds": round(t, 2), "cpu_seconds": round(LAST_CPU, 2), "segments": k,
                     "explained": False})
        quality["sklearn_kmeans_silhouette_10k"] = round(float(silhouette_score(x[sil_idx], km.labels_[sil_idx])), 4)
        quality["ari_persona_vs_sklearn_kmeans"] = round(float(adjusted_rand_score(km.labels_, km_lab)), 4)
        print(f"sklearn KMeans: {t:.1f} s", file=sys.stderr, flush=True)
        n_db = min(args.dbscan_peer_n, len(x))
        sub = rng.choice(len(x), n_db, replace=False)
        from sklearn.decomposition import PCA

        eps = res["dbscan"].params["eps"]
        with threadpool_limits(limits=args.threads):
            xs = PCA(n_components=6, random_state=0).fit_transform(x[sub])
            _, t = timed(lambda: DBSCAN(eps=eps, min_samples=10, n_jobs=args.threads).fit(xs))
        rows.append({"contender": f"sklearn DBSCAN(eps={eps}) on {n_db:,} rows", "rows": n_db, "seconds": round(t, 2),
                     "cpu_seconds": round(LAST_CPU, 2), "explained": False, "extrapolated_to_n_seconds_at_least": round(t * len(x) / n_db, 1)})
        print(f"sklearn DBSCAN on {n_db}: {t:.1f} s", file=sys.stderr, flush=True)

    out = {"n": args.n, "threads": args.threads, "generate_seconds": round(t_gen, 2), "results": rows, "quality": quality,
           "kmeans_silhouette_by_k": res["kmeans"].params.get("silhouette")}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"Segmenting {args.n:,} synthetic customers, {args.threads} threads")
        print(f"{'contender':58} {'rows':>10} {'wall s':>8} {'cpu s':>8} {'segments':>9}  explained")
        for r in rows:
            print(f"{r['contender']:58} {r['rows']:>10,} {r['seconds']:>8.2f} {r['cpu_seconds']:>8.2f} {str(r.get('segments', '')):>9}  {r['explained']}")
        for kq, v in quality.items():
            print(f"{kq}: {v}")
    return out


if __name__ == "__main__":
    main()
