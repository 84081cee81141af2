"""Where a customer's personal data lives in the store: the one list erasure, the privacy report, vacuum, key
rotation and the portable export all read, so that a table or a PII column is added in one place.

* :data:`PII_FIELDS` / :data:`PII_COLUMNS`: the customer fields kept encrypted (``customers.<field>_enc``).
* :data:`ERASED_TABLES`: the tables whose rows of a customer an erasure deletes (and the report checks are gone).
* :data:`KEPT_TABLES`: the other tables keyed by ``customer_id``, each with why erasure keeps its rows.
* :data:`ERASED_CUSTOMER_COLUMNS` / :data:`KEPT_CUSTOMER_COLUMNS`: what erasure blanks in the customer's row, and
  what the tombstone keeps, with why.
* :data:`PERSONAL_TABLES`: the tables whose old row versions hold personal data (what ``persona privacy vacuum``
  reclaims after an erasure, a redaction or a key rotation).

``tests/privacy/test_privacy_scope.py`` holds these lists against the store's schema: a new table with a
``customer_id`` column, or a new ``customers`` column, fails it until it is placed here.
"""

from __future__ import annotations

#: the customer fields stored encrypted (AES-256-GCM), each in the column ``<field>_enc`` of ``customers``
PII_FIELDS: tuple[str, ...] = ("email", "phone", "name")
#: the ciphertext columns of ``customers``
PII_COLUMNS: tuple[str, ...] = tuple(f"{f}_enc" for f in PII_FIELDS)

#: tables whose rows of a customer erasure deletes (in this order; each has a ``customer_id`` column)
ERASED_TABLES: tuple[str, ...] = ("events", "reviews", "profiles", "segment_memberships", "predictions", "assignments",
                                  "messages")
#: tables with a ``customer_id`` column whose rows erasure keeps, and why
KEPT_TABLES: dict[str, str] = {
    "customers": "the tombstone: the id and erased_at (see KEPT_CUSTOMER_COLUMNS), so that no later load or send "
                 "reaches the person again",
    "consents": "consent history is evidence the shop must keep; it holds no personal data beyond the id",
}

#: columns of ``customers`` erasure blanks: the PII, the keyed e-mail hash, the person's attributes, when they became
#: a customer, and the keyed hash of their source row (made of their plain e-mail, phone, name and city)
ERASED_CUSTOMER_COLUMNS: tuple[str, ...] = (*PII_COLUMNS, "email_hash", "gender", "birth_year", "city", "country",
                                            "timezone", "language", "attributes", "created_at", "row_hash")
#: columns of ``customers`` the tombstone keeps, and why
KEPT_CUSTOMER_COLUMNS: dict[str, str] = {
    "customer_id": "the tombstone's key: loads, builds, sends and services check it (ingest leaves the rows of an erased "
                   "id out, builds describe no erased customer: persona.privacy.tombstones)",
    "customer_key": "the pseudonym the audit log's erase record names the person by (re-keyed by a key rotation)",
    "is_stub": "whether the id came from an event before any CRM row: no personal data",
    "erased_at": "when the person was erased: how running services learn of erasures made elsewhere",
}

#: tables holding personal data without a ``customer_id`` column, and what they hold
OTHER_PERSONAL_TABLES: dict[str, str] = {
    "audit_log": "subjects are pseudonyms (customer_key), rewritten by a key rotation",
}
#: tables whose old row versions hold personal data once an erasure, a redaction or a rotation has run
PERSONAL_TABLES: tuple[str, ...] = (*KEPT_TABLES, *ERASED_TABLES, *OTHER_PERSONAL_TABLES)
