"""``persona engine status``: which engine batch work runs on, and whether Spark can start here."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit, settings_for

app = typer.Typer(help="The compute engine (local or Spark).", no_args_is_help=True)


def engine_status(settings: Any, *, start: bool = False) -> dict[str, Any]:
    """The engine setting and what the Spark engine needs: PySpark, Java, the PostgreSQL JDBC driver.

    Args:
        settings: the workspace settings.
        start: also start a Spark session and report its version and parallelism.
    """
    from ctypes.util import find_library

    from persona.engines.spark.session import default_jars, spark_available, spark_session

    reason = spark_available()
    out: dict[str, Any] = {"engine": settings.engine, "spark_master": settings.spark_master,
                           "spark_ready": reason is None, "spark_problem": reason,
                           "jdbc_driver": (default_jars() or [None])[0],
                           # Spark ML's ALS solves its normal equations with the system BLAS/LAPACK when present
                           "native_blas": bool(find_library("blas") and find_library("lapack"))}
    if start and reason is None:
        spark = spark_session(settings.spark_master)
        out.update(spark_version=spark.version, spark_parallelism=spark.sparkContext.defaultParallelism)
    return out


@app.command("status")
def status(
    start: Annotated[bool, typer.Option("--start", help="Also start a Spark session (takes seconds) and report it.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which engine runs batch work (PERSONA_ENGINE), and whether the Spark engine can start on this machine."""
    from persona.engines.spark.session import INSTALL_HINT

    out = engine_status(settings_for(workspace), start=start)
    emit(out, as_json, title="engine")
    if not as_json and out["engine"] == "spark" and not out["spark_ready"]:
        console.print(f"the configured Spark engine cannot start: {out['spark_problem']}; {INSTALL_HINT}", markup=False)
    if not as_json and out["engine"] == "spark" and out["spark_ready"] and not out["native_blas"]:
        console.print("Spark's ALS will use its Java BLAS: apt-get install libopenblas0-pthread makes it about 2x faster",
                      markup=False)
    if out["engine"] == "spark" and not out["spark_ready"]:
        raise typer.Exit(2)
