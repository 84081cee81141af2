"""MovieLens 100K dev splits: judge a new member or default without touching the benchmark's test set.

The training part of the benchmark's split (stratified by item, 75%, seed 42) is split again the same way with
other seeds (1, 2, 3 by default); every configuration is fitted on each dev training part and scored on its dev
test part. A configuration is a registered model with optional JSON parameters (``ease``,
``'dlae:{"lambda_": 300}'``), the default hybrid (``hybrid``), or the default hybrid with extra registered members
(``hybrid+bpr``, ``hybrid+bpr+userknn``; the default set is passed as an explicit model list, so its size guards
are not applied: every member fits on MovieLens 100K), or a hybrid of named members only
(``'hybrid:{"models": ["ease-local", "als"]}'``). Each configuration is compared with the first one, per user
averaged over the dev splits (mean difference and 95% interval).

``--split temporal`` judges on the benchmark's temporal split instead: its training part (all but the last 20% of each
user's ratings) is split again the same way, so there is one dev split, whatever the seeds.

    python bench/bench_movielens_dev.py --specs hybrid hybrid+bpr bpr
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_movielens import DEFAULT_DATA, SEED, load_items, load_ml100k, training_set  # noqa: E402

from persona.evaluate import stratified_split, temporal_user_split  # noqa: E402
from persona.evaluate.offline import evaluate_recommender  # noqa: E402
from persona.evaluate.significance import paired_difference  # noqa: E402
from persona.recommend.hybrid import SPLIT_VALIDATION, HybridRecommender, default_members  # noqa: E402
from persona.recommend.registry import make_seeded  # noqa: E402

METRICS = ("ndcg@10", "recall@10")


def build(spec: str, split: str = "stratified") -> Any:
    """An unfitted model from a configuration string (see the module docstring); a hybrid validates as suits
    ``split`` (:data:`~persona.recommend.hybrid.SPLIT_VALIDATION`) unless the string says otherwise."""
    name, _, params = spec.partition(":")
    given = json.loads(params) if params else {}
    if name == "hybrid" or name.startswith("hybrid+"):
        given.setdefault("validation", SPLIT_VALIDATION[split])
        extra = [m for m in name.split("+")[1:] if m]
        base = default_members(given["validation"])
        models = None if not extra else [*base, *(m for m in extra if m not in base)]
        models = given.pop("models", models)  # an explicit member list: 'hybrid:{"models": ["ease-local", "als"]}'
        return HybridRecommender(models=models, seed=SEED, **given)
    return make_seeded(name, given, SEED)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ml-100k.inter (RecBole atomic file) path")
    ap.add_argument("--specs", nargs="+", default=["hybrid"], help="configurations; the first is the reference")
    ap.add_argument("--dev-seeds", default="1,2,3", help="seeds of the dev splits (never 42, the benchmark's)")
    ap.add_argument("--split", choices=["stratified", "temporal"], default="stratified",
                    help="which of the benchmark's splits the dev splits are carved from")
    ap.add_argument("--dev-share", type=float, default=0.75,
                    help="share of the benchmark's training part that trains on a stratified dev split (the benchmark "
                         "trains on 75%% of the data; a larger share comes closer to its size)")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.dev_seeds.split(",")]
    if SEED in seeds:
        print(f"--dev-seeds must not include {SEED}: that is the benchmark's own split", file=sys.stderr)
        return 2
    if not args.data.exists():
        print(f"MovieLens 100K not found at {args.data}", file=sys.stderr)
        return 2
    df, items = load_ml100k(args.data), load_items(args.data)
    if args.split == "temporal":
        outer_train, _ = temporal_user_split(df, fraction=0.2, time="timestamp")
        seeds = seeds[:1]  # the temporal dev split does not depend on a seed
    else:
        outer_train, _ = stratified_split(df, 0.75, filter_by="item", seed=SEED)
    per_user: dict[str, list[pd.DataFrame]] = {s: [] for s in args.specs}
    for seed in seeds:
        if args.split == "temporal":
            tr, te = temporal_user_split(outer_train, fraction=0.2, time="timestamp")
        else:
            tr, te = stratified_split(outer_train, args.dev_share, filter_by="item", seed=seed)
        train = training_set(tr, items)
        for spec in args.specs:
            model = build(spec, args.split)
            rep = evaluate_recommender(model, train, te, k=10, name=spec, beyond=False, per_user=True)
            if rep.error:
                print(f"{spec} failed on dev seed {seed}: {rep.error}", file=sys.stderr)
                return 1
            per_user[spec].append(rep.per_user)
            weights = getattr(model, "weights_", None)
            blend = ("  weights " + ", ".join(f"{n} {w:.2f}" for n, w in sorted(weights.items(), key=lambda x: -x[1])
                                              if w >= 0.005)) if weights else ""
            print(f"dev seed {seed}  {spec:<28} ndcg@10 {rep.metrics['ndcg@10']:.4f}  "
                  f"recall@10 {rep.metrics['recall@10']:.4f}  fit {rep.fit_seconds:.1f}s{blend}", flush=True)
    ref = args.specs[0]
    avg = {s: pd.concat(frames).groupby(level=0).mean() for s, frames in per_user.items()}
    print(f"\nmean over dev seeds {seeds}; difference to {ref}, per user averaged over the splits (95% CI):")
    for spec in args.specs:
        means = {m: float(np.mean([f[m].mean() for f in per_user[spec]])) for m in METRICS}
        line = f"{spec:<28}" + "".join(f"  {m} {v:.4f}" for m, v in means.items())
        if spec != ref:
            for m in METRICS:
                d = paired_difference(avg[spec][m], avg[ref][m])
                line += f"  Δ{m} {d.diff:+.4f} [{d.low:+.4f}, {d.high:+.4f}]"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
