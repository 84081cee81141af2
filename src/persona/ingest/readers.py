"""Streaming readers for CSV, JSON lines and Parquet: bounded memory, exact line numbers, raw rows kept.

Each reader yields :class:`RawChunk` objects of at most ``chunk_size`` records. Records the reader
itself cannot parse (wrong field count, broken quoting, a field over ``MAX_FIELD``, bytes the file's
encoding cannot decode, invalid JSON) come back in ``bad`` with their line number, raw text and
reason, so they can be quarantined and counted.

Text files are checked whole before reading: UTF-8 when every byte is valid UTF-8 (or most non-ASCII
lines are); otherwise GB18030 when the non-ASCII lines read as GB2312 Chinese, else Windows-1252.
No byte is replaced silently: a line the chosen encoding cannot decode is quarantined. A decision
other than plain UTF-8 is logged and carried in the first chunk's ``notes``, as is the decimal comma
of ``;``-separated files (``frame.attrs["decimal"] == ","``, which :mod:`persona.ingest.coerce` reads).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import logging
import os
import re
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
MAX_FIELD = 1 << 20  # characters: a longer field is quarantined (usually a broken quote swallowing the file)
RAW_LIMIT = 10000  # characters of a bad record's raw text kept in the quarantine file

log = logging.getLogger(__name__)

_UNDECODABLE = "persona.undecodable"


def _escape_undecodable(exc: UnicodeError) -> tuple[str, int]:
    """Decode error handler: each undecodable byte b becomes the lone surrogate U+DC00+b (ASCII bytes too, unlike
    ``surrogateescape``), so the reader can find the line and quarantine it instead of storing a replacement."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(chr(0xDC00 + b) for b in exc.object[exc.start:exc.end]), exc.end


codecs.register_error(_UNDECODABLE, _escape_undecodable)
_BAD_CHARS = re.compile("[\udc00-\udcff]")
_LABELS = {"utf-8-sig": "UTF-8", "gb18030": "GB18030 (GBK, Chinese)", "cp1252": "Windows-1252"}


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
        notes: set on the first chunk only: how the file was read when that is not plain UTF-8.
    """

    frame: pd.DataFrame
    lines: np.ndarray
    raw: Callable[[int], str]
    bad: list[BadRecord] = field(default_factory=list)
    position: int = 0
    #: what the reader decided that the report should tell (a file's encoding when not UTF-8, decimal commas)
    notes: list[str] = field(default_factory=list)


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


@dataclass
class TextEncoding:
    """How a text file is decoded: ``name`` for :func:`open`, a ``note`` when it is not plain UTF-8."""

    name: str
    note: str | None = None

    @property
    def label(self) -> str:
        return _LABELS.get(self.name, self.name)


def _check_text(path: Path) -> TextEncoding:
    """Refuse binary files and pick the encoding from the whole file (see the module's doc)."""
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
    if _is_utf8(path):
        return TextEncoding("utf-8-sig")
    enc = _guess_legacy(path)
    log.warning("%s: %s", path, enc.note)
    return enc


_SCAN_BLOCK = 1 << 22


def _is_utf8(path: Path) -> bool:
    """True when every byte of the file is valid UTF-8 (ASCII blocks are skipped at memory speed)."""
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        with path.open("rb") as fh:
            while block := fh.read(_SCAN_BLOCK):
                if block.isascii() and not dec.getstate()[0]:
                    continue
                dec.decode(block)
        dec.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _lines_bytes(path: Path) -> Iterator[bytes]:
    """The file's non-ASCII lines, as bytes."""
    tail = b""
    with path.open("rb") as fh:
        while block := fh.read(_SCAN_BLOCK):
            if block.isascii():
                if b"\n" in block:
                    if not tail.isascii():
                        yield tail + block[:block.index(b"\n")]
                    tail = block[block.rindex(b"\n") + 1:]
                else:
                    tail += block
                continue
            parts = (tail + block).split(b"\n")
            tail = parts.pop()
            for line in parts:
                if not line.isascii():
                    yield line
    if tail and not tail.isascii():
        yield tail


def _decodes(line: bytes, encoding: str) -> bool:
    try:
        line.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


_EVIDENCE_LINES = 20000  # non-ASCII lines that decide the encoding (a decision, not a check: the reader checks all)


def _guess_legacy(path: Path) -> TextEncoding:
    """The encoding of a file that is not all valid UTF-8, judged from its non-ASCII lines (the first
    ``_EVIDENCE_LINES``).

    Mostly valid UTF-8 lines: UTF-8 (the others are quarantined). Else GB18030 when most lines are GB2312 Chinese
    (Windows-1252 text read as GBK gives characters outside GB2312), else Windows-1252. Either way a line the chosen
    encoding cannot decode is quarantined by the reader.
    """
    n = utf8 = gb2312 = 0
    for line in itertools.islice(_lines_bytes(path), _EVIDENCE_LINES):
        n += 1
        utf8 += _decodes(line, "utf-8")
        gb2312 += _decodes(line, "gb2312")
    fix = "re-save the file as UTF-8 (in Excel: CSV UTF-8)"
    if n == 0 or utf8 * 2 >= n:
        return TextEncoding("utf-8-sig", "not all valid UTF-8: read as UTF-8 (most lines with non-ASCII characters "
                            "are), and each line with bytes that are not UTF-8 is quarantined; " + fix)
    name = "gb18030" if gb2312 * 2 > n else "cp1252"
    return TextEncoding(name, f"not UTF-8: read as {_LABELS[name]} (judged from its non-ASCII lines); a line with bytes "
                        f"that are not {_LABELS[name]} is quarantined; if characters look wrong, {fix}")


def _undecodable_reason(text: str, encoding: TextEncoding) -> str:
    found = sorted({f"0x{ord(c) - 0xDC00:02X}" for c in _BAD_CHARS.findall(text)})
    shown = ", ".join(found[:5]) + (", …" if len(found) > 5 else "")
    return (f"bytes {shown} are not valid {encoding.label} (the encoding this file is read in): the row's text cannot "
            "be decoded; re-save the file as UTF-8")


def _shown(text: str) -> str:
    """Raw text for the quarantine: undecodable bytes written as \\xNN, cut to ``RAW_LIMIT`` characters."""
    if _BAD_CHARS.search(text):
        text = _BAD_CHARS.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)
    return text[:RAW_LIMIT]


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
    fields across lines and reports broken quoting with exact line numbers. A field over
    ``MAX_FIELD`` characters (often an unclosed quote) quarantines its record and reading goes on
    with the next line, so every line is read or quarantined.

    Raises:
        DataFileError: binary content, no header row, or a header the file's encoding cannot decode.
    """
    encoding = _check_text(path)
    csv.field_size_limit(MAX_FIELD)
    with path.open("rb") as fh:
        delimiter = _sniff_delimiter(fh.read(1 << 14).decode(encoding.name, errors="replace"))
    notes = [f"{path.name}: {encoding.note}"] if encoding.note else []
    decimal = "," if delimiter == ";" else "."
    if decimal == ",":
        notes.append(f"{path.name}: ';'-separated, so numbers are read with a decimal comma (32,99 is 32.99 and "
                     "1.234,56 is 1234.56)")
    raw_fh = _CountingRaw(path.open("rb"))
    text = io.TextIOWrapper(io.BufferedReader(raw_fh, 1 << 20), encoding=encoding.name, errors=_UNDECODABLE, newline="")
    try:
        lines_it: Iterator[str] = iter(text)
        lineno = 0
        header: list[str] = []
        for line in lines_it:
            lineno += 1
            if line.strip():
                if _BAD_CHARS.search(line):
                    raise DataFileError(f"{path}: the header line has bytes that are not valid {encoding.label}",
                                        hint="re-save the file as UTF-8 (in Excel: CSV UTF-8)")
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
            undecodable = _BAD_CHARS.search(joined) is not None
            chunk = None
            if '"' not in joined and (len(joined) <= MAX_FIELD or max(map(len, block)) <= MAX_FIELD):
                chunk = _fast_block(block, joined, first, header, delimiter, encoding if undecodable else None)
            if chunk is None:
                chunk, used, leftover = _slow_block(block, lines_it, first, header, delimiter, encoding)
                lineno = first - 1 + used
                if leftover:  # lines read past the block while following a quote that never closed
                    lines_it = itertools.chain(leftover, lines_it)
            else:
                lineno = first - 1 + len(block)
            chunk.position = raw_fh.count
            chunk.frame.attrs["decimal"] = decimal
            if len(chunk.frame) or chunk.bad:
                chunk.notes, notes = notes, []
                yield chunk
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


def _fast_block(block: list[str], joined: str, first: int, header: list[str], delimiter: str,
                undecodable: TextEncoding | None = None) -> RawChunk | None:
    """Parse a quote-free block with Arrow's CSV parser, checking each line's field count.

    The common case (every line has the header's field count) costs one count over the block and
    one parse: Arrow itself refuses a line with too many or too few fields, and only then does a
    per-line pass sort good lines from bad ones. ``undecodable``: the block has bytes this encoding
    could not decode; their lines are quarantined.
    """
    ncol = len(header)
    if undecodable is None and joined.count(delimiter) == (ncol - 1) * len(block):
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
        s = line.rstrip("\r\n")
        if undecodable is not None and _BAD_CHARS.search(line):
            clean = False
            bad.append(BadRecord(first + i, _shown(s), _undecodable_reason(s, undecodable)))
        elif n == ncol - 1:
            good.append(line)
            lines.append(first + i)
        else:
            clean = False
            if s.strip():
                bad.append(BadRecord(first + i, _shown(s), f"expected {ncol} fields like the header, found {n + 1}"))
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


def _slow_block(block: list[str], rest: Iterator[str], first: int, header: list[str], delimiter: str,
                encoding: TextEncoding) -> tuple[RawChunk, int, list[str]]:
    """Parse a block with the csv module, pulling more lines from ``rest`` while a quoted field is still open.

    Returns the chunk, the number of lines consumed from the block's first line on, and the lines pulled from
    ``rest`` but not consumed (a record that broke the field limit is set aside by its first line and reading
    resumes on the next, so lines pulled while following it are read again).
    """
    ncol = len(header)
    buf = list(block)
    pos = 0  # lines of ``buf`` handed to the csv reader

    def feed() -> Iterator[str]:
        nonlocal pos
        while True:
            if pos >= len(buf):  # only reached while a quoted record continues past the block
                nxt = next(rest, None)
                if nxt is None:
                    return
                buf.append(nxt)
            pos += 1
            yield buf[pos - 1]

    reader = csv.reader(feed(), delimiter=delimiter)
    rows: list[list[str]] = []
    lines: list[int] = []
    bad: list[BadRecord] = []
    while pos < len(block):
        at = pos
        start = first + at
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a field over MAX_FIELD: on one line, or an unclosed quote running on
            s = buf[at].rstrip("\r\n")
            too_long = "field limit" in str(exc)
            if pos - at <= 1:
                what = (f"a field is longer than {MAX_FIELD:,} characters, the most a field may hold" if too_long
                        else f"the line cannot be read as CSV ({exc})")
                bad.append(BadRecord(start, _shown(s), what + (f"; the raw line here is cut to {RAW_LIMIT:,} characters"
                                                               if len(s) > RAW_LIMIT else "")))
            else:
                what = f"runs past {MAX_FIELD:,} characters" if too_long else f"cannot be read ({exc})"
                bad.append(BadRecord(start, _shown(s), f"broken quoting: a quote opened on line {start} {what} up to "
                                     f"line {first + pos - 1} without closing; this line is set aside and reading "
                                     f"goes on from line {start + 1} (close or remove the stray quote)"))
            pos = at + 1
            reader = csv.reader(feed(), delimiter=delimiter)
            continue
        end = first + pos - 1
        if any(_BAD_CHARS.search(f) for f in row):
            line = _csv_line(row, delimiter)
            bad.append(BadRecord(start, _shown(line), _undecodable_reason(line, encoding)))
        elif len(row) == ncol and end > start and _swallows_rows(row, delimiter, ncol):
            bad.append(BadRecord(start, _shown(_csv_line(row, delimiter)),
                                 f"broken quoting: a quote opened on line {start} runs to line {end} and swallows "
                                 "lines that look like whole rows (close or remove the stray quote)"))
        elif len(row) == ncol:
            rows.append(row)
            lines.append(start)
        elif not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line: not a record
        elif end > start and any("\n" in f or "\r" in f for f in row):
            bad.append(BadRecord(start, _shown(_csv_line(row, delimiter)),
                                 f"broken quoting: a quote opened on line {start} only closes on line {end}, "
                                 f"giving {len(row)} fields where the header has {ncol}"))
        else:
            bad.append(BadRecord(start, _shown(_csv_line(row, delimiter)),
                                 f"expected {ncol} fields like the header, found {len(row)}"))

    def raw_of(i: int) -> str:
        return _csv_line(rows[i], delimiter)

    chunk = RawChunk(frame=_frame(header, rows), lines=np.asarray(lines, dtype=np.int64), raw=raw_of, bad=bad)
    return chunk, pos, buf[pos:]


def read_jsonl(path: Path, chunk_size: int) -> Iterator[RawChunk]:
    """Stream a JSON-lines file (one object per line) in chunks."""
    encoding = _check_text(path)
    raw_fh = _CountingRaw(path.open("rb"))
    text = io.TextIOWrapper(io.BufferedReader(raw_fh, 1 << 20), encoding=encoding.name, errors=_UNDECODABLE)
    notes = [f"{path.name}: {encoding.note}"] if encoding.note else []
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
                if _BAD_CHARS.search(s):
                    bad.append(BadRecord(lineno, _shown(s), _undecodable_reason(s, encoding)))
                    continue
                try:
                    obj = json.loads(s)
                except json.JSONDecodeError as exc:
                    bad.append(BadRecord(lineno, _shown(s), f"invalid JSON: {exc.msg} at column {exc.colno}"))
                    continue
                if not isinstance(obj, dict):
                    bad.append(BadRecord(lineno, _shown(s), f"expected a JSON object per line, found {type(obj).__name__}"))
                    continue
                recs.append(obj)
                raws.append(s)
                lines.append(lineno)
            if recs or bad:
                # object columns from the start: a number stays the JSON number it was (from_records makes 3 into 3.0
                # when another record lacks the key)
                frame = pd.DataFrame(recs, dtype=object) if recs else pd.DataFrame()
                chunk = RawChunk(frame=frame, lines=np.asarray(lines, dtype=np.int64),
                                 raw=lambda i, _r=raws: _r[i], bad=bad, position=raw_fh.count)
                chunk.notes, notes = notes, []
                yield chunk
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
