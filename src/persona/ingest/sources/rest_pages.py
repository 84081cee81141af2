"""One page of a REST API's answer: its records and its link to the next page.

A page is a JSON array of records, a JSON object holding that array (under ``records_key``, else under a common
key such as ``data`` or ``items``, else under its only list), or JSON lines. The next page comes from the body
(``next``, ``next_url``, ``links.next``, ``paging.next``, …); the ``Link`` header is read by the caller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from persona.errors import SourceError

#: keys tried, in order, for the records of an object body (after ``records_key`` and the entity's own name)
RECORD_KEYS = ("data", "items", "results", "records", "rows", "entries", "hits", "objects", "elements", "values")
#: where an object body may name the next page: a URL, or an object with ``href``
NEXT_PATHS = (("next",), ("next_url",), ("nextUrl",), ("next_page_url",), ("links", "next"), ("paging", "next"),
              ("_links", "next"))


@dataclass
class Entry:
    """One record of a page: its JSON value, or the raw text and reason when the text is not JSON."""

    value: Any = None
    raw: str | None = None  # the text as received (JSON lines); None: ``json.dumps(value)`` when needed
    reason: str | None = None


@dataclass
class Page:
    """The records of one page and the next page's URL as written in the body (maybe relative)."""

    entries: list[Entry] = field(default_factory=list)
    next_link: str | None = None


def parse_page(text: str, *, url: str, content_type: str, records_key: str | None, entity: str) -> Page:
    """Split a response body into records and the body's next link.

    Args:
        text: the decoded body.
        url: the page's URL, for messages (already redacted).
        content_type: the response's ``Content-Type``, for messages.
        records_key: where the records are in an object body (dots walk into nested objects: ``data.items``).
        entity: the entity being ingested; an object body's key of that name holds its records.

    Returns:
        The page.

    Raises:
        SourceError: the body is not JSON or JSON lines, or an object body holds no list of records.
    """
    body = text.strip()
    if not body:
        return Page()
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        return _json_lines(body, url, content_type, exc)
    if isinstance(doc, list):
        return Page([Entry(v) for v in doc])
    if isinstance(doc, dict):
        return Page([Entry(v) for v in find_records(doc, records_key, entity, url)], next_in_body(doc, url))
    raise SourceError(f"{url} returned a JSON {type(doc).__name__}, not records",
                      hint="point --url at the endpoint that lists the records (a JSON array, or an object holding one)")


def _json_lines(body: str, url: str, content_type: str, exc: json.JSONDecodeError) -> Page:
    """JSON lines: each non-blank line a record; lines that are not JSON become bad entries."""
    lines = body.splitlines()
    first = lines[0].strip() if lines else ""
    try:
        head = json.loads(first)
    except json.JSONDecodeError:
        head = None
    if len(lines) < 2 or not isinstance(head, dict | list):
        start = body[:80].replace("\n", " ")
        raise SourceError(f"{url} did not return JSON (Content-Type {content_type or 'not given'}; "
                          f"{exc.msg} at line {exc.lineno} column {exc.colno}; the body starts {start!r})",
                          hint="point --url at the API endpoint that returns the records as JSON, not at a web page")
    entries = []
    for line in lines:
        s = line.strip()
        if not s:
            continue
        try:
            entries.append(Entry(json.loads(s), raw=s))
        except json.JSONDecodeError as e:
            entries.append(Entry(raw=s, reason=f"invalid JSON: {e.msg} at column {e.colno}"))
    return Page(entries)


def find_records(doc: dict[str, Any], records_key: str | None, entity: str, url: str) -> list[Any]:
    """The list of records in an object body.

    Raises:
        SourceError: ``records_key`` is absent or not a list; without it, no common key and no single list found.
    """
    if records_key:
        value: Any = doc
        for part in records_key.split("."):
            if not isinstance(value, dict) or part not in value:
                keys = sorted(value) if isinstance(value, dict) else []
                raise SourceError(f"the response of {url} has no {records_key!r} (keys found: {keys})",
                                  hint="pass the key that holds the list of records as --records-key (dots for nested keys)")
            value = value[part]
        if value is None:
            return []
        if not isinstance(value, list):
            raise SourceError(f"{records_key!r} in the response of {url} holds a {type(value).__name__}, not a list of records",
                              hint="pass the key that holds the list of records as --records-key (dots for nested keys)")
        return value
    found = _common_list(doc, entity)
    if found is None and isinstance(doc.get("data"), dict):
        found = _common_list(doc["data"], entity)  # {"data": {"items": [...]}}
    if found is None:
        lists = [k for k, v in doc.items() if isinstance(v, list)]
        if len(lists) == 1:
            found = doc[lists[0]]
    if found is None:
        raise SourceError(f"cannot tell which key of the response of {url} holds the records (keys found: {sorted(doc)})",
                          hint="pass it as --records-key KEY")
    return found


def _common_list(doc: dict[str, Any], entity: str) -> list[Any] | None:
    for key in (entity, *RECORD_KEYS):
        if isinstance(doc.get(key), list):
            return doc[key]
    return None


def next_in_body(doc: dict[str, Any], url: str) -> str | None:
    """The next page's URL named in an object body, or None at the last page.

    Raises:
        SourceError: a next entry that is neither empty nor a URL (a page number, ``true``…).
    """
    for path in NEXT_PATHS:
        value: Any = doc
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, dict):
            value = value.get("href")
        if value is None or value is False or value == "":
            continue
        if isinstance(value, str):
            return value.strip()
        raise SourceError(f"the response of {url} names its next page as {'.'.join(path)} = {json.dumps(value)[:60]}, not a URL",
                          hint="Persona follows next links that are URLs, in a Link header or in the body")
    return None
