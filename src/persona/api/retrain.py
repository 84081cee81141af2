"""Scheduled retraining for the served recommender: build a candidate, compare it with the active version, promote only a better one.

Champion/challenger on one temporal holdout of the current data (each customer's latest 20% of events):

* the challenger is the best algorithm of :func:`persona.evaluate.selection.compare`;
* the champion is the active version's configuration (algorithm and stored parameters);

both are fitted on the training part only (the active artifact itself saw held-out events, so judging
it directly would favour it unfairly) and scored the same way, by fold-in (:mod:`persona.api.foldin`)
of each test customer's training-part history — the path that serves live customers.

The challenger is refitted on all events and registered as a new version. It is promoted when its
nDCG@10 beats the champion's by more than ``min_gain``, or when it *is* the champion's configuration
(equal holdout score by construction) trained on events the active version never saw — the same model,
fresher. Otherwise it stays a ``candidate``. Every run writes ``retrain_last.json`` beside the
models, which ``GET /v1/models`` and the dashboard show with freshness and drift.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from persona.api.foldin import foldin_recommend, history_vector
from persona.errors import InputError, NotFoundError
from persona.jsonvalues import dumps

log = logging.getLogger(__name__)

LAST_REPORT = "retrain_last.json"
K = 10


def _event_watermark(store: Any) -> int:
    return int(store.read_frame("SELECT MAX(id) AS m FROM events")["m"].fillna(0).iloc[0])


def holdout_metrics(model: Any, train: Any, test: pd.DataFrame, *, max_users: int = 2000, seed: int = 42) -> dict[str, float]:
    """nDCG@10 and recall@10 of ``model`` on ``test`` pairs, by fold-in of each user's history in ``train``.

    Args:
        model: a fitted recommender (any vocabulary; unknown history items are skipped).
        train: the training-part ``Interactions`` (its log gives each test user's history).
        test: held-out ``user_id, item_id`` pairs.
        max_users: evaluate at most this many test users (a seeded sample).
        seed: sample seed.

    Returns:
        ``{"ndcg@10", "recall@10", "users"}``.
    """
    users = pd.unique(test["user_id"])
    if len(users) > max_users:
        users = np.random.default_rng(seed).choice(users, max_users, replace=False)
    truth = test.groupby("user_id")["item_id"].apply(lambda s: set(map(str, s)))
    lg = train.log
    uidx = train.user_index(list(users))
    events = pd.DataFrame({"u": lg["user_idx"].to_numpy(), "product_id": train.item_ids[lg["item_idx"].to_numpy()].astype(str),
                           "event_type": lg["event"].astype(str).to_numpy() if "event" in lg.columns else "view",
                           "value": lg["weight"].to_numpy()})
    by_user = dict(tuple(events.groupby("u", sort=False)))
    discounts = 1.0 / np.log2(np.arange(2, K + 2))
    ndcg, recall, n = 0.0, 0.0, 0
    for u, ui in zip(users, uidx, strict=True):
        rel = truth.get(u)
        if not rel:
            continue
        n += 1
        hist = by_user.get(int(ui)) if ui >= 0 else None
        h = history_vector(model, hist if hist is not None else events.iloc[:0])
        if h.empty:
            recs = model.recommend(["\x00holdout-cold"], k=K, reasons=False)["item_id"].astype(str).tolist()
        else:
            recs = [r["product_id"] for r in foldin_recommend(model, h, K)]
        hits = np.array([r in rel for r in recs[:K]], dtype=float)
        ideal = discounts[: min(len(rel), K)].sum()
        ndcg += float((hits * discounts[: len(hits)]).sum() / ideal) if ideal else 0.0
        recall += float(hits.sum() / min(len(rel), K))
    if n == 0:
        raise InputError("the holdout has no users to evaluate", hint="ingest more events per customer")
    return {"ndcg@10": round(ndcg / n, 6), "recall@10": round(recall / n, 6), "users": n}


def _champion(active_mv: Any, candidate: Any, best_name: str, seed: int) -> tuple[Any, bool]:
    """An unfitted copy of the active version's configuration (algorithm + parameters), and whether it equals the candidate's."""
    from persona.evaluate.selection import build_models
    from persona.recommend import RECOMMENDERS

    params = dict(active_mv.params or {})
    algo = params.pop("algorithm", None)
    if algo not in RECOMMENDERS:
        return None, False
    model = build_models([algo], seed)[algo]()
    names = set(model.get_params())
    plain = {k: v for k, v in params.items() if k in names and isinstance(v, str | int | float | bool | type(None))
             and not (isinstance(v, str) and v.startswith(("<", "{", "[", "(")))}
    try:
        model.set_params(**plain)
    except Exception:  # noqa: BLE001 - parameters stored as text that no longer parse: use the defaults
        model = build_models([algo], seed)[algo]()
    same = algo == best_name and model.get_params() == candidate.get_params()
    return model, same


def retrain(
    store: Any,
    *,
    name: str = "recommender",
    models: Sequence[str] | None = None,
    split: str = "temporal",
    min_gain: float = 0.0,
    seed: int = 42,
    max_users: int = 2000,
) -> dict[str, Any]:
    """Train a new version of ``name``, compare it with the active version on a holdout, promote it only if better.

    Args:
        store: the workspace store.
        name: registry name of the served recommender.
        models: algorithms to compare for the candidate (default: the pipeline's defaults).
        split: temporal, random or stratified holdout.
        min_gain: the candidate's nDCG@10 must exceed the active one's by more than this.
        seed: seed of the split, the models and the user sample.
        max_users: test users scored per contender.

    Returns:
        A report: candidate and active metrics, the new version, whether it was promoted, timings.

    Raises:
        InputError: no events with products.
    """
    from persona.data import Interactions
    from persona.evaluate.selection import (
        DEFAULT_MODELS,
        applicable_models,
        build_models,
        compare,
        serve_repeats,
    )
    from persona.registry import get_version, promote, register

    t0 = time.perf_counter()
    watermark = _event_watermark(store)
    data = Interactions.from_store(store)
    if data.nnz == 0:
        raise InputError("the workspace has no events that name a product", hint="ingest events first")
    engine = store.settings.engine
    cmp = compare(data, list(models or applicable_models(DEFAULT_MODELS, data)[0]), split=split, seed=seed, engine=engine)
    best = cmp.best
    if best is None:
        raise InputError("no recommender could be trained: " + "; ".join(f"{r.name}: {r.error}" for r in cmp.reports))
    # the comparison kept its best model as fitted on the training part: no second fit of the same model
    candidate_split = (cmp.best_fitted if cmp.best_fitted is not None
                       else build_models([best.name], seed, engine, split)[best.name]().fit(cmp.train))
    cand = holdout_metrics(candidate_split, cmp.train, cmp.test, max_users=max_users, seed=seed)
    active_mv = None
    try:
        active_mv = get_version(store, name)
    except NotFoundError:
        pass
    act, same_config, new_events = None, False, watermark
    if active_mv is not None:
        champion, same_config = _champion(active_mv, candidate_split, best.name, seed)
        if champion is not None:
            act = holdout_metrics(champion.fit(cmp.train), cmp.train, cmp.test, max_users=max_users, seed=seed)
        prev_wm = (active_mv.metrics or {}).get("event_watermark")
        new_events = watermark - int(prev_wm) if prev_wm is not None else watermark
    if act is None:
        better, reason = True, "no comparable active version"
    elif cand["ndcg@10"] > act["ndcg@10"] + min_gain:
        better, reason = True, f"candidate nDCG@10 {cand['ndcg@10']:.4f} > active {act['ndcg@10']:.4f}" + (f" + {min_gain}" if min_gain else "")
    elif same_config and new_events > 0 and cand["ndcg@10"] >= act["ndcg@10"]:
        better, reason = True, f"same configuration as the active version, trained on {new_events} newer events"
    else:
        better, reason = False, f"candidate nDCG@10 {cand['ndcg@10']:.4f} <= active {act['ndcg@10']:.4f}" + (f" + {min_gain}" if min_gain else "")
    final = build_models([best.name], seed, engine, split)[best.name]().fit(data)
    base_params = final.get_params()
    final = serve_repeats(final, data, cmp.repeat_share, seed, holdout=cmp.holdout())
    metrics = {**{k2: round(v, 6) for k2, v in best.metrics.items()}, "split": split, "holdout_foldin": cand,
               "active_holdout_foldin": act, "active_version": active_mv.version if active_mv else None,
               "event_watermark": watermark, "n_users": data.n_users, "n_items": data.n_items, "n_events": len(data.log)}
    params = {"algorithm": best.name, **{k2: v if isinstance(v, str | int | float | bool | type(None)) else repr(v)
                                         for k2, v in base_params.items()},
              "served_with_repeats": final.name == "repeat" and best.name != "repeat"}
    mv = register(store, name, "recommender", final, params, metrics, activate=False)
    if better:
        mv = promote(store, name, mv.version)
    report = {
        "name": name, "version": mv.version, "algorithm": best.name, "promoted": better,
        "candidate": cand, "active": act, "active_version": active_mv.version if active_mv else None,
        "active_algorithm": (active_mv.params or {}).get("algorithm") if active_mv else None,
        "new_events_since_active": new_events, "min_gain": min_gain, "split": split, "event_watermark": watermark,
        "comparison": cmp.table(), "seconds": round(time.perf_counter() - t0, 2),
        "finished_at": datetime.now(UTC).isoformat(), "reason": reason,
    }
    path = store.settings.models_dir / LAST_REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(report, indent=2), encoding="utf-8")
    log.info("retrain name=%s version=%d promoted=%s", name, mv.version, better)
    return report


def last_report(store: Any) -> dict[str, Any] | None:
    """The report of the latest :func:`retrain` in this workspace, or None."""
    path = store.settings.models_dir / LAST_REPORT
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def drift(store: Any, model: Any, metrics: dict[str, Any] | None, *, recent: int = 10_000) -> dict[str, Any]:
    """How far the data moved since the served model was trained.

    Events after the model's training watermark (``event_watermark`` in its metrics; without one, the
    newest ``recent`` events) are checked against the model's vocabularies: the share from customers and
    of products it has never seen. The metric drop compares the model's nDCG@10 at training time with
    its nDCG@10 on the latest retrain's holdout (when that run judged this version).
    """
    metrics = metrics or {}
    wm = metrics.get("event_watermark")
    if wm is not None:
        ev = store.read_frame("SELECT customer_id, product_id FROM events WHERE id > :w ORDER BY id DESC LIMIT :n",
                              {"w": int(wm), "n": 100_000})
        n_since = int(store.read_frame("SELECT COUNT(*) AS n FROM events WHERE id > :w", {"w": int(wm)})["n"].iloc[0])
        basis = "events since training"
    else:
        ev = store.read_frame("SELECT customer_id, product_id FROM events ORDER BY id DESC LIMIT :n", {"n": recent})
        n_since, basis = None, f"newest {recent} events (no training watermark)"
    out: dict[str, Any] = {"basis": basis, "events_since_training": n_since, "events_checked": len(ev)}
    data = getattr(model, "data_", None)
    if data is not None and len(ev):
        out["share_unseen_customers"] = round(float((data.user_index(ev["customer_id"].astype(str).tolist()) < 0).mean()), 4)
        prods = ev["product_id"].dropna().astype(str).tolist()
        out["share_unseen_products"] = round(float((data.item_index(prods) < 0).mean()), 4) if prods else 0.0
    out["ndcg_registered"] = metrics.get("ndcg@10")
    out["ndcg_at_training"] = (metrics.get("holdout_foldin") or {}).get("ndcg@10")  # same protocol as ndcg_now
    out["ndcg_now"] = None
    out["metric_drop"] = None
    return out


def with_metric_drop(out: dict[str, Any], report: dict[str, Any] | None, name: str, version: int | None) -> dict[str, Any]:
    """Add the latest retrain's judgement of ``name`` v``version`` to a :func:`drift` result."""
    if report and report.get("name") == name and report.get("active_version") == version and report.get("active"):
        now = report["active"]["ndcg@10"]
        out["ndcg_now"] = now
        if out.get("ndcg_at_training") is not None:
            out["metric_drop"] = round(float(out["ndcg_at_training"]) - float(now), 6)
    return out
