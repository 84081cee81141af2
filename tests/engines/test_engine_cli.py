"""``persona engine status``: the engine setting and whether Spark can start, in JSON, with exit 2 when it cannot."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from persona.cli.main import app


def test_status_reports_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONA_ENGINE", "local")
    res = CliRunner().invoke(app, ["engine", "status", "--workspace", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["engine"] == "local" and out["spark_master"] == "local[*]"
    assert isinstance(out["spark_ready"], bool) and isinstance(out["native_blas"], bool)


def test_configured_spark_without_java_exits_2_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONA_ENGINE", "spark")
    monkeypatch.setenv("PERSONA_SPARK_MASTER", "local[1]")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    res = CliRunner().invoke(app, ["engine", "status", "--workspace", str(tmp_path / "ws")])
    assert res.exit_code == 2
    assert "spark" in res.output and "local[1]" in res.output and "openjdk-17" in res.output.replace("\n", "")


def test_missing_pyspark_says_what_to_install(monkeypatch):
    import sys

    from persona.engines.spark.session import SparkUnavailableError, spark_available, spark_session

    monkeypatch.setitem(sys.modules, "pyspark", None)  # as on a machine without the spark extra
    assert spark_available() == "PySpark is not installed"
    try:
        spark_session()
    except SparkUnavailableError as exc:
        assert "persona[spark]" in exc.hint and exc.exit_code == 2
    else:
        raise AssertionError("spark_session started without PySpark")


def test_a_bad_engine_is_refused_by_the_estimators():
    import pytest

    from persona.basket import BasketRules
    from persona.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown engine 'gpu'"):
        BasketRules(engine="gpu").fit([["a", "b"]])
