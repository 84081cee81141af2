"""Redaction of personal data from free text: ``[email]``, ``[phone]``, ``[card]``, ``[iban]``, ``[im]`` and
``[account]`` take the place of e-mail addresses, phone numbers, payment card numbers, IBANs, messaging ids (QQ,
WeChat) and bank account numbers (the last two only after the keyword that announces them, which stays; a French
RIB, whose key is checked, also on its own when written in its groups).

Ingest redacts every review text before it is stored (files, SQL, REST and dataset adapters all pass through
:class:`~persona.ingest.writer.EntityWriter`); :func:`redact_stored_reviews` (``persona privacy redact-reviews``)
rewrites the texts of a store loaded before that. What counts as each kind is decided in
:mod:`persona.privacy.detect` (and :mod:`~persona.privacy.financial`, :mod:`~persona.privacy.messaging`,
:mod:`~persona.privacy.accounts`), whose :func:`~persona.privacy.detect.replace_pii`
the privacy report also uses, so a redacted text is never reported.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError, PersonaError
from persona.privacy.detect import STRING, TEXT_KINDS, TOKENS, candidates, no_pii, replace_pii

log = logging.getLogger(__name__)

EMAIL_TOKEN, PHONE_TOKEN, CARD_TOKEN, IBAN_TOKEN, IM_TOKEN, ACCOUNT_TOKEN = (
    TOKENS[k] for k in ("email", "phone", "card", "iban", "im", "account"))
#: stored reviews read, redacted and written per transaction by :func:`redact_stored_reviews`
BATCH_ROWS = 5_000
_MAX_PASSES = 64  # a safety bound: real texts settle in one or two passes


def redact_text(text: str) -> tuple[str, dict[str, int]]:
    """Replace each e-mail address, IBAN, payment card number, messaging id, account number and phone number in
    ``text`` with its token (``[email]``, ``[iban]``, ``[card]``, ``[im]``, ``[account]``, ``[phone]``).

    Args:
        text: any free text (a review, a note), in any language.

    Returns:
        The redacted text (``text`` itself when nothing matched) and ``{kind: n}`` for each of
        :data:`~persona.privacy.detect.TEXT_KINDS`, how many of each were replaced.

    Raises:
        InputError: ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise InputError(f"redact_text needs a string, got {type(text).__name__}", hint="pass the text, or use redact_texts for a column")
    counts = no_pii()
    # Until nothing more is found: a token glued to what follows, or a number freed from a longer run of digits,
    # can expose a number the first pass did not see. Each pass removes digits, an "@" or an id after a keyword
    # (a token is never an id), so this ends.
    for _ in range(_MAX_PASSES):
        text, found = replace_pii(text)
        if not any(found.values()):
            break
        for kind, n in found.items():
            counts[kind] += n
    return text, counts


def redact_texts(texts: pd.Series) -> tuple[pd.Series, dict[str, int]]:
    """:func:`redact_text` over a column: a C++ (Arrow, RE2) pre-filter picks the texts that may hold PII.

    Args:
        texts: a column of texts; missing values stay missing.

    Returns:
        The redacted column (same index and dtype; the input is not modified) and the replacement counts
        ``{kind: n}`` over all texts.
    """
    counts = no_pii()
    out = texts.copy()
    if texts.empty:
        return out, counts
    idx = candidates(texts)
    if not len(idx):
        return out, counts
    new = []
    for t in texts.iloc[idx].astype(STRING).tolist():
        r, c = redact_text(t)
        new.append(r)
        for kind, n in c.items():
            counts[kind] += n
    if any(counts.values()):
        out.iloc[idx] = pd.Series(new, dtype=out.dtype if out.dtype == STRING else object).to_numpy()
    return out, counts


def _batches(store: Any, batch_rows: int) -> Any:
    """Stored review texts, ``batch_rows`` at a time, in review-id order (keyset paging: safe while rows change)."""
    last = None
    while True:
        where = "text IS NOT NULL" + ("" if last is None else " AND review_id > :last")
        frame = store.read_frame(f"SELECT review_id, customer_id, product_id, ts, rating, text FROM reviews WHERE {where} "  # noqa: S608
                                 "ORDER BY review_id LIMIT :n", {"n": batch_rows, **({} if last is None else {"last": last})})
        if frame.empty:
            return
        yield frame
        last = str(frame["review_id"].iloc[-1])


def redact_stored_reviews(
    store: Any,
    *,
    apply: bool = True,
    actor: str = "cli",
    progress: bool | None = None,
    batch_rows: int = BATCH_ROWS,
) -> dict[str, Any]:
    """Redact e-mail addresses, phone, card and account numbers, IBANs and messaging ids from the stored review texts,
    in place (idempotent).

    Each batch of ``batch_rows`` reviews is one transaction; a row is only rewritten if its text is still the one
    read (a concurrent load wins). ``row_hash`` stays the source row's, and a review whose id was derived from its
    text (``h:``, hashed with public keys, so a phone number in it could be tried against the id) gets the id ingest
    now gives such a review, keyed with the workspace secret (``k:``); reloading the original file therefore finds
    the reviews unchanged. A copy loaded again since under its keyed id makes the older row go. An audit-log entry (``redact_reviews``, counts only) records a run that changed rows; on
    SQLite the WAL is truncated afterwards so no copy of the old texts is left in it (deleted content is already
    overwritten: ``secure_delete``).

    Args:
        store: the workspace :class:`~persona.store.Store`.
        apply: False: only count what would change (nothing is written).
        actor: who asked, for the audit log.
        progress: show a progress bar once it takes over a second; default ``settings.progress``.
        batch_rows: reviews per transaction.

    Returns:
        ``{"reviews": scanned, "rows": rows changed (or to change), "email", "phone", "card", "iban", "im",
        "account": how many of each were replaced (or would be), "applied": apply,
        "rekeyed": ids made keyed, "kept_ids": derived ids kept (not recomputable from the stored row, or no key),
        "duplicates_removed": older copies dropped, "seconds": s}``.

    Raises:
        InputError: ``batch_rows`` below 1.
    """
    from sqlalchemy import bindparam, delete, select, update

    from persona.privacy.crypto import PIICipher
    from persona.privacy.gdpr import audit
    from persona.store.models import TABLES

    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InputError(f"batch_rows must be a positive integer, got {batch_rows!r}", hint="e.g. 5000")
    t0 = time.perf_counter()
    total = store.count("reviews")
    show = store.settings.progress if progress is None else progress
    bar = task = None
    out: dict[str, Any] = {"reviews": 0, "rows": 0, **no_pii(), "applied": apply}
    reviews = TABLES["reviews"]
    stmt = (update(reviews).where(reviews.c.review_id == bindparam("rid"), reviews.c.text == bindparam("old"))
            .values(text=bindparam("new"), review_id=bindparam("new_id")))
    drop = delete(reviews).where(reviews.c.review_id == bindparam("rid"), reviews.c.text == bindparam("old"))
    keys: tuple[str, str] | None = None
    if apply and store.read_frame("SELECT COUNT(*) AS n FROM reviews WHERE review_id LIKE 'h:%'")["n"].iloc[0]:
        try:
            keys = PIICipher.from_settings(store.settings).row_hash_keys
        except PersonaError as exc:  # a store without a workspace key: texts are redacted, derived ids stay
            log.warning("redact_reviews: no workspace key (%s); derived review ids are kept", exc.code)
    out["rekeyed"] = out["kept_ids"] = out["duplicates_removed"] = 0
    renamed: set[str] = set()
    try:
        for batch in _batches(store, batch_rows):
            frame = batch[~batch["review_id"].isin(renamed)]  # rekeyed (k: sorts after h:): read again, counted once
            if frame.empty:
                continue
            new, counts = redact_texts(frame["text"])
            changed = (new != frame["text"]).to_numpy(dtype=bool)
            out["reviews"] += len(frame)
            out["rows"] += int(changed.sum())
            for kind, n in counts.items():
                out[kind] += n
            if apply and changed.any():
                part = frame[changed]
                new_ids, faithful = _keyed_ids(part, keys)
                out["kept_ids"] += int((~faithful & part["review_id"].astype(str).str.startswith("h:")).sum())
                with store.session() as s:
                    conn = s.connection()
                    taken = set(conn.execute(select(reviews.c.review_id).where(
                        reviews.c.review_id.in_([i for i, f in zip(new_ids, faithful, strict=True) if f])), ).scalars())
                    rows = [{"rid": r, "old": o, "new": n, "new_id": i} for r, o, n, i in
                            zip(part["review_id"], part["text"], new[changed], new_ids, strict=True) if i not in taken]
                    dups = [{"rid": r, "old": o} for r, o, i in zip(part["review_id"], part["text"], new_ids, strict=True)
                            if i in taken]  # reloaded since with its keyed id: this older copy goes
                    if rows:
                        conn.execute(stmt, rows)
                        out["rekeyed"] += sum(r["new_id"] != r["rid"] for r in rows)
                        renamed.update(r["new_id"] for r in rows if r["new_id"] != r["rid"])
                    if dups:
                        conn.execute(drop, dups)
                out["duplicates_removed"] += len(dups)
            if show and bar is None and time.perf_counter() - t0 > 1.0:
                bar = _progress_bar()
                bar.start()
                task = bar.add_task("redacting review texts" if apply else "scanning review texts", total=total)
            if bar is not None:
                bar.update(task, completed=out["reviews"])
    finally:
        if bar is not None:
            bar.stop()
    if apply and out["rows"]:
        audit(store, actor, "redact_reviews", None, {k: out[k] for k in ("rows", *TEXT_KINDS)})
        if store.dialect == "sqlite":
            with store.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    out["seconds"] = round(time.perf_counter() - t0, 3)
    log.info("redact_reviews applied=%s reviews=%d rows=%d %s seconds=%.2f", apply, out["reviews"], out["rows"],
             " ".join(f"{k}={out[k]}" for k in TEXT_KINDS), out["seconds"])
    return out


def _keyed_ids(part: pd.DataFrame, keys: tuple[str, str] | None) -> tuple[list[str], np.ndarray]:
    """The id each review with PII gets: a derived ``h:`` id, when it recomputes from the stored row (so a reload
    of the original file finds it), becomes the keyed ``k:`` id ingest now gives such a review; any other id stays.

    Returns:
        ``(ids, rekeyed)``: the new id of each row, and whether it changed.
    """
    from persona.ingest.writer import KEYED_REVIEW_PREFIX, review_ids
    from persona.profiles.source import to_utc

    ids = part["review_id"].astype(str)
    rekey = np.zeros(len(part), dtype=bool)
    derived = ids.str.startswith("h:").to_numpy()
    if keys is None or not derived.any():
        return ids.tolist(), rekey
    rows = part[derived]
    canon = pd.DataFrame({"customer_id": rows["customer_id"].astype(object), "product_id": rows["product_id"].astype(object),
                          "timestamp": to_utc(rows["ts"]), "rating": pd.to_numeric(rows["rating"], errors="coerce"),
                          "text": rows["text"].astype(object)}, index=rows.index)
    faithful = (review_ids(canon) == rows["review_id"].astype(str)).to_numpy()
    keyed = review_ids(canon, keys=keys, prefix=KEYED_REVIEW_PREFIX).to_numpy(dtype=object)
    out = ids.to_numpy(dtype=object).copy()
    pos = np.flatnonzero(derived)
    out[pos[faithful]] = keyed[faithful]
    rekey[pos[faithful]] = True
    return out.tolist(), rekey


def _progress_bar() -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:,.0f} reviews"),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=True)
