"""Hybrid: a weighted blend of base recommenders, chosen on validation folds carved from the training data.

``fit`` holds out part of each user's training history (never the caller's test data; by default two
seeded random folds plus one fold of each user's latest items), fits every base model on the rest, picks
each base model's main hyperparameters from a small grid scaled to the data (``tune``, on by default up to
``tune_max_nnz`` interactions and ``tune_max_items`` items; searched on the first random fold), learns non-negative blend weights with a
listwise softmax loss over each validation user's candidate items (:mod:`persona.recommend.blend`: smooth, uses
every validation user at once, so the weights vary little from one validation split to the next), and finally
refits the base models that got weight on all the training data. Each base model's scores are z-normalised per
user over the items the user has not interacted with, so models on different scales blend.

With timestamps, the item-item models (EASE, DLAE, ease-local, item-kNN, RP3beta, adjacent) also enter as
``<name>~recent``: the same item matrix applied to a history in which each user's older items weigh less
(each decay of ``RECENCY_TAUS`` gets its own blend; the best on the latest items wins). The default "guarded" validation
first learns the blend on the random folds without them, then lets every member move towards the users'
latest items (minimising the latest items' loss plus a decreasing multiple of the random folds' loss) as far
as the random folds keep their nDCG@k + recall@k within ``recency_tolerance``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend.base import Recommender, top_columns
from persona.recommend.blend import ListwiseRows, fit_listwise, fit_listwise_mix, listwise_rows
from persona.recommend.registry import make_recommender, make_seeded

log = logging.getLogger(__name__)

#: Base models of the default blend; which of them get weight (and their settings) is learned on validation folds.
DEFAULT_MODELS: tuple[str, ...] = (
    "ease", "dlae", "ease-local", "gfcf", "als", "rp3beta", "itemknn", "userknn", "period", "category",
)
#: Members that score what comes next after each user's latest items. They join the default blend when the
#: validation holds out each user's latest items (``validation="temporal"``), the task they are made for; on
#: random held-out items they rank poorly (MovieLens 100K, stratified dev split: the guarded blend with
#: ``transition`` lost nDCG@10 / Recall@10 0.0017 / 0.0027), so the other validations leave them out.
NEXT_ITEM_MODELS: tuple[str, ...] = ("transition",)
#: Members solving a dense item × item system, left out of the default blend above ``max_ease_items`` items.
DENSE_ITEM_MODELS: tuple[str, ...] = ("ease", "dlae", "ease-local", "gfcf", "transition")
#: The validation that suits each held-out split of :mod:`persona.evaluate` (what the evaluation layer passes the
#: hybrid): weights are learned on held-out items like the ones the model is judged on, each user's latest items
#: for the temporal split, random ones for the others. No single validation serves both: on MovieLens 100K's dev
#: splits, temporal validation loses 0.055 nDCG@10 on random held-out items, and guarded validation 0.07 on the
#: latest items.
SPLIT_VALIDATION: dict[str, str] = {"temporal": "temporal", "global": "temporal", "random": "guarded",
                                    "stratified": "guarded"}
#: Item-item models whose scores are history × a learned item matrix (their ``history_scores``); with timestamps
#: the blend also gets a "<name>~recent" member scoring the same matrix with a recency-weighted history.
RECENCY_MEMBERS: tuple[str, ...] = ("ease", "dlae", "ease-local", "itemknn", "rp3beta", "adjacent")
RECENT = "~recent"
#: Recency decays tried (``recency_tau="auto"`` with tuning on): each gets its own blend, judged on the
#: latest-items fold; without tuning (large data) the default decay is used.
RECENCY_TAUS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
DEFAULT_RECENCY_TAU = 0.25
#: Weights of the random folds' listwise loss beside the latest items' loss, tried while the blend moves
#: towards each user's latest items (the first that keeps the random folds' score and helps wins: largest first).
GUARD_WEIGHTS = (64.0, 32.0, 16.0, 8.0, 4.0, 2.0, 1.0)
#: With ``learning_curve`` on, the blend is learned a second time with its members fitted on this share of each
#: validation fold's inner data, and the weights are extrapolated to the full training data.
CURVE_SHARE = 0.75
MAX_ENTRY = 1_000_000  # cells per block when scoring (b × n_items)
MAX_VALIDATION_CELLS = 20_000_000  # validation users × items held while learning weights (80 MB per model)


def default_members(validation: str) -> tuple[str, ...]:
    """The default blend's candidate members for a ``validation`` (before the data-size and timestamp checks)."""
    return (*DEFAULT_MODELS, *(NEXT_ITEM_MODELS if validation == "temporal" else ()))


def tuning_grid(name: str, data: Interactions) -> list[dict[str, Any]]:
    """Candidate settings of a base model's main hyperparameters, the middle (default) one first.

    Regularisation grows with the number of interactions per item (EASE's λ and ALS's L2 penalty), so those
    grids are multiples of it rather than fixed numbers; an empty list means the model's defaults only.
    """
    per_item = data.nnz / max(1, int((np.diff(data.matrix.tocsc().indptr) > 0).sum()))
    if name == "ease":
        return [{"lambda_": round(c * per_item, 1)} for c in (10.0, 5.0, 20.0)]
    if name == "ease-local":
        return [{"lambda_": round(2.5 * per_item, 1), "dropout": p} for p in (0.5, 0.33, 0.67)]
    if name == "dlae":
        return [{"lambda_": round(5.0 * per_item, 1), "dropout": p} for p in (0.5, 0.33, 0.67)]
    if name == "als":
        return [{"regularization": round(c * per_item, 2)} for c in (0.45, 0.25, 0.8)]
    if name == "rp3beta":
        return [{"beta": b} for b in (0.5, 0.3, 0.7)]
    if name == "itemknn":
        return [{"k": v} for v in (200, 50)]
    if name == "transition":
        return [{"lambda_": round(c * per_item, 1)} for c in (10.0, 5.0, 20.0)]
    return []


def _significantly_better(rows: np.ndarray, than: np.ndarray, z: float) -> bool:
    """Whether per-row scores ``rows`` beat the paired ``than`` by more than ``z`` standard errors of the mean gain."""
    diff = rows - than
    gain = float(diff.mean())
    return gain > 0 and gain > z * float(diff.std()) / np.sqrt(max(len(diff), 1))


@dataclass
class _Fold:
    """One validation split: inner training data, its scored users, their inner history and held-out items."""

    inner: Interactions
    users: np.ndarray
    seen: sp.csr_matrix
    seen_d: np.ndarray
    truth: sp.csr_matrix
    n_true: np.ndarray
    mode: str


def _zscore(scores: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
    """Per-row z-scores over the columns not marked in ``seen`` (those columns are left as computed)."""
    s = np.asarray(scores, dtype=np.float32)
    n = s.shape[1]
    coo = seen.tocoo()
    vals = s[coo.row, coo.col].astype(np.float64)
    n_seen = np.bincount(coo.row, minlength=s.shape[0]).astype(np.float64)
    tot = s.sum(axis=1, dtype=np.float64) - np.bincount(coo.row, weights=vals, minlength=s.shape[0])
    tot2 = np.einsum("ij,ij->i", s, s, dtype=np.float64) - np.bincount(coo.row, weights=vals * vals, minlength=s.shape[0])
    m = np.maximum(n - n_seen, 1.0)
    mean = tot / m
    std = np.sqrt(np.maximum(tot2 / m - mean * mean, 0.0))
    std[std < 1e-12] = 1.0
    out = s - mean.astype(np.float32)[:, None]
    out /= std.astype(np.float32)[:, None]
    return out


def recency_history(data: Interactions, tau: float, ranks: np.ndarray | None = None) -> sp.csr_matrix:
    """The binary interaction matrix with each user's items weighted by recency: exp(-r / (tau · n_u)).

    r is the number of the user's items interacted with more recently (0 for the latest), n_u the
    user's number of items: scale-free across users and time units. Without timestamps: all ones.
    ``ranks``: :func:`recency_ranks` of ``data`` when already computed (they do not depend on ``tau``).
    """
    m = data.matrix.tocsr()
    out = sp.csr_matrix((np.ones(m.nnz, dtype=np.float32), m.indices.copy(), m.indptr.copy()), shape=m.shape)
    ranks = recency_ranks(data) if ranks is None else ranks
    if ranks is not None:
        out.data = np.exp(-ranks / float(tau)).astype(np.float32)
    return out


def recency_ranks(data: Interactions) -> np.ndarray | None:
    """r / n_u of every stored (user, item) cell in CSR order (see :func:`recency_history`); None without time."""
    m = data.matrix.tocsr()
    lg = data.log
    if not data.has_time or not m.nnz:
        return None
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    last = pd.DataFrame({"u": lg["user_idx"].to_numpy(), "i": lg["item_idx"].to_numpy(),
                         "t": pd.to_numeric(lg["time"], errors="coerce").to_numpy(dtype=np.float64)})
    last = last.groupby(["u", "i"])["t"].max()
    t = last.reindex(pd.MultiIndex.from_arrays([rows, m.indices])).to_numpy(dtype=np.float64)
    t = np.nan_to_num(t, nan=-np.inf)
    order = np.lexsort((-t, rows))  # per user, newest first
    pos = np.empty(m.nnz, dtype=np.float64)
    pos[order] = np.arange(m.nnz) - np.repeat(m.indptr[:-1], counts)
    return pos / np.maximum(counts[rows], 1)


def _ndcg_recall(blend: np.ndarray, labels: np.ndarray, n_true: np.ndarray, k: int) -> tuple[float, float]:
    """Mean nDCG@k and recall@k of candidate-score rows against 0/1 labels (MS Recommenders' definitions)."""
    nd, rc = _ndcg_recall_rows(blend, labels, n_true, k)
    return float(nd.mean()), float(rc.mean())


def _ndcg_recall_rows(blend: np.ndarray, labels: np.ndarray, n_true: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row nDCG@k and recall@k of candidate-score rows against 0/1 labels."""
    kk = min(k, blend.shape[1])
    top = top_columns(blend, kk)
    vals = np.take_along_axis(blend, top, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    hits = np.take_along_axis(labels, np.take_along_axis(top, order, axis=1), axis=1)
    disc = 1.0 / np.log1p(np.arange(1, kk + 1))
    idcg = np.cumsum(1.0 / np.log1p(np.arange(1, k + 1)))[np.minimum(n_true, k) - 1]
    return (hits * disc).sum(axis=1) / idcg, hits.sum(axis=1) / n_true


def _held_share(m: sp.csr_matrix, key: np.ndarray, fraction: float) -> np.ndarray:
    """Mask of the stored cells of ``m`` that are each user's ``fraction`` of items with the highest ``key``.

    Users with fewer than three items keep them all.
    """
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((-key, rows))  # per user, highest key (newest, or random) first
    pos = np.empty(len(rows), dtype=np.int64)
    pos[order] = np.arange(len(rows)) - np.repeat(m.indptr[:-1], counts)
    n_out = np.round(fraction * counts).astype(np.int64)
    n_out[counts < 3] = 0
    return pos < n_out[rows]


def _without(data: Interactions, held: np.ndarray) -> Interactions:
    """``data`` without the stored cells marked in ``held`` (in its matrix and its event log)."""
    m = data.matrix.tocsr()
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    keep = ~held
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=m.shape[0]))])
    inner_m = sp.csr_matrix((m.data[keep], m.indices[keep], indptr), shape=m.shape)
    lg = data.log
    if len(lg):
        pairs = pd.MultiIndex.from_arrays([lg["user_idx"].to_numpy(), lg["item_idx"].to_numpy()])
        lg = lg[~pairs.isin(pd.MultiIndex.from_arrays([rows[held], m.indices[held]]))].reset_index(drop=True)
    return Interactions(inner_m, data.user_ids, data.item_ids, lg, data.items, data.users)


def curve_weights(fold_w: Mapping[str, float], small_w: Mapping[str, float], steps: float) -> dict[str, float]:
    """Blend weights extrapolated along a log-linear learning curve, at the scale of ``fold_w``.

    ``fold_w`` was learned with the members fitted on the folds' inner data, ``small_w`` on a smaller share of it;
    both are normalised to sum to one, and each weight moves ``steps`` times its change from ``small_w`` to
    ``fold_w`` further (``steps`` = log(full / inner size) / log(inner / smaller size)). Negative weights become zero.
    """
    total = sum(fold_w.values())
    small_total = sum(small_w.values())
    if total <= 0 or small_total <= 0:
        return dict(fold_w)
    out = {n: max(0.0, v / total + steps * (v / total - small_w.get(n, 0.0) / small_total)) for n, v in fold_w.items()}
    s = sum(out.values())
    return {n: total * v / s for n, v in out.items()} if s > 0 else dict(fold_w)


def blend_summary(model: Any) -> dict[str, Any] | None:
    """A fitted hybrid's blend for people: its weights (largest first) and :meth:`HybridRecommender._blend_report`'s
    validation figures; None for any other model. A hybrid served inside the ``repeat`` model is looked up there."""
    inner = getattr(model, "base_", None) if getattr(model, "name", None) == "repeat" else model
    report = getattr(inner, "validation_", None)
    if not isinstance(inner, HybridRecommender) or not isinstance(report, dict) or "blend" not in report:
        return None
    weights = {n: w for n, w in sorted(inner.weights_.items(), key=lambda x: -x[1]) if w > 0}
    return {"weights": weights, "k": inner.k, **report["blend"]}


def blend_line(summary: Mapping[str, Any], top: int = 5) -> str:
    """One sentence of :func:`blend_summary`: the largest weights and what the blend adds to its best member."""
    shown = ", ".join(f"{n} {w:.2f}" for n, w in list(summary["weights"].items())[:top])
    more = len(summary["weights"]) - top
    k = summary["k"]
    return (f"hybrid blend: {shown}{f' and {more} more' if more > 0 else ''}. On its validation folds nDCG@{k} "
            f"{summary['ndcg']:.4f}, recall@{k} {summary['recall']:.4f}: {summary['ndcg_gain']:+.4f} / "
            f"{summary['recall_gain']:+.4f} over its best member, {summary['best_member']}")


class HybridRecommender(Recommender):
    """Weighted blend of base recommenders with weights learned on a validation split of the training data.

    Args:
        models: base model names (e.g. ``["ease", "als"]``) or name → parameters; ``None`` picks a
            default set that adapts to the data (the dense item models EASE, DLAE, ease-local and GF-CF only up
            to ``max_ease_items`` items, ease-local only with timestamps, user-kNN only up to
            ``max_userknn_users`` users, RP3beta only up to ``max_rp3beta_items`` items; with
            ``validation="temporal"`` also the next-item model ``transition``, see :data:`NEXT_ITEM_MODELS`).
        weights: fixed blend weights (name → weight); ``None`` learns them.
        tune: pick each base model's main hyperparameters from :func:`tuning_grid` on the validation folds
            ("auto", the default: only up to ``tune_max_nnz`` interactions and ``tune_max_items`` items, where the
            search is quick).
        validation: how the validation split is carved from training: ``"guarded"`` (default:
            ``validation_folds`` random folds choose the blend, then one fold of each user's latest items
            brings in the recency members as far as the random folds keep their score, see
            ``recency_tolerance``), ``"random"`` (a
            random share of each user's items), ``"temporal"`` (each user's latest share: one fold, the same
            items for every seed) or ``"mixed"`` (random and temporal folds alternating, pooled; random only
            without timestamps). Choose the one like the items the model will be judged on (the evaluation
            layer does, see :data:`SPLIT_VALIDATION`): to predict what customers pick next, ``"temporal"``.
        validation_fraction: share of each user's distinct items held out.
        validation_folds: independent validation splits whose results are pooled (less noisy weights).
        validation_users: at most this many users are scored per fold (a seeded sample).
        candidates: items per base model kept per validation user when learning weights: the head of each member's
            list, where the top-k is decided. A wider pool lets the listwise loss credit members for ordering items far
            below any top-k list (item-kNN and the category model most): 50 instead of 20 gave item-kNN more weight
            and ease-local less. On dev splits of MovieLens 100K's benchmark training part, 20 instead of 50 gained
            nDCG@10 / Recall@10 +0.0009 / +0.0022 at 90% dev size (six seeds), +0.0002 / +0.0004 at 75% and
            +0.0074 / +0.0056 on the temporal dev split, and fits faster (30 was as good, within noise).
        k: list length the weights are optimised for.
        max_ease_items: skip EASE, DLAE, ease-local and GF-CF above this many items (their dense item × item
            matrices grow as n_items², the inversions as n_items³).
        max_userknn_users: skip user-kNN above this many users.
        max_rp3beta_items: skip RP3beta above this many items (fit time: on the 1M-interaction, 20,000-item
            benchmark log its three fits cost about 60 CPU s, a third of the hybrid's budget, for a weight of 0.04).
        tune_max_nnz: with ``tune="auto"``, search hyperparameters only up to this many interactions.
        tune_max_items: with ``tune="auto"``, search hyperparameters only up to this many items (a long-tail
            catalogue makes every ALS fit cost its item count × factors², and with about one event per item the
            folds cannot tell settings apart: on the Taobao log, 55,368 items, tuning took 30% of the fit and
            changed nothing on a validation split).
        max_fold_nnz: above this many interactions one random validation fold is used (fit time).
        recency: add the ``<name>~recent`` members when the data has timestamps.
        recency_tau: recency decay: a user's item with r more recent items weighs exp(-r / (tau · n_items_of_user));
            "auto" tries each of ``RECENCY_TAUS`` and keeps the one whose blend does best on the latest-items fold
            (when ``tune`` is on; otherwise ``DEFAULT_RECENCY_TAU``).
        recency_tolerance: ("guarded") after the random folds' blend, the weights move towards the latest items
            while the random folds lose at most this share of their score (default 0.0: none); ``None``: at most
            ``significance`` standard errors of the paired per-user difference (a loss the validation cannot
            tell from noise).
        objective: the validation score that picks settings and recency decay and guards the random folds:
            ``"ndcg+recall"`` (default, sum of both at ``k``) or ``"ndcg"``.
        learning_curve: correct the base members' blend weights for the data the members lose to the validation
            folds (off by default). Every base member is fitted again on ``CURVE_SHARE`` of each fold's inner data,
            the blend is learned there too, and each weight moves on along the line through the two (log data size →
            weight) to the size of the full training data (negative weights become zero). Motivation: on MovieLens
            100K the blend's lead over ease-local shrinks from 6% at half the training data to 1% at 90%, so weights
            learned on folds fit a smaller data set than the final model's. Measured on nine dev splits of the
            benchmark's training part it changed nDCG@10 and Recall@10 by +0.0004 each (95% intervals about
            ±0.001) for a third more fit time, so it is not the default.
        significance: a tuning-grid setting replaces the default one only when its mean validation gain exceeds
            this many standard errors of the paired per-user gains (guards against fitting noise).
        seed: random seed of the validation split and of the base models that take one.
    """

    name: ClassVar[str] = "hybrid"
    default_reason: ClassVar[str] = "recommended for you"

    def __init__(
        self,
        models: Sequence[str] | Mapping[str, Mapping[str, Any]] | None = None,
        weights: Mapping[str, float] | None = None,
        tune: bool | str = "auto",
        validation: str = "guarded",
        validation_fraction: float = 0.2,
        validation_folds: int = 2,
        validation_users: int = 2000,
        candidates: int = 20,
        k: int = 10,
        max_ease_items: int = 6000,
        max_userknn_users: int = 20_000,
        max_rp3beta_items: int = 10_000,
        tune_max_nnz: int = 300_000,
        tune_max_items: int = 20_000,
        max_fold_nnz: int = 500_000,
        recency: bool = True,
        recency_tau: float | str = "auto",
        recency_tolerance: float | None = 0.0,
        objective: str = "ndcg+recall",
        learning_curve: bool = False,
        significance: float = 1.0,
        seed: int = 42,
    ):
        self.models = models
        self.weights = weights
        self.tune = tune
        self.validation = validation
        self.validation_fraction = validation_fraction
        self.validation_folds = validation_folds
        self.validation_users = validation_users
        self.candidates = candidates
        self.k = k
        self.max_ease_items = max_ease_items
        self.max_userknn_users = max_userknn_users
        self.max_rp3beta_items = max_rp3beta_items
        self.tune_max_nnz = tune_max_nnz
        self.tune_max_items = tune_max_items
        self.max_fold_nnz = max_fold_nnz
        self.recency = recency
        self.recency_tau = recency_tau
        self.recency_tolerance = recency_tolerance
        self.objective = objective
        self.learning_curve = learning_curve
        self.significance = significance
        self.seed = seed

    # --- parameters ----------------------------------------------------------------------------
    def _validate_params(self) -> None:
        if self.validation not in ("guarded", "random", "temporal", "mixed"):
            raise InputError(f"hybrid validation must be 'guarded', 'random', 'temporal' or 'mixed', got {self.validation!r}")
        if self.objective not in ("ndcg", "ndcg+recall"):
            raise InputError(f"hybrid objective must be 'ndcg' or 'ndcg+recall', got {self.objective!r}")
        if self.recency_tolerance is not None and (isinstance(self.recency_tolerance, str | bool)
                                                   or not 0.0 <= float(self.recency_tolerance) < 1.0):
            raise InputError(f"hybrid recency_tolerance must lie in [0, 1), got {self.recency_tolerance!r}")
        if not 0.0 < float(self.validation_fraction) < 1.0:
            raise InputError(f"hybrid validation_fraction must lie in (0, 1), got {self.validation_fraction!r}")
        if self.recency_tau != "auto" and (isinstance(self.recency_tau, bool) or not isinstance(self.recency_tau, int | float)
                                           or self.recency_tau <= 0):
            raise InputError(f"hybrid recency_tau must be 'auto' or a positive number, got {self.recency_tau!r}")
        if isinstance(self.significance, bool) or not isinstance(self.significance, int | float) or self.significance < 0:
            raise InputError(f"hybrid significance must be a non-negative number, got {self.significance!r}")
        if self.tune not in (True, False, "auto"):
            raise InputError(f"hybrid tune must be True, False or 'auto', got {self.tune!r}")
        for p in ("validation_users", "validation_folds", "candidates", "k"):
            v = getattr(self, p)
            if not isinstance(v, int) or v < 1:
                raise InputError(f"hybrid {p} must be a positive integer, got {v!r}")
        if self.models is not None and not len(self.models):
            raise InputError("hybrid models is empty", hint="name at least one base model, or pass None for the default set")
        if self.models is not None and "hybrid" in self.models:
            raise InputError("a hybrid cannot blend another hybrid", hint="list base models such as ease, als, itemknn")

    def _base_specs(self, data: Interactions) -> dict[str, dict[str, Any]]:
        if self.models is None:
            names = [n for n in default_members(self.validation)
                     if not (n in DENSE_ITEM_MODELS and data.n_items > self.max_ease_items)
                     and not (n == "userknn" and data.n_users > self.max_userknn_users)
                     and not (n == "rp3beta" and data.n_items > self.max_rp3beta_items)
                     and make_recommender(n).unfit_reason(data) is None]
            return {n: {} for n in names}
        if isinstance(self.models, Mapping):
            return {str(n): dict(p or {}) for n, p in self.models.items()}
        return {str(n): {} for n in self.models}

    def _make(self, name: str, params: Mapping[str, Any]) -> Recommender:
        return make_seeded(name, params, self.seed)

    # --- fit -----------------------------------------------------------------------------------
    def _fit(self, data: Interactions) -> None:
        # one BLAS thread: the blend's work is many small products, which threads slow down (demo shop: 13.7 s
        # with the default two threads, 11.3 s with one); implicit's ALS keeps its own thread pool
        with threadpool_limits(1, "blas"):
            self._fit_blend(data)

    def _fit_blend(self, data: Interactions) -> None:
        specs = self._base_specs(data)
        t0 = time.perf_counter()
        if self.weights is not None:
            unknown = set(self.weights) - set(specs) - {n + RECENT for n in specs if n in RECENCY_MEMBERS}
            if unknown:
                raise InputError(f"weights name models not in the blend: {sorted(unknown)}",
                                 hint=f"the blend has {sorted(specs)}")
            self.params_ = specs
            self.weights_ = {n: float(v) for n, v in self.weights.items()}
            self.weights_.update({n: float(self.weights.get(n, 0.0)) for n in specs})
            self.validation_ = {}
            self.recency_tau_ = self._tau_grid()[0]
        else:
            self._learn(data, specs)
        self.models_ = {}
        for n, params in self.params_.items():
            if self.weights_.get(n, 0.0) > 0 or self.weights_.get(n + RECENT, 0.0) > 0:
                self.models_[n] = self._make(n, params).fit(data)
        if not self.models_:
            raise InputError("every blend weight is zero", hint="give at least one model a positive weight")
        self.recent_history_ = (recency_history(data, self.recency_tau_)
                                if any(n.endswith(RECENT) and w > 0 for n, w in self.weights_.items()) else None)
        # the members' item-to-item similarity (similar items, "because you bought X", diversity) is the heaviest
        # one that relates items by who had them; popularity members (category, period, popular) only when no
        # other one got weight
        related = [n for n in self.models_ if self.models_[n].explains_by_history] or list(self.models_)
        self.lead_ = max(related, key=lambda n: self.weights_.get(n, 0.0) + self.weights_.get(n + RECENT, 0.0))
        log.info("hybrid fitted models=%s weights=%s seconds=%.1f", list(self.models_), self.weights_,
                 time.perf_counter() - t0)

    def frozen(self) -> HybridRecommender:
        """An unfitted hybrid with this fitted one's members, their settings, its recency decay and its weights
        fixed: fitting it on other data (a validation split of this data, say) fits the weighted members only and
        learns nothing again."""
        self._check_fitted()
        return type(self)(**{**self.get_params(), "models": {n: dict(p) for n, p in self.params_.items()},
                             "weights": dict(self.weights_), "recency_tau": float(self.recency_tau_)})

    def _split(self, data: Interactions, seed: int, mode: str) -> tuple[Interactions, sp.csr_matrix]:
        """Training data minus a held-out share of each user's items, and the held-out (user, item) matrix."""
        m = data.matrix.tocsr()
        rng = np.random.default_rng(seed)
        if mode == "temporal" and data.has_time:
            rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
            lg = data.log
            last = pd.DataFrame({"u": lg["user_idx"].to_numpy(), "i": lg["item_idx"].to_numpy(),
                                 "t": lg["time"].to_numpy()}).groupby(["u", "i"])["t"].max()
            key = last.reindex(pd.MultiIndex.from_arrays([rows, m.indices])).to_numpy()
            key = np.nan_to_num(key, nan=-np.inf) + rng.random(len(rows)) * 1e-6
        else:
            key = rng.random(m.nnz)
        held = _held_share(m, key, self.validation_fraction)
        coo = m.tocoo()
        val = sp.csr_matrix((np.ones(held.sum(), dtype=np.float32), (coo.row[held], coo.col[held])), shape=m.shape)
        return _without(data, held), val

    def _folds(self, data: Interactions) -> list[_Fold]:
        """Validation folds carved from the training data (random shares of each user's items, and its latest)."""
        n_folds = self.validation_folds if data.nnz <= self.max_fold_nnz else 1
        # the learning step holds dense (users × items) blocks: keep them to about MAX_VALIDATION_CELLS
        n_val = min(self.validation_users, max(200, MAX_VALIDATION_CELLS // max(data.n_items, 1)))
        if self.validation == "guarded":
            modes = ["random"] * n_folds + (["temporal"] if data.has_time else [])
        elif self.validation == "mixed":
            modes = ["temporal" if (f % 2 == 1 and data.has_time) else "random" for f in range(n_folds)]
        elif self.validation == "temporal" and data.has_time:
            modes = ["temporal"]  # every temporal fold would hold out the same latest items
        else:
            modes = [self.validation] * n_folds
        folds = []
        for f, mode in enumerate(modes):
            inner, val = self._split(data, self.seed + f, mode)
            users = np.flatnonzero(np.diff(val.indptr) > 0)
            if len(users) > n_val:
                users = np.sort(np.random.default_rng(self.seed + f).choice(users, n_val, replace=False))
            if len(users):
                seen = inner.matrix[users].tocsr()
                truth = val[users].tocsr()
                folds.append(_Fold(inner, users, seen, seen.toarray() > 0, truth, np.diff(truth.indptr), mode))
        return folds

    def _fold_rows(self, fold: _Fold, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-user nDCG@k and recall@k of one member's z-scores on a fold."""
        return _ndcg_recall_rows(np.where(fold.seen_d, np.float32(-np.inf), z), fold.truth.toarray(), fold.n_true, self.k)

    def _fold_means(self, folds: list[_Fold], zs: Sequence[np.ndarray]) -> tuple[float, float]:
        """nDCG@k and recall@k of per-fold scores ``zs``, averaged over every (fold, user) row."""
        rows = [self._fold_rows(f, z) for f, z in zip(folds, zs, strict=True)]
        return float(np.concatenate([r[0] for r in rows]).mean()), float(np.concatenate([r[1] for r in rows]).mean())

    def _objective(self, nd: Any, rc: Any) -> Any:
        """The validation score: per-row arrays or pooled means alike."""
        return nd + rc if self.objective == "ndcg+recall" else nd

    def _member(self, name: str, params: dict[str, Any], folds: list[_Fold]) -> tuple[list[np.ndarray], list[Recommender]]:
        """A base model fitted on every fold's inner training data, and its z-scores for the fold's users."""
        zs, fitted = [], []
        for fold in folds:
            model = self._make(name, params).fit(fold.inner)
            z = self._user_z(model, fold.users, fold.seen)
            if not np.isfinite(z).all():  # one NaN would stall the weights' fit at its starting point
                bad = int((~np.isfinite(z)).any(axis=1).sum())
                raise InputError(f"{name} scored {bad} of {len(z)} validation customers with numbers that are not finite",
                                 hint=f"fix {name}'s scores (NaN or infinity) or leave it out of the blend")
            zs.append(z)
            fitted.append(model)
        return zs, fitted

    def _tau_grid(self, search: bool = False) -> tuple[float, ...]:
        if self.recency_tau != "auto":
            return (float(self.recency_tau),)
        return RECENCY_TAUS if search else (DEFAULT_RECENCY_TAU,)

    def _learn(self, data: Interactions, specs: dict[str, dict[str, Any]]) -> None:
        do_tune = self.tune is True or (self.tune == "auto" and data.nnz <= self.tune_max_nnz
                                        and data.n_items <= self.tune_max_items)
        folds = self._folds(data)
        if not folds:
            log.warning("hybrid: no user has enough history for a validation split; equal weights")
            self.params_, self.weights_, self.validation_ = specs, {n: 1.0 for n in specs}, {}
            self.recency_tau_ = self._tau_grid()[0]
            return
        report: dict[str, Any] = {"users": int(sum(len(f.users) for f in folds)), "folds": len(folds), "models": {}}
        use_recent = bool(self.recency) and data.has_time and any(n in RECENCY_MEMBERS for n in specs)
        params: dict[str, dict[str, Any]] = {}
        raw_z: dict[str, list[np.ndarray]] = {}
        item_models: dict[str, list[Recommender]] = {}
        # the grids are searched on the first random fold (the base blend is chosen for random held-out items;
        # each user's latest items only bring in the recency members); the winner is then fitted on the
        # other folds too. A setting replaces the grid's first (middle) one only when it is better by more
        # than ``significance`` standard errors of the paired per-user differences.
        tune_on = [next((i for i, f in enumerate(folds) if f.mode == "random"), 0)]
        for name, given in specs.items():
            grid = [given] if (not do_tune or given) else (tuning_grid(name, data) or [{}])
            on = tune_on if len(grid) > 1 else list(range(len(folds)))
            best = None
            for p in grid:
                try:
                    zs, fitted = self._member(name, p, [folds[i] for i in on])
                except InputError as exc:  # e.g. a catalogue too large for EASE: leave the model out
                    log.warning("hybrid: %s left out: %s", name, exc)
                    break
                rows = np.concatenate([self._objective(*self._fold_rows(folds[i], z)) for i, z in zip(on, zs, strict=True)])
                if len(grid) > 1:
                    report.setdefault("grids", {}).setdefault(name, []).append(
                        {"params": p, "objective": round(float(rows.mean()), 5)})
                if best is None or _significantly_better(rows, best[0], float(self.significance)):
                    best = (rows, p, dict(zip(on, zs, strict=True)), dict(zip(on, fitted, strict=True)))
            if best is None:
                continue
            rest = [i for i in range(len(folds)) if i not in best[2]]
            if rest:
                zs, fitted = self._member(name, best[1], [folds[i] for i in rest])
                best[2].update(zip(rest, zs, strict=True))
                best[3].update(zip(rest, fitted, strict=True))
            zs_all = [best[2][i] for i in range(len(folds))]
            best = (best[0], best[1], zs_all, [best[3][i] for i in range(len(folds))], *self._fold_means(folds, zs_all))
            params[name] = best[1]
            raw_z[name] = best[2]
            report["models"][name] = {"params": best[1], "ndcg": round(best[4], 5), "recall": round(best[5], 5)}
            if use_recent and name in RECENCY_MEMBERS:
                item_models[name] = best[3]
        if not raw_z:
            raise InputError("no base model of the hybrid could be fitted", hint="check the models parameter")
        self.recency_tau_ = self._tau_grid()[0]
        if not item_models:
            w, score = self._blend_weights(folds, raw_z, report)
            report.pop("first_weights", None)
            final_z = raw_z
        else:
            # every recency decay gets its own blend; the one that does best on the latest items (within the
            # random folds' guard) wins
            best, first = None, None
            cand_cache: dict[tuple[int, str], np.ndarray] = {}
            ranks = [recency_ranks(f.inner) for f in folds]
            for tau in self._tau_grid(search=do_tune):
                hist = [recency_history(f.inner, tau, r)[f.users] for f, r in zip(folds, ranks, strict=True)]
                z_tau = dict(raw_z)
                for name, fitted in item_models.items():
                    z_tau[name + RECENT] = [_zscore(m.history_scores(h), f.seen)
                                            for m, h, f in zip(fitted, hist, folds, strict=True)]
                rep_tau: dict[str, Any] = {}
                w_tau, score_tau = self._blend_weights(folds, z_tau, rep_tau, first, cand_cache)
                first = rep_tau.pop("first_weights", None)  # the random folds' blend is the same for every decay
                key = rep_tau.get("temporal_objective", score_tau)
                report.setdefault("recency_tau", {})[str(tau)] = round(key, 5)
                if best is None or key > best[0] + 1e-12:
                    best = (key, tau, w_tau, score_tau, rep_tau, z_tau)
            _key, self.recency_tau_, w, score, rep_tau, final_z = best
            report.update(rep_tau)
            for name in item_models:
                nd, rc = self._fold_means(folds, final_z[name + RECENT])
                report["models"][name + RECENT] = {"params": {**params[name], "tau": self.recency_tau_},
                                                   "ndcg": round(nd, 5), "recall": round(rc, 5)}
        if self.learning_curve:
            w = self._learning_curve(folds, params, w, report)
        report["blend"] = self._blend_report(folds, final_z, w, report["models"])
        total = sum(w.values())
        self.params_ = params
        self.weights_ = {n: round(v / total, 6) for n, v in w.items()}
        report["blend_objective"] = round(score, 5)
        self.validation_ = report
        log.info("hybrid validation users=%d blend=%.4f weights=%s", report["users"], score, self.weights_)

    def _blend_report(self, folds: list[_Fold], zs: Mapping[str, list[np.ndarray]], w: Mapping[str, float],
                      members: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """The blend's own nDCG@k and recall@k on the validation folds, beside its best member's (by ``objective``).

        Both are measured on the same folds and users, over every item the user has not interacted with, so the
        gains say how much the blend adds to the strongest model it blends (the blend's weights were learned on
        these folds: the gains lean optimistic).
        """
        blends = [sum((np.float32(v) * zs[n][i] for n, v in w.items() if v > 0), np.zeros_like(zs[next(iter(zs))][i]))
                  for i in range(len(folds))]
        nd, rc = self._fold_means(folds, blends)
        best = max(members, key=lambda n: self._objective(members[n]["ndcg"], members[n]["recall"]))
        return {"ndcg": round(nd, 5), "recall": round(rc, 5), "best_member": best,
                "ndcg_gain": round(nd - members[best]["ndcg"], 5), "recall_gain": round(rc - members[best]["recall"], 5)}

    def _learning_curve(self, folds: list[_Fold], params: dict[str, dict[str, Any]], w: dict[str, float],
                        report: dict[str, Any]) -> dict[str, float]:
        """The blend ``w`` learned on ``folds``, extrapolated to the full training data (see ``learning_curve``).

        Every base member is fitted again on ``CURVE_SHARE`` of each fold's inner data (same settings, same held-out
        items), the same validation learns their blend there, and :func:`curve_weights` moves the base members'
        weights on to the full data. The ``~recent`` members keep their weights (they are chosen on the latest items
        and only where the random folds lose nothing, which the smaller data cannot judge again).
        """
        plain = [n for n in params if n in w]
        if sum(w[n] > 0 for n in plain) < 2:
            return w
        small = []
        for i, f in enumerate(folds):
            rng = np.random.default_rng(self.seed + 1000 + i)
            held = _held_share(f.inner.matrix.tocsr(), rng.random(f.inner.nnz), 1.0 - CURVE_SHARE)
            small.append(replace(f, inner=_without(f.inner, held)))
        learned, _ = self._blend_weights(small, {n: self._member(n, params[n], small)[0] for n in plain}, {})
        steps = float(np.log(1.0 / (1.0 - self.validation_fraction)) / np.log(1.0 / CURVE_SHARE))
        moved = curve_weights({n: w[n] for n in plain}, learned, steps)

        def shares(d: Mapping[str, float]) -> dict[str, float]:
            total = max(sum(d.get(n, 0.0) for n in plain), 1e-12)
            return {n: round(d.get(n, 0.0) / total, 5) for n in plain if d.get(n, 0.0) > 0 or w[n] > 0}

        report["learning_curve"] = {"share": CURVE_SHARE, "steps": round(steps, 4), "folds": shares(w),
                                    "smaller": shares(learned), "extrapolated": shares(moved)}
        return {n: moved.get(n, v) for n, v in w.items()}

    def _blend_weights(self, folds: list[_Fold], raw_z: dict[str, list[np.ndarray]], report: dict[str, Any],
                       first: Mapping[str, float] | None = None,
                       cand_cache: dict[tuple[int, str], np.ndarray] | None = None) -> tuple[dict[str, float], float]:
        """Blend weights learned with the listwise loss on the pooled validation rows (each member's top candidates).

        ``first``: the random folds' blend of the members without recency, when already learned ("guarded").
        ``cand_cache``: (fold, member) → that member's top candidates, shared between calls whose plain members'
        scores are the same (every recency decay); the ``~recent`` members are never cached.
        """
        names = list(raw_z)
        labels_f, zs = [], {n: [] for n in names}
        for f, fold in enumerate(folds):
            n_items = fold.seen_d.shape[1]
            c = min(self.candidates, n_items)
            cand_sets = []
            for n in names:
                cache = cand_cache if cand_cache is not None and not n.endswith(RECENT) else {}
                if (f, n) not in cache:
                    zz = np.where(fold.seen_d, np.float32(-np.inf), raw_z[n][f])
                    cache[(f, n)] = top_columns(zz, c)
                cand_sets.append(cache[(f, n)])
            cand = np.sort(np.concatenate(cand_sets, axis=1), axis=1)
            dup = np.zeros_like(cand, dtype=bool)
            dup[:, 1:] = cand[:, 1:] == cand[:, :-1]
            invalid = dup | np.take_along_axis(fold.seen_d, cand, axis=1)
            lab = np.take_along_axis(fold.truth.toarray() > 0, cand, axis=1).astype(np.float32)
            lab[invalid] = 0.0
            labels_f.append(lab)
            for n in names:
                zc = np.take_along_axis(raw_z[n][f], cand, axis=1).astype(np.float32)
                zc[invalid] = -1e6
                zs[n].append(zc)
        width = max(x.shape[1] for x in labels_f)

        def pad(a: np.ndarray, fill: float) -> np.ndarray:
            return np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)

        # the folds' validation users are pooled: every (fold, user) row counts once
        labels = np.vstack([pad(x, 0.0) for x in labels_f])
        n_true = np.concatenate([f.n_true for f in folds])
        zmat = {n: np.vstack([pad(x, -1e6) for x in zs[n]]) for n in names}
        temporal = np.concatenate([np.full(len(f.users), f.mode == "temporal") for f in folds])
        everyone = np.ones(len(temporal), dtype=bool)

        guarded = self.validation == "guarded" and temporal.any() and (~temporal).any()
        rand = ~temporal if guarded else everyone
        pool_all = (labels, n_true, zmat)
        plain = [n for n in names if not n.endswith(RECENT)] if guarded else names
        valid = zmat[names[0]] > -1e5  # padding, duplicates and seen items are -1e6 in every member

        def rows_of(mask: np.ndarray) -> ListwiseRows:
            return listwise_rows([zmat[n][mask] for n in names], labels[mask], valid[mask])

        def as_dict(v: np.ndarray) -> dict[str, float]:
            return {n: float(x) for n, x in zip(names, v, strict=True)}

        rand_rows = rows_of(rand)
        if guarded and first is not None:
            w = {n: float(first.get(n, 0.0)) for n in names}
        else:
            w = as_dict(fit_listwise(rand_rows, np.array([n in plain for n in names])))
            if sum(w.values()) <= 0:  # no member ranks the held-out items above the rest: the best one alone
                lead = max(plain, key=lambda n: float(self._pool_rows(pool_all, {n: 1.0})[rand].mean()))
                w = {n: float(n == lead) for n in names}
            report["first_weights"] = dict(w)
        if guarded:
            # the blend for random held-out items is fixed first; then every member (the recency ones too) may
            # move towards the users' latest items: the latest-items loss plus a weight times the random folds'
            # loss is minimised; the best blend on the latest items whose random folds lose no more than the noise
            # of the paired estimate (``significance`` standard errors) or the share ``recency_tolerance`` of their
            # score wins
            first_rows = self._pool_rows(pool_all, w)
            base = float(first_rows[rand].mean())
            z = float(self.significance)

            def keeps(r: np.ndarray) -> bool:
                if self.recency_tolerance is None:  # no loss larger than the noise of the paired estimate
                    d = (r - first_rows)[rand]
                    return float(d.mean()) >= -z * float(d.std()) / np.sqrt(max(len(d), 1)) - 1e-12
                return float(r[rand].mean()) >= base * (1.0 - float(self.recency_tolerance)) - 1e-12

            start = np.array([w[n] for n in names])
            best = (float(first_rows[temporal].mean()), w)
            latest_rows = rows_of(temporal)
            for mu in GUARD_WEIGHTS:
                cand_w = as_dict(fit_listwise_mix(latest_rows, rand_rows, mu, start))
                r = self._pool_rows(pool_all, cand_w)
                report.setdefault("guard_path", []).append(
                    {"mu": mu, "random": round(float(r[rand].mean()), 5), "temporal": round(float(r[temporal].mean()), 5),
                     "keeps": keeps(r)})
                if not keeps(r):
                    break  # a smaller weight lets the random folds' loss grow further
                if float(r[temporal].mean()) > best[0] + 1e-12:
                    best = (float(r[temporal].mean()), cand_w)
            w = best[1]
            final = self._pool_rows(pool_all, w)
            report["random_objective"] = round(float(final[rand].mean()), 5)
            report["random_objective_unguarded"] = round(base, 5)
            report["temporal_objective"] = round(float(final[temporal].mean()), 5)
        return w, float(self._pool_rows(pool_all, w).mean())

    def _pool_rows(self, pool: tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]], w: Mapping[str, float]) -> np.ndarray:
        """Per-row validation objective of the blend ``w`` on candidate rows."""
        labels, n_true, zmat = pool
        blend = np.zeros_like(labels)
        for n, v in w.items():
            if v > 0:
                blend += np.float32(v) * zmat[n]
        return self._objective(*_ndcg_recall_rows(blend, labels, n_true, self.k))

    def _user_z(self, model: Recommender, users: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
        n_items = model.data_.n_items
        block = max(1, MAX_ENTRY // max(n_items, 1))
        out = np.empty((len(users), n_items), dtype=np.float32)
        for s in range(0, len(users), block):
            sl = slice(s, s + block)
            out[sl] = _zscore(model.score(users[sl]), seen[sl])
        return out

    # --- scoring -------------------------------------------------------------------------------
    def score(self, user_idx: np.ndarray) -> np.ndarray:
        """Blend of the base models' per-user z-scores (over items the user has not interacted with)."""
        self._check_fitted()
        idx = np.asarray(user_idx, dtype=np.int64)
        seen = self.data_.matrix[idx]
        total = np.zeros((len(idx), self.data_.n_items), dtype=np.float32)
        for n, w in self.weights_.items():
            if w <= 0:
                continue
            if n.endswith(RECENT):
                raw = self.models_[n[: -len(RECENT)]].history_scores(self.recent_history_[idx])
            else:
                raw = self.models_[n].score(idx)
            total += np.float32(w) * _zscore(raw, seen)
        return total

    @property
    def similar_reason(self) -> str:  # type: ignore[override]
        """The reason of the member whose similarity the hybrid serves (see ``lead_``)."""
        lead = self.__dict__.get("lead_")
        return self.models_[lead].similar_reason if lead is not None else Recommender.similar_reason

    def _item_similarity(self, item_idx: np.ndarray) -> np.ndarray:
        return self.models_[self.lead_]._item_similarity(item_idx)

    def _explain_history(self, user_idx: np.ndarray) -> sp.csr_matrix:
        return self.models_[self.lead_]._explain_history(user_idx)

    def _explain_similarity(self, item_idx: np.ndarray) -> np.ndarray:
        return self.models_[self.lead_]._explain_similarity(item_idx)

    def _pair_similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.models_[self.lead_]._pair_similarity(a, b)
