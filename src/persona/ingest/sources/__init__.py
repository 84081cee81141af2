"""Sources pulled over a connection rather than read from a file: a SQL query on any database, a REST API.

``ingest_sql`` and ``ingest_url`` feed the same validation, de-duplication and quarantine as files.
"""

from persona.ingest.sources.rest import ingest_url, parse_headers
from persona.ingest.sources.sql import ingest_sql

__all__ = ["ingest_sql", "ingest_url", "parse_headers"]
