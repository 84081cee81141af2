"""Ingest the records a REST API lists, page after page, with retries.

Pages are fetched with ``GET`` (:mod:`persona.ingest.sources.rest_pages` splits each into records) and the
next page is the ``Link: <…>; rel="next"`` header, else a next link in the body; relative links are resolved
against the page, and the walk stops when there is none. 429, 5xx and connection errors are retried with
exponential back-off (``Retry-After`` honoured, up to a minute a wait). A record's "line" is its running number
across pages; its raw text (for the quarantine file) is its JSON. Header values (tokens) are sent only to the
host of the first URL and never written to reports, logs or errors.

An incremental pull (``since_param`` and ``since_field``) keeps the largest value of a record field; later runs add
``since_param=<that value>`` to the first page's query, and the API decides what it returns (records at that value
come back and count as duplicates; see :mod:`persona.ingest.sources.cursor`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import numpy as np
import pandas as pd

from persona.errors import CursorError, InputError, SourceError, SourceUnavailableError
from persona.ingest.mapping import parse_map
from persona.ingest.readers import BadRecord, RawChunk
from persona.ingest.runner import IngestReport
from persona.ingest.sources.cursor import IncrementalPull, encode_value
from persona.ingest.sources.pull import ingest_pulled
from persona.ingest.sources.redact import redact_url, scheme_of
from persona.ingest.sources.rest_pages import Entry, Page, parse_page
from persona.jsonvalues import dumps
from persona.privacy.crypto import PIICipher

log = logging.getLogger(__name__)

DEFAULT_MAX_PAGES = 10_000
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 4  # attempts after the first, for 429, 5xx and connection errors
DEFAULT_BACKOFF_S = 0.5  # the first wait; doubled each retry
MAX_WAIT_S = 60.0  # the longest single wait, whatever Retry-After asks
MAX_REDIRECTS = 5
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_ACCEPT = "application/json, application/x-ndjson;q=0.9, */*;q=0.1"


def parse_headers(items: Iterable[str] | Mapping[str, str] | None) -> dict[str, str]:
    """Parse ``Name: value`` pairs (``--header``), or check a ``{name: value}`` mapping.

    Raises:
        InputError: a pair without a colon, an invalid name, a line break or a non-ASCII character (the text of a
            header is never shown).
    """
    pairs = [f"{k}: {v}" for k, v in items.items()] if isinstance(items, Mapping) else list(items or ())
    out: dict[str, str] = {}
    for i, item in enumerate(pairs, 1):
        name, sep, value = str(item).partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not _HEADER_NAME.fullmatch(name) or "\r" in value or "\n" in value or not value.isascii():
            raise InputError(f"malformed --header number {i}: expected 'Name: value' on one line, in ASCII "
                             "(its text is not shown)", hint="e.g. --header \"Authorization: Bearer $API_TOKEN\"")
        out[name] = value
    return out


def ingest_url(
    store: Any,
    entity: str,
    url: str,
    *,
    headers: Mapping[str, str] | Sequence[str] | None = None,
    records_key: str | None = None,
    mapping: Mapping[str, str] | Sequence[str] | None = None,
    cipher: PIICipher | None = None,
    progress: bool | None = None,
    chunk_size: int | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    timeout: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF_S,
    since_param: str | None = None,
    since_field: str | None = None,
    full: bool = False,
    cursor_scope: str | None = None,
) -> IngestReport:
    """Ingest the records a REST API returns at ``url`` and its next pages as ``entity``.

    A failure part-way (the network down on page 5, retries exhausted) stores the records of the pages read before
    it and raises; rerunning reads the API again and the records already stored count as duplicates.

    With ``since_param`` and ``since_field`` the pull is incremental: the run stores the largest value of the
    records' ``since_field`` (as received, before ``mapping``), and the next run asks the first page with
    ``since_param=<that value>`` added to the URL's query; the API does the filtering (records it returns again
    count as duplicates). The cursor moves only when the run completes. Records without the field are ingested and
    counted in the report; a first page where no record has it is an error.

    Args:
        store: the workspace :class:`~persona.store.Store`.
        entity: ``customers``, ``products``, ``events``, ``reviews`` or ``consents``.
        url: the first page (``http`` or ``https``).
        headers: request headers, ``{"Authorization": "Bearer …"}`` or ``["Name: value", …]`` (``--header``).
        records_key: where an object body holds the records (dots for nested keys); default auto-detected.
        mapping: ``{their_column: our_column}`` or ``["their=our", …]`` (``--map``).
        cipher: PII cipher; default the workspace's.
        progress: show a row counter on long loads; default ``settings.progress``.
        chunk_size: records per transaction; default ``settings.chunk_size``.
        max_pages: the most pages read; an API offering more raises.
        timeout: seconds to wait for each response.
        retries: further attempts of a request that gets 429, 5xx or a connection error.
        backoff: the first wait between attempts, doubled each time (``Retry-After`` takes precedence).
        since_param: the API's query parameter that returns only records from a value on (``updated_since``).
        since_field: the record field whose largest value the next run passes (dots for nested fields).
        full: with ``since_param``, read everything this once (no parameter added), then store a fresh cursor.
        cursor_scope: tells this source's cursor apart from another's on the same URL and parameters, e.g. two
            tenants of one API with different credentials (``persona sync`` passes the configured source's name).

    Returns:
        The counts, the quarantine file and stubs created; ``source`` is the URL with secret query values hidden;
        ``cursor`` (incremental pulls) the field and the values read from and up to.

    Raises:
        InputError: malformed headers or options; ``since_param`` without ``since_field`` or the other way round;
            ``full`` without them.
        CursorError: no record of the first page has ``since_field``, or its values cannot be ordered.
        SourceError: a bad URL, 401/403/404 or another 4xx, a body that is not JSON or holds no records, a next link
            that loops, leaves the host while headers are set, or goes past ``max_pages``.
        SourceUnavailableError: the API cannot be reached or keeps failing (429, 5xx) after the retries.
        SchemaError: the records lack required columns.
    """
    from persona.ingest.schema import get_spec

    get_spec(entity)
    hdrs = parse_headers(headers)
    mp = dict(mapping) if isinstance(mapping, Mapping) else parse_map(mapping)
    if max_pages < 1 or retries < 0 or timeout <= 0 or backoff < 0:
        raise InputError(f"max_pages={max_pages}, retries={retries}, timeout={timeout}, backoff={backoff}",
                         hint="max_pages >= 1, retries >= 0, timeout > 0 and backoff >= 0")
    cursor = _incremental(store, entity, since_param, since_field, full, cursor_scope)
    reader = RestReader(url, entity=entity, headers=hdrs, records_key=records_key,
                        chunk_size=chunk_size or store.settings.chunk_size, max_pages=max_pages, timeout=timeout,
                        retries=retries, backoff=backoff, cursor=cursor, since_param=since_param)
    return ingest_pulled(store, entity, reader, mapping=mp, cipher=cipher, progress=progress, cursor=cursor)


def _incremental(store: Any, entity: str, since_param: str | None, since_field: str | None,
                 full: bool, scope: str | None = None) -> IncrementalPull | None:
    """The cursor of an incremental pull, or None; the two options go together.

    Raises:
        InputError: one of ``since_param`` and ``since_field`` without the other, an empty one, or ``full`` alone.
    """
    example = "e.g. --since-param updated_since --since-field updated_at"
    if (since_param is None) != (since_field is None):
        given, missing = ("--since-param", "--since-field") if since_field is None else ("--since-field", "--since-param")
        raise InputError(f"{given} needs {missing}: --since-param names the API's query parameter that filters, "
                         "--since-field the record field whose largest value it is given", hint=example)
    if since_param is None:
        if full:
            raise InputError("--full (full=True) applies to incremental pulls only",
                             hint=f"add --since-param and --since-field ({example}); without them every run reads everything anyway")
        return None
    if not since_param.strip():
        raise InputError("--since-param is empty", hint=example)
    return IncrementalPull(store, entity, str(since_field), full=full, what="field", scope=scope)


class RestReader:
    """The records of an API's pages as raw chunks of at most ``chunk_size`` records."""

    def __init__(self, url: str, *, entity: str, headers: dict[str, str], records_key: str | None, chunk_size: int,
                 max_pages: int, timeout: float, retries: int, backoff: float, cursor: IncrementalPull | None = None,
                 since_param: str | None = None) -> None:
        """Check the URL and prepare the client (nothing is fetched yet); look up ``cursor``'s stored value.

        Raises:
            SourceError: the URL is not an absolute http(s) URL.
        """
        self.start = _parse_url(url)
        self.source, identity = _named(self.start, since_param)
        self.first = self.start  # the first page asked for: with since_param=<cursor> on an incremental run
        self._cursor = cursor
        if cursor is not None:
            assert since_param is not None
            start = cursor.start(identity, self.source)
            if start is not None:
                self.first = self.start.copy_set_param(since_param.strip(), encode_value(start)[1])
        self.label = self.start.host + (self.start.path if self.start.path != "/" else "")
        self.entity = entity
        self.headers = headers
        self.records_key = records_key.strip() if records_key else None
        self.chunk_size = max(1, int(chunk_size))
        self.max_pages = max_pages
        self.retries = retries
        self.backoff = backoff
        self._secrets = _secret_fragments(headers)
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False,
                                    headers={"Accept": _ACCEPT, "User-Agent": "persona-ingest"})

    def close(self) -> None:
        """Close the HTTP client (safe to call twice)."""
        self._client.close()

    def chunks(self) -> Iterator[RawChunk]:
        """The records of every page, chunked; a record that is not a JSON object comes back as bad.

        Bad records before the first object wait for it, so that the first chunk shows the records' columns.

        Raises:
            SourceError, SourceUnavailableError: as :func:`ingest_url`, after yielding the records read before;
                SourceError also when no record at all is a JSON object.
        """
        recs: list[dict[str, Any]] = []
        raws: list[str | None] = []
        lines: list[int] = []
        bad: list[BadRecord] = []
        n = 0
        seen_object = False
        try:
            for number, page in enumerate(self._pages(), 1):
                if self._cursor is not None:  # before any record of the page is stored
                    self._take_cursor_values(page, number)
                for entry in page.entries:
                    n += 1
                    if entry.reason is not None:
                        bad.append(BadRecord(n, (entry.raw or "")[:10000], entry.reason))
                    elif not isinstance(entry.value, dict):
                        bad.append(BadRecord(n, _raw(entry)[:10000], f"expected a JSON object per record, found {_kind(entry.value)}"))
                    else:
                        recs.append(entry.value)
                        raws.append(entry.raw)
                        lines.append(n)
                        seen_object = True
                    if len(recs) + len(bad) >= self.chunk_size and seen_object:
                        yield _chunk(recs, raws, lines, bad, n)
                        recs, raws, lines, bad = [], [], [], []
            if bad and not seen_object:
                raise SourceError(f"none of the {n} records of {self.source} is a JSON object ({bad[0].reason})",
                                  hint="each record must be a JSON object; if the objects sit deeper in the response, "
                                       "pass --records-key")
            if recs or bad:
                yield _chunk(recs, raws, lines, bad, n)
        except (SourceError, SourceUnavailableError) as exc:
            if not seen_object:
                raise  # nothing was stored
            if recs or bad:
                yield _chunk(recs, raws, lines, bad, n)  # whole pages read before the failure are kept
            raise type(exc)(exc.message, hint=f"{exc.hint + '; ' if exc.hint else ''}the {n} records read before it are "
                            "stored or quarantined: run the same command again to finish (records already stored "
                            "count as duplicates)") from None
        finally:
            self.close()

    def _take_cursor_values(self, page: Page, number: int) -> None:
        """Feed the cursor the page's values of the field; no record of the first page holding it is an error."""
        assert self._cursor is not None
        field = self._cursor.column
        records = [e.value for e in page.entries if e.reason is None and isinstance(e.value, dict)]
        values = [_field(r, field) for r in records]
        if number == 1 and records and all(v is _ABSENT for v in values):
            keys = sorted({str(k) for r in records[:100] for k in r})
            shown = ", ".join(keys[:40]) + (", …" if len(keys) > 40 else "")
            raise CursorError(f"--since-field {field!r} is in none of the {len(records)} records of the first page of "
                              f"{self.source} (fields there: {shown})",
                              hint="name a field the records carry, as the API sends it (before --map; dots for nested "
                                   "fields, e.g. meta.updated_at)")
        self._cursor.add(None if v is _ABSENT else v for v in values)

    def _pages(self) -> Iterator[Page]:
        url = self.first
        seen = {str(url)}
        number = 0
        while True:
            number += 1
            resp = self._get(url, number)
            shown = redact_url(str(resp.url))
            page = parse_page(resp.text, url=shown, content_type=resp.headers.get("content-type", ""),
                              records_key=self.records_key, entity=self.entity)
            log.info("ingest source=rest page=%d records=%d url=%s", number, len(page.entries), shown)
            yield page
            link = _link_next(resp) or page.next_link
            if not link:
                return
            try:
                nxt = resp.url.join(link)
            except httpx.InvalidURL:
                raise SourceError(f"page {number} of {self.source} names a next page that is not a URL (it starts "
                                  f"{scheme_of(link)})", hint="check the API's pagination") from None
            if str(nxt) in seen:
                raise SourceError(f"page {number} of {self.source} links back to an earlier page ({redact_url(str(nxt))}): "
                                  "the pagination loops", hint="check the API's pagination parameters in --url")
            if number >= self.max_pages:
                raise SourceError(f"stopped after {self.max_pages} pages of {self.source}: the API offers more",
                                  hint="raise --max-pages")
            self._check_host(nxt, "the next link of page " + str(number))
            seen.add(str(nxt))
            url = nxt

    def _get(self, url: httpx.URL, page: int) -> httpx.Response:
        """GET one page, following same-host redirects; 401/403/404 and other 4xx become errors."""
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._attempts(url, page)
            if not resp.is_redirect:
                return self._checked(resp, page)
            target = resp.url.join(resp.headers["location"])
            self._check_host(target, f"{redact_url(str(url))} redirects, and")
            url = target
        raise SourceError(f"{redact_url(str(url))} redirects more than {MAX_REDIRECTS} times", hint="check the URL")

    def _attempts(self, url: httpx.URL, page: int) -> httpx.Response:
        """One GET with retries on 429, 5xx and connection errors."""
        shown = redact_url(str(url))
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            wait = self.backoff * 2 ** (attempt - 1)
            try:
                resp = self._client.get(url, headers=self.headers)
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise SourceUnavailableError(
                        f"GET {shown} (page {page}) failed {attempts} time(s): {type(exc).__name__}: {self._scrub(str(exc))}",
                        hint="check the URL and the network; the API may be down") from None
                why = type(exc).__name__
            except httpx.HTTPError as exc:  # an answer that cannot be read (a broken compressed body…)
                raise SourceError(f"GET {shown} (page {page}) failed: {type(exc).__name__}: {self._scrub(str(exc))}",
                                  hint="check the URL; the API's answer could not be read") from None
            else:
                if resp.status_code != 429 and resp.status_code < 500:
                    return resp
                if attempt == attempts:
                    raise SourceUnavailableError(
                        f"{shown} (page {page}) answered {resp.status_code} {resp.reason_phrase} {attempts} time(s)",
                        hint="the API is rate-limiting (429) or failing (5xx): try again later, or raise the retries")
                asked = _retry_after(resp)
                wait = asked if asked is not None else wait
                why = str(resp.status_code)
            wait = min(max(wait, 0.0), MAX_WAIT_S)
            log.info("ingest source=rest retry url=%s attempt=%d reason=%s wait_s=%.1f", shown, attempt, why, wait)
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _checked(self, resp: httpx.Response, page: int) -> httpx.Response:
        shown = redact_url(str(resp.url))
        status = resp.status_code
        where = "" if page == 1 else f" (page {page}, from the previous page's next link)"
        if 200 <= status < 300:
            return resp
        if status in (401, 403):
            what = "refused the credentials" if status == 401 else "does not allow these credentials here"
            raise SourceError(f"{shown} answered {status} {resp.reason_phrase}{where}: the API {what}",
                              hint="check --header, e.g. --header \"Authorization: Bearer $API_TOKEN\" (missing, wrong or expired?)")
        if status == 404:
            raise SourceError(f"{shown} answered 404 Not Found{where}", hint="check the URL (path and query)")
        snippet = " ".join(resp.text[:200].split())
        raise SourceError(f"{shown} answered {status} {resp.reason_phrase}{where}: {self._scrub(snippet)!r}",
                          hint="check the URL and its query parameters")

    def _check_host(self, target: httpx.URL, what: str) -> None:
        """Header values (tokens) go only to the host of the first URL."""
        if self.headers and target.host.lower() != self.start.host.lower():
            raise SourceError(f"{what} leads to another host ({target.host}) than --url ({self.start.host})",
                              hint="Persona sends --header values only to the host of --url; start at the other host "
                                   "if it is meant")

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def url_identity(url: str, since_param: str | None = None) -> tuple[str, list[str]]:
    """How an API endpoint is named, without fetching: as reports and ``ingest_runs`` show it (secret query values
    hidden), and the texts its cursor key is made of (see :func:`~persona.ingest.sources.cursor.source_key`).

    Raises:
        SourceError: the URL is not an absolute http(s) URL.
    """
    return _named(_parse_url(url), since_param)


def _named(start: httpx.URL, since_param: str | None) -> tuple[str, list[str]]:
    source = redact_url(str(start))
    return source, [source, (since_param or "").strip()]


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(str(url).strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        raise SourceError(f"cannot parse the URL (it starts {scheme_of(str(url))})",
                          hint="give an absolute URL such as https://api.example.com/v1/customers") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise SourceError(f"{redact_url(str(url))!r} is not an http(s) URL",
                          hint="give an absolute URL such as https://api.example.com/v1/customers") from None
    return parsed


def _secret_fragments(headers: Mapping[str, str]) -> list[str]:
    """Header values, and their words of 6+ characters (the token of 'Bearer TOKEN'), longest first."""
    out = set()
    for value in headers.values():
        if len(value) >= 4:
            out.add(value)
        out.update(w for w in value.split() if len(w) >= 6)
    return sorted(out, key=len, reverse=True)


_ABSENT = object()


def _field(record: dict[str, Any], path: str) -> Any:
    """``record``'s value at ``path`` (a key, or dots into nested objects), or ``_ABSENT``."""
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _ABSENT
        value = value[part]
    return value


def _link_next(resp: httpx.Response) -> str | None:
    """The ``rel="next"`` target of the ``Link`` header (RFC 8288), if any."""
    for link in resp.links.values():
        if "next" in str(link.get("rel", "")).lower().split() and link.get("url"):
            return str(link["url"])
    return None


def _retry_after(resp: httpx.Response) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date); None when absent or unreadable."""
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(type(value), "null")


def _raw(entry: Entry) -> str:
    return entry.raw if entry.raw is not None else dumps(entry.value, compact=False)


def _chunk(recs: list[dict[str, Any]], raws: list[str | None], lines: list[int], bad: list[BadRecord], position: int) -> RawChunk:
    """Records as a JSON-lines-like chunk: one object column per key, raw text on demand."""
    frame = pd.DataFrame(recs, dtype=object) if recs else pd.DataFrame()  # 3 stays 3, not 3.0

    def raw_of(i: int, _recs: list[dict[str, Any]] = recs, _raws: list[str | None] = raws) -> str:
        return _raws[i] if _raws[i] is not None else dumps(_recs[i], compact=False)

    return RawChunk(frame=frame, lines=np.asarray(lines, dtype=np.int64), raw=raw_of, bad=list(bad), position=position)
