"""Choose a recommender on a held-out split, refit it on all data and register it.

Shared by the ``recommend`` stage of ``persona run``, ``persona recommend train`` and
``persona evaluate recommend``: split an :class:`~persona.data.Interactions`, compare the
configured models on the same split, and keep the best by nDCG at the list length ``k`` (nDCG@10 by default).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from persona.data import Interactions
from persona.errors import InputError
from persona.evaluate.offline import ModelReport, best_model, evaluate_recommender
from persona.evaluate.overlap import ListDifference, list_difference
from persona.evaluate.significance import PairedDifference, versus
from persona.evaluate.splitters import stratified_split, temporal_global_split, temporal_user_split

log = logging.getLogger(__name__)

#: Models the pipeline stage and ``persona recommend train`` compare by default (fast on a shop's data).
DEFAULT_MODELS: tuple[str, ...] = ("popular", "itemknn", "als", "ease", "category", "hybrid")
SPLITS = ("temporal", "stratified", "random", "global")
#: Share of held-out customer-product pairs the customer already had from which the chosen model is served
#: inside the ``repeat`` model (plain lists unchanged; ``include_seen`` lists rank those products by their
#: learned comeback chance).
REPEAT_SERVING_SHARE = 0.05


def select_metric(k: int) -> str:
    """The metric the best model is chosen by, for lists of length ``k``: nDCG@k."""
    return f"ndcg@{k}"


@dataclass
class Comparison:
    """The outcome of comparing recommenders on one split."""

    split: str
    train: Interactions
    test: pd.DataFrame
    reports: list[ModelReport]
    seconds: float
    #: share of the distinct held-out (user, item) pairs the user already had in training (kept in ``test``
    #: only when the comparison keeps repeats)
    repeat_share: float = 0.0
    #: every distinct held-out (user, item) pair, repeats included, as a 0/1 matrix in ``train``'s vocabularies
    held: sp.csr_matrix | None = None
    #: the best model as fitted on ``train`` (the others are not kept)
    best_fitted: Any = None
    #: the list length the models were judged at (the best is chosen by :func:`select_metric` of it)
    k: int = 10

    def holdout(self) -> tuple[Interactions, sp.csr_matrix, Any] | None:
        """``(train, held-out pairs, best model fitted on train)`` of a temporal comparison, for a model that learns
        from each customer's latest events (the ``repeat`` model's comeback scale); None otherwise."""
        fitted = self.best_fitted
        if self.split != "temporal" or self.held is None or getattr(fitted, "data_", None) is not self.train:
            return None
        return self.train, self.held, fitted

    @property
    def best(self) -> ModelReport | None:
        return best_model(self.reports, select_metric(self.k))

    def table(self) -> list[dict[str, Any]]:
        """One row per model: metrics rounded for display, timings in seconds."""
        rows = []
        for r in self.reports:
            row = {"model": r.name}
            row.update({k: round(v, 4) for k, v in r.metrics.items()})
            row["fit_s"] = round(r.fit_seconds, 2) if np.isfinite(r.fit_seconds) else None
            row["recommend_s"] = round(r.recommend_seconds, 3) if np.isfinite(r.recommend_seconds) else None
            if r.unserved:
                row["unserved"] = r.unserved
            if r.error:
                row["error"] = r.error
            rows.append(row)
        return rows

    def versus_best(self, metrics: Sequence[str]) -> dict[str, dict[str, PairedDifference]]:
        """The best model minus each other model, user by user on this split (see :func:`versus`)."""
        best = self.best
        rows = {r.name: r.per_user for r in self.reports if r.error is None and r.per_user is not None}
        if best is None or best.name not in rows or len(rows[best.name]) < 2:
            return {}
        return versus(rows, best.name, metrics)

    def lists_versus_runner_up(self, k: int = 10) -> tuple[str, ListDifference] | None:
        """The best model's top-``k`` lists against the runner-up's (by :func:`select_metric`): the slots they share and
        how often each is right where they differ (:func:`~persona.evaluate.list_difference`); None with fewer than
        two evaluated models or without kept recommendations."""
        best = self.best
        runner = best_model([r for r in self.reports if r is not best and r.recs is not None], select_metric(self.k))
        if best is None or best.recs is None or runner is None:
            return None
        return runner.name, list_difference(best.recs, runner.recs, self.test, k=k)

    def lists_summary(self, k: int = 10) -> dict[str, Any] | None:
        """:meth:`lists_versus_runner_up` for reports and JSON: the runner-up's name (``model``), the figures and the
        ``sentence`` that says them; None where there is nothing to compare."""
        found = self.lists_versus_runner_up(k)
        if found is None or self.best is None:
            return None
        runner, diff = found
        return {"model": runner, **diff.to_dict(), "sentence": diff.sentence(self.best.name, runner)}


def split_interactions(
    data: Interactions, split: str = "temporal", *, fraction: float = 0.2, seed: int = 42, repeats: bool = False
) -> tuple[Interactions, pd.DataFrame]:
    """Hold out part of every user's history.

    ``temporal``: each user's latest ``fraction`` of events; ``random``: a random ``fraction`` of each
    user's events; ``stratified``: a random ``fraction`` of each item's events (the MovieLens benchmark
    protocol, where the source order of the events drives the draws); ``global``: the latest ``fraction`` of all
    events, after one cut-off time (customers whose events all come after it are judged too: they stand for the
    new customers of the future, served as the model serves customers without history). Test pairs the user already has
    in training are dropped (a model that excludes seen items cannot be scored on them), unless ``repeats``:
    then they stay, for models that recommend seen items too (score them with ``exclude_seen=False``).

    Args:
        data: all interactions.
        split: temporal, random, stratified or global.
        fraction: share held out.
        seed: random seed.
        repeats: keep test pairs the user already has in training.

    Returns:
        ``(train, test)``: training Interactions (same vocabularies) and a DataFrame ``user_id, item_id`` (and
        ``rating``, the held-out pair's rating or NaN, where the data holds ratings).

    Raises:
        InputError: unknown split, or nothing could be held out.
    """
    train, pairs, again = _held_out(data, split, fraction, seed)
    return train, _test_frame(data, pairs if repeats else pairs[~again], split, repeats_dropped=int(again.sum()) * (not repeats))


def _held_out(data: Interactions, split: str, fraction: float, seed: int) -> tuple[Interactions, pd.DataFrame, np.ndarray]:
    """The split of :func:`split_interactions`: training data, the distinct held-out ``(u, i)`` index pairs,
    and which of them the user already has in training (repeats)."""
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}", hint=f"choose one of {list(SPLITS)}")
    lg = data.log
    frame = pd.DataFrame({"u": lg["user_idx"].to_numpy(), "i": lg["item_idx"].to_numpy(), "t": lg["time"].to_numpy()})
    if split in ("temporal", "global") and not data.has_time:
        raise InputError(f"a {split} split needs event times", hint="use --split random, or ingest timestamps")
    if split == "temporal":
        tr, te = temporal_user_split(frame, fraction=fraction, user="u", time="t")
    elif split == "global":
        tr, te = temporal_global_split(frame, 1 - fraction, time="t")
    elif split == "random":
        tr, te = stratified_split(frame, 1 - fraction, filter_by="user", user="u", item="i", seed=seed)
    else:
        tr, te = stratified_split(frame, 1 - fraction, filter_by="item", user="u", item="i", seed=seed)
    keep = np.zeros(len(lg), dtype=bool)
    keep[tr.index.to_numpy()] = True
    train = data.subset(keep)
    seen = set(zip(tr["u"].to_numpy().tolist(), tr["i"].to_numpy().tolist(), strict=True))
    pairs = te[["u", "i"]].drop_duplicates()
    again = np.array([(u, i) in seen for u, i in zip(pairs["u"], pairs["i"], strict=True)], dtype=bool)
    return train, pairs, again


def _test_frame(data: Interactions, pairs: pd.DataFrame, split: str, repeats_dropped: int = 0) -> pd.DataFrame:
    """Held-out index pairs as ``user_id, item_id``; an empty test is a user mistake (too little history), or
    a shop whose held-out events are all products customers had (``repeats_dropped`` of them)."""
    if pairs.empty and repeats_dropped:
        raise InputError(f"every product held out by the {split} split ({repeats_dropped} customer-product pairs) was one "
                         "the customer already had, so a comparison of new products has nothing to score",
                         hint="compare with repeats kept (`persona evaluate recommend --repeats`), or ingest more "
                              "history so that the held-out events also hold new products")
    if pairs.empty:
        raise InputError(f"the {split} split left nothing to test on ({len(data.log)} events)",
                         hint="users need several events each; ingest more history")
    out = pd.DataFrame({"user_id": data.user_ids[pairs["u"].to_numpy()], "item_id": data.item_ids[pairs["i"].to_numpy()]})
    ratings = data.ratings().tocoo()
    if ratings.nnz:  # the held-out ratings, for the models that predict ratings (RMSE, MAE)
        known = pd.DataFrame({"u": ratings.row, "i": ratings.col, "rating": ratings.data})
        out["rating"] = pairs[["u", "i"]].merge(known, on=["u", "i"], how="left")["rating"].to_numpy()
    return out


def applicable_models(names: Sequence[str], data: Interactions) -> tuple[list[str], dict[str, str]]:
    """The models of a default set that can run on ``data``, and why each other one was left out.

    Used for default sets only: a model the user names explicitly runs, and fails with its own message.
    Each model says what it needs (:meth:`~persona.recommend.base.Recommender.unfit_reason`): timestamps for
    the event-order models, product categories for ``category``, a catalogue within the dense item models' limit.
    """
    from persona.recommend import make_recommender

    keep: list[str] = []
    skipped: dict[str, str] = {}
    for name in dict.fromkeys(names):
        reason = make_recommender(name).unfit_reason(data)
        if reason:
            skipped[name] = reason
        else:
            keep.append(name)
    return keep, skipped


def build_models(names: Sequence[str], seed: int = 42, engine: str | None = None,
                 split: str | None = None) -> dict[str, Callable[[], Any]]:
    """Factories of Persona recommenders by registry name (with ``seed``, and ``engine`` when given, where a
    model takes them).

    ``split``: the held-out split the models are judged on (and, for production, the future it stands for): the
    hybrid (also as the repeat model's base) then learns its weights on validation items held out the same way
    (each customer's latest items for ``temporal``, see :data:`~persona.recommend.hybrid.SPLIT_VALIDATION`);
    None keeps its default.

    Raises:
        InputError: an unknown name, or an unknown split.
    """
    from persona.recommend import RECOMMENDERS
    from persona.recommend.hybrid import SPLIT_VALIDATION
    from persona.recommend.registry import make_seeded

    unknown = [n for n in names if n not in RECOMMENDERS]
    if unknown:
        raise InputError(f"unknown recommender(s) {unknown}", hint=f"choose among {sorted(RECOMMENDERS)}")
    if split is not None and split not in SPLITS:
        raise InputError(f"unknown split {split!r}", hint=f"choose one of {list(SPLITS)}")
    params: dict[str, dict[str, Any]] = {}
    if split is not None:  # the hybrid, and the repeat model around its default base, the hybrid
        params = {"hybrid": {"validation": SPLIT_VALIDATION[split]},
                  "repeat": {"base_params": {"validation": SPLIT_VALIDATION[split]}}}
    return {n: (lambda n=n: make_seeded(n, params.get(n), seed, engine)) for n in dict.fromkeys(names)}


def compare(
    data: Interactions,
    models: Sequence[str] | dict[str, Callable[[], Any]] = DEFAULT_MODELS,
    *,
    split: str = "temporal",
    fraction: float = 0.2,
    k: int = 10,
    seed: int = 42,
    on_result: Callable[[ModelReport], None] | None = None,
    repeats: bool = False,
    engine: str | None = None,
) -> Comparison:
    """Compare recommenders on one held-out split of ``data`` (see :func:`split_interactions`).

    Args:
        data: all interactions.
        models: registry names, or label → zero-argument factory.
        split: temporal, random, stratified or global.
        fraction: share of events held out.
        k: list length.
        seed: random seed of the split and the models.
        on_result: called after each model.
        repeats: keep held-out items the user already had and let the models recommend seen items too.
        engine: passed to the models that have a Spark implementation (``"spark"``); None keeps their default.

    Returns:
        A :class:`Comparison`.
    """
    t0 = time.perf_counter()
    factories = models if isinstance(models, dict) else build_models(list(models), seed, engine, split)
    train, pairs, again = _held_out(data, split, fraction, seed)
    test = _test_frame(data, pairs if repeats else pairs[~again], split, repeats_dropped=int(again.sum()) * (not repeats))
    reports: list[ModelReport] = []
    kept = None
    for name, make in factories.items():
        model = make()
        rep = evaluate_recommender(model, train, test, k=k, name=name, users=pd.unique(test["user_id"]),
                                   per_user=True, keep_recs=True, exclude_seen=not repeats)
        reports.append(rep)
        if best_model(reports, select_metric(k)) is rep:
            kept = model  # the best so far, fitted on the training part; the others are let go
        log.info("evaluated model=%s %s", name, rep.error or f"ndcg@{k}={rep.metrics.get(f'ndcg@{k}', 0):.4f}")
        if on_result is not None:
            on_result(rep)
        _keep_two_lists(reports, k)
    held = sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), (pairs["u"].to_numpy(), pairs["i"].to_numpy())),
                         shape=data.matrix.shape)
    return Comparison(split=split, train=train, test=test, reports=reports, seconds=time.perf_counter() - t0,
                      repeat_share=float(again.mean()) if len(again) else 0.0, held=held,
                      best_fitted=kept, k=k)


def _keep_two_lists(reports: list[ModelReport], k: int) -> None:
    """Drop the recommendations of every report but the best two (by :func:`select_metric`): only those are compared."""
    best = best_model(reports, select_metric(k))
    runner = best_model([r for r in reports if r is not best], select_metric(k))
    for r in reports:
        if r is not best and r is not runner:
            r.recs = None


def train_and_register(
    store: Any,
    data: Interactions,
    models: Sequence[str] = DEFAULT_MODELS,
    *,
    split: str = "temporal",
    k: int = 10,
    seed: int = 42,
    name: str = "recommender",
    on_result: Callable[[ModelReport], None] | None = None,
) -> tuple[Any, Comparison, Any]:
    """Compare ``models`` on a held-out split, refit the best on all of ``data`` and register it as active.

    With a single model the comparison still runs (its metrics are stored with the version).

    Returns:
        ``(fitted model, comparison, ModelVersion)``.

    Raises:
        InputError: no model could be evaluated.
    """
    from persona.recommend import make_recommender
    from persona.registry import register

    engine = store.settings.engine
    cmp = compare(data, models, split=split, k=k, seed=seed, on_result=on_result, engine=engine)
    best = cmp.best
    if best is None:
        errors = "; ".join(f"{r.name}: {r.error}" for r in cmp.reports)
        raise InputError(f"no recommender could be trained: {errors}")
    t0 = time.perf_counter()
    model = (build_models([best.name], seed, engine, split)[best.name]() if best.name in _registry_names()
             else make_recommender(best.name))
    model.fit(data)
    params = {"algorithm": best.name, **_plain(model.get_params())}
    model = serve_repeats(model, data, cmp.repeat_share, seed, holdout=cmp.holdout())
    fit_all = time.perf_counter() - t0
    metrics = {**{k2: round(v, 6) for k2, v in best.metrics.items()}, "split": split,
               "n_users": data.n_users, "n_items": data.n_items, "n_events": len(data.log),
               "fit_seconds_all_data": round(fit_all, 3), "repeat_share": round(cmp.repeat_share, 4)}
    mv = register(store, name, "recommender", model, {**params, "served_with_repeats": model.name == "repeat"
                                                      and best.name != "repeat"}, metrics, activate=True)
    return model, cmp, mv


def serve_repeats(model: Any, data: Interactions, repeat_share: float, seed: int = 42,
                  holdout: tuple[Interactions, sp.csr_matrix, Any] | None = None) -> Any:
    """``model`` wrapped in the ``repeat`` model when customers come back (at least ``REPEAT_SERVING_SHARE`` of
    held-out pairs were products they had), else ``model`` itself.

    The wrapper's plain lists are exactly ``model``'s; its ``include_seen`` lists (API, CLI, campaigns) rank the
    products a customer already had by their learned comeback chance. Without timestamps, or when the
    comeback scale cannot be learned, ``model`` is served as it is. ``holdout`` (:meth:`Comparison.holdout`): the
    comparison's temporal split and its model fitted there, which the comeback scale is learned on instead of
    fitting the model once more on a split of its own.
    """
    from persona.recommend.repeat import RepeatRecommender

    if isinstance(model, RepeatRecommender) or repeat_share < REPEAT_SERVING_SHARE or not data.has_time:
        return model
    try:
        return RepeatRecommender(seed=seed).fit_around(model, data, holdout=holdout)
    except InputError as exc:
        log.warning("serving %s without repeat lists: %s", model.name, exc)
        return model


def _registry_names() -> set[str]:
    from persona.recommend import RECOMMENDERS

    return set(RECOMMENDERS)


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        out[k] = v if isinstance(v, str | int | float | bool | type(None) | list | dict | tuple) else repr(v)
    return out
