"""Incremental REST pulls (``since_param`` + ``since_field``) against a real HTTP server on the loopback interface.

The API does the filtering: each route answers what an API would for that query, and the tests check which
URLs Persona asked for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from loopback_http import LoopbackAPI, Reply

from persona.errors import CursorError, InputError, SourceUnavailableError
from persona.ingest import ingest_url
from persona.ingest.sources.cursor import list_cursors
from persona.privacy.crypto import PIICipher

CIPHER = PIICipher(b"r" * 32)
TOKEN = "tok-incr-4b8e1d7c55"


@pytest.fixture
def api() -> Iterator[LoopbackAPI]:
    with LoopbackAPI() as a:
        yield a


def _events(lo: int, hi: int, *, minute: int | None = None) -> list[dict]:
    """Events e{lo}..e{hi-1}; their ``meta.updated`` is 10:{i} (or 10:{minute} for all of them)."""
    return [{"event_id": f"e{i}", "customer_id": f"c{i % 3}", "event_type": "view", "timestamp": 1_700_000_000 + i,
             "meta": {"updated": f"2026-11-01T10:{minute if minute is not None else i:02d}:00Z"}} for i in range(lo, hi)]


def _since(path: str, value: str, **more: str) -> str:
    return f"{path}?{urlencode({**more, 'since': value})}"


def _pull(store, api, path: str = "/v1/events", **kw):
    return ingest_url(store, "events", api.url(path), cipher=CIPHER, since_param="since", since_field="meta.updated",
                      headers=[f"Authorization: Bearer {TOKEN}"], **kw)


def test_first_run_reads_all_then_the_api_is_asked_from_the_cursor(store, api):
    api.route("/v1/events", Reply(_events(0, 4), headers={"Link": '</v1/events?page=2>; rel="next"'}))
    api.route("/v1/events?page=2", Reply(_events(4, 6)))
    first = _pull(store, api)
    assert (first.read, first.accepted) == (6, 6)
    assert first.cursor == {"key": first.cursor["key"], "column": "meta.updated", "from": None,
                            "to": "2026-11-01T10:05:00Z", "type": "text", "missing": 0, "full": False}
    # the API returns what is >= the cursor: e5 again, e6 new, e7 late at the cursor's value
    api.route(_since("/v1/events", "2026-11-01T10:05:00Z"), Reply(_events(5, 7) + _events(7, 8, minute=5)))
    second = _pull(store, api)
    assert (second.read, second.accepted, second.duplicates) == (3, 2, 1)
    assert (second.cursor["from"], second.cursor["to"]) == ("2026-11-01T10:05:00Z", "2026-11-01T10:06:00Z")
    assert api.requests[-1].path == _since("/v1/events", "2026-11-01T10:05:00Z")
    assert store.count("events") == 8
    [stored] = list_cursors(store)
    assert stored["source"] == api.url("/v1/events") and TOKEN not in json.dumps(stored, default=str)
    assert TOKEN not in json.dumps(second.as_dict())

    full = _pull(store, api, full=True)  # no since parameter: the whole walk again
    assert api.requests[-1].path == "/v1/events?page=2" and api.requests[-2].path == "/v1/events"
    assert (full.read, full.duplicates, full.cursor["from"], full.cursor["to"]) == (6, 6, None, "2026-11-01T10:05:00Z")


def test_integer_field_replaces_a_since_value_already_in_the_url_and_keeps_other_parameters(store, api):
    records = [{"event_id": f"e{i}", "customer_id": "c1", "event_type": "view", "timestamp": 1_700_000_000 + i, "seq": i}
               for i in range(1, 5)]
    api.route("/ev?since=0&kind=view", Reply({"data": records}))
    first = ingest_url(store, "events", api.url("/ev?since=0&kind=view"), cipher=CIPHER, since_param="since",
                       since_field="seq")
    assert first.read == 4 and (first.cursor["to"], first.cursor["type"]) == (4, "integer")
    api.route("/ev?since=4&kind=view", Reply({"data": records[3:]}))
    second = ingest_url(store, "events", api.url("/ev?since=0&kind=view"), cipher=CIPHER, since_param="since",
                        since_field="seq")
    assert (second.read, second.duplicates, second.cursor["to"]) == (1, 1, 4)
    assert api.requests[-1].path == "/ev?since=4&kind=view"


def test_records_without_the_field_count_and_a_first_page_without_it_is_an_error(store, api):
    partial = _events(0, 3)
    del partial[1]["meta"]
    partial[2]["meta"]["updated"] = None
    api.route("/partial", Reply(partial))
    rep = _pull(store, api, "/partial")
    assert (rep.read, rep.accepted, rep.cursor["missing"], rep.cursor["to"]) == (3, 3, 2, "2026-11-01T10:00:00Z")

    none = [{k: v for k, v in e.items() if k != "meta"} for e in _events(10, 12)]
    api.route("/none", Reply(none))
    with pytest.raises(CursorError, match=r"'meta.updated' is in none of the 2 records of the first page of .*/none "
                                          r"\(fields there: customer_id, event_id, event_type, timestamp\)"):
        _pull(store, api, "/none")
    mixed = _events(20, 22)
    mixed[1]["meta"]["updated"] = 1_700_000_000
    api.route("/mixed", Reply(mixed))
    with pytest.raises(CursorError, match=r"cannot be ordered together \(number and text\)"):
        _pull(store, api, "/mixed")
    assert store.count("events") == 3 and store.count("ingest_runs") == 1 and len(list_cursors(store)) == 1


def test_a_failure_part_way_keeps_the_old_cursor_and_the_rerun_loses_nothing(store, api):
    api.route("/p1", Reply(_events(0, 3)))
    _pull(store, api, "/p1")
    after = _since("/p1", "2026-11-01T10:02:00Z")
    api.route(after, Reply(_events(2, 6), headers={"Link": '</p2>; rel="next"'}))
    api.route("/p2", Reply("down", 500))
    with pytest.raises(SourceUnavailableError, match="page 2"):
        _pull(store, api, "/p1", retries=0)
    assert store.count("events") == 6  # the first page's records are stored
    assert [c["value"] for c in list_cursors(store)] == ["2026-11-01T10:02:00Z"]  # but the cursor did not move
    api.route("/p2", Reply(_events(6, 8)))
    rerun = _pull(store, api, "/p1")
    assert api.requests[-2].path == after  # asked again from the old cursor
    assert (rerun.read, rerun.accepted, rerun.duplicates) == (6, 2, 4) and store.count("events") == 8
    assert rerun.cursor["to"] == "2026-11-01T10:07:00Z"


def test_options_go_together_and_write_nothing(store, api):
    api.route("/x", Reply(_events(0, 2)))
    cases = [({"since_param": "since"}, "--since-param needs --since-field"),
             ({"since_field": "meta.updated"}, "--since-field needs --since-param"),
             ({"full": True}, "applies to incremental pulls only"),
             ({"since_param": " ", "since_field": "x"}, "--since-param is empty")]
    for kw, needle in cases:
        with pytest.raises(InputError, match=needle):
            ingest_url(store, "events", api.url("/x"), cipher=CIPHER, **kw)
    assert api.requests == [] and store.count("ingest_runs") == 0
