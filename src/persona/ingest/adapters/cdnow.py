"""CDNOW music-store purchases (``CDNOW_master.txt`` / ``CDNOW_sample.txt``): whitespace-separated, no header.

Master rows are ``id yyyymmdd cds dollars`` (the copy shipped with ``lifetimes`` has a header line); sample rows
are ``id sample_id yyyymmdd cds dollars``. The layout is detected from the first data line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from persona.errors import DataFileError
from persona.ingest.adapters.base import (
    Adapter,
    Chunks,
    check_chunk_size,
    find_file,
    lazy,
    make_id,
    require_path,
)

MASTER = ("customer_id", "date", "quantity", "revenue")
SAMPLE = ("customer_id", "sample_id", "date", "quantity", "revenue")


def _layout(path: Path) -> tuple[tuple[str, ...], int]:
    """(column names, header lines to skip) from the first non-blank line."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if b"\x00" in head:
        raise DataFileError(f"cdnow: {path} is a binary file", hint="pass CDNOW_master.txt or CDNOW_sample.txt")
    lines = [ln for ln in head.decode("latin-1").splitlines() if ln.strip()]
    if not lines:
        raise DataFileError(f"cdnow: {path} is empty", hint="pass CDNOW_master.txt or CDNOW_sample.txt")
    skip = 0
    first = lines[0].split()
    if not first[0].isdigit():  # a header line
        skip, first = 1, (lines[1].split() if len(lines) > 1 else [])
    if len(first) == 4:
        return MASTER, skip
    if len(first) == 5:
        return SAMPLE, skip
    raise DataFileError(
        f"cdnow: {path} has {len(first)} columns on its first data line",
        hint="expected 4 (id, yyyymmdd, CDs, dollars) or 5 (id, sample id, yyyymmdd, CDs, dollars)",
    )


def _chunks(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    names, skip = _layout(path)
    for df in pd.read_csv(path, sep=r"\s+", header=None, names=list(names), skiprows=skip, dtype=str,
                          chunksize=chunk_size):
        out = pd.DataFrame({
            "customer_id": pd.to_numeric(df["customer_id"], errors="coerce").astype("Int64").astype("string"),
            "date": pd.to_datetime(df["date"], format="%Y%m%d", errors="coerce"),
            "quantity": pd.to_numeric(df["quantity"], errors="coerce"),
            "revenue": pd.to_numeric(df["revenue"], errors="coerce"),
        })
        if "sample_id" in df:
            out["sample_id"] = pd.to_numeric(df["sample_id"], errors="coerce").astype("Int64")
        yield out


def read_cdnow_transactions(path: str | Path) -> pd.DataFrame:
    """All CDNOW transactions as one frame, for CLV models.

    Args:
        path: ``CDNOW_master.txt``, ``CDNOW_sample.txt`` or a folder holding one (master preferred).

    Returns:
        DataFrame with ``customer_id`` (text, leading zeros dropped), ``date`` (datetime64, day), ``quantity``
        (CDs) and ``revenue`` (dollars); the sample layout adds ``sample_id`` (the 1..2357 ids of Fader et al.).

    Raises:
        DataFileError: the path is missing, empty, binary or not a CDNOW layout.
    """
    p = require_path(path, "cdnow")
    f = find_file(p, "cdnow", ["CDNOW_master.txt", "CDNOW_sample.txt", "*.txt"], what="CDNOW transactions")
    frames = list(_chunks(f, 1_000_000))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(MASTER))


class CDNOWAdapter(Adapter):
    """CDNOW rows as ``purchase`` events (quantity = CDs, revenue = dollars); customers from their ids."""

    name = "cdnow"
    description = "CDNOW purchases: CDNOW_master.txt (id, yyyymmdd, CDs, dollars) or CDNOW_sample.txt (with sample id)"

    def read(self, path: Path, chunk_size: int = 100_000) -> Chunks:
        check_chunk_size(chunk_size)
        p = require_path(path, self.name)
        f = find_file(p, self.name, ["CDNOW_master.txt", "CDNOW_sample.txt", "*.txt"], what="CDNOW transactions")
        _layout(f)  # fail now, not on first use, when the file is not CDNOW

        def events() -> Iterator[pd.DataFrame]:
            seen: Counter[str] = Counter()  # purchases so far per (customer, day), across chunks
            for df in _chunks(f, chunk_size):
                key = make_id("cdnow", df["customer_id"], df["date"].dt.strftime("%Y%m%d"))
                occ = key.groupby(key, sort=False).cumcount() + 1 + key.map(seen).fillna(0).astype(np.int64)
                seen.update(key.value_counts(sort=False).to_dict())
                qty = df["quantity"]
                ev = pd.DataFrame({
                    "event_id": make_id("", key, occ).str.slice(1),  # n-th purchase of the customer that day
                    "customer_id": df["customer_id"],
                    "event_type": "purchase",
                    "timestamp": df["date"].dt.tz_localize("UTC"),
                    "value": np.round(df["revenue"] / qty.where(qty > 0), 2),
                    "quantity": qty,
                    "revenue": df["revenue"],
                })
                yield ev

        def customers() -> Iterator[pd.DataFrame]:
            tx = pd.concat(list(_chunks(f, chunk_size)), ignore_index=True)
            first = tx.dropna(subset=["customer_id"]).groupby("customer_id", sort=False).agg(
                created_at=("date", "min"), **({"sample_id": ("sample_id", "first")} if "sample_id" in tx else {}))
            first["created_at"] = first["created_at"].dt.tz_localize("UTC")  # first purchase = acquisition
            yield first.reset_index()

        return {"customers": lazy(customers), "events": lazy(events)}
