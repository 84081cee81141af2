"""Market baskets and frequent itemsets on Spark (FP-growth), in the local engine's layout.

Spark groups the purchase events into baskets and mines the frequent itemsets with its parallel
FP-growth; only the itemsets come back, as :class:`persona.basket.itemsets.FrequentItemsets`, so the
rules, "frequently bought together" and saving are the local code, and the figures are the same.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from persona.basket.baskets import PURCHASES_SQL, check_basket_input
from persona.basket.itemsets import FrequentItemsets, min_count_for
from persona.errors import InputError, SchemaError

log = logging.getLogger(__name__)


def purchases(session: Any, store: Any) -> Any:
    """The store's purchase events (``customer_id, product_id, session_id, ts``) as a Spark frame, over JDBC on PostgreSQL."""
    from persona.engines.spark.shop import jdbc_options, jdbc_ready

    if store.dialect == "postgresql" and jdbc_ready(session):
        url, props = jdbc_options(store.settings.url)
        return session.read.jdbc(url, f"({PURCHASES_SQL}) AS p", properties=props)
    frame = store.read_frame(PURCHASES_SQL)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="mixed")
    for c in ("customer_id", "product_id", "session_id"):
        frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    schema = "customer_id string, product_id string, session_id string, ts timestamp"
    return session.createDataFrame(frame[["customer_id", "product_id", "session_id", "ts"]], schema)


def spark_baskets(events: Any, *, by: str = "session") -> Any:
    """Baskets as :func:`persona.basket.baskets.baskets_from_events` groups them, as a Spark frame with one
    ``items`` array (distinct product ids) per order.

    Raises:
        InputError: unknown ``by``. SchemaError: a required column is missing.
    """
    from pyspark.sql import functions as F

    check_basket_input(events.columns, by)
    ev = events.where(F.col("product_id").isNotNull())
    key = F.concat_ws("|", F.col("customer_id").cast("string"), F.date_format(F.col("ts").cast("timestamp"), "yyyy-MM-dd"))
    if by == "session" and "session_id" in events.columns:
        key = F.when(F.col("session_id").isNull(), key).otherwise(
            F.concat_ws("|", F.col("customer_id").cast("string"), F.lit("s"), F.col("session_id").cast("string")))
    return ev.groupBy(key.alias("order")).agg(F.collect_set(F.col("product_id").cast("string")).alias("items"))


def as_spark_baskets(baskets: Any) -> Any:
    """``baskets`` as a Spark frame with an ``items`` column: a Spark frame passes, item lists are sent to Spark."""
    if hasattr(baskets, "sparkSession"):
        if "items" not in baskets.columns:
            raise SchemaError(f"a Spark frame of baskets needs an 'items' array column; got {baskets.columns}",
                              hint="build it with spark_baskets()")
        return baskets
    from persona.engines.spark.session import spark_session

    rows = [(sorted({str(i) for i in b}),) for b in baskets]
    return spark_session().createDataFrame(rows, "items array<string>")


def spark_itemsets(baskets: Any, min_support: float, *, max_len: int | None = None,
                   max_itemsets: int | None = None) -> FrequentItemsets:
    """Frequent itemsets of ``baskets`` (a Spark frame with an ``items`` array column) by Spark's FP-growth.

    The threshold is the local engine's (``count / n >= min_support``); itemsets longer than ``max_len``
    are dropped. Item codes follow the sorted product ids.

    Raises:
        InputError: a support outside (0, 1], a bad max_len, no baskets, or more itemsets than ``max_itemsets``.
    """
    from pyspark.ml.fpm import FPGrowth
    from pyspark.sql import functions as F

    if not (isinstance(min_support, int | float) and 0 < min_support <= 1):
        raise InputError(f"min_support={min_support!r} must be in (0, 1]", hint="e.g. --min-support 0.05")
    if max_len is not None and (not isinstance(max_len, int) or max_len < 1):
        raise InputError(f"max_len={max_len!r} must be a positive integer or None", hint="e.g. max_len=3")
    n = baskets.count()
    if n == 0:
        raise InputError("no transactions to mine", hint="check that there are purchase events with products")
    min_count = min_count_for(float(min_support), n)
    # Spark keeps itemsets with freq >= ceil(minSupport * n): half a basket below min_count lands on it exactly.
    model = FPGrowth(itemsCol="items", minSupport=(min_count - 0.5) / n, minConfidence=1.0).fit(baskets.select("items"))
    found = model.freqItemsets
    if max_len is not None:
        found = found.where(F.size("items") <= max_len)
    total = found.count()
    if max_itemsets is not None and total > max_itemsets:
        raise InputError(f"more than {max_itemsets:,} frequent itemsets at min_support={min_support}",
                         hint="raise --min-support or set max_len")
    rows = found.toPandas()
    vocab = np.array(sorted({str(i) for items in rows["items"] for i in items}), dtype=object)
    code = {v: i for i, v in enumerate(vocab.tolist())}
    sets = [sorted(code[str(i)] for i in items) for items in rows["items"]]
    order = sorted(range(len(sets)), key=lambda i: (len(sets[i]), sets[i]))
    sizes = np.array([len(sets[i]) for i in order], dtype=np.int64)
    indptr = np.zeros(len(order) + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    flat = np.array([c for i in order for c in sets[i]], dtype=np.int32)
    counts = rows["freq"].to_numpy(dtype=np.int64)[order] if len(order) else np.empty(0, np.int64)
    log.info("spark itemsets n_tx=%d min_count=%d itemsets=%d", n, min_count, len(order))
    return FrequentItemsets(items=flat, indptr=indptr, counts=counts, vocabulary=vocab, n_transactions=n, min_count=min_count)
