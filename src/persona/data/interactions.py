"""``Interactions``: the one immutable dataset object every analytic stage consumes.

A sparse user × item matrix (CSR, float32, duplicate events summed) with its id vocabularies, the raw
event log (for sequences and recency), and the item / user side data (category, brand, price, text,
demographics, segment, declared interests).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from persona.data.events import DEFAULT_EVENT_WEIGHTS, OTHER_EVENT_WEIGHT, RATING_EVENT
from persona.errors import InputError, SchemaError

if TYPE_CHECKING:  # pragma: no cover
    from persona.store import Store

log = logging.getLogger(__name__)

ITEM_SIDE_COLUMNS = ["title", "description", "category", "brand", "price", "in_stock"]
USER_SIDE_COLUMNS = ["gender", "birth_year", "city", "country", "language"]
#: :func:`read_customers` asks for at most this many customers by id in its query (more: read all, then kept)
MAX_ID_PARAMS = 500


def _vocabulary(values: Iterable[Any]) -> np.ndarray:
    """Unique ids, sorted when they are comparable (so the vocabulary does not depend on row order)."""
    uniq = pd.unique(pd.Series(list(values) if not isinstance(values, pd.Series | np.ndarray) else values))
    uniq = uniq[~pd.isna(uniq)]
    try:
        uniq = np.sort(uniq)
    except TypeError:
        pass
    out = np.empty(len(uniq), dtype=object)
    out[:] = list(uniq)
    return out


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _to_seconds(col: pd.Series) -> np.ndarray:
    """Timestamps (datetime, string or numeric epoch seconds) as float seconds since the epoch."""
    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype=np.float64)
    ts = pd.to_datetime(col, utc=True, errors="coerce")
    out = (ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return out.to_numpy(dtype=np.float64)


class Interactions:
    """An immutable user × item interaction dataset with id vocabularies and side data.

    Build it with :meth:`from_frame` or :meth:`from_store`; never mutate it (arrays are read-only).

    Attributes:
        matrix: ``scipy.sparse.csr_matrix`` (n_users × n_items, float32), duplicate events summed.
        user_ids, item_ids: the vocabularies (numpy object arrays); row / column ``i`` is ``user_ids[i]``.
        log: the raw rows as a DataFrame ``user_idx, item_idx, weight, time`` (+ ``event`` when known).
        items: DataFrame indexed by item id, aligned to ``item_ids`` (title, category, price, …; may have no columns).
        users: DataFrame indexed by user id, aligned to ``user_ids`` (demographics, segment, interests…).
    """

    __slots__ = (
        "_matrix",
        "_user_ids",
        "_item_ids",
        "_log",
        "_items",
        "_users",
        "_uindex",
        "_iindex",
        "_frozen",
    )

    def __init__(
        self,
        matrix: sp.csr_matrix,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        log: pd.DataFrame,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
    ) -> None:
        if matrix.shape != (len(user_ids), len(item_ids)):
            raise InputError(
                f"matrix shape {matrix.shape} does not match {len(user_ids)} user ids × {len(item_ids)} item ids"
            )
        m = sp.csr_matrix(matrix, dtype=np.float32)
        m.sum_duplicates()
        m.sort_indices()
        for arr in (m.data, m.indices, m.indptr):
            _readonly(arr)
        self._matrix = m
        self._user_ids = _readonly(np.asarray(user_ids, dtype=object))
        self._item_ids = _readonly(np.asarray(item_ids, dtype=object))
        self._uindex = pd.Index(self._user_ids)
        self._iindex = pd.Index(self._item_ids)
        self._log = log
        self._items = (
            items if items is not None else pd.DataFrame(index=pd.Index([], name="item_id"))
        ).reindex(self._iindex)
        self._items.index.name = "item_id"
        self._users = (
            users if users is not None else pd.DataFrame(index=pd.Index([], name="user_id"))
        ).reindex(self._uindex)
        self._users.index.name = "user_id"
        self._frozen = True

    # --- read-only views -----------------------------------------------------------------------
    @property
    def matrix(self) -> sp.csr_matrix:
        return self._matrix

    @property
    def user_ids(self) -> np.ndarray:
        return self._user_ids

    @property
    def item_ids(self) -> np.ndarray:
        return self._item_ids

    @property
    def log(self) -> pd.DataFrame:
        return self._log

    @property
    def items(self) -> pd.DataFrame:
        return self._items

    @property
    def users(self) -> pd.DataFrame:
        return self._users

    @property
    def n_users(self) -> int:
        return len(self._user_ids)

    @property
    def n_items(self) -> int:
        return len(self._item_ids)

    @property
    def nnz(self) -> int:
        return int(self._matrix.nnz)

    @property
    def has_time(self) -> bool:
        return bool(len(self._log)) and bool(self._log["time"].notna().any())

    def __repr__(self) -> str:
        return f"Interactions(n_users={self.n_users}, n_items={self.n_items}, nnz={self.nnz}, events={len(self._log)})"

    def __getstate__(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if k not in ("_uindex", "_iindex", "_frozen")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_uindex", pd.Index(self._user_ids))
        object.__setattr__(self, "_iindex", pd.Index(self._item_ids))
        object.__setattr__(self, "_frozen", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError("Interactions is immutable; build a new one with from_frame")
        object.__setattr__(self, name, value)

    # --- lookups -------------------------------------------------------------------------------
    def user_index(self, ids: Any) -> np.ndarray:
        """Row numbers of user ids (``-1`` for ids not in the vocabulary).

        Args:
            ids: one id or a sequence of ids.

        Returns:
            ``np.ndarray`` of int64, one per id.
        """
        return self._lookup(self._uindex, ids)

    def item_index(self, ids: Any) -> np.ndarray:
        """Column numbers of item ids (``-1`` for ids not in the vocabulary)."""
        return self._lookup(self._iindex, ids)

    @staticmethod
    def _lookup(index: pd.Index, ids: Any) -> np.ndarray:
        if isinstance(ids, str) or np.isscalar(ids):
            ids = [ids]
        ids = list(ids)
        if not ids:
            return np.empty(0, dtype=np.int64)
        out = index.get_indexer(pd.Index(ids, dtype=object)).astype(np.int64)
        if (out < 0).any() and len(index):
            # ids given as strings for an integer vocabulary (or the reverse): match on the text
            miss = np.flatnonzero(out < 0)
            as_text = pd.Index([str(v) for v in index])
            if as_text.is_unique:
                out[miss] = as_text.get_indexer(pd.Index([str(ids[i]) for i in miss]))
        return out

    def user_history(self, user_idx: int) -> tuple[np.ndarray, np.ndarray]:
        """Item columns and summed weights of one user's row."""
        m = self._matrix
        lo, hi = m.indptr[user_idx], m.indptr[user_idx + 1]
        return m.indices[lo:hi], m.data[lo:hi]

    def subset(self, keep: np.ndarray) -> Interactions:
        """The same vocabularies and side data with only the log rows where ``keep`` is True (matrix rebuilt)."""
        lg = self._log[np.asarray(keep, dtype=bool)].reset_index(drop=True)
        m = sp.csr_matrix((lg["weight"].to_numpy(np.float32), (lg["user_idx"].to_numpy(), lg["item_idx"].to_numpy())),
                          shape=self._matrix.shape, dtype=np.float32)
        return Interactions(m, self._user_ids, self._item_ids, lg, self._items, self._users)

    def ratings(self) -> sp.csr_matrix:
        """Explicit ratings, users × items (float64): each pair's latest rating, no stored cell where there is none.

        With event types, the ``rating`` events' values; without them, every event's weight when the weights vary (a
        frame built with ``weight=`` a rating column; all-equal weights carry no rating). Besides those, the stars rows
        carry in ``log["rating"]`` (``from_frame(rating=...)``: a workspace's reviews of products bought). Empty when
        there is none.
        """
        lg = self._log
        if "rating" in lg.columns:  # rating events and stars carried by other rows (see from_frame)
            rated = lg[lg["rating"].notna()]
            rated = rated[["user_idx", "item_idx", "time"]].assign(r=rated["rating"].to_numpy(dtype=np.float64))
        elif "event" not in lg.columns and len(lg) and np.ptp(lg["weight"].to_numpy(dtype=np.float64)) > 0:
            rated = lg[["user_idx", "item_idx", "time"]].assign(r=lg["weight"].to_numpy(dtype=np.float64))
        else:
            rated = lg.iloc[:0]
        if not len(rated):
            return sp.csr_matrix(self._matrix.shape, dtype=np.float64)
        rated = rated.sort_values("time", kind="stable", na_position="first") if self.has_time else rated
        last = rated.rename(columns={"user_idx": "u", "item_idx": "i"}).drop_duplicates(["u", "i"], keep="last")
        return sp.csr_matrix((last["r"].to_numpy(), (last["u"].to_numpy(), last["i"].to_numpy())),
                             shape=self._matrix.shape, dtype=np.float64)

    def item_popularity(self) -> np.ndarray:
        """Number of distinct users per item."""
        return np.bincount(self._matrix.indices, minlength=self.n_items).astype(np.int64)

    def item_labels(self, item_idx: Sequence[int] | np.ndarray) -> list[str]:
        """Human-readable names of items: the title when known, else the id."""
        idx = np.asarray(item_idx, dtype=np.int64)
        ids = self._item_ids[idx]
        if "title" in self._items.columns:
            titles = self._items["title"].to_numpy()[idx]
            return [str(t) if isinstance(t, str) and t else str(i) for t, i in zip(titles, ids, strict=True)]
        return [str(i) for i in ids]

    # --- constructors --------------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        user: str = "user_id",
        item: str = "item_id",
        weight: str | None = None,
        time: str | None = None,
        *,
        event_type: str | None = None,
        event_weights: Mapping[str, float] | None = None,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        user_ids: Sequence[Any] | np.ndarray | None = None,
        item_ids: Sequence[Any] | np.ndarray | None = None,
        rating: str | None = None,
    ) -> Interactions:
        """Build the dataset from a DataFrame of events.

        Weights: with ``event_type``, each row counts its type's weight (``DEFAULT_EVENT_WEIGHTS``:
        purchase 5, add_to_cart 3, wishlist 3, click 2, view 1, email_click 1, remove_from_cart and refund 0, any
        other type 0.5; a ``rating`` row counts the value in ``weight``), overridable with ``event_weights``; an
        event (other than a rating) weighing 0 is left out of ``matrix`` and ``log``. Without ``event_type``, each row
        counts ``df[weight]``, or 1. Rows with the same (user, item) are summed in ``matrix``.

        Args:
            df: one row per event.
            user, item: id column names.
            weight: numeric column of values (ratings, quantities); optional.
            time: timestamp column (datetime, ISO string or epoch seconds); optional.
            event_type: column holding the event type (purchase, view, rating…); optional.
            event_weights: weights per event type, overriding the defaults.
            items: item side data, indexed by item id or with a column named ``item`` / ``item_id``.
            users: user side data, indexed by user id or with a column named ``user`` / ``user_id``.
            user_ids, item_ids: fix the vocabularies (e.g. the whole catalogue); rows with ids outside them are dropped.
            rating: numeric column of stars a row carries besides its event (a review of a product bought); they
                weigh nothing in ``matrix`` and are kept in ``log["rating"]`` for :meth:`ratings`.

        Returns:
            A new :class:`Interactions`.

        Raises:
            SchemaError: a named column is missing or ``weight`` is not numeric.
        """
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"from_frame expects a pandas DataFrame, got {type(df).__name__}")
        needed = [c for c in (user, item, weight, time, event_type, rating) if c is not None]
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise SchemaError(
                f"interaction frame lacks column(s) {missing}; it has {list(df.columns)}",
                hint="pass the right names with user=, item=, weight=, time=, event_type=",
            )
        df = df[df[user].notna() & df[item].notna()]
        items_df = cls._side_frame(items, (item, "item_id", "item", "product_id"), "items")
        users_df = cls._side_frame(users, (user, "user_id", "user", "customer_id"), "users")

        if item_ids is None:
            extra = items_df.index if items_df is not None else []
            item_vocab = _vocabulary(list(pd.unique(df[item])) + list(extra))
        else:
            item_vocab = np.empty(len(item_ids), dtype=object)
            item_vocab[:] = list(item_ids)
            if pd.Index(item_vocab).has_duplicates:
                raise InputError("item_ids contains duplicates", hint="pass each id once")
        if user_ids is None:
            extra = users_df.index if users_df is not None else []
            user_vocab = _vocabulary(list(pd.unique(df[user])) + list(extra))
        else:
            user_vocab = np.empty(len(user_ids), dtype=object)
            user_vocab[:] = list(user_ids)
            if pd.Index(user_vocab).has_duplicates:
                raise InputError("user_ids contains duplicates", hint="pass each id once")

        uidx = pd.Index(user_vocab).get_indexer(df[user])
        iidx = pd.Index(item_vocab).get_indexer(df[item])
        keep = (uidx >= 0) & (iidx >= 0)
        if not keep.all():
            log.warning(
                "from_frame dropped rows outside the given vocabularies dropped=%d", int((~keep).sum())
            )

        w = cls._weights(df, weight, event_type, event_weights)
        if event_type is not None and (w == 0).any():  # events that weigh nothing (see DEFAULT_EVENT_WEIGHTS)
            nothing = (w == 0) & (df[event_type].astype(str).to_numpy() != RATING_EVENT)  # a 0 rating still rates
            log.debug("from_frame left out events weighing 0 n=%d", int((keep & nothing).sum()))
            keep &= ~nothing
        t = _to_seconds(df[time]) if time is not None else np.full(len(df), np.nan)
        logdf = pd.DataFrame(
            {
                "user_idx": uidx[keep].astype(np.int32),
                "item_idx": iidx[keep].astype(np.int32),
                "weight": w[keep].astype(np.float32),
                "time": t[keep],
            }
        )
        if event_type is not None:
            logdf["event"] = pd.Categorical(df[event_type].astype(str).to_numpy()[keep])
        stars = cls._stars(df, weight, event_type, rating)[keep]
        if not np.isnan(stars).all():
            logdf["rating"] = stars
        logdf = logdf.reset_index(drop=True)
        mat = sp.csr_matrix(
            (logdf["weight"].to_numpy(), (logdf["user_idx"].to_numpy(), logdf["item_idx"].to_numpy())),
            shape=(len(user_vocab), len(item_vocab)),
            dtype=np.float32,
        )
        return cls(mat, user_vocab, item_vocab, logdf, items_df, users_df)

    @staticmethod
    def _weights(
        df: pd.DataFrame,
        weight: str | None,
        event_type: str | None,
        event_weights: Mapping[str, float] | None,
    ) -> np.ndarray:
        if weight is not None and not pd.api.types.is_numeric_dtype(df[weight]):
            raise SchemaError(
                f"weight column {weight!r} is {df[weight].dtype}, not numeric", hint="convert it first"
            )
        values = df[weight].to_numpy(dtype=np.float64) if weight is not None else np.ones(len(df))
        values = np.where(np.isnan(values), 1.0, values)
        if event_type is None:
            return values
        table = {**DEFAULT_EVENT_WEIGHTS, **(dict(event_weights) if event_weights else {})}
        types = df[event_type].astype(str).to_numpy()
        w = pd.Series(types).map(table).fillna(OTHER_EVENT_WEIGHT).to_numpy(dtype=np.float64)
        is_rating = types == RATING_EVENT
        if RATING_EVENT in table:
            w[is_rating] = table[RATING_EVENT]
        elif weight is not None:
            w[is_rating] = values[is_rating]
        return w

    @staticmethod
    def _stars(df: pd.DataFrame, weight: str | None, event_type: str | None, rating: str | None) -> np.ndarray:
        """Each row's explicit rating, NaN where it has none: a ``rating`` event's value, else the ``rating`` column."""
        stars = np.full(len(df), np.nan)
        if event_type is not None and weight is not None:
            is_rating = df[event_type].astype(str).to_numpy() == RATING_EVENT
            stars[is_rating] = pd.to_numeric(df[weight], errors="coerce").to_numpy(dtype=np.float64)[is_rating]
        if rating is not None:
            carried = pd.to_numeric(df[rating], errors="coerce").to_numpy(dtype=np.float64)
            stars = np.where(np.isnan(stars), carried, stars)
        return stars

    @staticmethod
    def _side_frame(frame: pd.DataFrame | None, keys: tuple[str, ...], what: str) -> pd.DataFrame | None:
        if frame is None:
            return None
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"{what} must be a DataFrame, got {type(frame).__name__}")
        f = frame
        for k in keys:
            if k in f.columns:
                f = f.set_index(k)
                break
        f = f[~f.index.duplicated(keep="last")]
        f = f[f.index.notna()]
        return f

    @classmethod
    def from_store(
        cls,
        store: Store,
        *,
        event_weights: Mapping[str, float] | None = None,
        event_types: Sequence[str] | None = None,
        segment_method: str | None = None,
    ) -> Interactions:
        """Build the dataset from the workspace store (events, products, customers, segment memberships).

        Customers' PII columns (email, phone, name) are never read, nor anything of an erased customer.

        Args:
            store: the workspace :class:`~persona.store.Store`.
            event_weights: weights per event type, overriding the defaults.
            event_types: only these event types (default: every event that names a product).
            segment_method: which segmentation fills ``users.segment`` (default: rfm if present, else any).

        Returns:
            A new :class:`Interactions` whose vocabularies include every product and customer.
        """
        from persona.privacy.tombstones import erased_customers, without_erased

        erased = erased_customers(store)  # their events are deleted by erasure: any still stored stay out
        events = without_erased(store.read_frame(
            "SELECT customer_id, product_id, event_type, value, ts FROM events WHERE product_id IS NOT NULL"
        ), erased)
        events["value"] = pd.to_numeric(events["value"], errors="coerce")  # an all-NULL column arrives untyped
        if event_types is None or RATING_EVENT in event_types:
            reviews = store.read_frame("SELECT customer_id, product_id, rating, ts FROM reviews")
            events = _with_reviews(events, without_erased(reviews, erased))
        else:
            events["stars"] = np.nan
        if event_types is not None:
            events = events[events["event_type"].isin(list(event_types))]
        products = store.read_table("products", ["product_id", *ITEM_SIDE_COLUMNS, "attributes"])
        products["attributes"] = products["attributes"].map(as_dict)
        customers = read_customers(store, segment_method=segment_method)
        log.info(
            "interactions from store events=%d products=%d customers=%d",
            len(events),
            len(products),
            len(customers),
        )
        return cls.from_frame(
            events,
            user="customer_id",
            item="product_id",
            weight="value",
            time="ts",
            event_type="event_type",
            event_weights=event_weights,
            items=products,
            users=customers,
            rating="stars",
        )


def read_customers(store: Store, *, segment_method: str | None = None,
                   customer_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The workspace's customers who were not erased, as side data: ``customer_id``, gender, birth year, city,
    country, language, declared ``interests``, ``age`` / ``occupation`` / ``segment`` where their attributes hold
    them, and the segment of ``segment_method`` (default: rfm if present, else any). PII is never read.
    ``customer_ids``: only these customers (those stored)."""
    from persona.privacy.tombstones import NOT_ERASED

    query = f"SELECT customer_id, {', '.join(USER_SIDE_COLUMNS)}, attributes FROM customers WHERE {NOT_ERASED}"  # noqa: S608
    params: dict[str, Any] = {}
    if customer_ids is not None and len(customer_ids) <= MAX_ID_PARAMS:  # a few: asked for by id
        params = {f"c{i}": str(c) for i, c in enumerate(customer_ids)}
        query += f" AND customer_id IN ({', '.join(':' + p for p in params)})" if params else " AND 1 = 0"
    customers = store.read_frame(query, params)
    if customer_ids is not None and len(customer_ids) > MAX_ID_PARAMS:
        customers = customers[customers["customer_id"].isin({str(c) for c in customer_ids})].reset_index(drop=True)
    attrs = customers.pop("attributes").map(as_dict)
    customers["interests"] = [_interests(a) for a in attrs]
    for key in ("segment", "age", "occupation"):
        vals = [a.get(key) for a in attrs]
        if any(v is not None for v in vals):
            customers[key] = vals
    seg = store.read_table("segment_memberships", ["customer_id", "method", "segment_id"])
    if len(seg):
        methods = list(pd.unique(seg["method"]))
        method = segment_method or ("rfm" if "rfm" in methods else methods[0])
        seg = seg[seg["method"] == method].set_index("customer_id")["segment_id"]
        customers["segment"] = customers["customer_id"].map(seg).astype(object)
    return customers.reset_index(drop=True)


def _with_reviews(events: pd.DataFrame, reviews: pd.DataFrame) -> pd.DataFrame:
    """``events`` plus a ``rating`` row for each review whose (customer, product) no event already records; the stars
    of a review of a pair events do record go in the ``stars`` column of that pair's latest event (they weigh
    nothing there: :meth:`Interactions.ratings` reads them)."""
    events = events.assign(stars=np.nan)
    if reviews.empty:
        return events
    pair = ["customer_id", "product_id"]
    known = pd.MultiIndex.from_frame(events[pair].astype(str))
    is_known = pd.MultiIndex.from_frame(reviews[pair].astype(str)).isin(known)
    if is_known.any():
        stars = reviews[is_known].assign(stars=pd.to_numeric(reviews.loc[is_known, "rating"], errors="coerce"))
        stars = stars.sort_values("ts", kind="stable").drop_duplicates(pair, keep="last").astype({c: str for c in pair})
        latest = events[[*pair, "ts"]].assign(row=np.arange(len(events))).astype({c: str for c in pair})
        latest = latest.sort_values("ts", kind="stable").drop_duplicates(pair, keep="last")
        on = latest.merge(stars[[*pair, "stars"]], on=pair, how="inner")
        events.iloc[on["row"].to_numpy(), events.columns.get_loc("stars")] = on["stars"].to_numpy()
    fresh = reviews[~is_known]
    if fresh.empty:
        return events
    rows = pd.DataFrame({"customer_id": fresh["customer_id"], "product_id": fresh["product_id"],
                         "event_type": RATING_EVENT, "value": pd.to_numeric(fresh["rating"], errors="coerce"),
                         "ts": fresh["ts"], "stars": np.nan})
    return pd.concat([events, rows], ignore_index=True) if len(events) else rows.reset_index(drop=True)


def as_dict(v: Any) -> dict[str, Any]:
    """A JSON column's value as a dict (a dict, JSON text of an object, or anything else as ``{}``)."""
    if isinstance(v, dict):
        return v
    if isinstance(v, str) and v:
        try:
            out = json.loads(v)
        except ValueError:
            return {}
        return out if isinstance(out, dict) else {}
    return {}


def _interests(attrs: dict[str, Any]) -> list[str] | None:
    v = attrs.get("interests")
    if isinstance(v, str):
        v = [s.strip() for s in v.replace(";", ",").split(",") if s.strip()]
    return list(v) if isinstance(v, list | tuple) and v else None
