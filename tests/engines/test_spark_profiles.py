"""The Spark engine's profile features equal the local engine's, from every source the engine reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from spark_engine_checks import _load, assert_same_features

from persona.config import load_settings
from persona.engines.spark.session import SparkUnavailableError, spark_session
from persona.engines.spark.shop import SparkShop, jdbc_options, jdbc_ready
from persona.errors import ConfigError
from persona.profiles.features import compute_features
from persona.profiles.source import ShopData, load_shop


def test_features_equal_the_local_engine(spark, demo_data):
    shop = SparkShop.from_shop_data(spark, demo_data)
    as_of = demo_data.last_event_ts
    assert shop.last_event_ts == as_of and shop.max_event_id == demo_data.max_event_id
    local = compute_features(demo_data, as_of)
    assert local["frequency"].gt(0).sum() > 50 and local["category_shares"].notna().sum() > 100  # a shop with substance
    assert_same_features(local, shop.features(as_of))
    earlier = as_of - pd.Timedelta(days=60)  # customers created later drop out; windows move
    assert_same_features(compute_features(demo_data, earlier), shop.features(earlier))
    some = list(local.index[::5])
    assert_same_features(compute_features(demo_data, earlier, pd.Index(some, name="customer_id")), shop.features(earlier, some))


def test_profile_builder_runs_on_the_spark_shop(spark, demo_data):
    from persona.profiles import ProfileBuilder

    local = ProfileBuilder(seed=1).fit_transform(demo_data)
    on_spark = ProfileBuilder(seed=1).fit_transform(SparkShop.from_shop_data(spark, demo_data))
    emb_l, emb_s = np.array(local.pop("embedding").tolist()), np.array(on_spark.pop("embedding").tolist())
    assert emb_l.shape == emb_s.shape and emb_l.shape[1] > 1
    np.testing.assert_allclose(emb_s, emb_l, atol=2e-5)
    assert_same_features(local, on_spark)


def test_parquet_lake_is_normalised_like_the_store(spark, demo_files, demo_data, tmp_path):
    """Raw Parquet (upper-case types, text timestamps, purchases without revenue) reads as ShopData normalises it."""
    lake = tmp_path / "lake"
    lake.mkdir()
    events = pd.read_csv(demo_files["events"])
    events["event_type"] = events["event_type"].str.upper()
    events["timestamp"] = events["timestamp"].astype(str)
    events.loc[events.index[::3], "revenue"] = np.nan  # filled from quantity × list price, as ShopData does
    events.to_parquet(lake / "events.parquet")
    pd.read_csv(demo_files["products"]).to_parquet(lake / "products.parquet")
    (lake / "customers").mkdir()
    pd.read_csv(demo_files["customers"]).to_parquet(lake / "customers" / "part-0.parquet")
    shop = SparkShop.from_parquet(spark, lake)
    data = ShopData(events=events, customers=pd.read_csv(demo_files["customers"]), products=pd.read_csv(demo_files["products"]),
                    reviews=None)
    assert_same_features(compute_features(data, data.last_event_ts), shop.features(data.last_event_ts))


def test_parquet_lake_without_events_is_refused(spark, tmp_path):
    from persona.errors import InputError

    with pytest.raises(InputError, match="no events Parquet data"):
        SparkShop.from_parquet(spark, tmp_path)


def test_workspace_build_on_the_spark_engine(spark, demo_files, tmp_path, monkeypatch):
    """`PERSONA_ENGINE=spark persona profiles build` stores the profiles the local engine stores."""
    from typer.testing import CliRunner

    from persona.cli.main import app
    from persona.profiles import read_profiles
    from persona.store import open_store
    from persona.store.workspace import init_workspace

    for engine in ("local", "spark"):
        settings = load_settings(tmp_path / engine, progress=False, engine=engine)
        init_workspace(settings)
        store = open_store(settings)
        _load(store, demo_files)
        store.dispose()
    monkeypatch.setenv("PERSONA_ENGINE", "spark")
    res = CliRunner().invoke(app, ["profiles", "build", "--workspace", str(tmp_path / "spark"), "--json"])
    assert res.exit_code == 0, res.output
    assert '"engine": "spark"' in res.output
    monkeypatch.setenv("PERSONA_ENGINE", "local")
    res = CliRunner().invoke(app, ["profiles", "build", "--workspace", str(tmp_path / "local"), "--json"])
    assert res.exit_code == 0 and '"engine": "local"' in res.output, res.output
    frames = {}
    for engine in ("local", "spark"):
        store = open_store(load_settings(tmp_path / engine))
        frames[engine] = read_profiles(store).drop(columns=["updated_at", "embedding"]).sort_index()
        store.dispose()
    assert len(frames["spark"]) == len(frames["local"]) > 200
    for c in ("frequency", "monetary", "recency_days", "email_open_rate", "price_index", "preferred_hour"):
        pd.testing.assert_series_equal(frames["spark"][c].astype(float), frames["local"][c].astype(float), rtol=1e-9, obj=c)
    assert frames["spark"]["category_shares"].equals(frames["local"]["category_shares"])


@pytest.mark.postgres
def test_postgres_store_is_read_over_jdbc(spark, demo_files, pg_store):
    if not jdbc_ready(spark):
        pytest.fail("PostgreSQL's JDBC driver is not on Spark's classpath: apt-get install libpostgresql-jdbc-java")
    _load(pg_store, demo_files)
    shop = SparkShop.from_store(spark, pg_store)
    assert shop.events.rdd.getNumPartitions() > 1  # read in parallel id ranges, not through this process
    data = load_shop(pg_store)
    assert_same_features(compute_features(data, data.last_event_ts), shop.features(data.last_event_ts))
    # the events are one snapshot for every later pass (a backtest reads them at each cutoff), until released
    before = shop.last_event_ts
    with pg_store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE events SET ts = ts + interval '30 days' WHERE id = (SELECT MAX(id) FROM events)")
    assert shop.last_event_ts == before and shop.events.is_cached
    shop.release()
    assert shop.last_event_ts > before and not shop.events.is_cached


def test_jdbc_options_keep_the_password_out_of_the_url():
    url, props = jdbc_options("postgresql+psycopg://alice:s3cret@db.example:6543/shop")
    assert url == "jdbc:postgresql://db.example:6543/shop"
    assert props["user"] == "alice" and props["password"] == "s3cret" and "s3cret" not in url


def test_unknown_engine_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown engine 'hadoop'"):
        load_settings(tmp_path, engine="hadoop")


def test_missing_java_says_what_to_install(spark, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(SparkUnavailableError, match="no Java runtime") as err:
        spark_session()
    assert "openjdk-17" in err.value.hint and err.value.exit_code == 2


def test_lake_build_on_spark_equals_the_local_build(spark, demo_files, tmp_path, monkeypatch):
    """`persona profiles build --lake DIR` stores the same profiles on both engines."""
    from typer.testing import CliRunner

    from persona.cli.main import app
    from persona.profiles import read_profiles
    from persona.store import open_store
    from persona.store.workspace import init_workspace

    lake = tmp_path / "lake"
    lake.mkdir()
    for name in ("events", "products", "customers", "reviews"):
        pd.read_csv(demo_files[name]).to_parquet(lake / f"{name}.parquet")
    stored = {}
    for engine in ("local", "spark"):
        monkeypatch.setenv("PERSONA_ENGINE", engine)
        settings = load_settings(tmp_path / engine, progress=False)
        init_workspace(settings)
        res = CliRunner().invoke(app, ["profiles", "build", "--lake", str(lake), "--workspace", str(settings.workspace), "--json"])
        assert res.exit_code == 0 and f'"engine": "{engine}"' in res.output, res.output
        store = open_store(settings)
        stored[engine] = read_profiles(store).drop(columns=["updated_at", "embedding"]).sort_index()
        store.dispose()
    assert len(stored["spark"]) == len(stored["local"]) > 200
    for c in ("frequency", "monetary", "recency_days", "n_reviews", "avg_sentiment", "preferred_dow"):
        pd.testing.assert_series_equal(stored["spark"][c].astype(float), stored["local"][c].astype(float), rtol=1e-9, obj=c)


def test_pipeline_stages_run_on_the_spark_engine(spark, demo_files, tmp_path, monkeypatch):
    """`persona run`'s profiles and basket stages on PERSONA_ENGINE=spark: same figures as locally, engine named."""
    from persona.pipeline.stage import RunContext
    from persona.pipeline.stages.basket import BASKET
    from persona.pipeline.stages.profiles import PROFILES
    from persona.store import open_store
    from persona.store.workspace import init_workspace

    figures = {}
    for engine in ("local", "spark"):
        monkeypatch.setenv("PERSONA_ENGINE", engine)
        settings = load_settings(tmp_path / engine, progress=False)
        init_workspace(settings)
        store = open_store(settings)
        _load(store, demo_files)
        ctx = RunContext(settings=settings, store=store, data_dir=None, seed=1, progress=False)
        prof, basket = PROFILES.run(ctx), BASKET.run(ctx)
        store.dispose()
        assert prof.status == "ok" and prof.figures["engine"] == engine and f"the {engine} engine" in prof.sections[0].html
        assert basket.status in ("ok", "skipped"), basket.message
        figures[engine] = (prof.figures["profiles"], prof.figures["buyers"], basket.status,
                           {k: basket.figures.get(k) for k in ("orders", "itemsets", "rules", "min_support")})
    assert figures["spark"] == figures["local"]


def test_erased_customers_stay_out_of_the_spark_shop(spark, demo_files, demo_data, tmp_path):
    """A lake read with the workspace's erased ids, and a store's shop, describe no erased customer."""
    from persona.privacy.gdpr import erase_customer

    gone = str(demo_data.events.loc[demo_data.events["event_type"] == "purchase", "customer_id"].value_counts().index[0])
    lake = tmp_path / "lake"
    lake.mkdir()
    pd.read_csv(demo_files["events"]).to_parquet(lake / "events.parquet")
    pd.read_csv(demo_files["products"]).to_parquet(lake / "products.parquet")
    pd.read_csv(demo_files["customers"]).to_parquet(lake / "customers.parquet")
    shop = SparkShop.from_parquet(spark, lake, erased=frozenset({gone}))
    feats = shop.features(demo_data.last_event_ts)
    assert gone not in feats.index and len(feats) == len(compute_features(demo_data, demo_data.last_event_ts)) - 1

    settings = load_settings(tmp_path / "ws", progress=False, engine="spark")
    from persona.store import open_store
    from persona.store.workspace import init_workspace

    init_workspace(settings)
    store = open_store(settings)
    try:
        _load(store, demo_files)
        erase_customer(store, settings, gone)
        store.bulk_insert("events", [{"event_id": "late", "customer_id": gone, "product_id": None, "event_type": "view",
                                      "ts": demo_data.last_event_ts.to_pydatetime()}])  # a straggler: never read
        from_store = SparkShop.from_store(spark, store)
        assert from_store.customers.where(f"customer_id = '{gone}'").count() == 0
        assert from_store.events.where(f"customer_id = '{gone}'").count() == 0
        assert gone not in from_store.features(demo_data.last_event_ts).index
    finally:
        store.dispose()


@pytest.mark.postgres
def test_erased_customers_stay_out_of_a_jdbc_read(spark, demo_files, pg_store):
    if not jdbc_ready(spark):
        pytest.skip("PostgreSQL's JDBC driver is not on Spark's classpath: apt-get install libpostgresql-jdbc-java")
    from persona.privacy.crypto import create_key_file
    from persona.privacy.gdpr import erase_customer

    _load(pg_store, demo_files)
    gone = str(pg_store.read_frame("SELECT customer_id FROM events WHERE event_type = 'purchase' GROUP BY customer_id "
                                   "ORDER BY COUNT(*) DESC LIMIT 1")["customer_id"].iloc[0])
    create_key_file(pg_store.settings.key_path)
    erase_customer(pg_store, pg_store.settings, gone)
    pg_store.bulk_insert("events", [{"event_id": "late", "customer_id": gone, "product_id": None, "event_type": "view",
                                     "ts": pd.Timestamp("2030-01-01", tz="UTC").to_pydatetime()}])
    shop = SparkShop.from_store(spark, pg_store)
    assert shop.customers.where(f"customer_id = '{gone}'").count() == 0
    assert shop.events.where(f"customer_id = '{gone}'").count() == 0
