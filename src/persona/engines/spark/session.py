"""The Spark session Persona uses: created once per process, configured for UTC and Arrow transfers.

Importing this module does not import PySpark; :func:`spark_session` does, and says what to install
when PySpark or Java is missing instead of failing with py4j's "Java gateway process exited".
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from persona.errors import ConfigError

log = logging.getLogger(__name__)

# Debian's libpostgresql-jdbc-java; added to the classpath when present so Spark reads PostgreSQL stores.
DEBIAN_POSTGRES_JAR = Path("/usr/share/java/postgresql.jar")
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")  # the JVM logs errors only
INSTALL_HINT = "pip install 'persona[spark]' and a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"


class SparkUnavailableError(ConfigError):
    """The Spark engine was asked for but PySpark or Java is missing."""

    code = "spark_unavailable"


def _java_found() -> bool:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return True
    return shutil.which("java") is not None


def spark_available() -> str | None:
    """``None`` when the Spark engine can start here, else the reason it cannot."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed"
    if not _java_found():
        return "no Java runtime found (java not on PATH and JAVA_HOME unset)"
    return None


def default_jars() -> list[str]:
    """JDBC drivers found on this machine (PostgreSQL's, from Debian's package)."""
    return [str(DEBIAN_POSTGRES_JAR)] if DEBIAN_POSTGRES_JAR.is_file() else []


def spark_session(master: str | None = None, *, jars: list[str] | None = None, conf: dict[str, Any] | None = None) -> Any:
    """The process's SparkSession, created on first use (later calls return the same session).

    Args:
        master: Spark master URL (default ``local[*]``: every core of this machine).
        jars: extra jars (JDBC drivers) for the classpath; default: :func:`default_jars`.
        conf: further Spark settings.

    Raises:
        SparkUnavailableError: PySpark or Java is missing, or the JVM does not start.
    """
    reason = spark_available()
    if reason:
        raise SparkUnavailableError(f"the Spark engine cannot start: {reason}", hint=INSTALL_HINT)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    cores = os.cpu_count() or 2
    java_opts = f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}"
    builder = (
        SparkSession.builder.master(master or "local[*]")
        .appName("persona")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "false")  # pandas semantics: x / 0 is missing, not an error
        .config("spark.sql.shuffle.partitions", str(max(4, 2 * cores)))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
        .config("spark.driver.extraJavaOptions", java_opts)
        .config("spark.executor.extraJavaOptions", java_opts)
    )
    jar_list = default_jars() if jars is None else list(jars)
    if jar_list:
        builder = builder.config("spark.jars", ",".join(jar_list))
    for key, value in (conf or {}).items():
        builder = builder.config(key, str(value))
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - py4j raises bare exceptions when the JVM fails
        raise SparkUnavailableError(f"the Spark engine did not start: {exc}", hint=INSTALL_HINT) from exc
    session.sparkContext.setLogLevel("ERROR")
    log.info("spark session master=%s jars=%d", session.sparkContext.master, len(jar_list))
    return session
