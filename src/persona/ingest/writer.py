"""Turns validated chunks into table rows and writes them: stubs, encryption, hashes, de-duplication.

Duplicate policy (documented in the README's data-format section):

* events: insert-only, keyed on ``event_id``; a source without ids gets a content hash of
  (customer, product, type, timestamp, value, quantity, revenue). A repeated id is a duplicate; the first row of an
  id is kept (an event happened once: a later row cannot rewrite it). A repeated id whose content differs
  (:data:`EVENT_CONTENT`: another customer, product, type, time, amount, channel or session) is a *conflict*,
  counted in ``conflicts`` besides the duplicates (it is not quarantined: the API's fast path stores exactly what
  file ingestion stores and keeps the first copy of an id; both would change together). Content is compared among the
  rows of one chunk (``chunk_size``, 100,000 rows by default); a repeat in a later chunk or of an id stored by an
  earlier load is a plain duplicate (comparing it would mean reading the stored event back for every repeat).
* customers, products, reviews: keyed on their id and upserted. A row identical to the stored
  one (same source-row hash) is a duplicate; a changed row is accepted and updates only the
  columns the file has (last write wins: a CRM export's later row is the newer state). Within one chunk the last row
  of an id wins; earlier ones count as duplicates, and those whose content differs from the winner's also count
  in ``conflicts``, so a file that disagrees with itself is reported.
* consents: append-only history, de-duplicated on a hash of the whole row.
* a row of an erased customer (customers, events, reviews; the tombstone keeps the id) is left out and counted as
  a duplicate (and in ``erased``): the tombstone is checked by id, not by the keyed row hash, so it holds after a key
  rotation and for a changed row, and nothing of the person comes back from a reloaded file. Consents are the
  exception, as in erasure itself: their history is evidence the shop keeps (it holds no PII beyond the id).
* events, reviews and consents naming an unknown customer (or product) create a stub row
  (``is_stub``); a later CRM row for it fills the stub in.

Review texts are stored with their e-mail addresses, phone and card numbers and IBANs redacted
(:mod:`persona.privacy.redact`).
A review's derived id and its row hash are computed on the text as read, so a file loaded before redaction existed
(and its reviews redacted in place since) is recognised as the same reviews when loaded again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from persona.ingest.coerce import to_objects
from persona.ingest.hashing import EVENT_KEYS, row_hashes
from persona.ingest.schema import EntitySpec
from persona.privacy.consent import consent_row_hash
from persona.privacy.crypto import PIICipher
from persona.privacy.detect import no_pii
from persona.privacy.redact import redact_texts
from persona.privacy.scope import PII_FIELDS
from persona.store.bulk import BulkWriter, encode_rows

_KNOWN_CAP = 2_000_000  # ids remembered per run to skip re-sending stubs; beyond it the set restarts


@dataclass
class _PreparedEvents:
    """An events chunk ready to send: encoded rows plus the distinct ids that may need stubs."""

    n: int
    rows: Any
    customers: list[str]
    products: list[str] | None
    erased: int = 0
    conflicts: int = 0


def unique_ids(ids: pd.Series) -> list[str]:
    """The distinct non-missing values of an id column, in order of first appearance.

    Arrow-backed strings are de-duplicated in Arrow (C++, without the GIL, no Python string per row).
    """
    if isinstance(ids.dtype, pd.StringDtype) and ids.dtype.storage == "pyarrow":
        return pc.unique(ids.array.__arrow_array__()).drop_null().to_pylist()
    return pd.unique(ids.dropna().to_numpy(dtype=object)).tolist()


@dataclass
class _PreparedReviews:
    """A reviews chunk with its ids, and its texts redacted: ``frame`` keeps the texts as read (ids and row hashes
    are computed on them), ``text`` is what is stored."""

    frame: pd.DataFrame
    text: pd.Series | None
    redacted: dict[str, int]
    #: the ids stored: ``frame``'s, except keyed (``k:``) where a derived id's text held PII
    ids: pd.Series | None = None
    #: rows left out because their customer was erased
    erased: int = 0


@dataclass
class WriteResult:
    """What one chunk did to the store (``redacted``: e-mail addresses, phone and card numbers and IBANs removed
    from texts)."""

    accepted: int = 0
    duplicates: int = 0
    stubs: dict[str, int] = field(default_factory=dict)
    redacted: dict[str, int] = field(default_factory=dict)
    #: rows of erased customers left out (counted among the duplicates)
    erased: int = 0
    #: rows among the duplicates whose id was seen with different content (see the module's duplicate policy)
    conflicts: int = 0


#: the event columns that make an event's content: a repeated id whose values differ in these is a conflict
EVENT_CONTENT = ("customer_id", "product_id", "event_type", "timestamp", "value", "quantity", "revenue", "channel",
                 "session_id")


def event_content_hashes(f: pd.DataFrame) -> np.ndarray:
    """A hash of each event's content (:data:`EVENT_CONTENT`; a column the file lacks counts as missing)."""
    canon = pd.DataFrame(index=f.index)
    for c in EVENT_CONTENT:
        col = f[c] if c in f.columns else pd.Series(None, index=f.index, dtype=object)
        if c == "timestamp" and isinstance(col.dtype, pd.DatetimeTZDtype):
            col = col.astype("int64")
        elif c not in ("value", "quantity", "revenue", "timestamp"):
            col = to_objects(col)
        canon[c] = col
    return row_hashes(canon, EVENT_KEYS)


class EntityWriter:
    """Writes the chunks of one entity for one ingestion run."""

    def __init__(self, spec: EntitySpec, cipher: PIICipher, started: datetime, erased: frozenset[str] = frozenset()) -> None:
        """Args: ``erased``: the ids of erased customers (tombstones): their rows are left out of every entity."""
        self.spec = spec
        self.cipher = cipher
        self.started = started
        self.erased = erased
        self._known: dict[str, set[str]] = {"customers": set(), "products": set()}
        self._conflicts = 0  # the last upsert's rows that lost to a later row of their id with different content

    # --- conflicting duplicates -------------------------------------------------------------
    def _event_conflicts(self, f: pd.DataFrame) -> np.ndarray | None:
        """Which rows of an events chunk repeat an earlier row's ``event_id`` with different content (None: none)."""
        if self.spec.name != "events" or f.empty or "event_id" not in f.columns:
            return None
        ids = f["event_id"]
        rep = (ids.notna() & ids.duplicated(keep=False)).to_numpy(dtype=bool)
        if not rep.any():
            return None
        sub = f[rep]
        content = pd.Series(event_content_hashes(sub), index=sub.index)
        first = content.groupby(to_objects(sub["event_id"]).to_numpy(), sort=False).transform("first")
        bad = np.zeros(len(f), dtype=bool)
        bad[np.flatnonzero(rep)] = (content != first).to_numpy(dtype=bool)
        return bad if bad.any() else None

    def _without_erased(self, f: pd.DataFrame) -> tuple[pd.DataFrame, int]:
        """``f`` without the rows of erased customers, and how many went (read-only: safe in a reader thread)."""
        if not self.erased or f.empty or "customer_id" not in f.columns:
            return f, 0
        gone = to_objects(f["customer_id"]).isin(self.erased).to_numpy(dtype=bool)
        return (f[~gone], int(gone.sum())) if gone.any() else (f, 0)

    # --- stubs ------------------------------------------------------------------------------
    def _stubs(self, w: BulkWriter, table: str, ids: pd.Series | list[str]) -> int:
        """Insert stub rows for ids (a column, or its :func:`unique_ids`) not seen yet; returns how many were new."""
        known = self._known[table]
        uniq = unique_ids(ids) if isinstance(ids, pd.Series) else ids
        new = [i for i in uniq if i not in known]
        if not new:
            return 0
        if table == "customers":
            rows = pd.DataFrame({"customer_id": new, "customer_key": self.cipher.pseudonyms(new), "is_stub": True})
        else:
            rows = pd.DataFrame({"product_id": new, "is_stub": True})
        n = w.insert(table, rows, on_conflict="ignore")
        if len(known) + len(new) > _KNOWN_CAP:
            known.clear()
        known.update(new)
        return n

    # --- per entity -------------------------------------------------------------------------
    def prepare(self, frame: pd.DataFrame, dialect: str) -> Any:
        """The database-free part of writing a chunk (ids, hashes, encoding); safe to run in a reader thread."""
        if self.spec.name == "events" and not frame.empty:
            return self._prepare_events(frame, dialect)
        if self.spec.name == "reviews" and not frame.empty:
            return self._prepare_reviews(frame)
        return frame

    def write(self, w: BulkWriter, prepared: Any) -> WriteResult:
        """Write one chunk of valid rows (from :meth:`prepare`, or a frame as the coercer returns it)."""
        if isinstance(prepared, _PreparedEvents):
            return self._write_prepared_events(w, prepared)
        if isinstance(prepared, _PreparedReviews):
            return self._write_reviews(w, prepared)
        frame = prepared
        if frame.empty:
            return WriteResult()
        if self.spec.name == "events":
            return self._write_prepared_events(w, self._prepare_events(frame, w.dialect))
        if self.spec.name == "reviews":
            return self._write_reviews(w, self._prepare_reviews(frame))
        return getattr(self, f"_write_{self.spec.name}")(w, frame)

    def _prepare_events(self, f: pd.DataFrame, dialect: str) -> _PreparedEvents:
        n = len(f)
        f, erased = self._without_erased(f)
        conflicting = self._event_conflicts(f)  # among the duplicates, counted apart
        conflicts = 0 if conflicting is None else int(conflicting.sum())
        if "event_id" not in f.columns or f["event_id"].isna().any():
            canon = pd.DataFrame({
                "customer_id": f["customer_id"],
                "product_id": f["product_id"] if "product_id" in f.columns else None,
                "event_type": f["event_type"],
                "ts": f["timestamp"].astype("int64"),
                **{c: (f[c] if c in f.columns else np.nan) for c in ("value", "quantity", "revenue")},
            }, index=f.index)
            # Arrow-backed: the sort by id below and the encoders then work in C++, not on Python strings
            hashed = "h:" + pd.Series(row_hashes(canon, EVENT_KEYS), index=f.index, dtype="string[pyarrow]")
            eid = f["event_id"].where(f["event_id"].notna(), hashed) if "event_id" in f.columns else hashed
        else:
            eid = f["event_id"]
        out = pd.DataFrame({"event_id": eid}, index=f.index)
        for col in ("customer_id", "product_id", "event_type", "timestamp", "value", "quantity", "revenue", "channel", "session_id"):
            if col in f.columns:
                out["ts" if col == "timestamp" else col] = f[col]
        if "_extras" in f.columns:
            out["context"] = f["_extras"]
        out = out[~out["event_id"].duplicated(keep="first")]
        out = out.sort_values("event_id", kind="stable")  # inserting in key order keeps the unique index's pages hot
        products = unique_ids(out["product_id"]) if "product_id" in out.columns else None
        rows = encode_rows("events", out, dialect, unique_key="event_id") if dialect in ("sqlite", "postgresql") else out
        return _PreparedEvents(n=n, rows=rows, customers=unique_ids(out["customer_id"]), products=products, erased=erased,
                               conflicts=conflicts)

    def _write_prepared_events(self, w: BulkWriter, p: _PreparedEvents) -> WriteResult:
        stubs = {"customers": self._stubs(w, "customers", p.customers)}
        if p.products is not None:
            stubs["products"] = self._stubs(w, "products", p.products)
        inserted = w.insert("events", p.rows, on_conflict="ignore", key=["event_id"])
        return WriteResult(accepted=inserted, duplicates=p.n - inserted, stubs=stubs, erased=p.erased, conflicts=p.conflicts)

    def _upsert(self, w: BulkWriter, f: pd.DataFrame, table: str, key: str, extra_cols: dict[str, pd.Series]) -> tuple[int, int]:
        n = len(f)
        src_cols = sorted(c for c in f.columns if c != "_extras")
        hash_frame = f[src_cols].copy()
        for c in src_cols:
            if isinstance(hash_frame[c].dtype, pd.DatetimeTZDtype):
                hash_frame[c] = hash_frame[c].astype("int64")
        if "_extras" in f.columns:
            hash_frame["_extras"] = f["_extras"].map(lambda d: None if d is None else repr(sorted(d.items())))
        out = pd.DataFrame(index=f.index)
        for c, s in extra_cols.items():
            out[c] = s
        out["row_hash"] = row_hashes(hash_frame, self.cipher.row_hash_keys)
        self._conflicts = _upsert_conflicts(out[key], out["row_hash"])
        out = out[~out[key].duplicated(keep="last")]
        changed = w.insert(table, out, on_conflict="update", key=[key], change_column="row_hash")
        return changed, n - changed

    def _write_customers(self, w: BulkWriter, f: pd.DataFrame) -> WriteResult:
        f, erased = self._without_erased(f)
        if f.empty:
            return WriteResult(duplicates=erased, erased=erased)
        cols: dict[str, pd.Series] = {"customer_id": f["customer_id"]}
        cols["customer_key"] = pd.Series(self.cipher.pseudonyms(to_objects(f["customer_id"]).tolist()), index=f.index)
        enc = self.cipher.encrypt
        for c in PII_FIELDS:
            if c in f.columns:
                cols[f"{c}_enc"] = to_objects(f[c]).map(lambda v: None if v is None else enc(v))
        if "email" in f.columns:
            cols["email_hash"] = to_objects(f["email"]).map(lambda v: None if v is None else self.cipher.email_hash(v))
        for c in ("gender", "birth_year", "city", "country", "timezone", "language", "created_at"):
            if c in f.columns:
                cols[c] = f[c]
        if "_extras" in f.columns:
            cols["attributes"] = f["_extras"]
        cols["is_stub"] = pd.Series(False, index=f.index)
        changed, dups = self._upsert(w, f, "customers", "customer_id", cols)
        self._known["customers"].update(to_objects(f["customer_id"]).tolist())
        return WriteResult(accepted=changed, duplicates=dups + erased, erased=erased, conflicts=self._conflicts)

    def _write_products(self, w: BulkWriter, f: pd.DataFrame) -> WriteResult:
        cols = {c: f[c] for c in ("product_id", "title", "description", "category", "brand", "price", "in_stock", "created_at")
                if c in f.columns}
        if "_extras" in f.columns:
            cols["attributes"] = f["_extras"]
        cols["is_stub"] = pd.Series(False, index=f.index)
        changed, dups = self._upsert(w, f, "products", "product_id", cols)
        self._known["products"].update(to_objects(f["product_id"]).tolist())
        return WriteResult(accepted=changed, duplicates=dups, conflicts=self._conflicts)

    def _prepare_reviews(self, f: pd.DataFrame) -> _PreparedReviews:
        f, erased = self._without_erased(f)
        if "text" not in f.columns:
            return _PreparedReviews(frame=f.assign(review_id=review_ids(f)), text=None, redacted=no_pii(),
                                    ids=None, erased=erased)
        text, redacted = redact_texts(f["text"])
        ids = review_ids(f)
        derived = f["review_id"].isna() if "review_id" in f.columns else pd.Series(True, index=f.index)
        had_pii = derived & (text.fillna("") != f["text"].fillna("")).to_numpy(dtype=bool)
        stored = ids
        if had_pii.any():  # an id derived from a text that held PII is keyed: it cannot be brute-forced back to it
            stored = ids.where(~had_pii, review_ids(f[had_pii], keys=self.cipher.row_hash_keys, prefix=KEYED_REVIEW_PREFIX))
        # the row hash covers the public id, as before keyed ids existed: a reload of an older load stays a duplicate
        return _PreparedReviews(frame=f.assign(review_id=ids), text=text, redacted=redacted, ids=stored, erased=erased)

    def _write_reviews(self, w: BulkWriter, p: _PreparedReviews) -> WriteResult:
        f = p.frame
        if f.empty:
            return WriteResult(duplicates=p.erased, redacted=dict(p.redacted), erased=p.erased)
        cols = {("ts" if c == "timestamp" else c): f[c]
                for c in ("review_id", "customer_id", "product_id", "rating", "text", "lang", "timestamp") if c in f.columns}
        if p.text is not None:
            cols["text"] = p.text
        if p.ids is not None:
            cols["review_id"] = p.ids
        stubs = {"customers": self._stubs(w, "customers", f["customer_id"]), "products": self._stubs(w, "products", f["product_id"])}
        changed, dups = self._upsert(w, f, "reviews", "review_id", cols)
        return WriteResult(accepted=changed, duplicates=dups + p.erased, stubs=stubs, redacted=dict(p.redacted), erased=p.erased,
                           conflicts=self._conflicts)

    def _write_consents(self, w: BulkWriter, f: pd.DataFrame) -> WriteResult:
        n = len(f)
        channel = f["channel"].str.lower()
        purpose = f["purpose"].str.lower()
        ts = f["timestamp"] if "timestamp" in f.columns else pd.Series(pd.NaT, index=f.index, dtype="datetime64[ns, UTC]")
        source = f["source"] if "source" in f.columns else pd.Series(None, index=f.index, dtype=object)
        hashes = [
            consent_row_hash(c, ch, pu, bool(g), None if pd.isna(t) else t.to_pydatetime(), s)
            for c, ch, pu, g, t, s in zip(to_objects(f["customer_id"]), to_objects(channel), to_objects(purpose), f["granted"], ts,
                                          to_objects(source), strict=True)
        ]
        out = pd.DataFrame({
            "customer_id": f["customer_id"], "channel": channel, "purpose": purpose, "granted": f["granted"].astype(bool),
            "ts": ts.fillna(pd.Timestamp(self.started)), "source": source, "row_hash": hashes,
        }, index=f.index)
        out = out[~out["row_hash"].duplicated(keep="first")]
        stubs = {"customers": self._stubs(w, "customers", out["customer_id"])}
        inserted = w.insert("consents", out, on_conflict="ignore", key=["row_hash"])
        return WriteResult(accepted=inserted, duplicates=n - inserted, stubs=stubs)


def _upsert_conflicts(ids: pd.Series, hashes: pd.Series) -> int:
    """Rows of a chunk that an upsert drops for a later row of the same id whose content (row hash) differs."""
    rep = ids.duplicated(keep=False).to_numpy(dtype=bool)
    if not rep.any():
        return 0
    last = hashes[rep].groupby(to_objects(ids[rep]).to_numpy(), sort=False).transform("last")
    return int((hashes[rep] != last).sum())


#: the prefix of a derived review id keyed with the workspace secret (its text held PII before redaction)
KEYED_REVIEW_PREFIX = "k:"


def review_ids(f: pd.DataFrame, *, keys: tuple[str, str] = EVENT_KEYS, prefix: str = "h:") -> pd.Series:
    """Each review's id: the file's where given, else ``prefix`` + a hash of its content (customer, product, time,
    rating, text as read), so exports without ids (Amazon's) load, and a review repeated in the file or a later load
    is one review. The hash is keyed with ``keys``: the public ``EVENT_KEYS``, or the workspace's row-hash keys for
    a text that held PII (``"k:"`` ids: without the secret key nobody can try phone numbers against them)."""
    given = f["review_id"] if "review_id" in f.columns else pd.Series(None, index=f.index, dtype=object)
    if given.notna().all():
        return given
    ts = f["timestamp"] if "timestamp" in f.columns else pd.Series(pd.NaT, index=f.index, dtype="datetime64[ns, UTC]")
    canon = pd.DataFrame({
        "customer_id": f["customer_id"], "product_id": f["product_id"],
        "ts": ts.fillna(pd.Timestamp(0, tz="UTC")).astype("int64"),
        **{c: (f[c] if c in f.columns else None) for c in ("rating", "text")},
    }, index=f.index)
    hashed = pd.Series(row_hashes(canon, keys), index=f.index)
    return given.where(given.notna(), prefix + hashed)
