"""Ingest one file (or one adapter's stream) of one entity into the store, chunk by chunk.

Each chunk is one transaction holding its rows, any stub customers/products, and the progress
of the ``ingest_runs`` row, so a crash or Ctrl-C leaves whole chunks only. Running the same
file again resumes after the last committed line of an unfinished run; everything is
idempotent anyway (duplicates are skipped), so nothing is counted or written twice. A chunk's
rejected rows reach the quarantine file before its commit, and a resumed run first trims the
file back to the rows its committed counts cover, so each rejected row is there exactly once.

Chunks from a database query or a REST API (:func:`ingest_chunks`) are committed the same way but never
resumed: the source may have changed since, so a rerun reads it all again and the rows already stored count as
duplicates.

A large events load into an empty PostgreSQL table (up to ``ONE_TRANSACTION_ROWS``) is one
transaction instead, in which the table's keys and indexes are suspended and rebuilt once at the end
(:meth:`~persona.store.bulk.BulkWriter.suspend_keys`); a crash rolls all of it back, and the rerun
starts over.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select, update

from persona.errors import BusyError, DataFileError, PersonaError
from persona.ingest.coerce import ChunkCoercer
from persona.ingest.mapping import parse_map, resolve_columns
from persona.ingest.prefetch import prefetch
from persona.ingest.quarantine import Person, PersonMatcher, Quarantine
from persona.ingest.readers import RawChunk, detect_format, open_reader, source_size
from persona.ingest.runs import CLAIM_WAIT_SECONDS, RunOwner, this_process
from persona.ingest.schema import KNOWN_EVENT_TYPES, EntitySpec, get_spec
from persona.ingest.writer import EntityWriter
from persona.jsonvalues import dumps
from persona.privacy.crypto import PIICipher
from persona.privacy.detect import no_pii
from persona.privacy.tombstones import erased_customers
from persona.store.bulk import BulkWriter
from persona.store.models import IngestRun

log = logging.getLogger(__name__)

DEFER_INDEX_ROWS = 50_000  # loads at least this big rebuild secondary indexes once at the end
#: SQLite keeps these events indexes during a large load: their keys arrive in order (time), take few values
#: (type) or concentrate on few hot pages (a catalogue is small next to the customer base and its popularity is
#: skewed), so upkeep row by row is cheap, and the writer thread has time to spare while the reader parses.
#: Customer ids are many and spread: that index is rebuilt once at the end (measured on the 1M-event bench:
#: keeping it live too makes the writer the bottleneck).
SQLITE_LIVE_INDEXES = ("ix_events_ts", "ix_events_event_type", "ix_events_product_id")
ONE_TRANSACTION_ROWS = 10_000_000  # PostgreSQL: a first events load up to this size is one transaction (see above)


@dataclass
class IngestReport:
    """Counts of one ingestion; ``read == accepted + duplicates + rejected`` always holds."""

    entity: str
    source: str
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    quarantine: str | None = None
    stubs: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    #: extra columns whose values look like e-mail addresses or phone numbers (kept unencrypted as attributes)
    plaintext_pii: dict[str, str] = field(default_factory=dict)
    #: reviews: e-mail addresses and phone numbers replaced by ``[email]`` / ``[phone]`` in the texts of valid rows
    redacted: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    run_id: int | None = None
    resumed: bool = False
    #: incremental pulls: ``{"key", "column", "from", "to", "type", "missing", "full"}`` (see ``sources.cursor``)
    cursor: dict[str, Any] | None = None
    #: rows of erased customers left out (counted among the duplicates: nothing of an erased person comes back)
    erased: int = 0
    #: events: valid rows whose type Persona does not use (kept as they are), by type: ``{"order_completed": 5000}``
    unknown_event_types: dict[str, int] = field(default_factory=dict)
    #: rows whose id came before with different content: events' are quarantined (the first row is kept), the
    #: upserted entities' lost to the last row of their id (counted among the duplicates); see ``writer``
    conflicts: int = 0
    #: how the source was read where that is worth knowing (an encoding other than UTF-8, decimal commas)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for ``--json`` (the four counts and the quarantine path first)."""
        d = asdict(self)
        d["rows_per_s"] = round(self.read / self.seconds) if self.seconds > 0 else None
        return d

    def add(self, read: int, accepted: int, duplicates: int, rejected: int) -> None:
        self.read += read
        self.accepted += accepted
        self.duplicates += duplicates
        self.rejected += rejected


def _fingerprint(entity: str, path: Path, fmt: str, mapping: Mapping[str, str]) -> str:
    st = path.stat()
    key = f"{entity}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{fmt}|{sorted(mapping.items())}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def ingest_file(
    store: Any,
    entity: str,
    path: Path | str,
    *,
    mapping: Mapping[str, str] | Sequence[str] | None = None,
    fmt: str | None = None,
    cipher: PIICipher | None = None,
    progress: bool | None = None,
    chunk_size: int | None = None,
) -> IngestReport:
    """Ingest one CSV / JSON-lines / Parquet file of ``entity`` into ``store``.

    Args:
        store: the workspace :class:`~persona.store.Store`.
        entity: ``customers``, ``products``, ``events``, ``reviews`` or ``consents``.
        path: the file.
        mapping: ``{their_column: our_column}`` or ``["their=our", …]`` (``--map``).
        fmt: ``csv``, ``jsonl`` or ``parquet``; default from the suffix / content.
        cipher: PII cipher; default the workspace's.
        progress: show a progress bar; default ``settings.progress``.
        chunk_size: rows per transaction; default ``settings.chunk_size``.

    Returns:
        The counts, the quarantine file (None when nothing was rejected) and stubs created.

    Raises:
        InputError: unknown entity or malformed mapping.
        DataFileError: missing, empty, binary or unreadable file.
        SchemaError: required columns missing (the message lists found columns and suggests --map).
    """
    spec = get_spec(entity)
    mp = dict(mapping) if isinstance(mapping, Mapping) else parse_map(mapping)
    path = Path(path).expanduser()
    fmt = detect_format(path, fmt)
    size = chunk_size or store.settings.chunk_size
    chunks = open_reader(path, fmt, size)
    return _run(store, spec, chunks, source=str(path), mapping=mp, cipher=cipher, progress=progress,
                fingerprint=_fingerprint(entity, path, fmt, mp), total=source_size(path, fmt))


def frames_to_chunks(frames: Iterable[pd.DataFrame]) -> Iterator[RawChunk]:
    """Wrap DataFrames (e.g. from a dataset adapter) as raw chunks numbered by row from 1."""
    row = 0
    for frame in frames:
        n = len(frame)
        frame = frame.reset_index(drop=True)

        def raw_of(i: int, _f: pd.DataFrame = frame) -> str:
            return dumps(dict(_f.iloc[i].items()), compact=False)

        yield RawChunk(frame=frame, lines=np.arange(row + 1, row + n + 1, dtype=np.int64), raw=raw_of, position=row + n)
        row += n


def ingest_chunks(
    store: Any,
    entity: str,
    chunks: Iterable[RawChunk],
    *,
    source: str,
    mapping: Mapping[str, str] | None = None,
    cipher: PIICipher | None = None,
    progress: bool | None = None,
    label: str | None = None,
) -> IngestReport:
    """Ingest raw chunks from a source of unknown size (a database query, a REST API), one transaction each.

    Same validation, de-duplication, stubs and quarantine as files. An error raised by ``chunks`` stops the run
    after the chunks before it were committed (the run is recorded as failed); there is no resume: a rerun reads
    the source again and the rows already stored count as duplicates.

    Args:
        store: the workspace :class:`~persona.store.Store`.
        entity: ``customers``, ``products``, ``events``, ``reviews`` or ``consents``.
        chunks: the source's records; ``position`` is the number of records read so far.
        source: what the report and ``ingest_runs`` name as the source (without credentials).
        mapping: ``{their_column: our_column}``.
        cipher: PII cipher; default the workspace's.
        progress: show a row counter once the load takes over a second; default ``settings.progress``.
        label: the progress bar's label; default the last part of ``source``.

    Returns:
        The counts, the quarantine file (None when nothing was rejected) and stubs created.

    Raises:
        InputError: unknown entity.
        SchemaError: required columns missing from the first chunk.
    """
    return _run(store, get_spec(entity), iter(chunks), source=source, mapping=dict(mapping or {}), cipher=cipher,
                progress=progress, fingerprint=None, total=None, label=label)


def ingest_frames(
    store: Any,
    entity: str,
    frames: Iterable[pd.DataFrame],
    *,
    source: str,
    mapping: Mapping[str, str] | None = None,
    cipher: PIICipher | None = None,
    progress: bool | None = None,
) -> IngestReport:
    """Ingest DataFrames with canonical (or ``mapping``-renamed) columns, e.g. an adapter's stream.

    Same validation, de-duplication, stubs and quarantine as files; "line" numbers are row numbers.
    """
    return _run(store, get_spec(entity), frames_to_chunks(frames), source=source, mapping=dict(mapping or {}),
                cipher=cipher, progress=progress, fingerprint=None, total=0)


def _progress_bar(enabled: bool, total: int | None, label: str) -> Any:
    if not enabled or (total is not None and total <= 0):
        return None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if total is None:  # a query or an API: the size is unknown, count rows instead
        cols = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:,.0f} rows"), TimeElapsedColumn()]
        return Progress(*cols, console=Console(stderr=True), transient=True)
    cols = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn()]
    if not label.endswith("rows"):
        cols.insert(2, DownloadColumn())
    return Progress(*cols, console=Console(stderr=True), transient=True)


def _run(
    store: Any,
    spec: EntitySpec,
    chunks: Iterator[RawChunk],
    *,
    source: str,
    mapping: dict[str, str],
    cipher: PIICipher | None,
    progress: bool | None,
    fingerprint: str | None,
    total: int | None,
    label: str | None = None,
) -> IngestReport:
    """Ingest ``chunks``; ``total`` is the final ``RawChunk.position`` (0: no bar, None: unknown, count rows)."""
    t0 = time.perf_counter()
    settings = store.settings
    if cipher is None:
        from persona.privacy.keysource import ensure_current_key

        cipher = PIICipher.from_settings(settings)
        ensure_current_key(store, cipher)  # a loop keyed by PERSONA_SECRET_KEY must not write under a retired key
    report = IngestReport(entity=spec.name, source=source)
    if spec.name == "reviews":
        report.redacted = no_pii()
    chunks = iter(chunks)
    first = next(chunks, None)
    if first is None:  # a header and no rows: nothing to write
        if fingerprint is None:  # a pull that found nothing (new) is still a run: the source's history says when
            report.run_id = _record_empty_run(store, spec, source)
        report.seconds = round(time.perf_counter() - t0, 3)
        return report
    columns = resolve_columns(spec, list(first.frame.columns), mapping)
    if not spec.extras:
        report.ignored_columns = [c for c, t in columns.items() if t not in spec.columns]
    else:
        report.plaintext_pii = _pii_like_extras(spec, first.frame, columns)
    coercer = ChunkCoercer(spec, columns)
    store.ensure_indexes(spec.table)  # repairs indexes a killed bulk load left dropped

    started = datetime.now(UTC)
    # the lock that tells any process judging the run that it is alive; let go after its final status is written
    with RunOwner(store) as owner:
        run_id, position, run_started = _start_run(owner, spec, source, fingerprint, started, report)
        # named after the run (its first start), so a resumed run finds the file even if no commit recorded its path
        quarantine_path = Path(report.quarantine) if report.quarantine else settings.quarantine_dir / (
            f"{spec.name}-{run_started:%Y%m%dT%H%M%S}-run{run_id}.csv")
        quarantine = Quarantine(quarantine_path)
        report.run_id = run_id
        status, error = "failed", None
        try:  # from here on the run ends with its status recorded, whatever fails (the trim, the reads below)
            if report.resumed:
                quarantine.trim(report.rejected)  # rows of chunks that never committed go; the rerun writes them again
            writer = EntityWriter(spec, cipher, started, erased=erased_customers(store))
            # a rejected row of an erased customer is not quarantined either (erasure took their rows out of the files)
            erased_rows = PersonMatcher(Person(c) for c in writer.erased) if writer.erased else None

            if total is None:  # unknown size: plain chunk-by-chunk transactions, nothing deferred
                est_rows = 0.0
            else:
                est_rows = len(first.frame) * (total / first.position) if first.position else len(first.frame)
            defer = spec.name == "events" and est_rows >= DEFER_INDEX_ROWS and est_rows * 2 >= store.estimated_rows("events")
            one_txn = defer and store.dialect == "postgresql" and est_rows <= ONE_TRANSACTION_ROWS and store.is_empty("events")
            show = settings.progress if progress is None else progress
            bar = _progress_bar(show and (total is None or total > (1 << 20)), total, source)
            description = f"{spec.name} {label or Path(source).name}"
            with ExitStack() as stack:
                load = None
                if one_txn:
                    load = stack.enter_context(store.bulk())
                    suspended = load.suspend_keys("events")
                elif defer:
                    stack.enter_context(store.deferred_indexes("events", keep=SQLITE_LIVE_INDEXES if store.dialect == "sqlite" else ()))
                task = None
                if bar is not None and total is not None:
                    stack.enter_context(bar)
                    task = bar.add_task(description, total=total)
                prepared = prefetch(itertools.chain([first], chunks),
                                    lambda c: _prepare_chunk(coercer, writer, store.dialect, c, position, erased_rows))
                stack.callback(prepared.close)
                for prep in prepared:
                    if prep is not None:
                        _commit_chunk(store, writer, quarantine, prep, report, run_id, load)
                        if bar is not None and task is None and time.perf_counter() - t0 > 1.0:  # unknown size: once it takes a while
                            stack.enter_context(bar)
                            task = bar.add_task(description, total=None)
                        if task is not None:
                            bar.update(task, completed=prep.position)
                if load is not None and suspended:
                    _recount_repeats(load, report, run_id, load.restore_keys("events"))
            status = "done"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except Exception as exc:
            error = failure_message(exc)
            raise
        finally:
            report.seconds = round(time.perf_counter() - t0, 3)
            report.quarantine = str(quarantine.path) if quarantine.written else None
            try:
                with store.session() as s:
                    s.execute(update(IngestRun).where(IngestRun.id == run_id).values(
                        status=status, finished_at=datetime.now(UTC), quarantine=report.quarantine, error=error))
            except Exception as exc:  # noqa: BLE001 - never hide the error that stopped the run
                log.warning("ingest run=%s could not record status=%s: %s", run_id, status, type(exc).__name__)
            log.info("ingest entity=%s run=%s status=%s read=%d accepted=%d duplicates=%d rejected=%d seconds=%.2f",
                     spec.name, run_id, status, report.read, report.accepted, report.duplicates, report.rejected, report.seconds)
        return report


def failure_message(exc: BaseException) -> str:
    """What a failed run records as its error: a :class:`PersonaError`'s message (written to hide secrets), else only
    the exception's type, since its text may hold data or credentials."""
    if isinstance(exc, PersonaError):
        return exc.message[:2000]
    return f"unexpected {type(exc).__name__} (see the log)"


def _start_run(owner: RunOwner, spec: EntitySpec, source: str, fingerprint: str | None, started: datetime,
               report: IngestReport) -> tuple[int, int, datetime]:
    """Resume the unfinished run of the same file, or start a new one, and claim it for this process; returns (run id,
    last committed line, its start).

    Raises:
        BusyError: another live process is loading that run (the same file, started twice).
    """
    with owner.session() as s:
        if fingerprint:
            unfinished = (IngestRun.fingerprint == fingerprint, IngestRun.status.in_(("running", "failed", "interrupted")))
            prev = s.execute(select(IngestRun).where(*unfinished).order_by(IngestRun.id.desc()).limit(1)).scalar_one_or_none()
            if prev is not None:
                if not owner.claim(s, int(prev.id), wait=CLAIM_WAIT_SECONDS):
                    raise BusyError(f"{spec.name} run {prev.id} of this file is still being loaded by pid {prev.pid} on "
                                    f"{prev.host}", hint="wait for it to finish (GET /v1/sources lists the runs); if "
                                    "that process is stuck, stop it and run this again: it resumes after the last "
                                    "committed line")
                # read again now that its lock is ours: it may have finished while we waited
                prev = s.execute(select(IngestRun).where(IngestRun.id == prev.id, *unfinished)
                                 .execution_options(populate_existing=True)).scalar_one_or_none()
            if prev is not None:
                report.add(prev.read, prev.accepted, prev.duplicates, prev.rejected)
                report.quarantine = prev.quarantine
                report.resumed = True
                prev.status = "running"
                prev.host, prev.pid = this_process()
                prev.error = None
                log.info("ingest entity=%s resuming run=%s after line=%s", spec.name, prev.id, prev.position)
                return int(prev.id), int(prev.position or 0), prev.started_at
        host, pid = this_process()
        run_id = int(s.execute(insert(IngestRun).values(
            entity=spec.name, source=source, started_at=started, status="running", read=0, accepted=0, duplicates=0,
            rejected=0, fingerprint=fingerprint, position=0, host=host, pid=pid).returning(IngestRun.id)).scalar_one())
        if not owner.claim(s, run_id):  # a new id: nobody else can hold its lock
            raise BusyError(f"the lock of new {spec.name} run {run_id} is held by another session",
                            hint=owner.held_elsewhere_hint(run_id))
        return run_id, 0, started


def _record_empty_run(store: Any, spec: EntitySpec, source: str) -> int:
    """Record a completed run that read no rows; its id."""
    now = datetime.now(UTC)
    with store.session() as s:
        res = s.execute(insert(IngestRun).values(
            entity=spec.name, source=source, started_at=now, finished_at=now, status="done", read=0, accepted=0,
            duplicates=0, rejected=0, fingerprint=None, position=0).returning(IngestRun.id))
        return int(res.scalar_one())


def _pii_like_extras(spec: EntitySpec, frame: Any, columns: dict[str, str]) -> dict[str, str]:
    """Extra columns of the first chunk that look like e-mail addresses, phone or card numbers or IBANs (kept in
    plain text)."""
    from persona.privacy.detect import pii_fix, pii_kind

    out = {}
    for col, target in columns.items():
        if target not in spec.columns and col in frame:
            kind = pii_kind(frame[col].head(1000), str(col))
            if kind is not None:
                out[str(col)] = kind
                log.info("ingest %s: column %r looks like %s and is kept unencrypted in %s; %s", spec.name, col, kind,
                         spec.extras, pii_fix(str(col), kind))
    return out


@dataclass
class _Prepared:
    """A chunk after validation, ready to write: valid rows, rejects, and where it ends in the source."""

    valid: Any
    rejected_rows: list[tuple[int, str, str]]
    read: int
    last_line: int
    position: int
    #: events: valid rows by type, of the types Persona does not use
    unknown_types: dict[str, int] = field(default_factory=dict)
    #: rejected rows of erased customers, left out of the quarantine (counted as duplicates, as their valid rows are)
    erased_rejects: int = 0
    #: the reader's notes on the source (first chunk only)
    notes: list[str] = field(default_factory=list)


def _prepare_chunk(coercer: ChunkCoercer, writer: EntityWriter, dialect: str, chunk: RawChunk, resume_after: int,
                   erased_rows: PersonMatcher | None = None) -> _Prepared | None:
    frame, lines, bad = chunk.frame, chunk.lines, chunk.bad
    raw = chunk.raw
    if resume_after:
        keep = lines > resume_after
        if not keep.all():
            _observe_committed(coercer, frame.iloc[np.flatnonzero(~keep)])
            idx = np.flatnonzero(keep)
            frame, lines = frame.iloc[idx], lines[idx]

            def raw(i: int, _base: Any = chunk.raw, _idx: np.ndarray = idx) -> str:
                return _base(int(_idx[i]))

        bad = [b for b in bad if b.line > resume_after]
    if len(frame) == 0 and not bad:
        return None
    coerced = coercer.coerce(frame.reset_index(drop=True))
    for col, parser in coercer.parsers.items():  # dates refused on purpose (e.g. day/month order unknown) say why
        parser.explain(coerced.reasons, col)
    ok = coerced.ok.to_numpy()
    rejected_rows = [(int(lines[i]), str(coerced.reasons.iat[i]), raw(int(i))) for i in np.flatnonzero(~ok)]
    rejected_rows += [(b.line, b.reason, b.raw) for b in bad]
    # events: an id repeated with other content is counted by the writer (the first row is kept, the later one is a
    # duplicate, as the API's fast path treats it; quarantining it would need both paths to change together)
    valid = coerced.frame[ok]
    n_rejected = len(rejected_rows)
    if erased_rows is not None and rejected_rows:
        rejected_rows = [r for r in rejected_rows if erased_rows.owner(f"{r[1]}\n{r[2]}") is None]
    last_line = max(int(lines.max()) if len(lines) else 0, max((b.line for b in bad), default=0))
    return _Prepared(valid=writer.prepare(valid, dialect), rejected_rows=sorted(rejected_rows), read=len(frame) + len(bad),
                     last_line=last_line, position=chunk.position, unknown_types=_unknown_types(valid),
                     erased_rejects=n_rejected - len(rejected_rows),
                     notes=list(getattr(chunk, "notes", None) or []))


def _observe_committed(coercer: ChunkCoercer, committed: pd.DataFrame) -> None:
    """A resumed run's rows committed before: their dates show the timestamp parsers the day/month order that run
    found, so the rest of the file keeps it (see :mod:`persona.ingest.timestamps`)."""
    from persona.ingest.timestamps import TimestampParser

    renamed = committed.rename(columns=coercer.columns)
    for col, kind in coercer.spec.columns.items():
        if kind == "ts" and col in renamed.columns:
            coercer.parsers.setdefault(col, TimestampParser()).observe(renamed[col])


def _commit_chunk(store: Any, writer: EntityWriter, quarantine: Quarantine, prep: _Prepared, report: IngestReport,
                  run_id: int, load: BulkWriter | None = None) -> None:
    """Write one chunk: in its own transaction, or in ``load``'s (the one-transaction load)."""
    rejected = len(prep.rejected_rows)
    quarantine.write(prep.rejected_rows)  # before the commit: a crash in between leaves rows a resumed run trims
    with nullcontext(load) if load is not None else store.bulk() as w:
        result = writer.write(w, prep.valid)
        w.execute(update(IngestRun).where(IngestRun.id == run_id).values(
            read=IngestRun.read + prep.read, accepted=IngestRun.accepted + result.accepted,
            duplicates=IngestRun.duplicates + result.duplicates + prep.erased_rejects, rejected=IngestRun.rejected + rejected,
            position=prep.last_line, quarantine=str(quarantine.path) if rejected or quarantine.written else None))
    report.add(prep.read, result.accepted, result.duplicates + prep.erased_rejects, rejected)
    report.erased += result.erased + prep.erased_rejects
    report.conflicts += result.conflicts
    report.notes.extend(n for n in prep.notes if n not in report.notes)
    for k, v in result.stubs.items():
        report.stubs[k] = report.stubs.get(k, 0) + v
    for k, v in result.redacted.items():
        report.redacted[k] = report.redacted.get(k, 0) + v
    for t, n in prep.unknown_types.items():
        report.unknown_event_types[t] = report.unknown_event_types.get(t, 0) + n
    if report.read != report.accepted + report.duplicates + report.rejected:  # pragma: no cover - invariant
        raise DataFileError(f"internal count mismatch in {report.source}: {report}")


def _unknown_types(valid: pd.DataFrame) -> dict[str, int]:
    """A chunk's valid events of types Persona does not use, by type (a shop's ``order_completed`` is no purchase to
    the profiles, RFM, CLV or the recommenders until it is named ``purchase``); empty for other entities."""
    if "event_type" not in valid.columns or valid.empty:
        return {}
    types = valid["event_type"]
    return {str(t): int(n) for t, n in types[~types.isin(KNOWN_EVENT_TYPES)].value_counts().items()}


def _recount_repeats(load: BulkWriter, report: IngestReport, run_id: int, removed: int) -> None:
    """Rows the one-transaction load sent twice (same event id in different chunks) count as duplicates."""
    if not removed:
        return
    load.execute(update(IngestRun).where(IngestRun.id == run_id).values(
        accepted=IngestRun.accepted - removed, duplicates=IngestRun.duplicates + removed))
    report.accepted -= removed
    report.duplicates += removed
