"""The dashboard's Sources page: configured sources with their cursors and runs, "Sync now", admin keys only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from web_helpers import CHROMIUM, launch_chromium, serving

from persona.api.keys import create_key
from persona.config import load_settings
from persona.store import open_store
from persona.store.workspace import init_workspace

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "sources"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """A workspace with one incremental SQL source on a SQLite file and one source whose database is missing."""
    pytest.importorskip("uvicorn")
    from persona.api.main import create_app

    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    monkeypatch.setenv("PERSONA_LIVE_LOOP", "0")
    settings = load_settings(tmp_path / "ws", progress=False)
    init_workspace(settings)
    db = tmp_path / "crm.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE crm (customer_id TEXT, city TEXT, updated_at INTEGER)")
    con.executemany("INSERT INTO crm VALUES (?, ?, ?)", [("s1", "Oslo", 5), ("s2", "Bergen", 7), (None, "?", 9)])
    con.commit()
    con.close()
    with settings.config_path.open("a", encoding="utf-8") as f:
        f.write(f'\n[sources.crm]\nentity = "customers"\nsql = "crm"\ndb = "sqlite:///{db}"\nsince_column = "updated_at"\n'
                f'\n[sources.gone]\nentity = "products"\nsql = "products"\ndb = "sqlite:///{tmp_path / "missing.db"}"\n')
    store = open_store(settings)
    keys = {scope: create_key(store, scope)["key"] for scope in ("read", "admin")}
    with serving(create_app(settings, store=store)) as base:
        yield base, keys, settings
    store.dispose()


def _login(c, key: str) -> None:  # noqa: ANN001
    assert c.post("/ui/login", data={"api_key": key}).status_code in (200, 303)


def test_sources_page_is_for_admins_and_actions_need_the_session_token(site) -> None:  # noqa: ANN001
    import httpx

    base, keys, _ = site
    with httpx.Client(base_url=base) as c:
        _login(c, keys["read"])
        r = c.get("/ui/sources")
        assert r.status_code == 200 and "need an admin key" in r.text and "crm" not in r.text
        assert 'href="/ui/sources"' not in c.get("/ui").text  # not in a read key's navigation
        assert c.post("/ui/sources/sync", data={"name": "crm"}).status_code == 403
    with httpx.Client(base_url=base) as c:
        _login(c, keys["admin"])
        assert 'href="/ui/sources"' in c.get("/ui").text
        r = c.post("/ui/sources/sync", data={"name": "crm", "csrf": "forged"})
        assert r.status_code == 403 and "never pulled" in r.text  # nothing pulled
        r = c.get("/ui/sources")
        assert "No sources configured" not in r.text and "reads all" in r.text


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_sync_now_in_chromium(site) -> None:  # noqa: ANN001
    sync_api = pytest.importorskip("playwright.sync_api")
    base, keys, settings = site
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/ui/login")
        page.fill("input[name=api_key]", keys["admin"])
        page.click("button[type=submit]")
        page.wait_for_url(base + "/ui")
        page.click("nav >> text=Sources")
        crm = page.locator("#source-crm")
        assert "never pulled" in crm.inner_text() and "updated_at" in crm.inner_text()
        crm.locator("button.sync").click()  # a background job: the page refreshes until it is done
        page.wait_for_url(base + "/ui/sources?job=*")
        page.wait_for_selector("#synced", timeout=30_000)
        assert page.locator("#synced").inner_text() == "Pulled: crm."
        cells = [t.strip() for t in page.locator("#source-crm td").all_inner_texts()][1:]
        assert cells[3] == "updated_at ≥ 9" and cells[5] == "done" and cells[6:10] == ["3", "2", "0", "1"]
        assert "never pulled" in page.locator("#source-gone").inner_text()
        page.click("#sync-all")
        page.wait_for_url(base + "/ui/sources?job=*")
        page.wait_for_selector("#synced", timeout=30_000)
        assert "gone failed" in page.locator("#synced").inner_text()
        gone = page.locator("#source-gone td.bad").first
        assert "not found" in gone.inner_text() and gone.evaluate("e => getComputedStyle(e).color") == "rgb(185, 28, 28)"
        assert page.locator("#other-runs").inner_text().count("none") == 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "sources_synced.png"), full_page=True)
        browser.close()
    settings.config_path.write_text("[persona]\n", encoding="utf-8")  # every source removed: the page says how to add one
    import httpx

    with httpx.Client(base_url=base) as c:
        _login(c, keys["admin"])
        r = c.get("/ui/sources")
        assert "No sources configured" in r.text and "[sources.crm]" in r.text
        assert "SELECT * FROM crm" in r.text  # its earlier pulls now count as other runs


def test_sync_now_then_the_recent_syncs_without_a_browser(site) -> None:  # noqa: ANN001
    import re
    import time

    import httpx

    from persona.ingest.sources.jobs import create_job

    base, keys, settings = site
    with httpx.Client(base_url=base) as c:
        _login(c, keys["admin"])
        page = c.get("/ui/sources").text
        assert 'id="jobs"' not in page  # no job yet: no table
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        r = c.post("/ui/sources/sync", data={"name": "crm", "csrf": csrf})
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/sources?job=")
        job_id = r.headers["location"].split("=", 1)[1]
        for _ in range(200):  # what the page's refresh does, until the job is done
            page = c.get(r.headers["location"]).text
            if 'id="running"' not in page:
                break
            assert 'http-equiv="refresh"' in page
            time.sleep(0.05)
        assert 'id="synced"' in page and "Pulled: crm." in page and 'http-equiv="refresh"' not in page, re.sub(r"(?s).*<h1>", "", page)[:1500]
        row = re.search(rf'<tr id="job-{job_id}".*?</tr>', page, re.S).group(0)
        prefix = keys["admin"].split("_")[1]
        assert f"ui:{prefix}" in row and re.search(r"<td>\d+\.\d s</td>", row) and ">done" in row and "crm" in row
        store = open_store(settings)
        try:  # a worker killed during a pull left its row running
            create_job(store, "f" * 24, requested=[], sources=["crm", "gone"], full=False, actor="api:dead")
        finally:
            store.dispose()
        page = c.get("/ui/sources").text
        assert 'id="running"' not in page  # nobody holds the lock: not running, so no refresh
        row = re.search(r'<tr id="job-f{24}".*?</tr>', page, re.S).group(0)
        assert "interrupted" in row and "service stopped during the pull" in row and "<td>–</td>" in row
        page = c.get(f"/ui/sources?job={'f' * 24}").text
        assert 'id="job-interrupted"' in page and "nothing is lost" in page
