"""Column mapping (``--map their=our``) and the header check that names missing columns."""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Iterable, Sequence

from persona.errors import InputError, SchemaError
from persona.ingest.schema import EntitySpec

# Common spellings of canonical columns, tried when a file's header does not use the canonical names.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer_id": ("user_id", "userid", "customerid", "client_id", "visitor_id", "member_id", "uid", "user"),
    "product_id": ("item_id", "itemid", "productid", "sku", "stockcode", "article_id", "iid", "item"),
    "timestamp": ("ts", "time", "event_time", "datetime", "date", "created", "occurred_at"),
    "event_type": ("type", "action", "behavior", "behaviour", "event"),
    "rating": ("score", "stars"),
    "text": ("review", "review_text", "body", "content", "comment"),
    "review_id": ("id",),
    "title": ("name", "product_name"),
}


def header_key(name: str) -> str:
    """A column name reduced for matching: lower case, without spaces, dashes, underscores or dots, so that
    ``Customer Id``, ``customer-id``, ``CustomerID`` and ``customer_id`` are the same column."""
    return re.sub(r"[\s\-_.]+", "", str(name)).lower()


def map_hint(their: str, our: str) -> str:
    """``--map THEIR=OUR`` quoted for a shell (a column name with spaces is one argument)."""
    return f"--map {shlex.quote(f'{their}={our}')}"


def parse_map(items: Iterable[str] | None) -> dict[str, str]:
    """Parse ``their=our`` pairs.

    Raises:
        InputError: a pair without ``=``, with an empty side, or a column mapped twice.
    """
    out: dict[str, str] = {}
    for item in items or ():
        if "=" not in item:
            raise InputError(f"malformed --map {item!r}: expected THEIR_COLUMN=OUR_COLUMN", hint="e.g. --map user_id=customer_id")
        their, our = (s.strip() for s in item.split("=", 1))
        if not their or not our:
            raise InputError(f"malformed --map {item!r}: both sides must be non-empty", hint="e.g. --map user_id=customer_id")
        if their in out:
            raise InputError(f"--map maps {their!r} twice ({out[their]!r} and {our!r})", hint="give each source column once")
        out[their] = our
    return out


def resolve_columns(spec: EntitySpec, header: Sequence[str], mapping: dict[str, str]) -> dict[str, str]:
    """Work out which source column feeds which canonical column.

    Args:
        spec: the entity.
        header: the file's column names.
        mapping: ``--map`` pairs (their -> our).

    Returns:
        ``{source column: target column}`` for every source column; targets that are not canonical
        are extras (kept in the entity's attributes/context column).

    Raises:
        SchemaError: a mapped column is not in the file, a target is mapped twice, or a required
            column is missing (the message lists missing and found columns and suggests ``--map``).
    """
    header = [str(h) for h in header]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise SchemaError(f"the header repeats column(s) {dupes}", hint="rename the repeated columns so each is unique")
    absent = [their for their in mapping if their not in header]
    if absent:
        backwards = [map_hint(mapping[a], a) for a in absent if a in spec.columns and mapping[a] in header]
        raise SchemaError(f"--map names column(s) {absent} that the file does not have; found: {header}",
                          hint=(f"--map is THEIR_COLUMN=OUR_COLUMN: did you mean {' '.join(backwards)}?" if backwards
                                else "check the spelling (names are case-sensitive)"))
    out: dict[str, str] = {}
    for h in header:
        target = mapping.get(h, h)
        lowered = target.strip().lower()
        if h not in mapping and lowered in spec.columns:  # tolerate case/whitespace in canonical headers
            target = lowered
        out[h] = target
    # ``Customer Id``, ``customer-id``, ``CustomerID``: the canonical column when nothing else claims it (an exact
    # or --map match wins; a second spelling of a claimed column stays an extra column)
    canonical = {header_key(c): c for c in spec.columns}
    for h in header:
        if h in mapping or out[h] in spec.columns:
            continue
        target = canonical.get(header_key(h))
        if target is not None and target not in out.values():
            out[h] = target
    targets = [t for t in out.values() if t in spec.columns]
    twice = sorted({t for t in targets if targets.count(t) > 1})
    if twice:
        raise SchemaError(f"more than one column maps to {twice}", hint="map only one source column onto each canonical column")
    missing = [c for c in spec.required if c not in out.values()]
    for m in missing:
        if m in mapping and mapping[m] not in spec.columns:  # its own column was renamed away: a backwards --map
            src = mapping[m]
            if src in header:
                problem = f"did you mean {map_hint(src, m)}?"
            else:
                problem = f"if {m} is to come from a column {src!r}, the file has no such column; found columns: {header}"
            raise SchemaError(f"--map {m}={src} renames the file's required column {m!r} to {src!r}, which is not a "
                              f"{spec.name} column; {problem}",
                              hint="--map is THEIR_COLUMN=OUR_COLUMN, e.g. --map user_id=customer_id")
    if missing:
        suggestions = []
        free = [h for h in header if out[h] not in spec.columns]
        for m in missing:
            cands = [h for h in free if header_key(h) in {header_key(x) for x in SYNONYMS.get(m, ())}]
            cands += difflib.get_close_matches(m, free, n=1, cutoff=0.6)
            if cands:
                suggestions.append(map_hint(cands[0], m))
        hint = (f"try persona ingest {spec.name} FILE {' '.join(suggestions)} (persona run --data has no --map: rename "
                "the column in the file)" if suggestions else "rename the columns or use --map THEIR_COLUMN=OUR_COLUMN")
        raise SchemaError(
            f"{spec.name} file is missing required column(s) {missing}; found columns: {header}; "
            f"canonical columns are {list(spec.columns)}",
            hint=hint,
        )
    return out
