"""Reads what profiles need from the store into plain frames, never touching PII columns, and never an erased
customer's (:mod:`persona.privacy.tombstones`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from persona.privacy.tombstones import NOT_ERASED, erased_customers, without_erased
from persona.store import Store

log = logging.getLogger(__name__)

# Event vocabularies: the demo shop and the ingest adapters write the first name of each set; the
# others are common spellings of the same behaviour in shop exports (Taobao, REES46, GA).
PURCHASE_TYPES = frozenset({"purchase", "order", "buy", "transaction", "checkout"})
VIEW_TYPES = frozenset({"view", "pv", "page_view", "product_view"})
CART_TYPES = frozenset({"add_to_cart", "cart", "fav", "wishlist", "add_to_wishlist"})
EMAIL_SENT_TYPES = frozenset({"email_sent", "email_delivered", "email_send"})
EMAIL_OPEN_TYPES = frozenset({"email_open", "email_opened"})
EMAIL_CLICK_TYPES = frozenset({"email_click", "email_clicked"})
MESSAGE_TYPES = EMAIL_SENT_TYPES | EMAIL_OPEN_TYPES | EMAIL_CLICK_TYPES | {"unsubscribe", "email_bounce"}

# Weight of one interaction in the affinity shares and the embedding: a purchase says more than a view.
AFFINITY_WEIGHTS = {"purchase": 3.0, "cart": 2.0, "view": 1.0, "other": 0.5}

# The only customer columns analytics may read: no name, e-mail, phone or city.
CUSTOMER_COLUMNS = ("customer_id", "gender", "birth_year", "country", "created_at")
EVENT_COLUMNS = ("id", "customer_id", "product_id", "event_type", "ts", "value", "quantity", "revenue", "channel")
PRODUCT_COLUMNS = ("product_id", "category", "brand", "price")
REVIEW_COLUMNS = ("customer_id", "product_id", "rating", "sentiment", "ts")
MESSAGE_COLUMNS = ("customer_id", "sent_at")  # messages sent (their PII-free part)


def to_utc(values: pd.Series) -> pd.Series:
    """Timestamps from any database driver (strings on SQLite, datetimes on PostgreSQL) as UTC."""
    return pd.to_datetime(values, utc=True, errors="coerce", format="mixed")


def event_kind(event_type: pd.Series) -> pd.Series:
    """Each event's kind: purchase, cart, view, message or other."""
    out = pd.Series("other", index=event_type.index, dtype=object)
    out[event_type.isin(PURCHASE_TYPES)] = "purchase"
    out[event_type.isin(CART_TYPES)] = "cart"
    out[event_type.isin(VIEW_TYPES)] = "view"
    out[event_type.isin(MESSAGE_TYPES)] = "message"
    return out


@dataclass
class ShopData:
    """The shop as frames: events, customers (no PII), products and reviews."""

    events: pd.DataFrame
    customers: pd.DataFrame
    products: pd.DataFrame
    reviews: pd.DataFrame
    messages: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(MESSAGE_COLUMNS)))
    engine: ClassVar[str] = "local"

    def __post_init__(self) -> None:
        self.events = _normalise_events(self.events, self.products)
        self.customers = _frame(self.customers, CUSTOMER_COLUMNS)
        self.customers["created_at"] = to_utc(self.customers["created_at"])
        self.products = _frame(self.products, PRODUCT_COLUMNS)
        self.reviews = _frame(self.reviews, REVIEW_COLUMNS)
        self.reviews["ts"] = to_utc(self.reviews["ts"])
        self.messages = _frame(self.messages, MESSAGE_COLUMNS)
        self.messages["sent_at"] = to_utc(self.messages["sent_at"])

    @property
    def last_event_ts(self) -> pd.Timestamp | None:
        """The newest event time (the natural "as of" of a historical data set)."""
        ts = self.events["ts"]
        return None if ts.empty or ts.isna().all() else ts.max()

    @property
    def first_event_ts(self) -> pd.Timestamp | None:
        """The oldest event time (where a backtest's history starts)."""
        ts = self.events["ts"]
        return None if ts.empty or ts.isna().all() else ts.min()

    @property
    def max_event_id(self) -> int:
        """The largest event id (the watermark of an incremental profile build)."""
        return int(self.events["id"].max()) if len(self.events) else 0

    def features(self, as_of: pd.Timestamp, customer_ids: Sequence[str] | None = None, *, n_categories: int = 12) -> pd.DataFrame:
        """Profile features as of ``as_of`` (see :func:`persona.profiles.features.compute_features`)."""
        from persona.profiles.features import compute_features

        ids = None if customer_ids is None else pd.Index(list(customer_ids), name="customer_id")
        return compute_features(self, as_of, ids, n_categories=n_categories)

    def catalogue(self) -> pd.DataFrame:
        """The products frame (the Spark engine's shop collects it; here it is at hand)."""
        return self.products

    def interaction_weights(self, customers: Sequence[str], as_of: pd.Timestamp | None = None) -> pd.DataFrame:
        """Rows ``customer_id, product_id, w``: each event of ``customers`` on a product up to ``as_of``, weighted
        by what it says of interest (purchase 3, cart 2, view 1, other 0.5, messages 0)."""
        ev = self.events[self.events["customer_id"].isin(customers) & self.events["product_id"].notna()]
        if as_of is not None:
            ev = ev[ev["ts"] <= as_of]
        w = event_kind(ev["event_type"]).map(AFFINITY_WEIGHTS).fillna(0.0)
        return pd.DataFrame({"customer_id": ev["customer_id"].to_numpy(), "product_id": ev["product_id"].to_numpy(),
                             "w": w.to_numpy(dtype=float)})

    def only(self, customer_ids: Iterable[str]) -> ShopData:
        """The same shop restricted to some customers (products stay whole)."""
        ids = set(customer_ids)
        return ShopData(
            events=self.events[self.events["customer_id"].isin(ids)],
            customers=self.customers[self.customers["customer_id"].isin(ids)],
            products=self.products,
            reviews=self.reviews[self.reviews["customer_id"].isin(ids)],
            messages=self.messages[self.messages["customer_id"].isin(ids)],
        )


def _frame(df: pd.DataFrame | None, columns: Sequence[str]) -> pd.DataFrame:
    df = pd.DataFrame(columns=list(columns)) if df is None else df.copy()
    if "ts" in columns and "ts" not in df.columns and "timestamp" in df.columns:  # canonical CSV spelling
        df = df.rename(columns={"timestamp": "ts"})
    for c in columns:
        if c not in df.columns:
            df[c] = np.nan
    return df[list(columns)].reset_index(drop=True)


def _normalise_events(events: pd.DataFrame, products: pd.DataFrame | None) -> pd.DataFrame:
    ev = _frame(events, EVENT_COLUMNS)
    if ev["id"].isna().all():
        ev["id"] = np.arange(1, len(ev) + 1)
    ev["ts"] = to_utc(ev["ts"])
    ev = ev[ev["ts"].notna() & ev["customer_id"].notna()]
    ev["customer_id"] = ev["customer_id"].astype(str)
    ev["event_type"] = ev["event_type"].astype(str).str.lower()
    for c in ("value", "quantity", "revenue"):
        ev[c] = pd.to_numeric(ev[c], errors="coerce").astype(float)
    ev["quantity"] = ev["quantity"].fillna(1.0).where(ev["quantity"].fillna(1.0) > 0, 1.0)
    # Revenue of a purchase: given, else its value, else quantity × list price.
    if products is not None and len(products) and "price" in products.columns:
        price = ev["product_id"].map(products.drop_duplicates("product_id").set_index("product_id")["price"])
    else:
        price = pd.Series(np.nan, index=ev.index)
    is_buy = ev["event_type"].isin(PURCHASE_TYPES)
    filled = ev["revenue"].fillna(ev["value"]).fillna(ev["quantity"] * pd.to_numeric(price, errors="coerce"))
    ev["revenue"] = np.where(is_buy, filled.fillna(0.0), ev["revenue"])
    return ev.sort_values(["ts", "id"], kind="stable").reset_index(drop=True)


def _chunks(ids: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _read_for(store: Store, table: str, columns: Sequence[str], customer_ids: Sequence[str] | None,
              where: str | None = None) -> pd.DataFrame:
    cols = ", ".join(columns)
    if customer_ids is None:
        return store.read_frame(f"SELECT {cols} FROM {table}" + (f" WHERE {where}" if where else ""))  # noqa: S608 - ours
    parts = []
    for chunk in _chunks(list(customer_ids)):
        names = ", ".join(f":c{i}" for i in range(len(chunk)))
        sql = f"SELECT {cols} FROM {table} WHERE customer_id IN ({names})" + (f" AND {where}" if where else "")  # noqa: S608
        parts.append(store.read_frame(sql, {f"c{i}": v for i, v in enumerate(chunk)}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(columns))


def load_shop(store: Store, customer_ids: Sequence[str] | None = None) -> ShopData:
    """Read events, customers (without PII), products, reviews and sent messages from the store; erased customers
    (tombstones) are left out, with any row of theirs still stored.

    Args:
        store: the workspace store.
        customer_ids: restrict to these customers (products are always read whole).

    Returns:
        A :class:`ShopData`.
    """
    erased = erased_customers(store)
    customers = _read_for(store, "customers", CUSTOMER_COLUMNS, customer_ids, where=NOT_ERASED)
    customers = customers[customers["customer_id"].notna()]
    events = without_erased(_read_for(store, "events", EVENT_COLUMNS, customer_ids), erased)
    products = store.read_table("products", list(PRODUCT_COLUMNS))
    reviews = without_erased(_read_for(store, "reviews", REVIEW_COLUMNS, customer_ids), erased)
    messages = without_erased(_read_for(store, "messages", ("customer_id", "sent_at", "status"), customer_ids), erased)
    messages = messages[(messages["status"] == "sent") & messages["sent_at"].notna()][["customer_id", "sent_at"]]
    log.info("shop loaded events=%d customers=%d products=%d reviews=%d", len(events), len(customers), len(products), len(reviews))
    return ShopData(events=events, customers=customers, products=products, reviews=reviews, messages=messages)

