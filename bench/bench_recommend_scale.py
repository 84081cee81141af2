"""Scale: the default hybrid on a synthetic log of 1,000,000 interactions (50,000 users × 20,000 items).

Target: training under 3 minutes with peak memory under 4 GB on a 2-core machine. The log has taste
clusters and a Zipf popularity curve so that the models do real work. For reference the same run
times ``implicit`` ALS used directly (what the hybrid's largest component costs on its own).

    python bench/bench_recommend_scale.py                 # 1M interactions
    python bench/bench_recommend_scale.py --interactions 200000 --users 10000 --items 4000 --json
    python bench/bench_recommend_scale.py --validation temporal   # as the pipeline builds it for its holdout
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from persona.data import Interactions  # noqa: E402


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def cpu_s() -> float:
    """CPU seconds used by this process (all threads): comparable across loaded and idle machines."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_gb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize() / 1024**3
    except OSError:
        return float("nan")


def synthetic_log(n: int, n_users: int, n_items: int, seed: int = 42, clusters: int = 50) -> pd.DataFrame:
    """``n`` distinct (user, item) interactions with taste clusters, Zipf popularity and timestamps."""
    rng = np.random.default_rng(seed)
    item_cluster = rng.integers(0, clusters, n_items)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    pop = pop[rng.permutation(n_items)]
    by_cluster = [np.flatnonzero(item_cluster == c) for c in range(clusters)]
    cluster_p = [pop[ix] / pop[ix].sum() for ix in by_cluster]
    global_p = pop / pop.sum()
    user_cluster = rng.integers(0, clusters, n_users)
    activity = rng.lognormal(0, 1.0, n_users)
    activity = activity / activity.sum()
    draws = int(n * 1.5)
    users = rng.choice(n_users, size=draws, p=activity)
    in_cluster = rng.random(draws) < 0.7
    items = np.empty(draws, dtype=np.int64)
    items[~in_cluster] = rng.choice(n_items, size=int((~in_cluster).sum()), p=global_p)
    uc = user_cluster[users[in_cluster]]
    out = np.empty(len(uc), dtype=np.int64)
    for c in range(clusters):
        sel = np.flatnonzero(uc == c)
        out[sel] = rng.choice(by_cluster[c], size=len(sel), p=cluster_p[c])
    items[in_cluster] = out
    df = pd.DataFrame({"user_id": users, "item_id": items})
    df = df.drop_duplicates().head(n).reset_index(drop=True)
    df["timestamp"] = 1_700_000_000 + rng.integers(0, 180 * 86400, len(df))
    return df


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--interactions", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--no-peer", action="store_true", help="skip the implicit ALS reference run")
    ap.add_argument("--validation", choices=["guarded", "temporal", "random", "mixed"], default="guarded",
                    help="the hybrid's validation: guarded (its default) or temporal (what `persona run` and "
                         "`persona recommend train` build for their default temporal holdout)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    df = synthetic_log(args.interactions, args.users, args.items)
    data = Interactions.from_frame(df, "user_id", "item_id", time="timestamp")
    del df
    gc.collect()
    gen_s = time.perf_counter() - t0
    base = rss_gb()
    rows = []

    from persona.recommend import make_recommender

    hybrid = make_recommender("hybrid", validation=args.validation)
    t0, c0 = time.perf_counter(), cpu_s()
    hybrid.fit(data)
    fit_s, fit_cpu = time.perf_counter() - t0, cpu_s() - c0
    peak_fit = peak_rss_gb()
    t0 = time.perf_counter()
    users = data.user_ids[: min(10_000, data.n_users)]
    recs = hybrid.recommend(users, k=10, reasons=False)
    rec_s = time.perf_counter() - t0
    label = "persona hybrid (default)" if args.validation == "guarded" else f"persona hybrid ({args.validation})"
    rows.append({"model": label, "fit_s": round(fit_s, 1), "fit_cpu_s": round(fit_cpu, 1),
                 "recommend_10k_users_s": round(rec_s, 2), "peak_rss_gb": round(peak_rss_gb(), 2),
                 "components": {n: round(w, 3) for n, w in hybrid.weights_.items()}})
    assert len(recs) == 10 * len(users)
    del hybrid
    gc.collect()

    if not args.no_peer:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        m = AlternatingLeastSquares(factors=128, random_state=42)
        x = sp.csr_matrix(data.matrix, dtype=np.float32, copy=True)
        t0, c0 = time.perf_counter(), cpu_s()
        with threadpool_limits(1, "blas"):
            m.fit(x, show_progress=False)
        rows.append({"model": "peer implicit ALS (128 factors, one fit)", "fit_s": round(time.perf_counter() - t0, 1),
                     "fit_cpu_s": round(cpu_s() - c0, 1),
                     "peak_rss_gb": round(peak_rss_gb(), 2)})

    out = {"interactions": data.nnz, "users": data.n_users, "items": data.n_items, "generate_s": round(gen_s, 1),
           "rss_before_fit_gb": round(base, 2), "hybrid_peak_rss_gb": round(peak_fit, 2),
           "targets": {"fit_s": 180, "peak_rss_gb": 4.0}, "load_average": list(__import__("os").getloadavg()),
           "meets_targets": bool(fit_s < 180 and peak_fit < 4.0), "rows": rows}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"synthetic log: {data.nnz:,} interactions, {data.n_users:,} users × {data.n_items:,} items "
              f"(generated in {gen_s:.1f}s, {base:.2f} GB resident before fitting)")
        print(f"{'model':<42}{'fit s':>8}{'fit cpu s':>11}{'rec 10k s':>11}{'peak GB':>9}")
        for r in rows:
            print(f"{r['model']:<42}{r['fit_s']:>8}{r['fit_cpu_s']:>11}{r.get('recommend_10k_users_s', ''):>11}"
                  f"{r['peak_rss_gb']:>9}")
        print(f"hybrid components: {rows[0]['components']}")
        print(f"targets: fit < 180 s, peak < 4 GB -> {'met' if out['meets_targets'] else 'NOT met'} "
              f"(load average {out['load_average'][0]:.1f}: on a shared machine compare fit cpu s / cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
