"""Frequent itemsets and rules on MovieLens 100K baskets: Persona (bitset Eclat) vs mlxtend apriori / fpgrowth.

Baskets: for each user, the movies rated >= 4 (942 baskets). Each (library, min support) runs in a fresh
process, so time and peak memory (peak RSS above the process's RSS after loading the data) do not mix.

    python bench/bench_basket.py [--supports 0.2 0.1 0.05] [--skip-apriori-below 0.0] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k" / "ml-100k.inter"


def _baskets() -> list[list[int]]:
    import pandas as pd

    ml = pd.read_csv(DATA, sep="\t")
    ml.columns = [c.split(":")[0] for c in ml.columns]
    return ml[ml["rating"] >= 4].groupby("user_id")["item_id"].agg(list).tolist()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _job(lib: str, support: float, q: mp.Queue) -> None:
    import pandas as pd

    baskets = _baskets()
    if lib == "persona":
        from persona.basket import frequent_itemsets

        base = _rss_mb()
        t0 = time.perf_counter()
        n = len(frequent_itemsets(baskets, support))
    elif lib == "persona rules (stream)":
        from persona.basket import frequent_itemsets, iter_rules

        fi = frequent_itemsets(baskets, support)
        base = _rss_mb()
        t0 = time.perf_counter()
        counts = {0.0: 0, 0.5: 0, 0.8: 0}
        for chunk in iter_rules(fi, chunk_size=200_000):
            conf = chunk.metrics["confidence"]
            for c in counts:
                counts[c] += int((conf >= c).sum())
        n = counts
    else:
        from mlxtend.frequent_patterns import apriori, association_rules, fpgrowth
        from mlxtend.preprocessing import TransactionEncoder

        te = TransactionEncoder()
        oh = pd.DataFrame(te.fit(baskets).transform(baskets), columns=te.columns_)
        base = _rss_mb()
        t0 = time.perf_counter()
        if lib == "mlxtend rules":
            fis = fpgrowth(oh, support, use_colnames=True)
            t0 = time.perf_counter()
            n = len(association_rules(fis, metric="confidence", min_threshold=0.0))
        else:
            n = len((apriori if lib == "mlxtend apriori" else fpgrowth)(oh, support, use_colnames=True))
    seconds = time.perf_counter() - t0
    q.put({"library": lib, "min_support": support, "count": n, "seconds": round(seconds, 3), "peak_extra_mb": round(_rss_mb() - base, 1)})


def run(lib: str, support: float, timeout: float) -> dict:
    """Run one measurement in a fresh process."""
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    p = ctx.Process(target=_job, args=(lib, support, q))
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        return {"library": lib, "min_support": support, "count": None, "seconds": None, "peak_extra_mb": None, "note": f"over {timeout:.0f} s"}
    return q.get() if not q.empty() else {"library": lib, "min_support": support, "note": f"exit {p.exitcode}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--supports", type=float, nargs="+", default=[0.2, 0.1, 0.05])
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--mlxtend-rules-max-itemsets-support", type=float, default=0.1,
                    help="run mlxtend association_rules only at supports >= this (it materialises every rule)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"MovieLens 100K not found at {DATA}")
    rows = []
    for s in args.supports:
        for lib in ("persona", "mlxtend fpgrowth", "mlxtend apriori"):
            rows.append(run(lib, s, args.timeout))
            print(rows[-1], file=sys.stderr, flush=True)
        rows.append(run("persona rules (stream)", s, args.timeout))
        print(rows[-1], file=sys.stderr, flush=True)
        if s >= args.mlxtend_rules_max_itemsets_support:
            rows.append(run("mlxtend rules", s, args.timeout))
            print(rows[-1], file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'min_support':>11} {'library':<24} {'count':>60} {'seconds':>9} {'peak MB':>8}")
    for r in rows:
        cnt = r.get("count")
        cnt = ", ".join(f"conf>={k}: {v:,}" for k, v in cnt.items()) if isinstance(cnt, dict) else (f"{cnt:,}" if cnt is not None else "-")
        print(f"{r['min_support']:>11} {r['library']:<24} {cnt:>60} {r.get('seconds') or '-':>9} {r.get('peak_extra_mb') or '-':>8} {r.get('note', '')}")


if __name__ == "__main__":
    main()
