"""Sources configured in ``config.toml`` (``[sources.NAME]``): parsing, secrets from the environment, pulling them in
dependency order with one failure not stopping the others, and the pipeline's demo/ingest stages pulling them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from loopback_http import LoopbackAPI, Reply

from persona.errors import ConfigError, InputError
from persona.ingest.sources.configured import load_sources, parse_sources, select_sources, sync_sources
from persona.pipeline.stage import RunContext
from persona.pipeline.stages.data import DEMO, INGEST

TOKEN = "cfg-tok-0b1c2d3e4f"


@pytest.fixture
def crm(tmp_path: Path) -> str:
    """A SQLite file standing in for a CRM database: three customers, one without an id."""
    path = tmp_path / "crm.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE crm (id TEXT, mail TEXT, town TEXT)")
    con.executemany("INSERT INTO crm VALUES (?, ?, ?)", [("c1", "a@example.com", "Oslo"), ("c2", "b@example.com", "Bergen"),
                                                         (None, "x@example.com", "Nowhere")])
    con.commit()
    con.close()
    return f"sqlite:///{path}"


@pytest.fixture
def api():
    with LoopbackAPI() as a:
        yield a


def _events(n: int) -> list[dict]:
    return [{"event_id": f"e{i}", "customer_id": f"c{1 + i % 2}", "event_type": "view", "timestamp": 1_700_000_000 + i}
            for i in range(n)]


def _write_config(settings, text: str) -> None:
    settings.workspace.mkdir(parents=True, exist_ok=True)
    settings.config_path.write_text("[persona]\nseed = 3\n\n" + text, encoding="utf-8")


def test_parse_orders_by_entity_and_keeps_file_order_within_one():
    doc = {"sources": {
        "clicks": {"entity": "events", "url": "https://api.example.com/e"},
        "crm": {"entity": "customers", "sql": "crm", "db": "sqlite:///x.db"},
        "more_clicks": {"entity": "events", "url": "https://api.example.com/f"},
        "catalogue": {"entity": "products", "sql": "SELECT * FROM p", "db_env": "CAT_DB", "map": {"sku": "product_id"}},
    }}
    specs = parse_sources(doc)
    assert [s.name for s in specs] == ["crm", "catalogue", "clicks", "more_clicks"]
    assert [s.kind for s in specs] == ["sql", "sql", "url", "url"]
    assert specs[1].map == {"sku": "product_id"}
    assert [s.name for s in select_sources(specs, ["clicks", "crm"])] == ["crm", "clicks"]


@pytest.mark.parametrize(("table", "expected"), [
    ({"sql": "t", "db": "sqlite:///x.db"}, "entity: Field required"),
    ({"entity": "orders", "sql": "t", "db": "sqlite:///x.db"}, "entity: Input should be"),
    ({"entity": "events"}, "exactly one of sql"),
    ({"entity": "events", "sql": "t", "url": "https://x"}, "exactly one of sql"),
    ({"entity": "events", "sql": "t"}, "exactly one of db and db_env"),
    ({"entity": "events", "sql": "t", "db": "sqlite:///x.db", "db_env": "X"}, "exactly one of db and db_env"),
    ({"entity": "events", "sql": "t", "db": "sqlite:///x.db", "records_key": "data"}, "records_key only apply to a url"),
    ({"entity": "events", "url": "https://x", "db": "sqlite:///x.db"}, "db, db_env and since_column only apply to a sql"),
    ({"entity": "events", "url": "https://x", "since_column": "at"}, "db, db_env and since_column only apply to a sql"),
    ({"entity": "events", "url": "https://x", "since_param": "since"}, "since_param and since_field go together"),
    ({"entity": "events", "sql": "t", "db": "sqlite:///x.db", "since_field": "at"}, "since_field only apply to a url"),
    ({"entity": "events", "url": "https://x", "max_pages": 0}, "max_pages: Input should be greater than or equal to 1"),
    ({"entity": "events", "url": "https://x", "header": {"A": "B"}}, "header: unknown key (did you mean headers_env?)"),
    ({"entity": "events", "sql": "t", "db": "sqlite:///x.db", "sincecolumn": "at"},
     "sincecolumn: unknown key (did you mean since_column?)"),
    ({"entity": "events", "url": "https://x", "zzz": 1}, "zzz: unknown key (known: entity, sql, db, db_env, url,"),
])
def test_an_invalid_source_is_named_with_what_is_wrong(table, expected):
    with pytest.raises(ConfigError) as err:
        parse_sources({"sources": {"feed": table}})
    assert "[sources.feed] is invalid" in err.value.message and expected in err.value.message


def test_sources_must_be_tables():
    with pytest.raises(ConfigError, match=r"\[sources\] must be a table"):
        parse_sources({"sources": ["crm"]})
    with pytest.raises(ConfigError, match=r"sources.crm must be a table"):
        parse_sources({"sources": {"crm": "sqlite:///x.db"}})


def test_no_or_unknown_sources(settings):
    assert load_sources(settings) == []  # no config file: nothing configured
    with pytest.raises(InputError, match="no sources are configured"):
        select_sources([], None)
    specs = parse_sources({"sources": {"crm": {"entity": "customers", "sql": "crm", "db": "sqlite:///x.db"}}})
    with pytest.raises(InputError, match=r"unknown source\(s\) 'crn'") as err:
        select_sources(specs, ["crn"])
    assert err.value.hint == "configured: crm"


def test_a_malformed_config_file_is_a_config_error(settings):
    _write_config(settings, "[sources.crm\nentity = 'customers'\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_sources(settings)


def test_sync_pulls_in_order_reads_secrets_from_the_environment_and_survives_a_failing_source(initialised_store, crm, api,
                                                                                             monkeypatch):
    api.route("/v1/events", Reply({"data": _events(6)}))
    api.route("/v1/reviews", Reply({"error": "gone"}, status=404))
    monkeypatch.setenv("CRM_URL", crm)
    monkeypatch.setenv("SHOP_AUTH", f"Bearer {TOKEN}")
    _write_config(initialised_store.settings, f"""
[sources.clicks]
entity = "events"
url = "{api.url('/v1/events')}"
headers_env = {{Authorization = "SHOP_AUTH"}}
records_key = "data"

[sources.reviews]
entity = "reviews"
url = "{api.url('/v1/reviews')}"
retries = 0

[sources.crm]
entity = "customers"
sql = "crm"
db_env = "CRM_URL"
map = {{id = "customer_id", mail = "email", town = "city"}}
""")
    results = sync_sources(initialised_store, load_sources(initialised_store.settings), progress=False)
    assert [(r.name, r.status) for r in results] == [("crm", "ok"), ("clicks", "ok"), ("reviews", "failed")]
    crm_row, clicks, reviews = (r.as_dict() for r in results)
    assert (crm_row["read"], crm_row["accepted"], crm_row["rejected"]) == (3, 2, 1)
    assert (clicks["read"], clicks["accepted"]) == (6, 6)
    assert "404" in reviews["error"] and "read" not in reviews
    assert api.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    cities = initialised_store.read_frame("SELECT customer_id, city FROM customers ORDER BY customer_id")
    assert cities.values.tolist() == [["c1", "Oslo"], ["c2", "Bergen"]]
    again = sync_sources(initialised_store, load_sources(initialised_store.settings)[:2], progress=False)  # adds nothing
    assert [(r.report["accepted"], r.report["duplicates"]) for r in again] == [(0, 2), (0, 6)]


def test_a_missing_environment_variable_fails_that_source_only(initialised_store, crm, monkeypatch):
    monkeypatch.delenv("NOT_SET_DB", raising=False)
    monkeypatch.delenv("NOT_SET_TOKEN", raising=False)
    specs = parse_sources({"sources": {
        "a": {"entity": "customers", "sql": "crm", "db_env": "NOT_SET_DB"},
        "b": {"entity": "events", "url": "http://127.0.0.1:9/e", "headers_env": {"Authorization": "NOT_SET_TOKEN"}},
        "c": {"entity": "customers", "sql": "crm", "db": crm, "map": {"id": "customer_id"}},
    }})
    a, c, b = sync_sources(initialised_store, specs, progress=False)
    assert a.status == "failed" and "NOT_SET_DB" in a.error and "export NOT_SET_DB" in a.hint
    assert b.status == "failed" and "NOT_SET_TOKEN" in b.error
    assert c.status == "ok" and c.report["accepted"] == 2


def test_password_inline_is_detected():
    specs = parse_sources({"sources": {
        "pw": {"entity": "customers", "sql": "crm", "db": "postgresql://me:hunter2@db/shop"},
        "nopw": {"entity": "customers", "sql": "crm", "db": "postgresql://me@db/shop"},
        "env": {"entity": "customers", "sql": "crm", "db_env": "X"},
    }})
    assert [s.password_inline() for s in specs] == [True, False, False]


@pytest.fixture
def ctx(settings, initialised_store):
    return RunContext(settings=settings, store=initialised_store, data_dir=None, seed=3, progress=False)


def test_pipeline_pulls_the_configured_sources_instead_of_the_demo(ctx, crm, api):
    api.route("/v1/events", Reply(_events(4)))
    _write_config(ctx.settings, f"""
[sources.crm]
entity = "customers"
sql = "SELECT id AS customer_id, town AS city FROM crm"
db = "{crm}"

[sources.clicks]
entity = "events"
url = "{api.url('/v1/events')}"
""")
    demo = DEMO.run(ctx)
    assert demo.status == "skipped" and "2 configured source(s)" in demo.message
    assert not (ctx.settings.workspace / "demo").exists()
    ing = INGEST.run(ctx)
    assert ing.status == "ok", ing.message
    assert [(r["name"], r["accepted"]) for r in ing.figures["sources"]] == [("crm", 2), ("clicks", 4)]
    assert "<table>" in ing.sections[0].html and "clicks" in ing.sections[0].html


def test_pipeline_ingest_fails_when_a_source_fails_or_no_events_arrive(ctx, crm):
    _write_config(ctx.settings, f"""
[sources.crm]
entity = "customers"
sql = "SELECT id AS customer_id FROM crm"
db = "{crm}"

[sources.missing]
entity = "products"
sql = "no_such_table"
db = "{crm}"
""")
    ing = INGEST.run(ctx)
    assert ing.status == "failed"
    assert ing.message.startswith("missing: ") and "no_such_table" in ing.message
    assert [r["status"] for r in ing.figures["sources"]] == ["ok", "failed"]
    _write_config(ctx.settings, f'[sources.crm]\nentity = "customers"\nsql = "SELECT id AS customer_id FROM crm"\ndb = "{crm}"\n')
    ctx.artifacts.clear()
    ing = INGEST.run(ctx)
    assert ing.status == "failed" and ing.message == "the workspace holds no events"


def test_a_data_folder_wins_over_configured_sources(ctx, crm, tmp_path):
    _write_config(ctx.settings, f'[sources.crm]\nentity = "customers"\nsql = "crm"\ndb = "{crm}"\nmap = {{id = "customer_id"}}\n')
    data = tmp_path / "data"
    data.mkdir()
    (data / "events.csv").write_text("customer_id,event_type,timestamp\nc9,view,2020-01-01\n", encoding="utf-8")
    ctx.data_dir = data
    assert DEMO.run(ctx).status == "skipped"
    ing = INGEST.run(ctx)
    assert ing.status == "ok" and "sources" not in ing.figures and ing.figures["events"]["accepted"] == 1


def test_an_incremental_source_reads_only_new_rows_and_full_reads_all_once(initialised_store, tmp_path):
    db = tmp_path / "shop.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE clicks (event_id TEXT, customer_id TEXT, event_type TEXT, at INTEGER)")
    con.executemany("INSERT INTO clicks VALUES (?, 'c1', 'view', ?)", [(f"e{i}", 1_700_000_000 + i) for i in range(5)])
    con.commit()
    specs = parse_sources({"sources": {"clicks": {"entity": "events", "sql": "SELECT *, at AS timestamp FROM clicks",
                                                  "db": f"sqlite:///{db}", "since_column": "at"}}})
    first = sync_sources(initialised_store, specs, progress=False)[0].report
    assert (first["read"], first["accepted"]) == (5, 5) and first["cursor"]["from"] is None and first["cursor"]["to"] == 1_700_000_004
    con.executemany("INSERT INTO clicks VALUES (?, 'c1', 'view', ?)", [(f"e{i}", 1_700_000_000 + i) for i in range(5, 8)])
    con.commit()
    con.close()
    second = sync_sources(initialised_store, specs, progress=False)[0].report  # the row at the cursor, then the 3 new ones
    assert (second["read"], second["accepted"], second["duplicates"]) == (4, 3, 1)
    assert second["cursor"]["from"] == 1_700_000_004 and second["cursor"]["to"] == 1_700_000_007
    again = sync_sources(initialised_store, specs, full=True, progress=False)[0].report
    assert (again["read"], again["duplicates"]) == (8, 8) and again["cursor"]["full"] is True


def test_two_tenants_of_one_api_keep_their_own_cursors(initialised_store, api, monkeypatch):
    """Same URL and parameters, different credentials: each configured source resumes from its own records."""
    def page(tenant: str, stamps: list[int]) -> list[dict]:
        return [{"event_id": f"{tenant}{t}", "customer_id": f"{tenant}-c", "event_type": "view", "timestamp": t,
                 "updated": t} for t in stamps]

    api.route("/v1/events", Reply(page("a", [1_700_000_900, 1_700_000_950])), Reply(page("b", [1_700_000_100])))
    monkeypatch.setenv("TOKEN_A", "Bearer a")
    monkeypatch.setenv("TOKEN_B", "Bearer b")
    url = api.url("/v1/events")
    specs = parse_sources({"sources": {
        "tenant_a": {"entity": "events", "url": url, "headers_env": {"Authorization": "TOKEN_A"},
                     "since_param": "since", "since_field": "updated"},
        "tenant_b": {"entity": "events", "url": url, "headers_env": {"Authorization": "TOKEN_B"},
                     "since_param": "since", "since_field": "updated"},
    }})
    a, b = sync_sources(initialised_store, specs, progress=False)
    assert a.report["cursor"]["to"] == 1_700_000_950 and b.report["cursor"]["from"] is None  # b did not start from a's
    assert b.report["accepted"] == 1
    assert specs[0].identity().cursor_key == a.report["cursor"]["key"] != b.report["cursor"]["key"]
