"""Lossless ingestion: streaming readers, column mapping, validation, quarantine, de-duplication, stubs.

``ingest_file(store, "events", "events.csv")`` is the Python entry point for files, ``ingest_sql`` for a SQL
query on any database and ``ingest_url`` for a REST API; ``persona ingest`` the CLI.
"""

from typing import Any

from persona.ingest.runner import IngestReport, ingest_chunks, ingest_file, ingest_frames
from persona.ingest.schema import ENTITY_ORDER, SPECS, EntitySpec, get_spec

__all__ = ["ENTITY_ORDER", "SPECS", "EntitySpec", "IngestReport", "get_spec", "ingest_chunks", "ingest_file", "ingest_frames",
           "ingest_sql", "ingest_url"]


def __getattr__(name: str) -> Any:
    # the pull sources load their clients (httpx) only when used
    if name in ("ingest_sql", "ingest_url"):
        from persona.ingest import sources

        return getattr(sources, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
