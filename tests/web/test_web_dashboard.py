"""The dashboard end to end in headless Chromium: sign in, visit every page, keep a screenshot of each."""

from __future__ import annotations

from pathlib import Path

import pytest
from shop_fixtures import seed_shop
from web_helpers import CHROMIUM, launch_chromium, serving

from persona.api.keys import create_key
from persona.config import load_settings
from persona.store import open_store
from persona.store.workspace import init_workspace

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
PAGES = ["/ui", "/ui/segments", "/ui/customers", "/ui/customers/c00001", "/ui/models", "/ui/campaigns", "/ui/experiments",
         "/ui/fairness", "/ui/privacy", "/ui/sources"]


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    pytest.importorskip("uvicorn")
    from persona.api.main import create_app
    from persona.campaigns.planner import plan_campaign
    from persona.campaigns.spec import parse_spec
    from persona.campaigns.worker import Worker

    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    settings = load_settings(tmp_path / "ws", progress=False, global_holdout=0.0)
    init_workspace(settings)
    store = open_store(settings)
    seed_shop(store, settings, 40)
    spec = parse_spec("name: spring\ngroups:\n  - {name: all, strategy: coupon}\nchannels: [outbox]\nexperiment: {holdout: 0.2, variants: {A: 1}}\n")
    plan_campaign(store, settings, spec)
    Worker(store, settings).run("spring")
    from persona.api.retrain import retrain

    with store.engine.begin() as conn:  # Interactions.from_store refuses an all-NULL value column (reported)
        conn.exec_driver_sql("UPDATE events SET value = 1.0 WHERE value IS NULL")
    from shop_fixtures import NOW

    store.bulk_insert("events", [{"event_id": f"w{i}-{j}", "customer_id": f"c{i:05d}", "product_id": f"p{(i + j) % 20}",
                                  "event_type": "view", "ts": NOW, "value": 1.0} for i in range(40) for j in (1, 2, 3)])
    retrain(store, models=["itemknn"], split="random", max_users=50)  # a served model with a retrain report
    key = create_key(store, "read")["key"]
    admin = create_key(store, "admin")["key"]
    with serving(create_app(settings, store=store)) as base:
        yield base, key, admin
    store.dispose()


def test_pages_require_login(server) -> None:  # noqa: ANN001
    import httpx

    base, _, _ = server
    r = httpx.get(base + "/ui/segments", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    r = httpx.post(base + "/ui/login", data={"api_key": "pk_bad_bad"})
    assert "not valid" in r.text


def test_fairness_page_shows_the_audit(server) -> None:  # noqa: ANN001
    import httpx

    base, key, _ = server
    with httpx.Client(base_url=base) as c:
        assert c.post("/ui/login", data={"api_key": key}).status_code in (200, 303)
        r = c.get("/ui/fairness")
        assert r.status_code == 200
        assert "Groups by country" in r.text and "spring: in the audience by country" in r.text
        assert "Recommendations" in r.text  # the served model's lists, by group
        r = c.get("/ui/fairness", params={"by": "gender"})  # the seeded customers carry no gender: said on the page
        assert r.status_code == 200 and "no &#39;gender&#39; with two or more known values" in r.text
        r = c.get("/ui/privacy")  # a read key: the privacy report is for administrators
        assert r.status_code == 200 and "needs an admin key" in r.text
        assert 'href="/ui/privacy"' not in c.get("/ui").text  # nor is it in a read key's navigation


def test_privacy_page_for_an_admin(server) -> None:  # noqa: ANN001
    import httpx

    base, _, admin = server
    with httpx.Client(base_url=base) as c:
        assert c.post("/ui/login", data={"api_key": admin}).status_code in (200, 303)
        r = c.get("/ui/privacy")
        assert r.status_code == 200 and "email stored (encrypted)" in r.text and "Active API keys" in r.text
        assert 'href="/ui/privacy"' in r.text
        assert "Secret key" in r.text and "never rotated" in r.text
        assert "40" in r.text and "@example.org" not in r.text  # counts, never values


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_every_page_renders_in_chromium(server) -> None:  # noqa: ANN001
    sync_api = pytest.importorskip("playwright.sync_api")
    base, key, _ = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/ui/customers")
        assert page.url.endswith("/ui/login")
        page.fill("input[name=api_key]", key)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/ui")
        assert page.locator(".card").count() >= 5
        for path in PAGES:
            resp = page.goto(base + path)
            assert resp is not None and resp.status == 200, path
            assert page.locator("nav .brand").inner_text() == "Persona"
            name = path.strip("/").replace("/", "_") or "root"
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        page.goto(base + "/ui/customers/c00001")
        assert "Consent" in page.content() and "email: granted" in page.inner_text("body")
        page.goto(base + "/ui/campaigns")
        assert "spring" in page.inner_text("body") and page.locator("svg.chart").count() >= 1
        page.goto(base + "/ui/models")
        body = page.inner_text("#freshness")
        assert "model age" in body and "from unseen customers" in body and "live loop" in body
        assert "promoted" in page.inner_text("#last-retrain")
        page.goto(base + "/ui/experiments")
        assert "campaign:spring" in page.inner_text("body") and page.locator("svg.chart").count() == 1  # the interval plot
        page.goto(base + "/ui/fairness")
        assert "No significant gap" in page.inner_text("#findings") and page.locator("section.part").count() >= 2
        assert page.locator("details.audit").count() >= 2 and page.locator("details.audit[open]").count() == 0  # folded
        browser.close()
    assert len(list(ARTIFACTS.glob("*.png"))) == len(PAGES)
