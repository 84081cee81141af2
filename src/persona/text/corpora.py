"""Readers for the labelled review corpora Persona's sentiment weights are trained on, and the fixed split.

* ``reviews-zh/train.tsv``: ``label<TAB>text`` Chinese reviews (1 positive, 0 negative).
* ``amazon-beauty/All_Beauty_5.json``: Amazon 2018 "All Beauty" 5-core reviews (JSON lines).
  The file repeats one review under several product variants (same reviewer, same text, another
  ``asin``); such copies are dropped so the held-out part never contains a training review.
  4-5 stars are positive, 1-2 negative, 3 dropped; auto-generated summaries ("Five Stars") are left out
  because they name the rating.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from persona.errors import DataFileError

_AUTO_SUMMARY = re.compile(r"^\s*(one|two|three|four|five)\s+stars?\s*$", re.IGNORECASE)


def load_reviews_zh(path: str | Path) -> pd.DataFrame:
    """The Chinese corpus as a DataFrame ``[text, label]`` (exact duplicate texts dropped).

    Raises:
        DataFileError: the file is missing or not ``label<TAB>text``.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"no such file: {p}", hint="pass the path of reviews-zh/train.tsv")
    rows: list[tuple[int, str]] = []
    with p.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            label, sep, text = line.rstrip("\n").partition("\t")
            if i == 0 and label.strip().lower() == "label":
                continue
            if not sep or label.strip() not in ("0", "1"):
                raise DataFileError(f"{p}: line {i + 1} is not 'label<TAB>text'", hint="labels must be 0 or 1")
            if text.strip():
                rows.append((int(label), text.strip()))
    df = pd.DataFrame(rows, columns=["label", "text"]).drop_duplicates("text").reset_index(drop=True)
    return df[["text", "label"]]


def load_amazon_beauty(path: str | Path) -> pd.DataFrame:
    """The English corpus as a DataFrame ``[text, label, rating, asin]``, de-duplicated, 3 stars dropped.

    A review is the same review when the reviewer, text, summary and rating agree (the 5-core file
    lists it once per product variant).

    Raises:
        DataFileError: the file is missing or not JSON lines.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"no such file: {p}", hint="pass the path of amazon-beauty/All_Beauty_5.json")
    recs = []
    with p.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFileError(f"{p}: line {i + 1} is not JSON ({exc.msg})") from exc
            recs.append(
                {"reviewer": r.get("reviewerID"), "asin": r.get("asin"), "rating": r.get("overall"),
                 "review": (r.get("reviewText") or "").strip(), "summary": (r.get("summary") or "").strip()}
            )
    df = pd.DataFrame(recs)
    df = df.drop_duplicates(["reviewer", "review", "summary", "rating"]).reset_index(drop=True)
    df = df[df["rating"].isin([1.0, 2.0, 4.0, 5.0])]
    summary = df["summary"].where(~df["summary"].str.match(_AUTO_SUMMARY), "")
    text = (summary + ". " + df["review"]).str.strip(" .")
    text = text.where(summary != "", df["review"])
    out = pd.DataFrame({"text": text, "label": (df["rating"] >= 4).astype(int), "rating": df["rating"],
                        "asin": df["asin"]})
    return out[out["text"].str.len() > 0].reset_index(drop=True)


def holdout_split(df: pd.DataFrame, *, test_size: float = 0.2, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fixed stratified train / held-out split (by ``label``) used for training and every report."""
    from sklearn.model_selection import train_test_split

    tr, te = train_test_split(df, test_size=test_size, random_state=seed, stratify=df["label"])
    return tr.reset_index(drop=True), te.reset_index(drop=True)


def read_utf8_text(path: str | Path, *, hint: str) -> str:
    """The text of a user's file (a UTF-8 byte-order mark dropped), refusing folders, missing, binary and non-UTF-8 files.

    Args:
        path: the file.
        hint: what to pass instead, for the missing-file and folder errors.

    Raises:
        DataFileError: missing, a folder, binary (NUL bytes) or not UTF-8.
    """
    p = Path(path)
    if p.is_dir():
        raise DataFileError(f"{p} is a folder, not a file", hint=hint)
    if not p.is_file():
        raise DataFileError(f"no such file: {p}", hint=hint)
    data = p.read_bytes()
    if b"\x00" in data[: 1 << 16]:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise DataFileError(f"{p} is UTF-16 text", hint="save it as UTF-8 (in Excel: CSV UTF-8)")
        raise DataFileError(f"{p} looks binary (it contains NUL bytes), not text", hint=hint)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{p} is not UTF-8 text (byte {exc.start:,} is not UTF-8)",
                            hint="save it as UTF-8 (in Excel: CSV UTF-8)") from exc


def read_labelled_file(path: str | Path) -> pd.DataFrame:
    """A user's labelled file as ``[label, text]``: CSV or TSV with ``label`` and ``text`` columns, or a
    headerless ``label<TAB>text`` TSV. The delimiter is detected.

    Raises:
        DataFileError: missing, empty or unreadable file.
        SchemaError: no ``label``/``text`` columns, or labels other than 0/1.
    """
    from persona.errors import SchemaError

    p = Path(path)
    raw = read_utf8_text(p, hint="pass a CSV or TSV with label and text columns")
    lines = [ln for ln in raw.splitlines() if ln.strip()]
    if not lines:
        raise DataFileError(f"{p} is empty", hint="it needs a label and a text column and at least one row")
    first = lines[0]
    delim = "\t" if "\t" in first else None
    if delim is None:
        try:
            delim = csv.Sniffer().sniff(first, delimiters=",;|\t").delimiter
        except csv.Error:
            delim = ","
    head = [c.strip().strip('"').lower() for c in first.split(delim)]
    headerless = head and head[0] in ("0", "1") and delim == "\t"
    if headerless:
        rows = [ln.partition("\t") for ln in lines]
        df = pd.DataFrame({"label": [r[0].strip() for r in rows], "text": [r[2] for r in rows]})
    else:
        try:
            df = pd.read_csv(p, sep=delim, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                             quoting=csv.QUOTE_NONE if delim == "\t" else csv.QUOTE_MINIMAL, engine="python")
        except (pd.errors.ParserError, ValueError) as exc:
            raise DataFileError(f"cannot parse {p}: {exc}", hint="use a CSV or TSV with label and text columns") from exc
        df.columns = [str(c).strip().lower() for c in df.columns]
        missing = [c for c in ("label", "text") if c not in df.columns]
        if missing:
            raise SchemaError(
                f"{p} lacks column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns)) or 'none'}",
                hint="add a header with 'label' (1 positive, 0 negative) and 'text', or use a headerless label<TAB>text TSV",
            )
        df = df[["label", "text"]]
    if df.empty:
        raise DataFileError(f"{p} has a header but no rows", hint="add at least one labelled review")
    labels = df["label"].astype(str).str.strip()
    bad = ~labels.isin(["0", "1", "0.0", "1.0"])
    if bad.any():
        examples = ", ".join(repr(v) for v in labels[bad].unique()[:5])
        raise SchemaError(
            f"{p}: {int(bad.sum())} row(s) have labels other than 0/1 (e.g. {examples})",
            hint="use 1 for positive and 0 for negative",
        )
    return pd.DataFrame({"label": labels.astype(float).astype(int).to_numpy(),
                         "text": df["text"].astype(str).to_numpy()})


def class_counts(y: np.ndarray) -> dict[str, int]:
    """``{"positive": n1, "negative": n0}`` of a 0/1 label vector."""
    y = np.asarray(y)
    return {"positive": int((y == 1).sum()), "negative": int((y == 0).sum())}
