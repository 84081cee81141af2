"""Compute engines: where the heavy batch work runs.

``local`` (the default) runs everything in this process with pandas, NumPy and SciPy. ``spark`` runs
the per-event aggregations of the profiles and of the predictions (point-in-time features, label windows,
CLV summaries, daily revenue), frequent-itemset mining and ALS training on Apache Spark
(``pip install 'persona[spark]'`` and a Java 17+ runtime), behind the same functions and estimators.
The engine is a setting (``PERSONA_ENGINE`` or ``engine`` in ``config.toml``), never a code change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from persona.errors import ConfigError, InputError

ENGINES = ("local", "spark")
LAKE_ENTITIES = ("events", "products", "customers", "reviews", "messages")
#: columns a lake's entity must have (the others are filled with missing values)
LAKE_REQUIRED = {"events": ("customer_id", "event_type", "ts"), "products": ("product_id",)}


def check_engine(name: str) -> str:
    """The engine name, validated.

    Raises:
        ConfigError: not one of :data:`ENGINES`.
    """
    engine = str(name).strip().lower()
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}; engines are {', '.join(ENGINES)}",
                          hint="set PERSONA_ENGINE=local (default) or PERSONA_ENGINE=spark")
    return engine


def open_shop(store: Any, loaded: Any = None) -> Any:
    """The workspace's shop for batch work on the store's engine: a pandas ``ShopData`` (local) or a
    ``SparkShop`` (spark; read over JDBC where the store is PostgreSQL).

    Args:
        store: the workspace store.
        loaded: the store's ``ShopData`` when the caller has read it already (sent to Spark where JDBC is not used).

    Raises:
        SparkUnavailableError: the engine is spark and PySpark or Java is missing.
    """
    if store.settings.engine == "spark":
        from persona.engines.spark.session import spark_session
        from persona.engines.spark.shop import SparkShop

        return SparkShop.from_store(spark_session(store.settings.spark_master), store, loaded=loaded)
    if loaded is not None:
        return loaded
    from persona.profiles.source import load_shop

    return load_shop(store)


def lake_paths(folder: Path | str) -> dict[str, Path]:
    """The Parquet dataset (``NAME/`` folder or ``NAME.parquet`` file) of each entity in a data-lake folder.

    Raises:
        InputError: the folder does not exist, or it has no events or no products.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder", hint="give the folder holding events/ and products/ Parquet data")
    found = {}
    for name in LAKE_ENTITIES:
        path = next((p for p in (root / name, root / f"{name}.parquet") if p.exists()), None)
        if path is not None:
            found[name] = path
        elif name in ("events", "products"):
            raise InputError(f"{root} has no {name} Parquet data ({name}/ or {name}.parquet)",
                             hint="write each entity as a Parquet file or folder named after it")
    return found


def lake_renames(name: str, path: Path, columns: Any) -> dict[str, str]:
    """The renames a lake entity's columns need (events: ``timestamp`` to ``ts``), after checking it has the
    columns it must have.

    Raises:
        InputError: a required column is missing.
    """
    have = set(columns)
    renames = {"timestamp": "ts"} if name == "events" and "ts" not in have and "timestamp" in have else {}
    missing = [c for c in LAKE_REQUIRED.get(name, ("customer_id",)) if c not in have | set(renames.values())]
    if missing:
        raise InputError(f"{path} lacks column(s) {missing}", hint=f"see the columns of {name} in the README's data formats")
    return renames


def open_lake(folder: Path | str, settings: Any, *, erased: frozenset[str] = frozenset()) -> Any:
    """A data lake's shop on the configured engine: a ``SparkShop`` read by Spark, or a pandas ``ShopData``.

    Args:
        erased: ids of customers erased in the workspace: their rows in the lake are left out (erasure cannot
            reach the lake, which is the shop's; :func:`persona.privacy.tombstones.erased_customers` reads them).

    Raises:
        InputError: see :func:`lake_paths`, or an entity lacks a column it needs.
    """
    if settings.engine == "spark":
        from persona.engines.spark.session import spark_session
        from persona.engines.spark.shop import SparkShop

        return SparkShop.from_parquet(spark_session(settings.spark_master), folder, erased=erased)
    import pandas as pd

    from persona.privacy.tombstones import without_erased
    from persona.profiles.source import ShopData

    frames = {}
    for name, path in lake_paths(folder).items():
        frame = pd.read_parquet(path)
        frames[name] = without_erased(frame.rename(columns=lake_renames(name, path, frame.columns)), erased)
    return ShopData(events=frames["events"], customers=frames.get("customers"), products=frames["products"],
                    reviews=frames.get("reviews"), **({"messages": frames["messages"]} if "messages" in frames else {}))


def count_orders(baskets: Any) -> tuple[int, int]:
    """(orders, orders with two or more products) of item lists, or of the Spark engine's frame of baskets."""
    if hasattr(baskets, "sparkSession"):
        from pyspark.sql import functions as F

        row = baskets.agg(F.count("*").alias("n"), F.sum((F.size("items") > 1).cast("long")).alias("multi")).first()
        return int(row["n"]), int(row["multi"] or 0)
    return len(baskets), sum(1 for b in baskets if len(set(b)) > 1)


def open_baskets(store: Any, *, by: str = "session") -> Any:
    """The workspace's orders for basket mining on the store's engine: item lists (local) or a cached Spark
    frame with an ``items`` column (spark; the purchases never pass through this process on PostgreSQL)."""
    if store.settings.engine == "spark":
        from persona.engines.spark.basket import purchases, spark_baskets
        from persona.engines.spark.session import spark_session

        return spark_baskets(purchases(spark_session(store.settings.spark_master), store), by=by).cache()
    from persona.basket.baskets import baskets_from_store

    return baskets_from_store(store, by=by)


def open_purchases(store: Any) -> Any:
    """The workspace's purchases for the CLV stage on the store's engine: a ``PurchaseLog`` held in this process
    (local) or ``SparkPurchases`` whose per-customer summaries and daily revenue Spark aggregates (spark; read over
    JDBC on PostgreSQL).

    Raises:
        InputError: (local) the workspace has no purchase events.
        SparkUnavailableError: the engine is spark and PySpark or Java is missing.
    """
    if store.settings.engine == "spark":
        from persona.engines.spark.clv import SparkPurchases
        from persona.engines.spark.session import spark_session

        return SparkPurchases.from_store(spark_session(store.settings.spark_master), store)
    from persona.predict.clv_purchases import PurchaseLog

    return PurchaseLog.from_store(store)


__all__ = ["ENGINES", "LAKE_ENTITIES", "check_engine", "count_orders", "lake_paths", "lake_renames", "open_baskets", "open_lake",
           "open_purchases", "open_shop"]
