"""Helpers for API tests."""

from datetime import UTC, datetime, timedelta

import numpy as np


def auth(key: str) -> dict[str, str]:
    """Bearer authorization header."""
    return {"Authorization": f"Bearer {key}"}


NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
A = [f"a{j}" for j in range(8)]  # two worlds of products: customers buy inside one
B = [f"b{j}" for j in range(8)]


def seed_two_worlds(store) -> None:  # noqa: ANN001
    """Products a0-a7 and b0-b7; 60 customers each buy 4 products of one world; u_light bought only a0."""
    rng = np.random.default_rng(0)
    store.bulk_insert("products", [{"product_id": p, "title": f"Product {p}", "category": p[0], "price": 10.0, "in_stock": True,
                                    "created_at": NOW - timedelta(days=30), "is_stub": False} for p in A + B])
    custs = [f"u{i:03d}" for i in range(60)]
    store.bulk_insert("customers", [{"customer_id": c, "customer_key": f"k{c}", "created_at": NOW - timedelta(days=60), "is_stub": False}
                                     for c in custs])
    events, n = [], 0
    for i, c in enumerate(custs):
        world = A if i % 2 == 0 else B
        for p in rng.choice(world, 4, replace=False):
            events.append({"event_id": f"seed{n}", "customer_id": c, "product_id": str(p), "event_type": "purchase",
                           "ts": NOW - timedelta(days=int(rng.integers(1, 30))), "revenue": 10.0, "quantity": 1.0,
                           "value": 1.0})  # an all-NULL value column trips Interactions.from_store
            n += 1
    events.append({"event_id": "light", "customer_id": "u_light", "product_id": "a0", "event_type": "purchase", "ts": NOW,
                   "revenue": 10.0, "quantity": 1.0, "value": 1.0})
    store.bulk_insert("customers", [{"customer_id": "u_light", "customer_key": "klight", "created_at": NOW - timedelta(days=60), "is_stub": False}])
    store.bulk_insert("events", events, key=["event_id"])
