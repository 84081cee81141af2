"""A small synthetic shop with a known churn mechanism, for the churn / propensity / spend tests.

Each customer buys as a Poisson process with their own rate until a hidden churn date; products belong to
three categories and each customer prefers one. A model that sees recency and frequency must beat chance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from persona.profiles.source import ShopData


def make_shop(n_customers: int = 600, days: int = 540, seed: int = 0) -> ShopData:
    """The shop's frames (events, customers, products, reviews) over ``days`` days ending 2024-06-30."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp("2024-06-30", tz="UTC")
    start = end - pd.Timedelta(days=days)
    cats = np.array(["Grocery", "Home", "Books"])
    products = pd.DataFrame(
        {
            "product_id": [f"P{i:03d}" for i in range(60)],
            "category": np.repeat(cats, 20),
            "brand": [f"B{i % 7}" for i in range(60)],
            "price": np.round(rng.uniform(5, 80, 60), 2),
        }
    )
    ids = np.array([f"C{i:04d}" for i in range(n_customers)])
    created = (start + pd.to_timedelta(rng.uniform(0, days * 0.7, n_customers), unit="D")).floor("s")
    rate = rng.gamma(2.0, 1 / 40.0, n_customers)  # purchases per day
    life = rng.exponential(200, n_customers)
    churn_at = created + pd.to_timedelta(life, unit="D")
    pref = rng.integers(0, 3, n_customers)
    rows = []
    for i in range(n_customers):
        stop = min(churn_at[i], end)
        span = (stop - created[i]).total_seconds() / 86400
        if span <= 0:
            continue
        n = rng.poisson(rate[i] * span)
        t = (created[i] + pd.to_timedelta(np.sort(rng.uniform(0, span, n)), unit="D")).floor("s")
        cat = np.where(rng.random(n) < 0.75, pref[i], rng.integers(0, 3, n))
        prod = cat * 20 + rng.integers(0, 20, n)
        for tt, p in zip(t, prod, strict=True):
            price = products.at[int(p), "price"]
            disc = 0.8 if rng.random() < 0.2 else 1.0
            rows.append((ids[i], products.at[int(p), "product_id"], "view", tt - pd.Timedelta(minutes=5), np.nan, np.nan, "web"))
            rows.append((ids[i], products.at[int(p), "product_id"], "purchase", tt, 1.0, round(price * disc, 2), "app" if i % 3 == 0 else "web"))
    ev = pd.DataFrame(rows, columns=["customer_id", "product_id", "event_type", "ts", "quantity", "revenue", "channel"])
    ev = ev.sort_values("ts", kind="stable").reset_index(drop=True)
    ev["id"] = np.arange(1, len(ev) + 1)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "gender": rng.choice(["f", "m"], n_customers),
            "birth_year": rng.integers(1950, 2004, n_customers),
            "country": rng.choice(["DE", "FR", "US"], n_customers),
            "created_at": created,
        }
    )
    reviews = pd.DataFrame(columns=["customer_id", "product_id", "rating", "sentiment", "ts"])
    return ShopData(events=ev, customers=customers, products=products, reviews=reviews)


def write_to_store(store, data: ShopData) -> None:  # noqa: ANN001
    """Insert the shop's rows into a store created with ``create_all`` (tests only)."""
    from sqlalchemy import insert

    from persona.store.models import Customer, Event, Product

    cust = [
        {"customer_id": r.customer_id, "customer_key": f"k{i}", "gender": r.gender, "birth_year": int(r.birth_year),
         "country": r.country, "created_at": r.created_at.to_pydatetime()}
        for i, r in enumerate(data.customers.itertuples())
    ]
    prods = [{"product_id": r.product_id, "category": r.category, "brand": r.brand, "price": float(r.price)} for r in data.products.itertuples()]
    ev = [
        {"event_id": f"E{r.id}", "customer_id": r.customer_id, "product_id": r.product_id, "event_type": r.event_type,
         "ts": r.ts.to_pydatetime(), "quantity": None if pd.isna(r.quantity) else float(r.quantity),
         "revenue": None if pd.isna(r.revenue) else float(r.revenue), "channel": r.channel}
        for r in data.events.itertuples()
    ]
    with store.session() as s:
        s.execute(insert(Customer), cust)
        s.execute(insert(Product), prods)
        for i in range(0, len(ev), 5000):
            s.execute(insert(Event), ev[i : i + 5000])
