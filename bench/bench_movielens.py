"""MovieLens 100K: Persona's recommenders vs the libraries a user would otherwise pick, same run, same split.

Protocol (Microsoft Recommenders' ``examples/06_benchmarks/movielens.ipynb``, 2021 ``reco_utils``):
``python_stratified_split(ratio=0.75, filter_by="item", seed=42)`` on ``u.data`` order, top-10 over
the training items each training user has not rated, relevance = any test rating, metrics as
their ``python_evaluation.py``. The cornac BPR row (k=200, 200 epochs, lr 0.01, λ 0.001, seed 42)
must come out as the published 0.441997 nDCG@10: a check that this harness is their protocol.
A second table uses a temporal split: the last 20% of each user's ratings are the test set.

    python bench/bench_movielens.py                  # both splits, every model
    python bench/bench_movielens.py --models hybrid,ease,peer-ease --split stratified --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from persona.data import Interactions  # noqa: E402
from persona.evaluate import list_difference, stratified_split, temporal_user_split  # noqa: E402
from persona.evaluate.offline import ModelReport, evaluate_recommender  # noqa: E402
from persona.evaluate.significance import paired_difference, versus  # noqa: E402
from persona.recommend.hybrid import HybridRecommender, blend_line, blend_summary  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ml-100k" / "ml-100k.inter"
#: the bar of the issue on the stratified split: well-tuned EASE (λ = 500) and ALS measured on this protocol
BAR = {"ndcg@10": 0.483, "recall@10": 0.229}
PUBLISHED_BIVAE = {"ndcg@10": 0.475, "recall@10": 0.219}
PUBLISHED_CORNAC_BPR = {"map@10": 0.132478, "ndcg@10": 0.441997, "precision@10": 0.388229, "recall@10": 0.212522}
SEED = 42


# --- peers, used directly -------------------------------------------------------------------------
class _Peer:
    """Shared top-k over a dense score matrix, excluding training items (as the protocol does)."""

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, interactions: Interactions) -> _Peer:
        self.data_ = interactions
        self._fit(interactions)
        return self

    def _fit(self, interactions: Interactions) -> None:
        raise NotImplementedError

    def recommend(self, user_ids: Any, k: int = 10, *, exclude_seen: bool = True) -> pd.DataFrame:
        data = self.data_
        rows = data.user_index(list(user_ids))
        rows = rows[rows >= 0]
        scores = np.asarray(self._scores(rows), dtype=np.float64)
        if exclude_seen:
            seen = data.matrix[rows]
            r, c = seen.nonzero()
            scores[r, c] = -np.inf
        k = min(k, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_s = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_s, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_s = np.take_along_axis(top_s, order, axis=1)
        ok = np.isfinite(top_s).ravel()
        return pd.DataFrame({
            "user_id": np.repeat(data.user_ids[rows], k)[ok],
            "item_id": data.item_ids[top.ravel()][ok],
            "score": top_s.ravel()[ok],
            "rank": np.tile(np.arange(1, k + 1), len(rows))[ok],
        })


class PopularityPeer(_Peer):
    """Most popular items (number of users), the baseline every library ships."""

    def _fit(self, interactions: Interactions) -> None:
        self.pop_ = np.bincount(interactions.matrix.indices, minlength=interactions.n_items).astype(float)

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.pop_, (len(rows), 1))


class PaperEASE(_Peer):
    """EASE^R exactly as Steck (2019) gives it: binary X, B = I - P·diagMat(1/diag(P)), P = (XᵀX + λI)⁻¹."""

    def __init__(self, lambda_: float = 500.0) -> None:
        self.lambda_ = lambda_

    def _fit(self, interactions: Interactions) -> None:
        x = (interactions.matrix > 0).astype(np.float64)
        g = (x.T @ x).toarray()
        g[np.diag_indices_from(g)] += self.lambda_
        p = np.linalg.inv(g)
        b = p / (-np.diag(p))
        b[np.diag_indices_from(b)] = 0.0
        self.x_ = x.tocsr()
        self.b_ = b

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return self.x_[rows] @ self.b_


class ImplicitALS(_Peer):
    """``implicit`` AlternatingLeastSquares with its defaults, fed the rating matrix as confidence."""

    def __init__(self, **params: Any) -> None:
        self.params = params

    def _fit(self, interactions: Interactions) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        self.model_ = AlternatingLeastSquares(random_state=SEED, **self.params)
        self.model_.fit(sp.csr_matrix(interactions.matrix, dtype=np.float32, copy=True), show_progress=False)

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return self.model_.user_factors[rows] @ self.model_.item_factors.T


class ImplicitBPR(_Peer):
    """``implicit`` BayesianPersonalizedRanking with its defaults."""

    def __init__(self, **params: Any) -> None:
        self.params = params

    def _fit(self, interactions: Interactions) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        self.model_ = BayesianPersonalizedRanking(random_state=SEED, **self.params)
        self.model_.fit(sp.csr_matrix(interactions.matrix, dtype=np.float32, copy=True), show_progress=False)

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        return self.model_.user_factors[rows] @ self.model_.item_factors.T


class CornacBPR(_Peer):
    """cornac BPR as the Microsoft benchmark runs it (its training rows in split order, all ratings)."""

    def __init__(self, frame: pd.DataFrame, **params: Any) -> None:
        self.frame = frame
        self.params = {"k": 200, "max_iter": 200, "learning_rate": 0.01, "lambda_reg": 0.001, "seed": SEED, **params}

    def _fit(self, interactions: Interactions) -> None:
        import cornac

        data = cornac.data.Dataset.from_uir(self.frame[["user_id", "item_id", "rating"]].itertuples(index=False), seed=SEED)
        self.model_ = cornac.models.BPR(verbose=False, **self.params).fit(data)
        # cornac numbers ids in order of appearance: map our columns onto its item order
        self.cols_ = np.array([data.iid_map[i] for i in interactions.item_ids])
        self.rows_ = np.array([data.uid_map.get(u, -1) for u in interactions.user_ids])

    def _scores(self, rows: np.ndarray) -> np.ndarray:
        m = self.model_
        return (m.u_factors[self.rows_[rows]] @ m.i_factors.T + m.i_biases)[:, self.cols_]


def peer_models(train_frame: pd.DataFrame, with_cornac: bool) -> dict[str, Any]:
    """The peers a user would pick, each with its library's defaults."""
    peers: dict[str, Any] = {}
    if with_cornac:
        peers["peer-cornac-bpr"] = lambda: CornacBPR(train_frame)
    peers.update({
        "peer-implicit-als": lambda: ImplicitALS(),
        "peer-implicit-bpr": lambda: ImplicitBPR(),
        "peer-ease-500": lambda: PaperEASE(500.0),
        "peer-popularity": lambda: PopularityPeer(),
    })
    return peers


def persona_models(names: list[str] | None, split: str = "stratified", *, sequential: bool = True) -> dict[str, Any]:
    """Persona's registered recommenders with their defaults (hybrid first), as the evaluation layer builds them
    for ``split``: the hybrid learns its weights on validation items held out like that split's test items
    (:func:`persona.evaluate.selection.build_models`). ``sequential`` (PyTorch, two to three minutes per fit on 2 cores) joins the
    default set where PyTorch is installed and ``sequential`` is true."""
    try:
        from persona.evaluate.selection import build_models
        from persona.recommend import RECOMMENDERS
    except ImportError as exc:
        print(f"# Persona recommenders not importable: {exc}", file=sys.stderr)
        return {}
    chosen = names or [n for n in ["hybrid", *sorted(RECOMMENDERS)]
                       if n in RECOMMENDERS and (n != "sequential" or (sequential and _have_torch()))]
    return build_models([n for n in chosen if n in RECOMMENDERS], SEED, split=split)


def _have_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        print("# PyTorch not installed (pip install 'persona[deep]'): the sequential model is left out", file=sys.stderr)
        return False
    return True


def _takes_seed(name: str) -> bool:
    """Whether Persona's recommender ``name`` has a ``seed`` parameter (the registry holds lazy import paths)."""
    from persona.recommend import make_recommender

    return "seed" in make_recommender(name)._param_names()


# --- the run ----------------------------------------------------------------------------------------
def load_ml100k(path: Path) -> pd.DataFrame:
    """``u.data`` in its original row order, with int ids."""
    df = pd.read_csv(path, sep="\t")
    df.columns = ["user_id", "item_id", "rating", "timestamp"]
    return df.astype({"user_id": np.int64, "item_id": np.int64, "rating": np.float32, "timestamp": np.int64})


def load_items(inter_path: Path) -> pd.DataFrame | None:
    """Movie titles and genres (``ml-100k.item``) as item side data, for the content model."""
    path = inter_path.with_suffix(".item")
    if not path.exists():
        return None
    df = pd.read_csv(path, sep="\t", quoting=3)
    df.columns = [c.split(":", 1)[0] for c in df.columns]
    genres = df["class"].fillna("").astype(str)
    return pd.DataFrame({"item_id": df["item_id"].astype(np.int64), "title": df["movie_title"].astype(str),
                         "category": genres.str.split().str[0], "description": genres})


def training_set(train_df: pd.DataFrame, items: pd.DataFrame | None) -> Interactions:
    """The training part as Interactions: ratings as weights, timestamps, the training items' vocabulary."""
    return Interactions.from_frame(train_df, "user_id", "item_id", weight="rating", time="timestamp",
                                   items=items, item_ids=np.sort(train_df["item_id"].unique()))


def run_split(name: str, train_df: pd.DataFrame, test_df: pd.DataFrame, models: dict[str, Any], *, k: int,
              verbose: bool, items: pd.DataFrame | None = None,
              blends: dict[str, Any] | None = None) -> list[ModelReport]:
    """Every model fitted on the training part and scored on the test part; ``blends`` collects each hybrid's
    :func:`~persona.recommend.hybrid.blend_summary` (what it blends and what that adds on its validation folds)."""
    train = training_set(train_df, items)
    out = []
    for label, factory in models.items():
        model = factory()
        rep = evaluate_recommender(model, train, test_df, k=k, name=label, beyond=True, per_user=True, keep_recs=True)
        out.append(rep)
        summary = blend_summary(model) if isinstance(model, HybridRecommender) else None  # not the repeat wrapper
        if blends is not None and summary is not None:
            blends[label] = summary
        if verbose:
            m = rep.metrics
            msg = rep.error or (f"ndcg@10={m['ndcg@10']:.4f} recall@10={m['recall@10']:.4f} "
                                f"fit={rep.fit_seconds:.2f}s rec={rep.recommend_seconds:.2f}s")
            print(f"  [{name}] {label:<20} {msg}", file=sys.stderr, flush=True)
    return out


def table(reports: list[ModelReport]) -> str:
    cols = [("MAP", "map@10"), ("nDCG@10", "ndcg@10"), ("P@10", "precision@10"), ("R@10", "recall@10"),
            ("MRR", "mrr@10"), ("cover", "coverage"), ("novelty", "novelty")]
    head = f"{'model':<22}" + "".join(f"{c:>9}" for c, _ in cols) + f"{'fit s':>9}{'rec s':>8}"
    lines = [head, "-" * len(head)]
    for r in reports:
        if r.error:
            lines.append(f"{r.name:<22} FAILED: {r.error}")
            continue
        lines.append(f"{r.name:<22}" + "".join(f"{r.metrics[key]:>9.4f}" for _, key in cols)
                     + f"{r.fit_seconds:>9.2f}{r.recommend_seconds:>8.3f}"
                     + (f"  (no list for {r.unserved} test users: counted as misses)" if r.unserved else ""))
    return "\n".join(lines)


def verdict(reports: list[ModelReport], model: str | None = None) -> dict[str, Any]:
    """Does Persona's best default (or the named model, e.g. the hybrid) beat every peer on nDCG@10 and Recall@10?"""
    ok = [r for r in reports if not r.error]
    ours = [r for r in ok if not r.name.startswith("peer-") and (model is None or r.name == model)]
    peers = [r for r in ok if r.name.startswith("peer-")]
    if not ours or not peers:
        return {}
    best = max(ours, key=lambda r: r.metrics["ndcg@10"])
    out = {"best_persona": best.name}
    for m in ("ndcg@10", "recall@10"):
        top_peer = max(peers, key=lambda r: r.metrics[m])
        out[m] = {"persona": round(best.metrics[m], 6), "best_peer": top_peer.name,
                  "peer": round(top_peer.metrics[m], 6), "beats": best.metrics[m] > top_peer.metrics[m]}
    return out


def bar_check(reports: list[ModelReport]) -> dict[str, Any]:
    """Persona's best default against the published best (BiVAE) and the tuned-peer bar of the issue."""
    ours = [r for r in reports if not r.error and not r.name.startswith("peer-")]
    if not ours:
        return {}
    best = max(ours, key=lambda r: r.metrics["ndcg@10"])
    return {m: {"persona": round(best.metrics[m], 6), "bar": BAR[m], "beats_bar": best.metrics[m] > BAR[m],
                "published_bivae": PUBLISHED_BIVAE[m], "beats_bivae": best.metrics[m] > PUBLISHED_BIVAE[m]}
            for m in ("ndcg@10", "recall@10")}


def one_model_check(splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Which single Persona default beats every peer on nDCG@10 and Recall@10 in every split (and the bar)?

    The per-split verdicts may name a different best model per split; a user runs one model, so this is the
    stricter reading: one model, the same defaults, every split.
    """
    rows = {s: {r["model"]: r for r in e["rows"] if not r.get("error")} for s, e in splits.items()}
    names = set.intersection(*(set(r) for r in rows.values())) if rows else set()
    out: dict[str, Any] = {}
    for name in sorted(n for n in names if not n.startswith("peer-")):
        misses = []
        for s, r in rows.items():
            for m in ("ndcg@10", "recall@10"):
                peers = [(p[m], p["model"]) for n, p in r.items() if n.startswith("peer-")]
                top = max(peers, default=None)
                ours = r[name][m]
                if top is not None and ours <= top[0]:
                    misses.append(f"{s} {m} {ours:.4f} <= {top[1]} {top[0]:.4f}")
                if s == "stratified" and ours <= BAR[m]:
                    misses.append(f"{s} {m} {ours:.4f} <= bar {BAR[m]}")
        out[name] = misses
    return {"meets_all": sorted(n for n, m in out.items() if not m), "misses": out}


def seed_spread(train_df: pd.DataFrame, test_df: pd.DataFrame, names: list[str], seeds: int, *, k: int,
                items: pd.DataFrame | None, split: str = "stratified") -> dict[str, dict[str, Any]]:
    """nDCG@10 and Recall@10 of each seeded Persona model over ``seeds`` seeds (42, 43, …): the run-to-run noise."""
    from persona.evaluate.selection import build_models

    train = training_set(train_df, items)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        if not _takes_seed(name):
            continue
        vals: dict[str, list[float]] = {"ndcg@10": [], "recall@10": []}
        for seed in range(SEED, SEED + seeds):
            rep = evaluate_recommender(build_models([name], seed, split=split)[name](), train, test_df, k=k, name=name)
            if rep.error:
                break
            for m in vals:
                vals[m].append(rep.metrics[m])
        if vals["ndcg@10"]:
            out[name] = {m: {"mean": round(float(np.mean(v)), 6), "min": round(float(np.min(v)), 6),
                             "max": round(float(np.max(v)), 6), "n": len(v)} for m, v in vals.items()}
    return out


PAIRED = ("ndcg@10", "recall@10")


def hybrid_versus(reports: list[ModelReport]) -> dict[str, Any]:
    """The hybrid minus each other Persona model, user by user: does it beat each family it blends?"""
    rows = {r.name: r.per_user for r in reports
            if not r.error and not r.name.startswith("peer-") and r.per_user is not None}
    if "hybrid" not in rows or len(rows) < 2:
        return {}
    # a model serving the hybrid's own lists (``repeat`` wraps the chosen model and, with seen items excluded,
    # returns its lists unchanged) is no rival: a zero difference would read as "not ahead"
    ref = rows["hybrid"][list(PAIRED)]
    rows = {n: r for n, r in rows.items() if n == "hybrid" or not r[list(PAIRED)].equals(ref)}
    return {n: {m: d.to_dict() for m, d in ms.items()} for n, ms in versus(rows, "hybrid", PAIRED).items()}


def hybrid_lists(reports: list[ModelReport], test_df: pd.DataFrame, k: int) -> dict[str, Any]:
    """The hybrid's top-k lists against its closest Persona rival's (highest nDCG@k + recall@k on this split):
    how many slots they share, and how often each is right where they differ (:func:`persona.evaluate.list_difference`)."""
    ours = {r.name: r for r in reports if not r.error and not r.name.startswith("peer-") and r.recs is not None}
    if "hybrid" not in ours:
        return {}
    ref = ours["hybrid"].per_user[list(PAIRED)]
    rivals = [r for n, r in ours.items() if n != "hybrid" and not r.per_user[list(PAIRED)].equals(ref)]
    if not rivals:
        return {}
    rival = max(rivals, key=lambda r: sum(r.metrics[m] for m in PAIRED))
    d = list_difference(ours["hybrid"].recs, rival.recs, test_df, k=k)
    return {"rival": rival.name, **d.to_dict(), "sentence": d.sentence("the hybrid", rival.name)}


def split_seed_check(df: pd.DataFrame, models: dict[str, Any], seeds: int, *, k: int,
                     items: pd.DataFrame | None) -> dict[str, Any]:
    """Every model on ``seeds`` stratified splits (seeds 42, 43, …): mean metrics per model and, where the
    hybrid is among them, its lead over each other model averaged per user over the splits (paired)."""
    names = list(models)
    per_user: dict[str, list[pd.DataFrame]] = {n: [] for n in names}
    means: dict[str, dict[str, list[float]]] = {n: {m: [] for m in PAIRED} for n in names}
    for seed in range(SEED, SEED + seeds):
        tr, te = stratified_split(df, 0.75, filter_by="item", seed=seed)
        train = training_set(tr, items)
        for name in names:
            rep = evaluate_recommender(models[name](), train, te, k=k, name=name, beyond=False, per_user=True)
            if rep.error:
                raise RuntimeError(f"{name} failed on split seed {seed}: {rep.error}")
            per_user[name].append(rep.per_user)
            for m in PAIRED:
                means[name][m].append(rep.metrics[m])
            print(f"  [split seed {seed}] {name:<12} ndcg@10={rep.metrics['ndcg@10']:.4f} "
                  f"recall@10={rep.metrics['recall@10']:.4f}", file=sys.stderr, flush=True)
    out: dict[str, Any] = {"seeds": list(range(SEED, SEED + seeds)),
                           "means": {n: {m: round(float(np.mean(v)), 6) for m, v in ms.items()} for n, ms in means.items()}}
    if "hybrid" in names:
        avg = {n: pd.concat(frames).groupby(level=0).mean() for n, frames in per_user.items()}
        out["hybrid_versus"] = {n: {m: paired_difference(avg["hybrid"][m], avg[n][m]).to_dict() for m in PAIRED}
                                for n in names if n != "hybrid"}
    return out


def _versus_lines(title: str, rows: dict[str, Any]) -> list[str]:
    lines = [title]
    for name, diffs in rows.items():
        parts = [f"{m} {d['diff']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]" for m, d in diffs.items()]
        beats = all(d["low"] > 0 for d in diffs.values())
        ahead = all(d["diff"] > 0 for d in diffs.values())
        lines.append(f"  vs {name:<12} {'; '.join(parts)}  "
                     + ("beats it (both intervals above 0)" if beats else "ahead on both, within noise" if ahead
                        else "NOT ahead on both"))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ml-100k.inter (RecBole atomic file) path")
    ap.add_argument("--models", default=None,
                    help="comma-separated names: Persona's (hybrid, ease, als…) and peers (peer-ease-500, peer-cornac-bpr…)")
    ap.add_argument("--split", choices=["stratified", "temporal", "both"], default="both")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the JSON result to this file")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--seeds", type=int, default=1,
                    help="also rerun each seeded Persona model with this many seeds and report the spread")
    ap.add_argument("--split-seeds", type=int, default=1,
                    help="also rerun the selected Persona models on this many stratified splits (seeds 42, 43, …) and "
                         "compare the hybrid with each, paired by user")
    args = ap.parse_args(argv)
    for flag, value in (("--seeds", args.seeds), ("--split-seeds", args.split_seeds)):
        if value < 1:
            print(f"{flag} must be at least 1, got {value}", file=sys.stderr)
            return 2
    if not args.data.exists():
        print(f"MovieLens 100K not found at {args.data}", file=sys.stderr)
        return 2
    try:
        import cornac  # noqa: F401
        have_cornac = True
    except ImportError:
        have_cornac = False
        print("# cornac not installed (pip install 'persona[bench]'): the published-row check is skipped",
              file=sys.stderr)
    df = load_ml100k(args.data)
    items = load_items(args.data)
    selected = [s.strip() for s in args.models.split(",")] if args.models else None
    splits: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    if args.split in ("stratified", "both"):
        splits["stratified"] = stratified_split(df, 0.75, filter_by="item", seed=SEED)
    if args.split in ("temporal", "both"):
        splits["temporal"] = temporal_user_split(df, fraction=0.2, time="timestamp")
    result: dict[str, Any] = {"protocol": {"dataset": str(args.data), "k": args.k, "threads": os.cpu_count()},
                              "splits": {}}
    for split_name, (tr, te) in splits.items():
        peers = peer_models(tr, have_cornac and split_name == "stratified")
        ours = persona_models([n for n in selected if not n.startswith("peer-")] if selected else None, split_name)
        models = {**ours, **peers}
        if selected:
            models = {n: f for n, f in models.items() if n in selected}
        t0 = time.perf_counter()
        blends: dict[str, Any] = {}
        reps = run_split(split_name, tr, te, models, k=args.k, verbose=not args.quiet, items=items, blends=blends)
        entry = {"train_rows": len(tr), "test_rows": len(te), "seconds": round(time.perf_counter() - t0, 1),
                 "rows": [r.row() for r in reps], "verdict": verdict(reps),
                 "hybrid_verdict": verdict(reps, "hybrid"), "hybrid_versus": hybrid_versus(reps), "blends": blends,
                 "hybrid_lists": hybrid_lists(reps, te, args.k)}
        if split_name == "stratified":
            entry["bar"] = bar_check(reps)
        cb = next((r for r in reps if r.name == "peer-cornac-bpr" and not r.error), None)
        if cb is not None:
            entry["published_check"] = {m: {"published": v, "measured": round(cb.metrics[m], 6),
                                            "match_3dp": round(cb.metrics[m], 3) == round(v, 3)}
                                        for m, v in PUBLISHED_CORNAC_BPR.items()}
        if args.seeds > 1:
            entry["seed_spread"] = seed_spread(tr, te, [n for n in ours if n in models], args.seeds, k=args.k, items=items,
                                                split=split_name)
        result["splits"][split_name] = entry
        if not args.json:
            print(f"\n== MovieLens 100K, {split_name} split: {len(tr):,} train / {len(te):,} test rows ==")
            print(table(reps))
            if "published_check" in entry:
                pc = entry["published_check"]
                print("published cornac BPR row: " + ", ".join(
                    f"{m} {v['measured']:.6f} vs {v['published']:.6f}{'' if v['match_3dp'] else ' MISMATCH'}"
                    for m, v in pc.items()))
            if entry["verdict"]:
                v = entry["verdict"]
                print(f"best Persona model: {v['best_persona']}; " + "; ".join(
                    f"{m}: {v[m]['persona']:.4f} vs best peer {v[m]['best_peer']} {v[m]['peer']:.4f} "
                    f"({'beats' if v[m]['beats'] else 'DOES NOT beat'})" for m in ("ndcg@10", "recall@10")))
            hv = entry["hybrid_verdict"]
            if hv and hv["best_persona"] != entry["verdict"].get("best_persona"):
                print("the default hybrid itself: " + "; ".join(
                    f"{m}: {hv[m]['persona']:.4f} vs best peer {hv[m]['best_peer']} {hv[m]['peer']:.4f} "
                    f"({'beats' if hv[m]['beats'] else 'DOES NOT beat'})" for m in ("ndcg@10", "recall@10")))
            if entry.get("bar"):
                print("vs the bar (tuned EASE/ALS on this protocol) and the published best row (BiVAE): " + "; ".join(
                    f"{m} {v['persona']:.4f} vs bar {v['bar']} ({'above' if v['beats_bar'] else 'BELOW'}), "
                    f"vs BiVAE {v['published_bivae']} ({'above' if v['beats_bivae'] else 'BELOW'})"
                    for m, v in entry["bar"].items()))
            if entry["hybrid_versus"]:
                print("\n".join(_versus_lines("the hybrid minus each Persona model, paired by user "
                                               "(mean, 95% CI):", entry["hybrid_versus"])))
            for summary in blends.values():
                print(blend_line(summary))
            if entry["hybrid_lists"]:
                print(entry["hybrid_lists"]["sentence"])
            for name, sp_ in entry.get("seed_spread", {}).items():
                print(f"{name} over {sp_['ndcg@10']['n']} seeds: " + "; ".join(
                    f"{m} mean {v['mean']:.4f} (min {v['min']:.4f}, max {v['max']:.4f})" for m, v in sp_.items()))
    if args.split_seeds > 1:
        ours = persona_models([n for n in selected if not n.startswith("peer-")] if selected else None, "stratified",
                              sequential=False)
        check = split_seed_check(df, ours, args.split_seeds, k=args.k, items=items)
        result["split_seeds"] = check
        if not args.json:
            print(f"\n== stratified splits, seeds {check['seeds'][0]}–{check['seeds'][-1]}: mean over the splits ==")
            for name, ms in check["means"].items():
                print(f"{name:<22}" + "".join(f"  {m} {v:.4f}" for m, v in ms.items()))
            if "hybrid_versus" in check:
                print("\n".join(_versus_lines("the hybrid minus each model, per user averaged over the splits "
                                               "(mean, 95% CI):", check["hybrid_versus"])))
    if len(result["splits"]) > 1:
        result["one_model"] = one_model_check(result["splits"])
        if not args.json:
            om = result["one_model"]
            print("\none default model on every split, beating every peer (and the bar): "
                  + (", ".join(om["meets_all"]) if om["meets_all"] else "none"))
            for name, misses in om["misses"].items():
                if misses and not args.quiet:
                    print(f"  {name}: " + "; ".join(misses))
    if args.json:
        print(json.dumps(result, indent=2, default=float))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
