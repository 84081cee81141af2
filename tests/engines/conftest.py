"""The Spark session for the engine suites: skipped where Spark cannot start, never in CI (which installs it)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def spark():
    """One local Spark session per test process (two cores)."""
    from persona.engines.spark.session import spark_available, spark_session

    reason = spark_available()
    if reason and not os.environ.get("CI"):
        pytest.skip(f"Spark engine unavailable: {reason}")
    return spark_session("local[2]")
