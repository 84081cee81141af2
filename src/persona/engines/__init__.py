"""Compute engines: where the heavy batch work runs.

``local`` (the default) runs everything in this process with pandas, NumPy and SciPy. ``spark`` runs
the per-event aggregations of the profiles, frequent-itemset mining and ALS training on Apache Spark
(``pip install 'persona[spark]'`` and a Java 17+ runtime), behind the same functions and estimators.
The engine is a setting (``PERSONA_ENGINE`` or ``engine`` in ``config.toml``), never a code change.
"""

from __future__ import annotations

from typing import Any

from persona.errors import ConfigError

ENGINES = ("local", "spark")


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


def open_shop(store: Any) -> Any:
    """The workspace's shop for batch work on the store's engine: a pandas ``ShopData`` (local) or a
    ``SparkShop`` (spark; read over JDBC where the store is PostgreSQL).

    Raises:
        SparkUnavailableError: the engine is spark and PySpark or Java is missing.
    """
    if store.settings.engine == "spark":
        from persona.engines.spark.session import spark_session
        from persona.engines.spark.shop import SparkShop

        return SparkShop.from_store(spark_session(store.settings.spark_master), store)
    from persona.profiles.source import load_shop

    return load_shop(store)


def open_baskets(store: Any, *, by: str = "session") -> Any:
    """The workspace's orders for basket mining on the store's engine: item lists (local) or a cached Spark
    frame with an ``items`` column (spark; the purchases never pass through this process on PostgreSQL)."""
    if store.settings.engine == "spark":
        from persona.engines.spark.basket import purchases, spark_baskets
        from persona.engines.spark.session import spark_session

        return spark_baskets(purchases(spark_session(store.settings.spark_master), store), by=by).cache()
    from persona.basket.baskets import baskets_from_store

    return baskets_from_store(store, by=by)


__all__ = ["ENGINES", "check_engine", "open_baskets", "open_shop"]
