"""REST API source: pagination (Link header, body links), record keys, retries, errors, secrets, reruns.

Every test talks to a real HTTP server on the loopback interface (``loopback_http.LoopbackAPI``).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator

import pytest
from loopback_http import LoopbackAPI, Reply

from persona.errors import InputError, SourceError, SourceUnavailableError
from persona.ingest import ingest_url
from persona.privacy.crypto import PIICipher

CIPHER = PIICipher(b"r" * 32)
TOKEN = "tok-5e6a1f0d9c2b7a83"


@pytest.fixture
def api() -> Iterator[LoopbackAPI]:
    with LoopbackAPI() as a:
        yield a


def _events(lo: int, hi: int) -> list[dict]:
    return [{"event_id": f"e{i}", "customer_id": f"c{i % 3}", "event_type": "view", "timestamp": 1_700_000_000 + i}
            for i in range(lo, hi)]


def _stored_ids(store) -> list[str]:
    return sorted(store.read_frame("SELECT event_id FROM events")["event_id"].tolist())


def _quarantine(path: str) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))[1:]


def test_link_header_pagination_with_relative_links_sends_the_token_and_never_reports_it(store, api, caplog):
    api.route("/v1/events", Reply(_events(0, 4), headers={"Link": '</v1/events?page=2>; rel="next", </v1/events>; rel="first"'}))
    api.route("/v1/events?page=2", Reply(_events(4, 8) + ["not an object"], headers={"Link": '<?page=3>; rel="next"'}))
    api.route("/v1/events?page=3", Reply(_events(8, 10)))
    with caplog.at_level(logging.DEBUG):
        rep = ingest_url(store, "events", api.url("/v1/events"), headers=[f"Authorization: Bearer {TOKEN}"], cipher=CIPHER)
    assert (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (11, 10, 0, 1)
    assert "page=3 records=2" in caplog.text and TOKEN not in caplog.text
    assert _stored_ids(store) == sorted(f"e{i}" for i in range(10))
    assert [r.path for r in api.requests] == ["/v1/events", "/v1/events?page=2", "/v1/events?page=3"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in api.requests)
    assert _quarantine(rep.quarantine) == [["9", "expected a JSON object per record, found a string", '"not an object"']]
    runs = store.read_frame("SELECT source, status FROM ingest_runs")
    assert runs["status"].tolist() == ["done"] and runs["source"].tolist() == [api.url("/v1/events")]
    for text in (json.dumps(rep.as_dict()), open(rep.quarantine, encoding="utf-8").read(), runs.to_json()):
        assert TOKEN not in text


def test_body_next_links_and_auto_detected_record_keys(store, api):
    api.route("/a", Reply({"data": _events(0, 3), "links": {"next": "/b"}}))
    api.route("/b", Reply({"results": _events(3, 6), "next_url": api.url("/c")}))
    api.route("/c", Reply({"items": _events(6, 8), "paging": {"next": "/d?cursor=x"}}))
    api.route("/d?cursor=x", Reply({"events": _events(8, 9), "meta": {"count": 1}, "_links": {"next": {"href": "/e"}}}))
    api.route("/e", Reply({"data": [], "next": None}))
    rep = ingest_url(store, "events", api.url("/a"), cipher=CIPHER)
    assert (rep.read, rep.accepted, rep.rejected) == (9, 9, 0)
    assert _stored_ids(store) == sorted(f"e{i}" for i in range(9))
    assert api.hits("/e") == 1


def test_records_key_nested_and_missing(store, api):
    api.route("/wrapped", Reply({"result": {"rows": _events(0, 3), "total": 3}, "status": "ok"}))
    rep = ingest_url(store, "events", api.url("/wrapped"), records_key="result.rows", cipher=CIPHER)
    assert (rep.read, rep.accepted) == (3, 3)
    with pytest.raises(SourceError, match=r"has no 'payload' \(keys found: \['result', 'status'\]\)"):
        ingest_url(store, "events", api.url("/wrapped"), records_key="payload", cipher=CIPHER)
    api.route("/ambiguous", Reply({"a": [1], "b": [2]}))
    with pytest.raises(SourceError, match="pass it as --records-key"):
        ingest_url(store, "events", api.url("/ambiguous"), cipher=CIPHER)


def test_429_and_503_then_200_are_retried(store, api):
    api.route("/flaky", Reply({"error": "slow down"}, 429, {"Retry-After": "0"}), Reply({"error": "busy"}, 503),
              Reply({"data": _events(0, 5)}))
    rep = ingest_url(store, "events", api.url("/flaky"), cipher=CIPHER, backoff=0.01)
    assert (rep.read, rep.accepted) == (5, 5) and api.hits("/flaky") == 3
    assert store.count("events") == 5


def test_401_says_check_header_and_hides_the_token(store, api):
    api.route("/private", Reply({"error": f"bad token {TOKEN}"}, 401))
    with pytest.raises(SourceError) as ei:
        ingest_url(store, "events", api.url("/private"), headers={"Authorization": f"Bearer {TOKEN}"}, cipher=CIPHER)
    assert "401" in str(ei.value) and "check --header" in str(ei.value) and TOKEN not in str(ei.value)
    assert api.hits("/private") == 1  # not retried
    assert store.count("events") == 0


def test_non_object_records_and_bad_json_lines_are_quarantined_with_their_record_number(store, api):
    api.route("/mixed", Reply([_events(0, 1)[0], 1, [2], None, True, _events(1, 2)[0]]))
    rep = ingest_url(store, "events", api.url("/mixed"), cipher=CIPHER)
    assert (rep.read, rep.accepted, rep.rejected) == (6, 2, 4)
    assert [(r[0], r[2]) for r in _quarantine(rep.quarantine)] == [("2", "1"), ("3", "[2]"), ("4", "null"), ("5", "true")]
    lines = "\n".join(json.dumps(e) for e in _events(10, 12)) + "\n{broken\n" + json.dumps({"customer_id": "c1"}) + "\n"
    api.route("/lines", Reply(lines.encode(), headers={"Content-Type": "application/x-ndjson"}))
    rep = ingest_url(store, "events", api.url("/lines"), cipher=CIPHER)
    assert (rep.read, rep.accepted, rep.rejected) == (4, 2, 2)
    reasons = {r[0]: r[1] for r in _quarantine(rep.quarantine)}
    assert reasons["3"].startswith("invalid JSON") and reasons["4"].startswith("missing event_type")
    api.route("/late", Reply([7, "x", *_events(20, 22)]))  # the objects come after a chunk's worth of others
    rep = ingest_url(store, "events", api.url("/late"), cipher=CIPHER, chunk_size=2)
    assert (rep.read, rep.accepted, rep.rejected) == (4, 2, 2)
    assert [r[0] for r in _quarantine(rep.quarantine)] == ["1", "2"]
    api.route("/ids", Reply({"data": ["c1", "c2"]}))
    with pytest.raises(SourceError, match="none of the 2 records .* is a JSON object .*found a string"):
        ingest_url(store, "events", api.url("/ids"), cipher=CIPHER)


def test_failure_mid_stream_keeps_whole_pages_and_a_rerun_finishes_without_duplicates(store, api):
    api.route("/p1", Reply(_events(0, 5), headers={"Link": '</p2>; rel="next"'}))
    api.route("/p2", Reply(_events(5, 10), headers={"Link": '</p3>; rel="next"'}))
    api.route("/p3", Reply("down", 500))
    with pytest.raises(SourceUnavailableError) as ei:
        ingest_url(store, "events", api.url("/p1"), cipher=CIPHER, chunk_size=3, retries=1, backoff=0)
    msg = str(ei.value)
    assert "500" in msg and "page 3" in msg and "the 10 records read before it are stored" in msg
    assert _stored_ids(store) == sorted(f"e{i}" for i in range(10)) and api.hits("/p3") == 2
    assert store.read_frame("SELECT status, read FROM ingest_runs").values.tolist() == [["failed", 10]]

    api.route("/p3", Reply(_events(10, 12)))
    rep = ingest_url(store, "events", api.url("/p1"), cipher=CIPHER, chunk_size=3)
    assert (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (12, 2, 10, 0)
    assert _stored_ids(store) == sorted(f"e{i}" for i in range(12))


def test_pagination_errors_loop_404_html_max_pages_and_other_hosts(store, api):
    api.route("/loop", Reply(_events(0, 2), headers={"Link": '</loop2>; rel="next"'}))
    api.route("/loop2", Reply(_events(2, 4), headers={"Link": '</loop>; rel="next"'}))
    with pytest.raises(SourceError, match="links back to an earlier page"):
        ingest_url(store, "events", api.url("/loop"), cipher=CIPHER)
    assert store.count("events") == 4  # the two pages before the loop are kept

    with pytest.raises(SourceError, match="answered 404 Not Found"):
        ingest_url(store, "events", api.url("/missing"), cipher=CIPHER)
    api.route("/html", Reply("<!DOCTYPE html><html><body>Login</body></html>", headers={"Content-Type": "text/html"}))
    with pytest.raises(SourceError, match=r"did not return JSON \(Content-Type text/html"):
        ingest_url(store, "events", api.url("/html"), cipher=CIPHER)
    with pytest.raises(SourceError, match="stopped after 1 pages"):
        ingest_url(store, "events", api.url("/loop"), cipher=CIPHER, max_pages=1)

    api.route("/away", Reply(_events(0, 1), headers={"Link": f'<{api.url("/x", host="localhost")}>; rel="next"'}))
    with pytest.raises(SourceError, match="another host") as ei:
        ingest_url(store, "events", api.url("/away"), headers={"X-Api-Key": TOKEN}, cipher=CIPHER)
    assert TOKEN not in str(ei.value) and api.hits("/x") == 0


def test_unreachable_api_fails_after_bounded_retries(store):
    with LoopbackAPI() as gone:
        url = gone.url("/gone")
    # the server is closed: nothing listens on its port any more
    with pytest.raises(SourceUnavailableError, match=r"failed 2 time\(s\): ConnectError"):
        ingest_url(store, "events", url, cipher=CIPHER, retries=1, backoff=0)


def test_secret_query_values_are_hidden_and_bad_arguments_are_refused(store, api):
    api.route(f"/q?api_key={TOKEN}&page=1", Reply(_events(0, 2)))
    rep = ingest_url(store, "events", api.url(f"/q?api_key={TOKEN}&page=1"), cipher=CIPHER)
    assert rep.accepted == 2 and rep.source.endswith("/q?api_key=***&page=1") and TOKEN not in json.dumps(rep.as_dict())
    with pytest.raises(InputError, match="malformed --header number 1") as ei:
        ingest_url(store, "events", api.url("/q"), headers=[f"Bearer {TOKEN}"], cipher=CIPHER)
    assert TOKEN not in str(ei.value)
    with pytest.raises(InputError, match="malformed --header number 2"):
        ingest_url(store, "events", api.url("/q"), headers={"X-Ok": "fine", "X-Key": "tökén"}, cipher=CIPHER)
    with pytest.raises(SourceError, match="not an http"):
        ingest_url(store, "events", "ftp://example.com/x", cipher=CIPHER)
