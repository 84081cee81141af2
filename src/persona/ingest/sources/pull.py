"""What pulled sources share: ingest a reader's chunks, always release its connection, move its cursor on success."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from persona.ingest.readers import RawChunk
from persona.ingest.runner import IngestReport, ingest_chunks
from persona.ingest.sources.cursor import IncrementalPull
from persona.privacy.crypto import PIICipher


class PulledSource(Protocol):
    """A database query or an API walk, opened and read as raw chunks."""

    source: str
    label: str

    def chunks(self) -> Iterator[RawChunk]: ...

    def close(self) -> None: ...


def ingest_pulled(store: Any, entity: str, reader: PulledSource, *, mapping: Mapping[str, str],
                  cipher: PIICipher | None, progress: bool | None, cursor: IncrementalPull | None = None) -> IngestReport:
    """Ingest ``reader``'s chunks as ``entity`` (see :func:`persona.ingest.runner.ingest_chunks`), then close it.

    ``cursor`` (an incremental pull, fed by the reader) is stored only once every chunk is committed: a run that
    fails keeps the old cursor, so its rerun reads those rows again and counts them as duplicates.
    """
    chunks = reader.chunks()
    try:
        report = ingest_chunks(store, entity, chunks, source=reader.source, mapping=mapping, cipher=cipher,
                               progress=progress, label=reader.label)
    finally:
        try:
            chunks.close()  # releases the connection now, not when the generator is collected
        except ValueError:
            pass  # still running in the runner's read-ahead thread, which closes it as it stops
        reader.close()
    if cursor is not None:
        report.cursor = cursor.finish(report.run_id)
    return report
