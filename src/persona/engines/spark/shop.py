"""The shop as Spark DataFrames: read from the store (JDBC on PostgreSQL), from Parquet, or from pandas.

:class:`SparkShop` mirrors :class:`persona.profiles.source.ShopData`: the same columns, the same
normalisation of events (UTC timestamps, lower-case types, a purchase's revenue filled from its value
or quantity × list price) and never a PII column. On PostgreSQL with a JDBC driver on Spark's classpath
the events are read by Spark in parallel id ranges, so they never pass through this process.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.engine import make_url

from persona.privacy.tombstones import NOT_ERASED, erased_customers
from persona.profiles.source import (
    CUSTOMER_COLUMNS,
    EVENT_COLUMNS,
    MESSAGE_COLUMNS,
    PRODUCT_COLUMNS,
    PURCHASE_TYPES,
    REVIEW_COLUMNS,
    ShopData,
    load_shop,
)

log = logging.getLogger(__name__)

# Arrow types of each column as Spark receives it (strings for ids: they are compared, never summed).
_TYPES: dict[str, pa.DataType] = {
    "id": pa.int64(), "customer_id": pa.string(), "product_id": pa.string(), "event_type": pa.string(),
    "ts": pa.timestamp("us", tz="UTC"), "value": pa.float64(), "quantity": pa.float64(), "revenue": pa.float64(),
    "channel": pa.string(), "gender": pa.string(), "birth_year": pa.float64(), "country": pa.string(),
    "created_at": pa.timestamp("us", tz="UTC"), "category": pa.string(), "brand": pa.string(), "price": pa.float64(),
    "rating": pa.float64(), "sentiment": pa.float64(), "sent_at": pa.timestamp("us", tz="UTC"),
}
JDBC_DRIVER = "org.postgresql.Driver"
EVENT_PARTITIONS = 8  # parallel id ranges of the JDBC events read


@dataclass
class SparkShop:
    """The shop's frames as Spark DataFrames (events, customers without PII, products, reviews, sent messages)."""

    events: Any
    customers: Any
    products: Any
    reviews: Any
    messages: Any
    engine: ClassVar[str] = "spark"
    #: interaction weights already aggregated, by (customers, as_of): the embedding's fit and transform ask twice
    _weights: dict[Any, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)
    _catalogue: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    _span: tuple[pd.Timestamp | None, pd.Timestamp | None] | None = field(default=None, repr=False, compare=False)

    def release(self) -> None:
        """Let Spark drop what it keeps for this shop (a JDBC read's events, the predictions' purchase lines) and forget
        the event span taken from them; the frames stay usable."""
        self.events.unpersist()
        self._span = None
        lines = self.__dict__.pop("_purchase_lines", None)
        if lines is not None:
            lines.unpersist()

    @property
    def session(self) -> Any:
        """The Spark session the frames belong to."""
        return self.events.sparkSession

    @property
    def last_event_ts(self) -> pd.Timestamp | None:
        """The newest event time."""
        return self._event_span()[1]

    @property
    def first_event_ts(self) -> pd.Timestamp | None:
        """The oldest event time."""
        return self._event_span()[0]

    def _event_span(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """The oldest and newest event times, aggregated once (every backtest plan asks for both; the frames are
        one snapshot)."""
        from pyspark.sql import functions as F

        if self._span is None:
            row = self.events.agg(F.min("ts").alias("lo"), F.max("ts").alias("hi")).first()
            self._span = (None if row["lo"] is None else as_utc(row["lo"]), None if row["hi"] is None else as_utc(row["hi"]))
        return self._span

    @property
    def max_event_id(self) -> int:
        """The largest event id (the watermark of an incremental profile build)."""
        from pyspark.sql import functions as F

        top = self.events.agg(F.max("id").alias("m")).first()["m"]
        return int(top) if top is not None else 0

    def features(self, as_of: pd.Timestamp, customer_ids: Sequence[str] | None = None, *, n_categories: int = 12) -> pd.DataFrame:
        """Profile features as of ``as_of``, computed on Spark (see :func:`persona.engines.spark.features.spark_features`)."""
        from persona.engines.spark.features import spark_features

        return spark_features(self, as_of, customer_ids, n_categories=n_categories)

    def catalogue(self) -> pd.DataFrame:
        """The products frame, collected once (a catalogue is small next to the events)."""
        if self._catalogue is None:
            self._catalogue = self.products.toPandas()
        return self._catalogue

    def interaction_weights(self, customers: Sequence[str], as_of: pd.Timestamp | None = None) -> pd.DataFrame:
        """Rows ``customer_id, product_id, w``: the summed interest weight of each customer on each product,
        aggregated on Spark (one row per pair, as in the interaction matrix)."""
        from pyspark.sql import functions as F

        from persona.engines.spark.features import affinity_weight

        key = (tuple(str(c) for c in customers), None if as_of is None else pd.Timestamp(as_of))
        if key in self._weights:
            return self._weights[key]
        ev = self.events.where(F.col("product_id").isNotNull())
        if as_of is not None:
            ev = ev.where(F.col("ts") <= F.lit(pd.Timestamp(as_of).to_pydatetime()))
        ev = only_customers(ev, customers)
        pairs = ev.withColumn("w", affinity_weight(F)).where(F.col("w") > 0).groupBy("customer_id", "product_id").agg(F.sum("w").alias("w"))
        self._weights = {key: pairs.toPandas()}  # only the latest: a shop is profiled at one as_of at a time
        return self._weights[key]

    @classmethod
    def from_shop_data(cls, session: Any, data: ShopData) -> SparkShop:
        """Send an in-memory :class:`ShopData` (already normalised) to Spark."""
        return cls(
            events=_to_spark(session, data.events, EVENT_COLUMNS),
            customers=_to_spark(session, data.customers, CUSTOMER_COLUMNS),
            products=_to_spark(session, data.products, PRODUCT_COLUMNS),
            reviews=_to_spark(session, data.reviews, REVIEW_COLUMNS),
            messages=_to_spark(session, data.messages, MESSAGE_COLUMNS),
        )

    @classmethod
    def from_store(cls, session: Any, store: Any, *, loaded: ShopData | None = None) -> SparkShop:
        """The workspace's shop: read by Spark over JDBC on PostgreSQL, else through this process (SQLite), where
        ``loaded`` (the store's shop, already read by the caller) saves reading it again. Either way without erased
        customers (:func:`persona.profiles.source.load_shop` leaves them out too)."""
        if store.dialect == "postgresql" and jdbc_ready(session):
            return cls.from_jdbc(session, store.settings.url, erased=erased_customers(store))
        if store.dialect == "postgresql":
            log.warning("no PostgreSQL JDBC driver on Spark's classpath: the shop is read through the driver process")
        return cls.from_shop_data(session, loaded if loaded is not None else load_shop(store))

    @classmethod
    def from_jdbc(cls, session: Any, url: str, *, erased: frozenset[str] = frozenset()) -> SparkShop:
        """Read the store's tables over JDBC (events in :data:`EVENT_PARTITIONS` parallel id ranges), without erased
        customers: their tombstones, and the rows of ``erased`` ids (the caller read them) should any be left."""
        from pyspark.sql import functions as F

        jdbc_url, props = jdbc_options(url)

        def table(name: str, columns: tuple[str, ...], where: str = "", **kw: Any) -> Any:
            query = f"(SELECT {', '.join(columns)} FROM {name}{' WHERE ' + where if where else ''}) AS t"
            frame = session.read.jdbc(jdbc_url, query, properties=props, **kw)
            return without_customers(frame, erased) if "customer_id" in columns else frame

        bounds = session.read.jdbc(jdbc_url, "(SELECT MIN(id) AS lo, MAX(id) AS hi FROM events) AS b", properties=props).first()
        lo, hi = bounds["lo"], bounds["hi"]
        if lo is None:
            events = table("events", EVENT_COLUMNS)
        else:
            events = table("events", EVENT_COLUMNS, column="id", lowerBound=int(lo), upperBound=int(hi) + 1,
                           numPartitions=EVENT_PARTITIONS)
        products = table("products", PRODUCT_COLUMNS)
        customers = table("customers", CUSTOMER_COLUMNS, NOT_ERASED).where(F.col("customer_id").isNotNull())
        messages = (table("messages", ("customer_id", "sent_at", "status"))
                    .where((F.col("status") == "sent") & F.col("sent_at").isNotNull()).select(*MESSAGE_COLUMNS))
        # one read of the events for every pass of a run (a backtest asks at each cutoff): kept by Spark after the
        # first, which also makes them one snapshot (Spark's last id range is open, so a re-read would see new rows)
        from pyspark import StorageLevel

        return cls(events=normalise_events(events, products).persist(StorageLevel.MEMORY_AND_DISK),
                   customers=_typed(customers, CUSTOMER_COLUMNS), products=_typed(products, PRODUCT_COLUMNS),
                   reviews=_typed(table("reviews", REVIEW_COLUMNS), REVIEW_COLUMNS), messages=_typed(messages, MESSAGE_COLUMNS))

    @classmethod
    def from_parquet(cls, session: Any, folder: Path | str, *, erased: frozenset[str] = frozenset()) -> SparkShop:
        """Read ``events``, ``products`` and optionally ``customers``, ``reviews`` and ``messages`` Parquet
        datasets (files or folders of files) from ``folder``, as a data lake holds them, without the rows of the
        ``erased`` customers (a lake is the shop's: erasure in the workspace does not reach it).

        Raises:
            InputError: ``events`` or ``products`` is missing, or a column the shop needs is absent.
        """
        from persona.engines import lake_paths, lake_renames

        paths = lake_paths(folder)
        frames = {}
        for name, columns in (("events", EVENT_COLUMNS), ("products", PRODUCT_COLUMNS), ("customers", CUSTOMER_COLUMNS),
                              ("reviews", REVIEW_COLUMNS), ("messages", MESSAGE_COLUMNS)):
            if name not in paths:
                frames[name] = _to_spark(session, pd.DataFrame(columns=list(columns)), columns)
                continue
            df = session.read.parquet(str(paths[name]))
            for old, new in lake_renames(name, paths[name], df.columns).items():
                df = df.withColumnRenamed(old, new)
            df = _with_columns(df, columns)
            frames[name] = df if name == "products" else without_customers(df, erased)
        return cls(events=normalise_events(frames["events"], frames["products"]),
                   customers=_typed(frames["customers"], CUSTOMER_COLUMNS),
                   products=_typed(frames["products"], PRODUCT_COLUMNS), reviews=_typed(frames["reviews"], REVIEW_COLUMNS),
                   messages=_typed(frames["messages"], MESSAGE_COLUMNS))


def as_utc(ts: Any) -> pd.Timestamp:
    """``ts`` as a UTC timestamp (a naive one is taken to be UTC, as Spark's session time zone is)."""
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def only_customers(frame: Any, customer_ids: Any) -> Any:
    """The rows of a Spark ``frame`` whose ``customer_id`` is one of ``customer_ids`` (a broadcast semi-join)."""
    from pyspark.sql import functions as F

    wanted = frame.sparkSession.createDataFrame(pd.DataFrame({"customer_id": [str(c) for c in customer_ids]}),
                                                "customer_id string")
    return frame.join(F.broadcast(wanted), "customer_id", "left_semi")


def without_customers(frame: Any, customer_ids: frozenset[str]) -> Any:
    """The rows of a Spark ``frame`` whose ``customer_id`` is none of ``customer_ids`` (a broadcast anti-join; the
    frame itself when there are none)."""
    if not customer_ids:
        return frame
    from pyspark.sql import functions as F

    gone = frame.sparkSession.createDataFrame(pd.DataFrame({"customer_id": sorted(customer_ids)}), "customer_id string")
    return frame.join(F.broadcast(gone), frame["customer_id"].cast("string") == gone["customer_id"], "left_anti")


def jdbc_options(url: str) -> tuple[str, dict[str, str]]:
    """The JDBC URL and connection properties of a SQLAlchemy PostgreSQL URL (the password never in the URL)."""
    u = make_url(url)
    host = u.host or "localhost"
    jdbc = f"jdbc:postgresql://{host}:{u.port or 5432}/{u.database or ''}"
    props = {"driver": JDBC_DRIVER, "user": u.username or "postgres", "fetchsize": "10000"}
    if u.password:
        props["password"] = str(u.password)
    return jdbc, props


def jdbc_ready(session: Any) -> bool:
    """Whether PostgreSQL's JDBC driver is on the session's classpath."""
    try:
        session.sparkContext._jvm.java.lang.Class.forName(JDBC_DRIVER, True,
                                                          session.sparkContext._jvm.Thread.currentThread().getContextClassLoader())
    except Exception:  # noqa: BLE001 - py4j wraps ClassNotFoundException
        return False
    return True


def _spark_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_floating(t):
        return "double"
    return "string"


def _with_columns(df: Any, columns: tuple[str, ...]) -> Any:
    """``df`` with exactly ``columns`` (absent ones as typed nulls)."""
    from pyspark.sql import functions as F

    return df.select(*[F.col(c) if c in df.columns else F.lit(None).cast(_spark_type(_TYPES[c])).alias(c) for c in columns])


def _typed(df: Any, columns: tuple[str, ...]) -> Any:
    """Cast each column to the shop's type (timestamps parsed as UTC when they come as text)."""
    from pyspark.sql import functions as F

    out = []
    for c in columns:
        kind = _spark_type(_TYPES[c])
        col = F.col(c)
        if kind == "timestamp":
            col = F.to_timestamp(col) if dict(df.dtypes).get(c) == "string" else col.cast("timestamp")
        else:
            col = col.cast(kind)
        out.append(col.alias(c))
    return df.select(*out)


def normalise_events(events: Any, products: Any) -> Any:
    """The events as :class:`ShopData` normalises them, in Spark (see ``persona.profiles.source``)."""
    from pyspark.sql import functions as F

    ev = _typed(_with_columns(events, EVENT_COLUMNS), EVENT_COLUMNS)
    ev = ev.where(F.col("ts").isNotNull() & F.col("customer_id").isNotNull())
    ev = ev.withColumn("event_type", F.lower(F.col("event_type")))
    qty = F.coalesce(F.col("quantity"), F.lit(1.0))
    ev = ev.withColumn("quantity", F.when(qty > 0, qty).otherwise(F.lit(1.0)))
    price = (_typed(_with_columns(products, PRODUCT_COLUMNS), PRODUCT_COLUMNS)
             .where(F.col("product_id").isNotNull()).groupBy("product_id").agg(F.first("price").alias("_price")))
    ev = ev.join(F.broadcast(price), "product_id", "left")
    filled = F.coalesce(F.col("revenue"), F.col("value"), F.col("quantity") * F.col("_price"), F.lit(0.0))
    ev = ev.withColumn("revenue", F.when(F.col("event_type").isin(*sorted(PURCHASE_TYPES)), filled).otherwise(F.col("revenue")))
    return ev.select(*EVENT_COLUMNS)


def _to_spark(session: Any, frame: pd.DataFrame, columns: tuple[str, ...]) -> Any:
    """A pandas frame as a Spark DataFrame with the shop's column types (through Arrow)."""
    arrays = []
    for c in columns:
        t = _TYPES[c]
        s = frame[c] if c in frame.columns else pd.Series(np.nan, index=frame.index)
        if pa.types.is_timestamp(t):
            s = pd.to_datetime(s, utc=True, errors="coerce", format="mixed")
            arrays.append(pa.array(s, type=t, from_pandas=True))
        elif pa.types.is_string(t):
            arrays.append(pa.array([None if _missing(v) else str(v) for v in s], type=t))
        elif t == pa.int64():
            arrays.append(pa.array(pd.to_numeric(s, errors="coerce").astype("Int64"), type=t, from_pandas=True))
        else:
            arrays.append(pa.array(pd.to_numeric(s, errors="coerce").astype(float), type=t, from_pandas=True))
    table = pa.Table.from_arrays(arrays, names=list(columns))
    if table.num_rows == 0:
        return session.createDataFrame([], ", ".join(f"{c} {_spark_type(_TYPES[c])}" for c in columns))
    return session.createDataFrame(table)


def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
