"""Serving recommendations: the active model from the registry, a cache of each customer's list, fold-in.

A customer's list is computed once and cached (in-process, and in Redis when ``PERSONA_REDIS_URL`` is
set); an event for the customer drops the cached list, and the next request recomputes it from the
customer's full history (fold-in: the model scores the updated history without retraining).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from typing import Any

import pandas as pd

from persona.errors import NotFoundError

log = logging.getLogger(__name__)


class RecommendationService:
    """Thread-safe access to the served recommender and its per-customer cache."""

    def __init__(self, store: Any, *, model_names: tuple[str, ...] = ("recommender", "hybrid"), cache_size: int = 200_000,
                 redis_url: str | None = None) -> None:
        self.store = store
        self.model_names = model_names
        self.model: Any = None
        self.model_name: str | None = None
        self.model_version: int | None = None
        self._cache: OrderedDict[tuple[str, int], list[dict[str, Any]]] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()
        self._redis = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.2)

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
                self._cache.clear()
            log.info("serving model=%s version=%s", name, mv.version)
            return True
        return False

    def _require(self) -> Any:
        if self.model is None and not self.load():
            raise NotFoundError("no recommender is trained yet", hint="run `persona recommend train` or `persona run`")
        return self.model

    def _key(self, customer_id: str, k: int) -> str:
        return f"persona:recs:{self.model_name}:{self.model_version}:{customer_id}:{k}"

    def recommend(self, customer_id: str, k: int = 10, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Top-k for one customer, from the cache when possible (filtered requests are not cached)."""
        model = self._require()
        ck = (customer_id, k)
        if not filters:
            with self._lock:
                hit = self._cache.get(ck)
                if hit is not None:
                    self._cache.move_to_end(ck)
                    return hit
            if self._redis is not None:
                try:
                    raw = self._redis.get(self._key(customer_id, k))
                    if raw:
                        return json.loads(raw)
                except Exception:  # noqa: BLE001 - the cache is optional
                    pass
        df = model.recommend([customer_id], k=k, filters=filters or None)
        items = self._rows(df)
        if not filters:
            with self._lock:
                self._cache[ck] = items
                if len(self._cache) > self._size:
                    self._cache.popitem(last=False)
            if self._redis is not None:
                try:
                    self._redis.setex(self._key(customer_id, k), 3600, json.dumps(items))
                except Exception:  # noqa: BLE001
                    pass
        return items

    def precompute(self, customer_ids: list[str], k: int = 10) -> int:
        """Fill the cache for many customers in one batched call."""
        model = self._require()
        df = model.recommend(customer_ids, k=k)
        n = 0
        with self._lock:
            for cid, g in df.groupby("user_id", sort=False):
                self._cache[(str(cid), k)] = self._rows(g)
                n += 1
        return n

    @staticmethod
    def _rows(df: pd.DataFrame) -> list[dict[str, Any]]:
        return [
            {"product_id": str(r.item_id), "score": float(r.score), "rank": int(r.rank), "reason": str(r.reason)}
            for r in df.itertuples(index=False)
        ]

    def similar(self, product_id: str, k: int = 10) -> list[dict[str, Any]]:
        model = self._require()
        df = model.similar_items([product_id], k=k)
        if df.empty:
            raise NotFoundError(f"no product {product_id!r} in the served model", hint="new products appear after the next training")
        return [{"product_id": str(r.similar_item_id), "score": float(r.score), "rank": int(r.rank), "reason": str(r.reason)}
                for r in df.itertuples(index=False)]

    def forget(self, customer_id: str) -> None:
        """Remove an erased customer's influence from the served model now: their history row and factors.

        Item-to-item statistics learned from them disappear at the next retrain (the data is gone).
        """
        model = self.model
        if model is None:
            return
        data = getattr(model, "interactions_", None) or getattr(model, "data_", None)
        if data is None or not hasattr(data, "user_index"):
            return
        idx = int(data.user_index([customer_id])[0])
        if idx < 0:
            return
        with self._lock:
            m = data.matrix
            m.data[m.indptr[idx] : m.indptr[idx + 1]] = 0.0
            m.eliminate_zeros()
            for attr in ("user_factors_", "user_factors"):
                uf = getattr(model, attr, None)
                if uf is not None and hasattr(uf, "shape") and len(uf) > idx:
                    uf[idx] = 0.0

    def invalidate(self, customer_ids: list[str]) -> None:
        """Forget cached lists (after new events or an erasure)."""
        ids = set(customer_ids)
        with self._lock:
            for key in [k for k in self._cache if k[0] in ids]:
                del self._cache[key]
        if self._redis is not None:
            try:
                for cid in ids:
                    for key in self._redis.scan_iter(f"persona:recs:*:{cid}:*"):
                        self._redis.delete(key)
            except Exception:  # noqa: BLE001
                pass
