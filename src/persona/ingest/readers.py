"""Streaming readers for CSV, JSON lines and Parquet: bounded memory, exact line numbers, raw rows kept.

Each reader yields :class:`RawChunk` objects of at most ``chunk_size`` records. Records the reader
itself cannot parse (wrong field count, broken quoting, invalid JSON) come back in ``bad`` with
their line number, raw text and reason, so they can be quarantined and counted.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from persona.errors import DataFileError
from persona.jsonvalues import dumps

FORMATS = ("csv", "jsonl", "parquet")
_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
             ".parquet": "parquet", ".pq": "parquet"}
MAX_FIELD = 1 << 20  # a field longer than this is a broken quote swallowing the file


@dataclass
class BadRecord:
    """A record the reader could not parse."""

    line: int
    raw: str
    reason: str


@dataclass
class RawChunk:
    """Up to ``chunk_size`` parsed records.

    Attributes:
        frame: one column per header column (strings for CSV; native JSON/Parquet values otherwise).
        lines: the source line (CSV, JSONL) or 1-based row (Parquet) where each record starts.
        raw: returns the raw text of the record at a position of ``frame``.
        bad: unparseable records met while reading this chunk.
        position: bytes (or rows, for Parquet) consumed so far, for progress bars.
    """

    frame: pd.DataFrame
    lines: np.ndarray
    raw: Callable[[int], str]
    bad: list[BadRecord] = field(default_factory=list)
    position: int = 0


class _CountingRaw(io.RawIOBase):
    """Wraps a binary file and counts bytes read (``tell`` is unavailable while csv iterates)."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self._fh.readinto(b)
        self.count += n or 0
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def detect_format(path: Path, fmt: str | None = None) -> str:
    """The format of ``path``: ``fmt`` if given, else from the suffix, else sniffed.

    Raises:
        DataFileError: the path does not exist, is a folder, is empty, or the format is unknown.
    """
    if not path.exists():
        raise DataFileError(f"file not found: {path}", hint="check the path (relative paths start at the current folder)")
    if path.is_dir():
        raise DataFileError(f"{path} is a folder, not a file", hint="name one file, or use --adapter NAME for a dataset folder")
    if path.stat().st_size == 0:
        raise DataFileError(f"{path} is empty (0 bytes)", hint="export the data again; the file needs a header row and data")
    if fmt:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise DataFileError(f"unknown format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    for s in reversed(suffixes):
        if s in _SUFFIXES:
            return _SUFFIXES[s]
    with path.open("rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    if head[:1] in (b"{",):
        return "jsonl"
    return "csv"


def _check_text(path: Path) -> str:
    """Refuse binary files and pick the encoding (UTF-8, else Windows-1252 as spreadsheets write)."""
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith(b"PAR1") or head.startswith(b"PK\x03\x04") or head.startswith(b"\x1f\x8b"):
        raise DataFileError(f"{path} is a binary file (Parquet, zip or gzip), not text",
                            hint="pass --format parquet for Parquet files; unzip archives first")
    if b"\x00" in head:
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise DataFileError(f"{path} is UTF-16 text", hint="save it as UTF-8 (in Excel: CSV UTF-8)")
        raise DataFileError(f"{path} looks binary (it contains NUL bytes), not CSV or JSON lines",
                            hint="ingest CSV, JSON lines or Parquet files")
    try:
        head.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the sample boundary
            return "utf-8-sig"
        return "cp1252"


def _sniff_delimiter(sample: str) -> str:
    first = sample.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _csv_line(fields: list[str], delimiter: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="").writerow(fields)
    return buf.getvalue()


def read_csv(path: Path, chunk_size: int) -> Iterator[RawChunk]:
    """Stream a CSV file (delimiter sniffed from the header) in chunks of records.

    Blocks without any quote character take a fast path (field counts checked per line, then
    pandas' C parser); blocks with quotes go through the ``csv`` module, which follows quoted
    fields across lines and reports broken quoting with exact line numbers.

    Raises:
        DataFileError: binary content or no header row.
    """
    encoding = _check_text(path)
    csv.field_size_limit(MAX_FIELD)
    with path.open("rb") as fh:
        delimiter = _sniff_delimiter(fh.read(1 << 14).decode(encoding, errors="replace"))
    raw_fh = _CountingRaw(path.open("rb"))
    text = io.TextIOWrapper(io.BufferedReader(raw_fh, 1 << 20), encoding=encoding, errors="replace", newline="")
    try:
        lines_it = iter(text)
        lineno = 0
        header: list[str] = []
        for line in lines_it:
            lineno += 1
            if line.strip():
                try:
                    header = next(csv.reader([line], delimiter=delimiter))
                except csv.Error as exc:
                    raise DataFileError(f"{path}: cannot read the header: {exc}") from exc
                break
        header = [h.strip() for h in header]
        if not header or not any(header):
            raise DataFileError(f"{path} has no header row", hint="the first line must name the columns")
        while True:
            block = list(itertools.islice(lines_it, chunk_size))
            if not block:
                break
            first = lineno + 1
            joined = "".join(block)
            chunk = None
            if '"' not in joined:
                chunk = _fast_block(block, joined, first, header, delimiter)
            if chunk is None:
                chunk, used = _slow_block(block, lines_it, first, header, delimiter)
                lineno = first - 1 + used
            else:
                lineno = first - 1 + len(block)
            chunk.position = raw_fh.count
            if len(chunk.frame) or chunk.bad:
                yield chunk
            if chunk.bad and chunk.bad[-1].reason.startswith("broken quoting from line"):
                break  # the rest of the file cannot be split into rows
    finally:
        text.close()


def _frame(header: list[str], rows: list[list[str]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({h: pd.Series([], dtype=object) for h in header}, columns=header)
    return pd.DataFrame(dict(zip(header, zip(*rows, strict=True), strict=True)), columns=header, dtype=object)


def _arrow_strings(body: str, header: list[str], delimiter: str) -> pa.Table | None:
    """Quote-free CSV text as an Arrow table of strings; None when Arrow cannot split it into rows."""
    try:
        return pacsv.read_csv(
            io.BytesIO(body.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=header, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False, newlines_in_values=False,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, ValueError):
        return None


def _string_frame(table: pa.Table, header: list[str]) -> pd.DataFrame:
    return pd.DataFrame({h: pd.Series(pd.arrays.ArrowStringArray(table.column(i))) for i, h in enumerate(header)}, columns=header)


def _fast_block(block: list[str], joined: str, first: int, header: list[str], delimiter: str) -> RawChunk | None:
    """Parse a quote-free block with Arrow's CSV parser, checking each line's field count.

    The common case (every line has the header's field count) costs one count over the block and
    one parse: Arrow itself refuses a line with too many or too few fields, and only then does a
    per-line pass sort good lines from bad ones.
    """
    ncol = len(header)
    if joined.count(delimiter) == (ncol - 1) * len(block):
        table = _arrow_strings(joined, header, delimiter)
        if table is not None and table.num_rows == len(block):

            def raw_all(i: int) -> str:
                return block[i].rstrip("\r\n")

            return RawChunk(frame=_string_frame(table, header), lines=np.arange(first, first + len(block), dtype=np.int64),
                            raw=raw_all)
    good: list[str] = []
    lines: list[int] = []
    bad: list[BadRecord] = []
    clean = True
    for i, line in enumerate(block):
        n = line.count(delimiter)
        if n == ncol - 1:
            good.append(line)
            lines.append(first + i)
        else:
            clean = False
            s = line.rstrip("\r\n")
            if s.strip():
                bad.append(BadRecord(first + i, s[:10000], f"expected {ncol} fields like the header, found {n + 1}"))
    body = joined if clean else "".join(good)
    if good:
        table = _arrow_strings(body, header, delimiter)
        if table is None or table.num_rows != len(good):
            return None
        frame = _string_frame(table, header)
    else:
        frame = _frame(header, [])

    def raw_of(i: int) -> str:
        return good[i].rstrip("\r\n")

    return RawChunk(frame=frame, lines=np.asarray(lines, dtype=np.int64), raw=raw_of, bad=bad)


def _swallows_rows(row: list[str], delimiter: str, ncol: int) -> bool:
    """True when a multi-line quoted field contains lines with a full row's worth of delimiters."""
    if ncol < 3:
        return False
    for f in row:
        if "\n" in f or "\r" in f:
            if any(part.count(delimiter) >= ncol - 1 for part in f.splitlines()[1:]):
                return True
    return False


def _slow_block(block: list[str], rest: Iterator[str], first: int, header: list[str], delimiter: str) -> tuple[RawChunk, int]:
    """Parse a block with the csv module, pulling more lines while a quoted field is still open."""
    ncol = len(header)
    served = 0

    def feed() -> Iterator[str]:
        nonlocal served
        for line in block:
            served += 1
            yield line
        for line in rest:  # only reached while a quoted record continues past the block
            served += 1
            yield line

    reader = csv.reader(feed(), delimiter=delimiter)
    rows: list[list[str]] = []
    lines: list[int] = []
    bad: list[BadRecord] = []
    while served < len(block):
        start = first + served
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # an unclosed quote ran past MAX_FIELD
            bad.append(BadRecord(start, block[min(start - first, len(block) - 1)][:10000].rstrip("\r\n"),
                                 f"broken quoting from line {start}: {exc}; the rest of the file cannot be split "
                                 "into rows (fix the unbalanced quote)"))
            break
        end = first + served - 1
        if len(row) == ncol and end > start and _swallows_rows(row, delimiter, ncol):
            bad.append(BadRecord(start, _csv_line(row, delimiter)[:10000],
                                 f"broken quoting: a quote opened on line {start} runs to line {end} and swallows "
                                 "lines that look like whole rows (close or remove the stray quote)"))
        elif len(row) == ncol:
            rows.append(row)
            lines.append(start)
        elif not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line: not a record
        elif end > start and any("\n" in f or "\r" in f for f in row):
            bad.append(BadRecord(start, _csv_line(row, delimiter)[:10000],
                                 f"broken quoting: a quote opened on line {start} only closes on line {end}, "
                                 f"giving {len(row)} fields where the header has {ncol}"))
        else:
            bad.append(BadRecord(start, _csv_line(row, delimiter)[:10000], f"expected {ncol} fields like the header, found {len(row)}"))

    def raw_of(i: int) -> str:
        return _csv_line(rows[i], delimiter)

    return RawChunk(frame=_frame(header, rows), lines=np.asarray(lines, dtype=np.int64), raw=raw_of, bad=bad), served


def read_jsonl(path: Path, chunk_size: int) -> Iterator[RawChunk]:
    """Stream a JSON-lines file (one object per line) in chunks."""
    encoding = _check_text(path)
    raw_fh = _CountingRaw(path.open("rb"))
    text = io.TextIOWrapper(io.BufferedReader(raw_fh, 1 << 20), encoding=encoding, errors="replace")
    try:
        lineno = 0
        exhausted = False
        while not exhausted:
            recs: list[dict[str, Any]] = []
            raws: list[str] = []
            lines: list[int] = []
            bad: list[BadRecord] = []
            while len(recs) < chunk_size:
                line = text.readline()
                if not line:
                    exhausted = True
                    break
                lineno += 1
                s = line.strip()
                if not s:
                    continue
                try:
                    obj = json.loads(s)
                except json.JSONDecodeError as exc:
                    bad.append(BadRecord(lineno, s[:10000], f"invalid JSON: {exc.msg} at column {exc.colno}"))
                    continue
                if not isinstance(obj, dict):
                    bad.append(BadRecord(lineno, s[:10000], f"expected a JSON object per line, found {type(obj).__name__}"))
                    continue
                recs.append(obj)
                raws.append(s)
                lines.append(lineno)
            if recs or bad:
                # object columns from the start: a number stays the JSON number it was (from_records makes 3 into 3.0
                # when another record lacks the key)
                frame = pd.DataFrame(recs, dtype=object) if recs else pd.DataFrame()
                yield RawChunk(frame=frame, lines=np.asarray(lines, dtype=np.int64),
                               raw=lambda i, _r=raws: _r[i], bad=bad, position=raw_fh.count)
    finally:
        text.close()


def read_parquet(path: Path, chunk_size: int) -> Iterator[RawChunk]:
    """Stream a Parquet file batch by batch (row numbers stand in for line numbers)."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid and others for non-Parquet files
        raise DataFileError(f"{path} is not a readable Parquet file: {exc}", hint="check --format") from exc
    row = 0
    for batch in pf.iter_batches(batch_size=chunk_size):
        frame = batch.to_pandas()
        frame.columns = [str(c) for c in frame.columns]
        n = len(frame)

        def raw_of(i: int, _f: pd.DataFrame = frame) -> str:
            return dumps(dict(_f.iloc[i].items()), compact=False)

        yield RawChunk(frame=frame, lines=np.arange(row + 1, row + n + 1, dtype=np.int64), raw=raw_of, position=row + n)
        row += n


def open_reader(path: Path, fmt: str, chunk_size: int) -> Iterator[RawChunk]:
    """The chunk iterator for ``path`` in format ``fmt``."""
    return {"csv": read_csv, "jsonl": read_jsonl, "parquet": read_parquet}[fmt](path, chunk_size)


def source_size(path: Path, fmt: str) -> int:
    """Total of ``RawChunk.position`` at the end: bytes, or rows for Parquet."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception:  # noqa: BLE001 - detect_format/read_parquet report the real problem
            return 0
    return os.path.getsize(path)
