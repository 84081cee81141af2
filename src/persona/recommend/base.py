"""The recommender protocol: scikit-learn style ``fit`` / ``recommend`` / ``similar_items`` / ``save`` / ``load``.

Subclasses implement ``_fit(data)`` and ``score(user_idx)`` (dense raw scores); optionally
``_item_similarity(item_idx)`` (rows of item-item similarity, for ``similar_items``, reasons and diversity)
and ``_pair_similarity(a, b)``. The base class does the rest the same way for every algorithm: batching,
masking of seen items, filters, candidates, top-k, diversity re-ranking, cold start and reasons.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp

from persona.data import Interactions
from persona.data.events import EVENT_STRENGTH, EVENT_VERBS
from persona.errors import DataFileError, InputError, NotFittedError
from persona.recommend.coldstart import ColdStart
from persona.recommend.diversity import check_diversity, mmr_rerank
from persona.recommend.rules import Filters, item_categories

log = logging.getLogger(__name__)

RECOMMEND_COLUMNS = ["user_id", "item_id", "score", "rank", "reason"]
SIMILAR_COLUMNS = ["item_id", "similar_item_id", "score", "rank", "reason"]
DENSE_SIMILARITY_ITEMS = (
    4_000  # below this many items the default item-item cosine is computed once and cached
)
MAX_BLOCK_CELLS = 40_000_000
HISTORY_FOR_REASONS = 100  # most weighted history items considered when explaining (large catalogues)  # users × items scored at once (160 MB of float32)
FORMAT_VERSION = 1


def _as_id_list(ids: Any) -> list[Any]:
    if ids is None:
        raise InputError("no ids given", hint="pass one id or a list of ids")
    if isinstance(ids, str | bytes) or np.isscalar(ids):
        return [ids]
    if isinstance(ids, pd.Series | pd.Index | np.ndarray):
        return list(ids.tolist())
    return list(ids)


def top_columns(x: np.ndarray, k: int) -> np.ndarray:
    """Per row, the column indices of the ``k`` largest values, unordered (every column when ``k >= x.shape[1]``).

    Selects the ``k`` smallest of ``-x``: numpy's argpartition with ``kth`` near the end of rows full of ties
    (sparse similarity rows are mostly zeros) is about 10× slower than with ``kth`` near the start. The result
    is a compact array of its own, never a view that would keep the whole (rows × columns) partition alive.
    """
    n_rows, n_cols = x.shape
    if k >= n_cols:
        return np.tile(np.arange(n_cols), (n_rows, 1))
    return np.argpartition(-x, k - 1, axis=1)[:, :k].copy()


def topk_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Per row, the column indices of the ``k`` best finite scores, best first (ties: lower index first).

    Returns an int array (rows × min(k, n_cols)); positions whose score is ``-inf`` are ``-1``.
    """
    n_rows, n_cols = scores.shape
    k = min(k, n_cols)
    if k <= 0:
        return np.empty((n_rows, 0), dtype=np.int64)
    part = top_columns(scores, k)
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1) if n_rows else part
    top = np.take_along_axis(part, order, axis=1)
    topv = np.take_along_axis(vals, order, axis=1)
    top[~np.isfinite(topv) | np.isnan(topv)] = -1
    return top.astype(np.int64)


class Recommender:
    """Base class of every Persona recommender.

    Subclass contract: ``__init__`` stores parameters only (as attributes of the same name);
    ``_fit(data)`` learns state in attributes ending in ``_``; ``score(user_idx)`` returns float32 raw
    scores (len(user_idx) × n_items) for users of the training vocabulary, before any masking.
    """

    #: registry name, e.g. "ease"
    name: ClassVar[str] = "base"
    #: phrase for a reason when no history item explains a recommendation
    default_reason: ClassVar[str] = "recommended for you"
    #: phrase for similar_items, ``{item}`` is the seed item's label
    similar_reason: ClassVar[str] = "customers who liked {item} also liked this"
    #: whether the model explains items by the user's history ("because you bought X")
    explains_by_history: ClassVar[bool] = True

    # --- scikit-learn conventions --------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The constructor parameters and their current values."""
        return {n: getattr(self, n) for n in self._param_names()}

    def set_params(self, **params: Any) -> Recommender:
        """Set constructor parameters (unknown names raise ``InputError``)."""
        names = set(self._param_names())
        for k, v in params.items():
            if k not in names:
                raise InputError(
                    f"{type(self).__name__} has no parameter {k!r}", hint=f"allowed: {sorted(names)}"
                )
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _validate_params(self) -> None:
        """Check parameters; subclasses raise ``InputError`` naming the bad one."""

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "data_")

    @property
    def cold_start_(self) -> ColdStart:
        """Scores for users without history, learned from the training data the first time they are needed: a model
        fitted only to be compared or blended (a hybrid's members, each validation fold's) never needs them, and
        :meth:`save` (and pickling) stores them with the model."""
        self._check_fitted()
        cs = self.__dict__.get("cold_start_")
        if cs is None:
            cs = self.__dict__["cold_start_"] = ColdStart().fit(self.data_)
        return cs

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(self)

    # --- fit -----------------------------------------------------------------------------------
    def unfit_reason(self, data: Interactions) -> str | None:
        """Why this recommender, with its parameters, has nothing to learn from ``data`` (None: it can fit).

        Default model sets use it to leave a model out with a reason instead of failing on it.
        """
        return None

    def fit(self, interactions: Interactions) -> Recommender:
        """Learn from an :class:`~persona.data.Interactions` dataset.

        Returns:
            self.

        Raises:
            InputError: not an ``Interactions``, or an invalid parameter.
        """
        if not isinstance(interactions, Interactions):
            raise InputError(
                f"fit expects persona.data.Interactions, got {type(interactions).__name__}",
                hint="build one with Interactions.from_frame(df) or Interactions.from_store(store)",
            )
        self._validate_params()
        t0 = time.perf_counter()
        self.data_ = interactions
        self.__dict__.pop("cold_start_", None)  # fitted again: the cold-start scores of the old data go
        self._fit(interactions)
        self.fit_seconds_ = time.perf_counter() - t0
        log.info(
            "fitted %s users=%d items=%d seconds=%.2f",
            self.name,
            interactions.n_users,
            interactions.n_items,
            self.fit_seconds_,
        )
        return self

    def _fit(self, data: Interactions) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, user_idx: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Dense float32 raw scores (len(user_idx) × n_items) for training users, before masking."""
        raise NotImplementedError

    # --- similarity (overridable) --------------------------------------------------------------
    def _item_users(self) -> tuple[sp.csr_matrix, np.ndarray]:
        cache = self.__dict__.get("_iu_cache")
        if cache is None or cache[2] is not self.data_:
            iu = self.data_.matrix.T.tocsr()
            norms = np.sqrt(np.asarray(iu.multiply(iu).sum(axis=1)).ravel())
            cache = (iu, norms, self.data_)
            self.__dict__["_iu_cache"] = cache
        return cache[0], cache[1]

    def _item_similarity(self, item_idx: np.ndarray) -> np.ndarray:
        """Rows of item-item similarity (len(item_idx) × n_items); default: cosine of interaction columns."""
        item_idx = np.asarray(item_idx, dtype=np.int64)
        full = self.__dict__.get("_cos_cache")
        if full is not None and full[1] is self.data_:
            return full[0][item_idx]
        iu, norms = self._item_users()
        if self.data_.n_items <= DENSE_SIMILARITY_ITEMS:
            every = np.arange(self.data_.n_items)
            sims = self._cosine_rows(iu, norms, every)
            self.__dict__["_cos_cache"] = (sims, self.data_)
            return sims[item_idx]
        return self._cosine_rows(iu, norms, item_idx)

    @staticmethod
    def _cosine_rows(iu: sp.csr_matrix, norms: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        sims = (iu[item_idx] @ iu.T).toarray().astype(np.float32)
        denom = np.outer(norms[item_idx], norms).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(denom > 0, sims / denom, 0.0).astype(np.float32)

    def _pair_similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Similarity between two item lists (len(a) × len(b))."""
        iu, norms = self._item_users()
        sims = (iu[a] @ iu[b].T).toarray()
        denom = np.outer(norms[a], norms[b])
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(denom > 0, sims / denom, 0.0)

    # --- recommend -----------------------------------------------------------------------------
    def recommend(
        self,
        user_ids: Any,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: Sequence[Any] | Mapping[Any, Sequence[Any]] | None = None,
        filters: Filters | Mapping[str, Any] | None = None,
        diversity: float = 0.0,
        max_per_category: int | None = None,
        reasons: bool = True,
        user_features: pd.DataFrame | Mapping[Any, Mapping[str, Any]] | None = None,
    ) -> pd.DataFrame:
        """Top-``k`` items for each user, best first.

        Users the model has not seen (or without history) get cold-start recommendations from their
        segment, demographics, declared interests or what is trending — never an error.

        Args:
            user_ids: one id or a sequence of ids.
            k: items per user.
            exclude_seen: drop items the user already interacted with.
            candidates: only these item ids (a sequence for everyone, or a mapping user id → item ids).
            filters: a :class:`~persona.recommend.rules.Filters` or a dict of its fields.
            diversity: MMR knob in [0, 1]; 0 ranks by relevance only.
            max_per_category: at most this many items of one category per user.
            reasons: fill the ``reason`` column (turn off for bulk evaluation).
            user_features: side data for users not in the training data (segment, interests, age…).

        Returns:
            DataFrame ``user_id, item_id, score, rank, reason``; ranks 1..k per user.

        Raises:
            NotFittedError: before ``fit``.
            InputError: bad ``k``, filters, diversity or candidates.
        """
        self._check_fitted()
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            raise InputError(f"k must be a positive integer, got {k!r}")
        check_diversity(diversity, max_per_category)
        ids = _as_id_list(user_ids)
        data = self.data_
        flt = Filters.coerce(filters)
        allowed = flt.item_mask(data)
        per_user_cands: dict[Any, np.ndarray] | None = None
        if candidates is not None:
            if isinstance(candidates, Mapping):
                per_user_cands = {}
                for u, items in candidates.items():
                    ix = data.item_index(_as_id_list(items))
                    per_user_cands[u] = ix[ix >= 0]
            else:
                ix = data.item_index(_as_id_list(candidates))
                cmask = np.zeros(data.n_items, dtype=bool)
                cmask[ix[ix >= 0]] = True
                allowed &= cmask
        purchased = flt.purchased(data)
        uidx = data.user_index(ids) if ids else np.empty(0, dtype=np.int64)
        n_hist = np.diff(data.matrix.indptr)
        warm = (uidx >= 0) & (n_hist[np.clip(uidx, 0, None)] > 0) if len(uidx) else np.zeros(0, dtype=bool)
        rerank = diversity > 0 or max_per_category is not None
        pool = min(data.n_items, max(4 * k, k + 40)) if rerank else k
        cats = None
        if rerank:
            names = item_categories(data)
            lookup: dict[str, int] = {}
            cats = np.array([lookup.setdefault(c, len(lookup)) if c is not None else -1 for c in names])
        block = max(1, min(1024, MAX_BLOCK_CELLS // max(1, data.n_items)))
        frames: list[pd.DataFrame] = []
        for start in range(0, len(ids), block):
            sl = slice(start, start + block)
            frames.append(
                self._recommend_block(
                    ids[sl],
                    uidx[sl],
                    warm[sl],
                    k,
                    pool,
                    exclude_seen,
                    allowed,
                    purchased,
                    per_user_cands,
                    diversity,
                    max_per_category,
                    cats,
                    reasons,
                    user_features,
                )
            )
        if not frames:
            return _empty(RECOMMEND_COLUMNS)
        out = pd.concat(frames, ignore_index=True)
        return out

    def _recommend_block(
        self,
        ids: list[Any],
        uidx: np.ndarray,
        warm: np.ndarray,
        k: int,
        pool: int,
        exclude_seen: bool,
        allowed: np.ndarray,
        purchased: sp.csr_matrix | None,
        per_user_cands: dict[Any, np.ndarray] | None,
        diversity: float,
        max_per_category: int | None,
        cats: np.ndarray | None,
        reasons: bool,
        user_features: Any,
    ) -> pd.DataFrame:
        data = self.data_
        n = len(ids)
        scores = np.empty((n, data.n_items), dtype=np.float32)
        cold_reasons: dict[int, Any] = {}
        if warm.any():
            scores[warm] = np.asarray(self.score(uidx[warm]), dtype=np.float32)
        if (~warm).any():
            rows = np.flatnonzero(~warm)
            cs, fns = self.cold_start_.score([ids[r] for r in rows], uidx[rows], user_features)
            scores[rows] = cs
            cold_reasons = dict(zip(rows.tolist(), fns, strict=True))
        nan = np.isnan(scores)
        if nan.any():  # a model bug, not a ranking: say so instead of serving those items silently never
            log.warning("%s scored %d of %d customers NaN on some products; those products are left out of their lists",
                        self.name, int(nan.any(axis=1).sum()), n)
            scores[nan] = -np.inf
        if not allowed.all():
            scores[:, ~allowed] = -np.inf
        known = np.flatnonzero(uidx >= 0)
        for mat, on in ((data.matrix, exclude_seen), (purchased, purchased is not None)):
            if on and len(known):
                sub = mat[uidx[known]].tocoo()
                scores[known[sub.row], sub.col] = -np.inf
        if per_user_cands is not None:
            for r, u in enumerate(ids):
                c = per_user_cands.get(u)
                if c is None:
                    continue
                keep = np.zeros(data.n_items, dtype=bool)
                keep[c] = True
                scores[r, ~keep] = -np.inf
        top = topk_indices(scores, pool)
        picks: list[np.ndarray] = []
        for r in range(n):
            row = top[r][top[r] >= 0]
            if pool > k and len(row):
                sim = self._pair_similarity(row, row) if diversity > 0 else None
                pick = mmr_rerank(
                    scores[r, row],
                    sim,
                    k,
                    diversity=diversity,
                    categories=cats[row] if cats is not None else None,
                    max_per_category=max_per_category,
                )
                row = row[pick]
            picks.append(row[:k])
        reason_rows: list[list[str]] = [[] for _ in range(n)]
        if reasons:
            warm_rows = [r for r in range(n) if r not in cold_reasons and len(picks[r])]
            if warm_rows:
                explained = self._explain_block(uidx[warm_rows], [picks[r] for r in warm_rows])
                for r, texts in zip(warm_rows, explained, strict=True):
                    reason_rows[r] = texts
            for r, fn in cold_reasons.items():
                reason_rows[r] = [fn(int(i)) for i in picks[r]]
        out_u: list[Any] = []
        out_i: list[int] = []
        out_s: list[float] = []
        out_r: list[int] = []
        out_reason: list[str] = []
        for r, row in enumerate(picks):
            if not len(row):
                continue
            out_u.extend([ids[r]] * len(row))
            out_i.extend(row.tolist())
            out_s.extend(scores[r, row].tolist())
            out_r.extend(range(1, len(row) + 1))
            out_reason.extend(reason_rows[r] if reasons else [""] * len(row))
        item_ids = data.item_ids[np.asarray(out_i, dtype=np.int64)] if out_i else np.empty(0, dtype=object)
        return pd.DataFrame(
            {
                "user_id": pd.Series(out_u, dtype=object),
                "item_id": pd.Series(item_ids, dtype=object),
                "score": pd.Series(out_s, dtype=np.float64),
                "rank": pd.Series(out_r, dtype=np.int64),
                "reason": pd.Series(out_reason, dtype=object),
            }
        )

    # --- reasons -------------------------------------------------------------------------------
    def _user_verbs(self) -> sp.csr_matrix | None:
        """(user, item) → strongest event code, to phrase "because you bought / viewed X"."""
        cache = self.__dict__.get("_verb_cache")
        if cache is not None and cache[1] is self.data_:
            return cache[0]
        logdf = self.data_.log
        mat = None
        if "event" in logdf.columns and len(logdf):
            strength = logdf["event"].astype(str).map(EVENT_STRENGTH).fillna(0).to_numpy(dtype=np.float32)
            g = pd.DataFrame(
                {"u": logdf["user_idx"].to_numpy(), "i": logdf["item_idx"].to_numpy(), "s": strength}
            )
            g = g.groupby(["u", "i"], sort=False)["s"].max().reset_index()
            mat = sp.csr_matrix(
                (g["s"].to_numpy(), (g["u"].to_numpy(), g["i"].to_numpy())), shape=self.data_.matrix.shape
            )
        self.__dict__["_verb_cache"] = (mat, self.data_)
        return mat

    def _explain_history(self, user_idx: np.ndarray) -> sp.csr_matrix:
        """Training users' histories as the model's scores weigh them (len(user_idx) × n_items, CSR).

        A reason names the history item contributing most to a recommendation: its support of the item
        (``_explain_rows``) × the weight the item has in the model's *scoring input*, not its raw summed
        event weight (a product viewed 90 times must not explain everything a model scoring 0/1 histories
        recommends). Default: the model's own history matrix ``_x_`` when it keeps one (item-kNN, EASE, DLAE,
        RP3beta, GF-CF, content…: 0/1, its own weighting, or the recency-decayed rows it scores); else the
        interactions, 0/1 when the model is ``binary`` (ALS, BPR). Models scoring another input override it.
        """
        idx = np.asarray(user_idx, dtype=np.int64)
        x = getattr(self, "_x_", None)
        if sp.issparse(x) and x.shape == self.data_.matrix.shape:
            hist = sp.csr_matrix(x[idx], dtype=np.float32, copy=True)
        else:
            hist = sp.csr_matrix(self.data_.matrix[idx], dtype=np.float32, copy=True)
            if getattr(self, "binary", False):
                hist.data[:] = 1.0
        hist.eliminate_zeros()  # an item the scores give no weight explains nothing
        hist.sort_indices()
        return hist

    def _explain_rows(self, item_idx: np.ndarray) -> np.ndarray:
        """Rows (len(item_idx) × n_items): how much each item of a history supports each recommended item."""
        return self._item_similarity(item_idx)

    def _explain_similarity(self, item_idx: np.ndarray) -> np.ndarray:
        """``_explain_rows``, served from a cached dense item × item matrix for small catalogues."""
        n = self.data_.n_items
        if n > DENSE_SIMILARITY_ITEMS:
            return self._explain_rows(item_idx)
        cache = self.__dict__.get("_explain_cache")
        if cache is None or cache[1] is not self.data_:
            cache = (np.asarray(self._explain_rows(np.arange(n)), dtype=np.float32), self.data_)
            self.__dict__["_explain_cache"] = cache
        return cache[0][np.asarray(item_idx, dtype=np.int64)]

    def _explain_block(self, uidx: np.ndarray, rows: list[np.ndarray]) -> list[list[str]]:
        """Reasons for the recommended items of several users with history.

        For each item, the history item that supports it most gives "because you bought / viewed X";
        when nothing in the history supports it, the model's ``default_reason``.
        """
        out: list[list[str]] = [[] for _ in rows]
        if not self.explains_by_history or not len(rows):
            return [[self.default_reason] * len(r) for r in rows]
        data = self.data_
        verbs = self._user_verbs()
        strength_to_verb = {v: EVENT_VERBS[k] for k, v in EVENT_STRENGTH.items()}
        if data.n_items > DENSE_SIMILARITY_ITEMS:
            return self._explain_per_user(uidx, rows, verbs, strength_to_verb)
        full = self.__dict__.get("_explain_full_cache")
        if full is None or full[1] is not data:
            full = (np.asarray(self._explain_similarity(np.arange(data.n_items)), dtype=np.float32), data)
            self.__dict__["_explain_full_cache"] = full
        support = full[0]
        hist = self._explain_history(uidx)  # weights as the model scores them (0/1 for binary models)
        entry_row = np.repeat(np.arange(len(rows)), np.diff(hist.indptr))
        # ties (equal support and weight) go to the item the customer engaged with most
        raw = np.asarray(data.matrix[uidx][entry_row, hist.indices]).ravel() if hist.nnz else np.zeros(0)
        width = max((len(r) for r in rows), default=0)
        padded = np.full((len(rows), width), -1, dtype=np.int64)
        for r, items in enumerate(rows):
            padded[r, : len(items)] = items
        for j in range(width):
            target = padded[entry_row, j]
            ok = target >= 0
            r_ok, h_ok = entry_row[ok], hist.indices[ok]
            sv = support[target[ok], h_ok]
            # contribution = how much h supports the item × h's weight in the model's scoring input
            contrib = np.where(sv > 0, sv * hist.data[ok], sv)
            order = np.lexsort((-raw[ok], -contrib, r_ok))
            first = order[np.r_[0, np.flatnonzero(np.diff(r_ok[order])) + 1]] if len(order) else order
            best_of = dict(zip(r_ok[first].tolist(), first.tolist(), strict=True))
            users_j = [r for r in range(len(rows)) if padded[r, j] >= 0]
            picks = [best_of.get(r, -1) for r in users_j]
            best_items = np.array([h_ok[e] if e >= 0 else 0 for e in picks], dtype=np.int64)
            labels = data.item_labels(best_items) if len(best_items) else []
            if verbs is not None and len(best_items):
                codes = np.asarray(verbs[uidx[users_j], best_items]).ravel()
            else:
                codes = np.zeros(len(users_j))
            for n, (r, e) in enumerate(zip(users_j, picks, strict=True)):
                if e < 0 or not np.isfinite(contrib[e]) or contrib[e] <= 0:
                    out[r].append(self.default_reason)
                else:
                    verb = strength_to_verb.get(int(codes[n]), "liked")
                    out[r].append(f"because you {verb} {labels[n]}")
        return out

    def _pair_explain(self, rec_items: np.ndarray, hist_items: np.ndarray) -> np.ndarray:
        """Support of each recommended item by each history item (len(rec) × len(hist))."""
        cls = type(self)
        if (
            cls._explain_rows is Recommender._explain_rows
            and cls._item_similarity is Recommender._item_similarity
        ):
            return self._pair_similarity(rec_items, hist_items)
        return np.asarray(self._explain_rows(rec_items))[:, hist_items]

    def _explain_per_user(
        self, uidx: np.ndarray, rows: list[np.ndarray], verbs: sp.csr_matrix | None, strength_to_verb: dict
    ) -> list[list[str]]:
        """Large catalogues: score only (recommended × history) pairs, user by user."""
        data = self.data_
        weighted = self._explain_history(uidx)  # weights as the model scores them (0/1 for binary models)
        out: list[list[str]] = []
        for r, (user, items) in enumerate(zip(uidx, rows, strict=True)):
            lo, hi = weighted.indptr[r], weighted.indptr[r + 1]
            hist, w = weighted.indices[lo:hi], weighted.data[lo:hi]
            if len(hist) > 1:  # most weighted first, ties by how much the customer engaged with the item
                raw = np.asarray(data.matrix[int(user)][:, hist].toarray()).ravel()
                order = np.lexsort((-raw, -w))
                hist, w = hist[order], w[order]
            if len(hist) > HISTORY_FOR_REASONS:
                hist, w = hist[:HISTORY_FOR_REASONS], w[:HISTORY_FOR_REASONS]
            if not len(hist) or not len(items):
                out.append([self.default_reason] * len(items))
                continue
            sims = np.asarray(self._pair_explain(np.asarray(items), hist), dtype=np.float32)
            sims = sims * np.where(sims > 0, w[None, :], 1.0)
            best = np.argmax(sims, axis=1)
            labels = data.item_labels(hist[best])
            texts = []
            for j, b in enumerate(best):
                if not np.isfinite(sims[j, b]) or sims[j, b] <= 0:
                    texts.append(self.default_reason)
                    continue
                code = int(verbs[int(user), int(hist[b])]) if verbs is not None else 0
                texts.append(f"because you {strength_to_verb.get(code, 'liked')} {labels[j]}")
            out.append(texts)
        return out

    # --- similar items -------------------------------------------------------------------------
    def similar_items(self, item_ids: Any, k: int = 10) -> pd.DataFrame:
        """The ``k`` items most similar to each given item (itself excluded).

        Args:
            item_ids: one id or a sequence of ids; ids unknown to the model give no rows.
            k: neighbours per item.

        Returns:
            DataFrame ``item_id, similar_item_id, score, rank, reason``.

        Raises:
            NotFittedError: before ``fit``.
        """
        self._check_fitted()
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            raise InputError(f"k must be a positive integer, got {k!r}")
        ids = _as_id_list(item_ids)
        data = self.data_
        idx = data.item_index(ids) if ids else np.empty(0, dtype=np.int64)
        known = np.flatnonzero(idx >= 0)
        if len(known) < len(ids):
            log.info("similar_items: %d unknown item id(s) skipped", len(ids) - len(known))
        if not len(known):
            return _empty(SIMILAR_COLUMNS)
        frames = []
        block = max(1, min(512, MAX_BLOCK_CELLS // max(1, data.n_items)))
        for start in range(0, len(known), block):
            rows = known[start : start + block]
            sims = np.asarray(self._item_similarity(idx[rows]), dtype=np.float32).copy()
            sims[np.arange(len(rows)), idx[rows]] = -np.inf
            sims[sims <= 0] = -np.inf
            sims[np.isnan(sims)] = -np.inf
            top = topk_indices(sims, k)
            for r, src in enumerate(rows):
                row = top[r][top[r] >= 0]
                if not len(row):
                    continue
                label = data.item_labels([idx[src]])[0]
                frames.append(
                    pd.DataFrame(
                        {
                            "item_id": pd.Series([ids[src]] * len(row), dtype=object),
                            "similar_item_id": pd.Series(data.item_ids[row], dtype=object),
                            "score": sims[r, row].astype(np.float64),
                            "rank": np.arange(1, len(row) + 1, dtype=np.int64),
                            "reason": self.similar_reason.format(item=label),
                        }
                    )
                )
        return pd.concat(frames, ignore_index=True) if frames else _empty(SIMILAR_COLUMNS)

    # --- persistence ---------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        if self.is_fitted:
            self.cold_start_  # noqa: B018 - learned now, so a loaded model serves new users at once
        return {k: v for k, v in self.__dict__.items() if not k.endswith("_cache")}

    def save(self, path: str | Path) -> Path:
        """Write the model (parameters and learned state) to one file.

        Returns:
            The path written.
        """
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(
            {
                "format": FORMAT_VERSION,
                "class": f"{type(self).__module__}:{type(self).__qualname__}",
                "model": self,
            },
            p,
            compress=3,
        )
        return p

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Read a model written by :meth:`save`.

        Raises:
            DataFileError: the file is missing, not a Persona model, or not of this class.
        """
        p = Path(path)
        if not p.is_file():
            raise DataFileError(f"model file {p} does not exist", hint="train one with fit(...).save(path)")
        try:
            payload = joblib.load(p)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
            raise DataFileError(f"{p} is not a readable Persona model: {exc}") from exc
        model = payload.get("model") if isinstance(payload, dict) else None
        if not isinstance(model, cls):
            raise DataFileError(
                f"{p} holds {type(model).__name__}, not a {cls.__name__}",
                hint="load it with the matching class",
            )
        return model


def _empty(columns: list[str]) -> pd.DataFrame:
    dtypes = {"score": np.float64, "rank": np.int64}
    return pd.DataFrame({c: pd.Series([], dtype=dtypes.get(c, object)) for c in columns})
