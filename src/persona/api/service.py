"""Serving recommendations: the active model from the registry, a cache of each customer's list, fold-in.

A customer's list is computed once and cached (in-process, and in Redis when ``PERSONA_REDIS_URL`` is
set). New events for a customer mark them *live*: their cached lists are dropped and every later list
is computed by fold-in (:mod:`persona.api.foldin`): the served model scores the customer's current
history from the store, without retraining. Erased customers get cold-start lists only.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import orjson
import pandas as pd

from persona.api.foldin import foldin_recommend, history_vector, read_history
from persona.errors import InputError, NotFoundError
from persona.recommend.coldstart import new_customer_features

log = logging.getLogger(__name__)
ERASED_PLACEHOLDER = "\x00erased"  # an id no model knows: cold-start lists for erased customers
REDIS_TTL_SECONDS = 3600
#: Key of the options passed with the filters: list the customer's seen products too (never cached, like filtered lists).
INCLUDE_SEEN = "include_seen"


class RecommendationService:
    """Thread-safe access to the served recommender, its per-customer cache and the fold-in path."""

    def __init__(self, store: Any, *, model_names: tuple[str, ...] = ("recommender", "hybrid"), cache_size: int = 200_000,
                 redis_url: str | None = None, redis_prefix: str = "persona") -> None:
        self.store = store
        self.model_names = model_names
        self.model: Any = None
        self.model_name: str | None = None
        self.model_version: int | None = None
        self.model_created_at: datetime | None = None
        self.model_metrics: dict[str, Any] = {}
        self._cache: OrderedDict[tuple[str, int, str, int], list[dict[str, Any]]] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()
        self._live: set[str] = set()  # customers with events newer than the served model's training data
        self._forgotten: set[str] = set()
        self._variants: dict[tuple[str, int], Any] = {}  # (name, version) -> model, for A/B variants
        self.stats = {"cache_hits": 0, "redis_hits": 0, "computed": 0, "foldin": 0}
        self._prefix = redis_prefix
        self._redis = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.2)

    # --- the served model -------------------------------------------------------------------
    def load(self) -> bool:
        """Load the active (or latest) model; False when none is registered yet."""
        from persona.registry import get_version, load

        for name in self.model_names:
            try:
                mv = get_version(self.store, name)
                model = load(self.store, name, mv.version)
            except Exception:  # noqa: BLE001 - no such model
                continue
            with self._lock:
                self.model, self.model_name, self.model_version = model, name, mv.version
                self.model_created_at, self.model_metrics = mv.created_at, dict(mv.metrics)
                self._cache.clear()
            log.info("serving model=%s version=%s", name, mv.version)
            return True
        return False

    def refresh_model(self) -> bool:
        """Reload when the registry's active version changed (promotion, retrain, rollback); True if it did."""
        from persona.registry import get_version

        for name in self.model_names:
            try:
                mv = get_version(self.store, name)
            except NotFoundError:
                continue
            if (name, mv.version) != (self.model_name, self.model_version):
                return self.load()
            return False
        return False

    def current(self) -> Any:
        """The served model, loading it on first use; None while no recommender is registered."""
        return self.model if self.model is not None or self.load() else None

    def _require(self) -> Any:
        if self.model is None and not self.load():
            raise NotFoundError("no recommender is trained yet", hint="run `persona recommend train` or `persona run`")
        return self.model

    def variant_model(self, spec: str) -> tuple[Any, str, int]:
        """The model an experiment variant names: ``NAME`` (its active version) or ``NAME@VERSION``.

        Raises:
            NotFoundError: no such model or version.
        """
        from persona.registry import get_version, load

        name, _, ver = spec.partition("@")
        if ver and not ver.isdigit():
            raise InputError(f"variant {spec!r} names version {ver!r}", hint="use NAME or NAME@VERSION, e.g. recommender@3")
        mv = get_version(self.store, name, int(ver) if ver else None)
        key = (mv.name, mv.version)
        if key == (self.model_name, self.model_version) and self.model is not None:
            return self.model, mv.name, mv.version
        with self._lock:
            model = self._variants.get(key)
        if model is None:
            model = load(self.store, mv.name, mv.version)
            with self._lock:
                self._variants[key] = model
        return model, mv.name, mv.version

    # --- lists ------------------------------------------------------------------------------
    def _rkey(self, customer_id: str) -> str:
        return f"{self._prefix}:recs:{customer_id}"

    def recommend(self, customer_id: str, k: int = 10, filters: dict[str, Any] | None = None, *,
                  model: tuple[Any, str, int] | None = None) -> list[dict[str, Any]]:
        """Top-k for one customer: cached when possible, fold-in for customers with new events.

        Args:
            customer_id: the customer.
            k: list length.
            filters: item filters (such lists are not cached).
            model: ``(model, name, version)`` to serve instead of the active one (A/B variants).
        """
        mdl, name, version = model if model is not None else (self._require(), self.model_name or "", self.model_version or 0)
        ck = (customer_id, k, name, version)
        field = f"{name}:{version}:{k}"
        if not filters:
            with self._lock:
                hit = self._cache.get(ck)
                if hit is not None:
                    self._cache.move_to_end(ck)
                    self.stats["cache_hits"] += 1
                    return hit
            if self._redis is not None:
                try:
                    raw = self._redis.hget(self._rkey(customer_id), field)
                    if raw:
                        items = orjson.loads(raw)
                        self._put(ck, items)
                        self.stats["redis_hits"] += 1
                        return items
                except Exception:  # noqa: BLE001 - the cache is optional
                    log.debug("redis read failed", exc_info=True)
        items = self._compute(mdl, customer_id, k, filters)
        if not filters:
            self._put(ck, items)
            if self._redis is not None:
                try:
                    pipe = self._redis.pipeline()
                    pipe.hset(self._rkey(customer_id), field, orjson.dumps(items))
                    pipe.expire(self._rkey(customer_id), REDIS_TTL_SECONDS)
                    pipe.execute()
                except Exception:  # noqa: BLE001
                    log.debug("redis write failed", exc_info=True)
        return items

    def cached(self, customer_id: str, k: int = 10) -> list[dict[str, Any]] | None:
        """The active model's cached list from this process, or None (never computes, never blocks on I/O)."""
        if self.model is None:
            return None
        ck = (customer_id, k, self.model_name or "", self.model_version or 0)
        with self._lock:
            hit = self._cache.get(ck)
            if hit is not None:
                self._cache.move_to_end(ck)
                self.stats["cache_hits"] += 1
        return hit

    def _put(self, ck: tuple[str, int, str, int], items: list[dict[str, Any]]) -> None:
        with self._lock:
            self._cache[ck] = items
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)

    def _compute(self, model: Any, customer_id: str, k: int, filters: dict[str, Any] | None) -> list[dict[str, Any]]:
        self.stats["computed"] += 1
        filters = dict(filters or {})
        if customer_id in self._forgotten:
            filters.pop(INCLUDE_SEEN, None)
            df = model.recommend([ERASED_PLACEHOLDER], k=k, filters=filters or None)
            return self._rows(df)
        include_seen = bool(filters.pop(INCLUDE_SEEN, False))
        if customer_id in self._live:
            events = read_history(self.store, customer_id)
            h = history_vector(model, events)
            if not h.empty:  # the history (include_seen: what was bought) is excluded, covering exclude_purchased
                self.stats["foldin"] += 1
                return foldin_recommend(model, h, k, filters, include_seen=include_seen, events=events)
        features = new_customer_features(self.store, model, [customer_id])  # added since training: cold start
        if include_seen:
            df = model.recommend([customer_id], k=k, exclude_seen=False, filters={**filters, "exclude_purchased": True},
                                 user_features=features)
            return self._rows(df)
        df = model.recommend([customer_id], k=k, filters=filters or None, user_features=features)
        return self._rows(df)

    def precompute(self, customer_ids: list[str], k: int = 10) -> int:
        """Fill the cache for many customers in one batched call."""
        model = self._require()
        df = model.recommend(customer_ids, k=k)
        n = 0
        with self._lock:
            for cid, g in df.groupby("user_id", sort=False):
                self._cache[(str(cid), k, self.model_name or "", self.model_version or 0)] = self._rows(g)
                n += 1
        return n

    @staticmethod
    def _rows(df: pd.DataFrame) -> list[dict[str, Any]]:
        return [
            {"product_id": str(r.item_id), "score": float(r.score), "rank": int(r.rank), "reason": str(r.reason)}
            for r in df.itertuples(index=False)
        ]

    def similar(self, product_id: str, k: int = 10) -> list[dict[str, Any]]:
        """Products similar to ``product_id`` in the served model.

        Raises:
            NotFoundError: no model, or the product is unknown to it.
        """
        model = self._require()
        df = model.similar_items([product_id], k=k)
        if df.empty:
            raise NotFoundError(f"no product {product_id!r} in the served model", hint="new products appear after the next training")
        return [{"product_id": str(r.similar_item_id), "score": float(r.score), "rank": int(r.rank), "reason": str(r.reason)}
                for r in df.itertuples(index=False)]

    # --- the live loop ----------------------------------------------------------------------
    def mark_changed(self, customer_ids: list[str]) -> None:
        """Customers with new events: drop their lists; later lists are folded in from their current history."""
        with self._lock:
            self._live.update(customer_ids)
        self.invalidate(customer_ids)

    def is_forgotten(self, customer_id: str) -> bool:
        """Whether ``customer_id`` was erased while this process served."""
        return customer_id in self._forgotten

    def forget(self, customer_id: str) -> None:
        """Remove an erased customer's influence on what is served now: their list, history and factors.

        Item-to-item statistics learned from them disappear at the next retrain (the data is gone).
        """
        with self._lock:
            self._forgotten.add(customer_id)
            self._live.discard(customer_id)
        self.invalidate([customer_id])
        model = self.model
        data = getattr(model, "data_", None)
        if data is None:
            return
        idx = int(data.user_index([customer_id])[0])
        uf = getattr(model, "user_factors_", None)
        if idx >= 0 and uf is not None and getattr(uf, "flags", None) is not None and uf.flags.writeable and len(uf) > idx:
            uf[idx] = 0.0

    def invalidate(self, customer_ids: list[str]) -> None:
        """Forget cached lists (after new events or an erasure)."""
        ids = set(customer_ids)
        with self._lock:
            for key in [k for k in self._cache if k[0] in ids]:
                del self._cache[key]
        if self._redis is not None and ids:
            try:
                self._redis.delete(*[self._rkey(c) for c in ids])
            except Exception:  # noqa: BLE001
                log.debug("redis delete failed", exc_info=True)

    def freshness(self) -> dict[str, Any]:
        """Which model is served, since when, and how many customers are served by fold-in."""
        age = None
        if self.model_created_at is not None:
            created = self.model_created_at if self.model_created_at.tzinfo else self.model_created_at.replace(tzinfo=UTC)
            age = (datetime.now(UTC) - created).total_seconds()
        return {"model": self.model_name, "version": self.model_version,
                "trained_at": self.model_created_at.isoformat() if self.model_created_at else None,
                "age_seconds": round(age, 1) if age is not None else None, "live_customers": len(self._live),
                "cached_lists": len(self._cache), **self.stats}
