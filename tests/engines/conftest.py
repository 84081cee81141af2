"""The Spark session for the engine suites: skipped where Spark cannot start, never in CI (which installs it)."""

from __future__ import annotations

import os

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def spark():
    """One local Spark session per test process (two cores)."""
    from persona.engines.spark.session import spark_available, spark_session

    reason = spark_available()
    if reason and not os.environ.get("CI"):
        pytest.skip(f"Spark engine unavailable: {reason}")
    return spark_session("local[2]")


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    """A small generated shop (300 customers, 150 days) as CSV files, shared by the engine suites."""
    from persona.demo import generate_shop

    return generate_shop(tmp_path_factory.mktemp("demo"), customers=300, products=80, days=150, seed=5)


@pytest.fixture(scope="module")
def demo_data(demo_files):
    """The demo files as the local engine's ShopData."""
    from persona.profiles.source import ShopData

    frames = {k: pd.read_csv(v) for k, v in demo_files.items()}
    return ShopData(events=frames["events"], customers=frames["customers"], products=frames["products"], reviews=frames["reviews"])
