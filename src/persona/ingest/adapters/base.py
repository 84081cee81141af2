"""What every dataset adapter is: a named reader turning a known public layout into canonical entity chunks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from persona.errors import DataFileError, InputError

Chunks = dict[str, Iterator[pd.DataFrame]]


class Adapter(ABC):
    """Reads one dataset layout into canonical frames: ``read(path)`` → ``{entity: iterator of DataFrames}``.

    Entities are among ``customers, products, events, reviews, consents``; columns are the canonical ones
    (``persona.ingest.schema.SPECS``) plus extra columns the engine keeps as attributes / event context.
    Timestamps are ``datetime64[ns, UTC]``. Iterators are lazy: nothing is read until they are consumed,
    and big sources are read ``chunk_size`` rows at a time.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def read(self, path: Path, chunk_size: int = 100_000) -> Chunks:
        """Map each entity this source holds to an iterator of canonical DataFrames.

        Args:
            path: the dataset's folder or main file.
            chunk_size: rows per chunk for streamed sources.

        Returns:
            Entity name → iterator of DataFrames in canonical columns.

        Raises:
            DataFileError: the path does not exist or lacks the files this layout needs.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def check_chunk_size(chunk_size: int) -> int:
    """Validate ``chunk_size`` (a positive whole number)."""
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise InputError(f"chunk_size={chunk_size!r} is not a positive whole number", hint="use e.g. 100000")
    return chunk_size


def require_path(path: str | Path, adapter: str) -> Path:
    """The path as a ``Path``, or a clear error when it does not exist."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataFileError(f"{adapter}: {p} does not exist", hint="pass the dataset's folder or main file")
    return p


def find_file(path: Path, adapter: str, candidates: Iterable[str], *, what: str) -> Path:
    """The first file of ``candidates`` (glob patterns) in ``path`` (a folder, or a file's folder).

    Raises:
        DataFileError: none found; the message names every pattern looked for.
    """
    folder = path if path.is_dir() else path.parent
    pats = list(candidates)
    if path.is_file() and any(path.match(p) for p in pats):
        return path
    for pat in pats:
        hits = sorted(folder.glob(pat))
        if hits:
            return hits[0]
    raise DataFileError(
        f"{adapter}: no {what} file in {folder}: looked for {', '.join(pats)}",
        hint=f"point --adapter {adapter} at the folder holding the dataset files",
    )


def lazy(make: Callable[[], Iterator[pd.DataFrame]]) -> Iterator[pd.DataFrame]:
    """An iterator that calls ``make`` only when first consumed (so ``read`` opens no file eagerly); frames come
    out with plain dtypes (see :func:`plain`)."""
    for df in make():
        yield plain(df)


def plain(df: pd.DataFrame) -> pd.DataFrame:
    """Nullable extension columns (``string``, ``Int64``, ``boolean``) as object columns holding ``None`` for missing,
    so every consumer (JSON attributes included) sees plain Python values; other columns are left as they are."""
    out = {}
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.StringDtype | pd.BooleanDtype) or pd.api.types.is_extension_array_dtype(s.dtype) and \
                pd.api.types.is_integer_dtype(s.dtype):
            obj = s.astype(object)
            out[col] = obj.where(s.notna(), None)
        else:
            out[col] = s
    return pd.DataFrame(out, index=df.index)


def to_utc_seconds(values: pd.Series) -> pd.Series:
    """Unix seconds (numbers or numeric text) → ``datetime64[ns, UTC]``; bad values become NaT."""
    return pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit="s", utc=True)


_STR = getattr(np, "strings", np.char)  # numpy >= 2 has vectorised string ufuncs
_MISSING_TEXT = ("", "nan", "NaN", "None", "<NA>", "NaT")


def text_id(values: pd.Series) -> pd.Series:
    """Ids as clean text (object dtype, ``None`` when missing): stripped, ``17850.0`` → ``17850``."""
    out = np.full(len(values), None, dtype=object)
    if pd.api.types.is_integer_dtype(values.dtype) and not values.hasnans:
        out[:] = values.to_numpy().astype(str)
        return pd.Series(out, index=values.index, dtype=object)
    if pd.api.types.is_float_dtype(values.dtype):
        v = values.to_numpy(dtype="float64")
        ok = np.isfinite(v)
        whole = ok & (np.mod(np.where(ok, v, 0), 1) == 0)
        out[whole] = v[whole].astype(np.int64).astype(str)
        out[ok & ~whole] = v[ok & ~whole].astype(str)
        return pd.Series(out, index=values.index, dtype=object)
    present = values.notna().to_numpy()
    if present.any():
        u = _STR.strip(values.to_numpy(dtype=object)[present].astype(str))
        dot = _STR.endswith(u, ".0")
        if dot.any():
            u = u.astype(object)
            u[dot] = pd.Series(u[dot]).str.replace(r"(\d)\.0+$", r"\1", regex=True).to_numpy()
        short = np.flatnonzero(_STR.str_len(np.asarray(u, dtype=str)) <= 4)  # only short text can mean "missing"
        u = np.asarray(u, dtype=object)
        u[short[np.isin(u[short], _MISSING_TEXT)]] = None
        out[present] = u
    return pd.Series(out, index=values.index, dtype=object)


def id_text(values: pd.Series) -> np.ndarray:
    """Values as a numpy unicode array for building ids: whole floats lose ``.0``, missing becomes ``NA``."""
    if pd.api.types.is_integer_dtype(values.dtype) and not values.hasnans:
        return values.to_numpy().astype(str)
    t = text_id(values).to_numpy()
    t[pd.isna(t)] = "NA"
    return t.astype(str)


def make_id(prefix: str, *parts: pd.Series) -> pd.Series:
    """Deterministic ids ``prefix:part1:part2…`` (vectorised); missing parts read ``NA``."""
    acc = np.full(len(parts[0]), prefix, dtype=f"<U{len(prefix)}")
    for part in parts:
        acc = _STR.add(_STR.add(acc, ":"), id_text(part))
    return pd.Series(acc.astype(object), index=parts[0].index, dtype=object)


def unique_rows(key: str) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """Wrap an iterator of frames so each ``key`` value is emitted once across all chunks (first wins)."""

    def wrap(chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        seen: set[str] = set()
        for df in chunks:
            df = df.dropna(subset=[key]).drop_duplicates(subset=[key])
            df = df[~df[key].isin(seen)]
            if len(df):
                seen.update(df[key].tolist())
                yield df.reset_index(drop=True)

    return wrap
