"""Long-tail catalogues: neighbourhood models' fit time where most item pairs never co-occur, and what ranks well there.

A shop with tens of thousands of products and a few events per product (the Taobao log below: 55,368 items,
815 users, 64k distinct user-item pairs) gives an item × item co-occurrence matrix that is almost all
zeros. Persona's item-kNN, RP3beta and adjacent-items keep each item's top neighbours on the stored pairs
only, so their fit grows with the co-occurring pairs, not with n_items². In the same run: ``implicit``'s
item-kNN (cosine and BM25, 200 neighbours), what a user would otherwise pick.

Quality (Taobao only; the synthetic log has no taste structure): each customer's latest 20% of events held out
(``persona recommend train``'s temporal split), top-10 over products not in their training history, for
Persona's models and, in the same run on the same split, ``implicit``'s ALS, BPR and BM25 item-kNN used
directly and global popularity. Then the same split with repeats kept (a customer's held-out products they
already had stay in the test, and every model may recommend them): Persona's ``repeat`` model against the
"recently viewed" and "most viewed" lists a shop would otherwise show.

    python bench/bench_longtail.py                        # Taobao head (../shared) and a synthetic log
    python bench/bench_longtail.py --no-quality           # fit times only
    python bench/bench_longtail.py --items 200000 --json  # a larger synthetic catalogue
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
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_movielens import ImplicitALS, ImplicitBPR, PopularityPeer, _Peer  # noqa: E402

from persona.data import Interactions  # noqa: E402
from persona.recommend import make_recommender  # noqa: E402

TAOBAO = ROOT.parent / "shared" / "data" / "taobao-behavior" / "UserBehavior-head.csv"
PERSONA = ("itemknn", "rp3beta", "adjacent", "userknn")


def taobao() -> Interactions | None:
    """The Taobao head log through Persona's adapter (views, carts, favourites and buys weighted)."""
    if not TAOBAO.exists():
        return None
    from persona.cli.evaluate import _interactions_from_adapter

    return _interactions_from_adapter("taobao", TAOBAO)


def synthetic(n_events: int, n_users: int, n_items: int, seed: int = 7) -> Interactions:
    """Zipf-distributed items (exponent 0.9): a few hits and a very long tail, random event times."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1) ** 0.9
    items = rng.choice(n_items, size=n_events, p=p / p.sum())
    users = rng.integers(0, n_users, n_events)
    df = pd.DataFrame({"user_id": users, "item_id": items, "ts": rng.integers(0, 10**7, n_events)})
    return Interactions.from_frame(df.drop_duplicates(["user_id", "item_id"]), time="ts")


def _peer(kind: str) -> Any:
    import warnings

    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

    warnings.filterwarnings("ignore", module="implicit")  # its own COO → CSR conversion notices

    cls = {"cosine": CosineRecommender, "bm25": BM25Recommender}[kind]
    return cls(K=200, num_threads=1)


QUALITY_MODELS = ("popular", "itemknn", "als", "content", "category", "hybrid")


class KNNPeer(_Peer):
    """``implicit``'s BM25 item-kNN used directly: scores = history · item similarity (as its recommend does)."""

    def _fit(self, interactions: Interactions) -> None:
        self.model_ = _peer("bm25")
        self.x_ = interactions.matrix.astype(np.float32).tocsr()
        self.model_.fit(self.x_, show_progress=False)

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return (self.x_[rows] @ self.model_.similarity).toarray()


class RecentlyViewedPeer(_Peer):
    """The "recently viewed" block every shop has: the customer's own products, the latest first."""

    def _fit(self, interactions: Interactions) -> None:
        lg = interactions.log
        last = lg.groupby(["user_idx", "item_idx"])["time"].max()
        self.last_ = sp.csr_matrix((last.to_numpy(np.float64) - float(lg["time"].min()) + 1.0,
                                    (last.index.get_level_values(0), last.index.get_level_values(1))),
                                   shape=interactions.matrix.shape)

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return np.where(self.data_.matrix[rows].toarray() > 0, self.last_[rows].toarray(), -np.inf)


class MostViewedPeer(RecentlyViewedPeer):
    """The customer's own products, the most-touched first (ties: the latest first)."""

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        recent = super()._scores(rows)
        count = np.zeros_like(recent)
        lg = self.data_.log
        pos = {u: r for r, u in enumerate(rows.tolist())}
        sub = lg[lg["user_idx"].isin(pos)]
        np.add.at(count, (sub["user_idx"].map(pos).to_numpy(), sub["item_idx"].to_numpy()), 1.0)
        return count * 1e10 + recent


def held_out_purchases(data: Interactions) -> pd.DataFrame:
    """The purchases among the events ``split_interactions(data, "temporal")`` holds out (same rows)."""
    from persona.evaluate import temporal_user_split

    lg = data.log
    frame = pd.DataFrame({"u": lg["user_idx"].to_numpy(), "i": lg["item_idx"].to_numpy(), "t": lg["time"].to_numpy(),
                          "e": lg["event"].astype(str).to_numpy() if "event" in lg.columns else ""})
    _, te = temporal_user_split(frame, fraction=0.2, user="u", time="t")
    buys = te[te["e"] == "purchase"][["u", "i"]].drop_duplicates()
    return pd.DataFrame({"user_id": data.user_ids[buys["u"].to_numpy()], "item_id": data.item_ids[buys["i"].to_numpy()]})


def quality(data: Interactions, repeats: bool = False) -> list[dict[str, Any]]:
    """nDCG@10 / Recall@10 on the temporal holdout for Persona's models and the peers, one split, one run.

    ``repeats``: the test keeps products the customer already had and every model may recommend them; the rows
    then also say for how many of the customers who bought in the holdout the list held a product they bought.
    """
    from persona.evaluate.offline import evaluate_recommender
    from persona.evaluate.ranking import mean_metrics, per_user_ranking_metrics
    from persona.evaluate.selection import build_models, split_interactions

    train, test = split_interactions(data, "temporal", repeats=repeats)
    buys = held_out_purchases(data) if repeats else None
    names = ("popular", "category", "hybrid", "repeat") if repeats else QUALITY_MODELS
    models: dict[str, Any] = dict(build_models(names, split="temporal"))  # as `persona evaluate` builds them
    if repeats:
        models.update({"peer recently viewed": RecentlyViewedPeer, "peer most viewed": MostViewedPeer})
    models.update({"peer implicit als": ImplicitALS, "peer implicit bpr": ImplicitBPR,
                   "peer implicit bm25 kNN": KNNPeer, "peer popularity": PopularityPeer})
    rows = []
    for label, make in models.items():
        rep = evaluate_recommender(make(), train, test, k=10, name=label, exclude_seen=not repeats, keep_recs=repeats)
        m = rep.metrics
        rows.append({"model": label if label.startswith("peer") else f"persona {label}", "error": rep.error,
                     "ndcg@10": round(m.get("ndcg@10", float("nan")), 4), "recall@10": round(m.get("recall@10", float("nan")), 4),
                     "hit_rate@10": round(m.get("hit_rate@10", float("nan")), 4), "fit_s": round(rep.fit_seconds or 0.0, 2)})
        if buys is not None and rep.recs is not None and len(buys):
            recs = rep.recs.astype({"user_id": str, "item_id": str})
            bought = mean_metrics(per_user_ranking_metrics(buys.astype(str), recs, 10))
            rows[-1]["buyers_hit@10"] = round(bought["hit_rate@10"], 4)
        print(f"  [quality] {rows[-1]['model']:<26} {rep.error or rows[-1]}", file=sys.stderr, flush=True)
    return rows


def run(label: str, data: Interactions) -> list[dict[str, Any]]:
    rows = []
    for name in PERSONA:
        if name == "adjacent" and not data.has_time:
            continue
        t0 = time.perf_counter()
        model = make_recommender(name).fit(data)
        sec = time.perf_counter() - t0
        pairs = getattr(model, "similarity_", None)
        rows.append({"data": label, "model": f"persona {name}", "fit_s": round(sec, 2),
                     "pairs_kept": int(pairs.nnz) if pairs is not None else None})
    try:
        for kind in ("cosine", "bm25"):
            peer = _peer(kind)
            t0 = time.perf_counter()
            peer.fit(data.matrix.astype(np.float32).tocsr(), show_progress=False)
            rows.append({"data": label, "model": f"peer implicit {kind} kNN", "fit_s": round(time.perf_counter() - t0, 2),
                         "pairs_kept": int(peer.similarity.nnz)})
    except ImportError:
        print("# implicit not installed: peers skipped", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--items", type=int, default=150_000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-quality", action="store_true", help="skip the Taobao ranking-quality comparison")
    args = ap.parse_args(argv)
    if min(args.events, args.users, args.items) < 1:
        print("--events, --users and --items must be positive", file=sys.stderr)
        return 2
    sets: list[tuple[str, Interactions]] = []
    tb = taobao()
    if tb is None:
        print(f"# {TAOBAO} not found: the Taobao rows are skipped", file=sys.stderr)
    else:
        sets.append((f"taobao head ({tb.n_users:,} users × {tb.n_items:,} items, {tb.nnz:,} pairs)", tb))
    syn = synthetic(args.events, args.users, args.items)
    sets.append((f"synthetic Zipf ({syn.n_users:,} users × {syn.n_items:,} items, {syn.nnz:,} pairs)", syn))
    rows = [r for label, data in sets for r in run(label, data)]
    ranked = quality(tb) if tb is not None and not args.no_quality else []
    again = quality(tb, repeats=True) if tb is not None and not args.no_quality else []
    if args.json:
        print(json.dumps({"fit": rows, "quality": ranked, "quality_with_repeats": again}, indent=2))
        return 0
    for label, _ in sets:
        print(f"\n== {label} ==")
        print(f"{'model':<30}{'fit s':>9}{'pairs kept':>14}")
        for r in rows:
            if r["data"] == label:
                kept = f"{r['pairs_kept']:,}" if r["pairs_kept"] is not None else "-"
                print(f"{r['model']:<30}{r['fit_s']:>9.2f}{kept:>14}")
    for title, table in (("top-10 over products each customer has not had", ranked),
                         ("repeats kept: top-10 over every product, those the customer had included", again)):
        if not table:
            continue
        print(f"\n== Taobao head, temporal holdout (latest 20% of each customer's events), {title} ==")
        extra = "buyers_hit@10" in table[0]
        print(f"{'model':<30}{'nDCG@10':>9}{'R@10':>9}{'hit@10':>9}" + (f"{'buyers hit@10':>15}" if extra else "") + f"{'fit s':>9}")
        for r in table:
            if r["error"]:
                print(f"{r['model']:<30} failed: {r['error']}")
            else:
                print(f"{r['model']:<30}{r['ndcg@10']:>9.4f}{r['recall@10']:>9.4f}{r['hit_rate@10']:>9.4f}"
                      + (f"{r.get('buyers_hit@10', float('nan')):>15.4f}" if extra else "") + f"{r['fit_s']:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
