"""Lossless ingestion: streaming readers, column mapping, validation, quarantine, de-duplication, stubs.

``ingest_file(store, "events", "events.csv")`` is the Python entry point; ``persona ingest`` the CLI.
"""

from persona.ingest.runner import IngestReport, ingest_file, ingest_frames
from persona.ingest.schema import ENTITY_ORDER, SPECS, EntitySpec, get_spec

__all__ = ["ENTITY_ORDER", "SPECS", "EntitySpec", "IngestReport", "get_spec", "ingest_file", "ingest_frames"]
