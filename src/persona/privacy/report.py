"""Privacy report of a workspace: what personal data it holds, how it is protected, and where it leaks.

- **PII at rest**: how many customers have an e-mail, phone or name, and whether a sample of those ciphertexts
  opens with this workspace's key (a key swapped or lost shows here before a send fails).
- **PII outside the encrypted columns**: customer attributes, event contexts and review texts scanned for e-mail
  addresses, phone, payment card and bank account numbers, IBANs and messaging ids (QQ, WeChat). Ingest keeps a
  file's extra columns as attributes, so a ``mobile`` or ``card_number`` column lands there in plain text; this names
  the attribute (never the values) and the fix (``--map mobile=phone`` encrypts it; card and account numbers, IBANs
  and messaging ids have no encrypted column: drop them from the file). Ingest redacts review texts; those stored
  before that are fixed by ``persona privacy redact-reviews --yes``.
- **Re-identification risk**: k-anonymity of the quasi-identifiers (gender, birth year, city, postcode): the share
  of customers whose combination fewer than ``k`` customers share, next to the same with age bands and countries.
- **Consent**: who may be contacted per channel for marketing, and who has no consent record at all.
- **Erasure**: erased customers, and a check that nothing of theirs is left in any table or tombstone column that
  erasure clears (:mod:`persona.privacy.scope`), nor in a quarantine file (a row naming their id); what is left is
  finished by ``persona privacy erase --all-erased --yes``; on PostgreSQL, the tables
  whose files still hold old row versions from before the last erasure, redaction or key rotation
  (:func:`persona.privacy.vacuum.pending`; ``persona privacy vacuum`` reclaims them).
- **Access**: API keys by scope (unused and admin keys), and the audit log's actions.
- **Key**: when the workspace secret was last rotated (``persona privacy rotate-key``, from the audit log), and
  whether the key in use is the one that rotation moved the data to.

Values are never printed: only counts, column names and shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from persona.data.interactions import as_dict
from persona.errors import InputError
from persona.privacy.detect import KIND_NAMES, TEXT_KINDS, pii_fix, pii_like_keys, texts_with_pii
from persona.privacy.scope import ERASED_TABLES, PII_COLUMNS, PII_FIELDS
from persona.privacy.tombstones import tombstone_holds_sql
from persona.privacy.vacuum import pending

#: how many ciphertexts of each PII column are test-decrypted
DECRYPT_SAMPLE = 1000
#: how many of the newest event contexts and reviews are scanned for personal data
SCAN_ROWS = 20_000
#: quasi-identifiers, most precise first, and their generalised forms
QUASI_IDENTIFIERS = ("gender", "birth_year", "city", "zip_code")
GENERALISED = ("gender", "age_band", "country")
CHANNELS = ("email", "sms", "push", "webhook")
#: the command that removes e-mail addresses, phone, card and account numbers, IBANs and messaging ids from stored
#: review texts
REDACT_REVIEWS = "persona privacy redact-reviews --yes"
#: the command that finishes every erasure something is left of (rows written back, a tombstone of an older version)
FINISH_ERASURES = "persona privacy erase --all-erased --yes"


def k_anonymity(frame: pd.DataFrame, columns: Sequence[str], k: int) -> dict[str, Any]:
    """Share of rows whose combination of ``columns`` fewer than ``k`` rows share (missing values count as a value).

    Returns:
        ``{"columns", "k", "customers", "below_k", "share_below_k", "unique", "smallest_class"}``.
    """
    cols = [c for c in columns if c in frame]
    if not cols or not len(frame):
        return {"columns": cols, "k": k, "customers": int(len(frame)), "below_k": 0, "share_below_k": 0.0, "unique": 0,
                "smallest_class": None}
    keys = frame[cols].astype(object).where(frame[cols].notna(), "?").astype(str).agg("\x1f".join, axis=1)
    sizes = keys.map(keys.value_counts())
    return {"columns": cols, "k": k, "customers": int(len(frame)), "below_k": int((sizes < k).sum()),
            "share_below_k": round(float((sizes < k).mean()), 4), "unique": int((sizes == 1).sum()),
            "smallest_class": int(sizes.min())}


def _age_band(birth_year: pd.Series, year: int) -> pd.Series:
    from persona.fairness.groups import age_band

    return age_band(year - pd.to_numeric(birth_year, errors="coerce"))


def _pii_at_rest(store: Any, settings: Any, customers: pd.DataFrame) -> dict[str, Any]:
    from persona.privacy.crypto import PIICipher

    cipher = PIICipher.from_settings(settings)
    out: dict[str, Any] = {"customers": int(len(customers))}
    for col in PII_FIELDS:
        vals = customers[f"{col}_enc"].dropna()
        sample = vals.sample(min(DECRYPT_SAMPLE, len(vals)), random_state=0) if len(vals) else vals
        bad = 0
        for token in sample:
            try:
                cipher.decrypt(token)
            except InputError:
                bad += 1
        out[col] = {"stored": int(len(vals)), "encrypted": True, "checked": int(len(sample)), "unreadable": bad}
    return out


def _plaintext(store: Any, customers: pd.DataFrame) -> dict[str, Any]:
    attrs = pii_like_keys(customers["attributes"])
    ctx = pii_like_keys(store.read_frame("SELECT context FROM events WHERE context IS NOT NULL ORDER BY id DESC LIMIT :n",
                                         {"n": SCAN_ROWS})["context"])
    texts = store.read_frame("SELECT text FROM reviews WHERE text IS NOT NULL ORDER BY ts DESC LIMIT :n", {"n": SCAN_ROWS})["text"]
    reviews = {**texts_with_pii(texts), "scanned": int(len(texts))}
    fixes = [f"persona ingest customers FILE --map {k}={v['kind']}" if v["kind"] in ("email", "phone")
             else f"persona ingest customers FILE without the {k!r} column" for k, v in attrs.items()]
    if any(reviews[k] for k in TEXT_KINDS):
        fixes.append(REDACT_REVIEWS)
    return {"customer_attributes": attrs, "event_context": ctx, "event_contexts_scanned": SCAN_ROWS, "review_texts": reviews,
            "fixes": fixes}


def _reidentification(customers: pd.DataFrame, k: int) -> dict[str, Any]:
    frame = customers.copy()
    attrs = frame["attributes"].map(as_dict)
    for key in ("zip_code", "postcode", "zip"):
        vals = attrs.map(lambda a, key=key: a.get(key))
        if vals.notna().any():
            frame["zip_code"] = vals
            break
    if frame["birth_year"].notna().any():
        frame["age_band"] = _age_band(frame["birth_year"], datetime.now(UTC).year)
    present = [c for c in QUASI_IDENTIFIERS if c in frame and frame[c].notna().any()]
    general = [c for c in GENERALISED if c in frame and frame[c].notna().any()]
    return {"precise": k_anonymity(frame, present, k), "generalised": k_anonymity(frame, general, k)}


def _consent(store: Any, customer_ids: list[str]) -> dict[str, Any]:
    from persona.privacy.consent import consent_state

    rows = store.read_frame("SELECT DISTINCT customer_id FROM consents")
    has_any = set(rows["customer_id"].astype(str))
    out: dict[str, Any] = {"customers_without_any_record": int(sum(c not in has_any for c in customer_ids)), "marketing": {}}
    channels = store.read_frame("SELECT DISTINCT channel FROM consents")["channel"].tolist()
    for ch in sorted(set(channels) | {"email"}):
        state = consent_state(store, ch, "marketing", customer_ids)
        out["marketing"][ch] = int(sum(bool(v) for v in state.values()))
    return out


def _erasure(store: Any) -> dict[str, Any]:
    from persona.ingest.quarantine import Person, PersonMatcher, scrub_quarantine
    from persona.privacy.gdpr import workspace_quarantine

    erased = store.read_frame("SELECT customer_id FROM customers WHERE erased_at IS NOT NULL")["customer_id"].astype(str).tolist()
    left: dict[str, int] = {}
    for table in ERASED_TABLES:
        n = int(store.read_frame(f"SELECT COUNT(*) AS n FROM {table} t JOIN customers c ON c.customer_id = t.customer_id "  # noqa: S608
                                 "WHERE c.erased_at IS NOT NULL")["n"].iloc[0])
        if n:
            left[table] = n
    pii = int(store.read_frame(f"SELECT COUNT(*) AS n FROM customers WHERE erased_at IS NOT NULL AND ({tombstone_holds_sql()})"  # noqa: S608
                               )["n"].iloc[0])
    if pii:
        left["customers (PII)"] = pii
    # quarantine rows naming an erased customer by id (their e-mail and phone are gone from the tombstone by now)
    quarantine = scrub_quarantine(workspace_quarantine(store), PersonMatcher(Person(c) for c in erased), apply=False).files
    if quarantine:
        left["quarantine"] = sum(quarantine.values())
    requests = int(store.read_frame("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'erase'")["n"].iloc[0])
    return {"erased": len(erased), "erase_requests_logged": requests, "rows_left": left, "quarantine_files": quarantine,
            "complete": not left}


def _access(store: Any) -> dict[str, Any]:
    keys = store.read_frame("SELECT scope, revoked_at, last_used_at FROM api_keys")
    live = keys[keys["revoked_at"].isna()]
    audit = store.read_frame("SELECT action, COUNT(*) AS n FROM audit_log GROUP BY action ORDER BY action")
    return {"active_keys": {str(s): int(n) for s, n in live["scope"].value_counts().sort_index().items()},
            "never_used": int(live["last_used_at"].isna().sum()), "revoked": int(keys["revoked_at"].notna().sum()),
            "audit_log": {str(a): int(n) for a, n in zip(audit["action"], audit["n"], strict=True)}}


def _key(store: Any, settings: Any) -> dict[str, Any]:
    from persona.privacy.crypto import PIICipher
    from persona.privacy.rotate import last_rotation

    last = last_rotation(store)
    current = PIICipher.from_settings(settings).fingerprint
    return {"fingerprint": current, "last_rotated": last["at"] if last else None,
            "matches_last_rotation": None if last is None else last["new_fingerprint"] == current}


def _kind_name(kind: str) -> str:
    """``phones``, ``emails`` as the report always said; ``card numbers``, ``IBANs``, ``messaging ids (QQ, WeChat)`` …"""
    return f"{kind}s" if kind in ("email", "phone") else KIND_NAMES[kind]


def _findings(rep: dict[str, Any]) -> list[str]:
    out = []
    for col, d in rep["pii_at_rest"].items():
        if isinstance(d, dict) and d["unreadable"]:
            out.append(f"{d['unreadable']} of {d['checked']} sampled {col} ciphertexts do not open with this workspace's key: "
                       "check PERSONA_SECRET_KEY or the key file")
    for key, v in rep["plaintext_pii"]["customer_attributes"].items():
        out.append(f"customer attribute {key!r} holds {_kind_name(v['kind'])} in plain text ({v['rows']} customers): "
                   f"{pii_fix(key, v['kind'])}")
    for key, v in rep["plaintext_pii"]["event_context"].items():
        out.append(f"event context field {key!r} holds {_kind_name(v['kind'])} in plain text ({v['rows']} of the newest events)")
    rt = rep["plaintext_pii"]["review_texts"]
    if any(rt[k] for k in TEXT_KINDS):
        held = ", ".join(f"{KIND_NAMES[k]} ({rt[k]})" for k in ("email", "phone", "card", "iban", "im", "account")
                         if k in ("email", "phone") or rt[k])
        out.append(f"review texts hold {held} (texts holding each, of the {rt['scanned']:,} newest): run `{REDACT_REVIEWS}` "
                   "to redact them (new loads are redacted)")
    pr, ge = rep["reidentification"]["precise"], rep["reidentification"]["generalised"]
    if pr["columns"] and pr["share_below_k"] > 0.05:
        text = (f"{pr['share_below_k']:.0%} of customers share their {' + '.join(pr['columns'])} with fewer than {pr['k'] - 1} "
                f"others ({pr['unique']} of them with no one)")
        if ge["columns"] and ge["columns"] != pr["columns"]:
            text += (f"; as {' + '.join(ge['columns'])} it is {ge['share_below_k']:.0%}: share or export generalised fields, "
                     "not the precise ones")
        out.append(text)
    if not rep["erasure"]["complete"]:
        files = rep["erasure"]["quarantine_files"]
        out.append(f"erased customers still have rows in: {', '.join(f'{t} ({n})' for t, n in rep['erasure']['rows_left'].items())}"
                   + (f" (quarantine files: {', '.join(files)})" if files else "")
                   + f": run `{FINISH_ERASURES}` to finish their erasure")
    if rep["erasure"]["old_row_versions"]:
        held = ", ".join(f"{t} ({n:,})" for t, n in rep["erasure"]["old_row_versions"].items())
        out.append(f"old row versions from before the last erasure, redaction or key rotation are still in the table "
                   f"files of {held}: run `persona privacy vacuum` to reclaim them (--full to rewrite the tables)")
    if rep["key"]["matches_last_rotation"] is False:
        out.append(f"the key in use is not the one the data was moved to on {rep['key']['last_rotated'][:10]}: set "
                   "PERSONA_SECRET_KEY (or the key file) to the rotated key and restart every service")
    if rep["access"]["active_keys"].get("admin", 0) > 2:
        out.append(f"{rep['access']['active_keys']['admin']} admin API keys are active: revoke those not needed")
    return out


def privacy_report(store: Any, settings: Any, *, k: int = 5) -> dict[str, Any]:
    """The workspace's privacy report (see the module docstring); ``findings`` lists what needs action.

    Raises:
        InputError: ``k`` below 2.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
        raise InputError(f"k must be an integer of at least 2, got {k!r}")
    customers = store.read_frame(f"SELECT customer_id, {', '.join(PII_COLUMNS)}, gender, birth_year, city, country, "  # noqa: S608
                                 "attributes FROM customers WHERE erased_at IS NULL")
    rep: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(),
        "pii_at_rest": _pii_at_rest(store, settings, customers),
        "plaintext_pii": _plaintext(store, customers),
        "reidentification": _reidentification(customers, int(k)),
        "consent": _consent(store, customers["customer_id"].astype(str).tolist()),
        "erasure": {**_erasure(store), "old_row_versions": pending(store)},
        "access": _access(store),
        "key": _key(store, settings),
    }
    rep["findings"] = _findings(rep)
    return rep
