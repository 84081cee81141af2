"""``persona serve --workers 2`` on PostgreSQL: concurrent writers and retries store every event exactly once,
and the live loop reaches every worker; the optional Redis cache is shared between processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from api_helpers import NOW, auth, seed_two_worlds

from persona.api.keys import create_key
from persona.config import load_settings
from persona.data import Interactions
from persona.recommend import make_recommender
from persona.registry import register
from persona.store import open_store
from persona.store.workspace import init_workspace

PERSONA = str(Path(sys.executable).parent / "persona")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_on_postgres_store_concurrent_events_once(pg_url: str, tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "ws", database_url=pg_url, progress=False)
    init_workspace(settings)
    store = open_store(settings)
    seed_two_worlds(store)
    model = make_recommender("itemknn").fit(Interactions.from_store(store))
    register(store, "recommender", "recommender", model, {"algorithm": "itemknn"}, {}, activate=True)
    key = create_key(store, "write")["key"]
    base_count = store.count("events")
    port = _port()
    env = {**os.environ, "PERSONA_DATABASE_URL": pg_url, "PERSONA_LIVE_POLL_SECONDS": "0.1"}
    env.pop("PERSONA_WORKSPACE", None)
    proc = subprocess.Popen([PERSONA, "serve", "--workspace", str(settings.workspace), "--port", str(port), "--workers", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        customers = [f"u{i:03d}" for i in range(60)]
        batches = [[{"event_id": f"pg-{b}-{i}", "customer_id": customers[(b * 7 + i) % 60], "product_id": f"a{i % 8}",
                     "event_type": "view", "timestamp": NOW.isoformat()} for i in range(250)] for b in range(24)]
        results: list[dict] = []
        errors: list[str] = []
        lock = threading.Lock()

        def writer(my: list[list[dict]]) -> None:
            with httpx.Client(timeout=30, headers=auth(key)) as c:
                for batch in my:
                    for _attempt in range(5):
                        try:
                            r = c.post(url + "/v1/events", json={"events": batch})
                            if r.status_code == 200:
                                with lock:
                                    results.append(r.json())
                                break
                            errors.append(f"{r.status_code} {r.text[:200]}")
                        except httpx.HTTPError as exc:
                            errors.append(repr(exc))
                        time.sleep(0.1)

        # 4 writers; writers 2 and 3 re-send the batches of writers 0 and 1 at the same time (retries racing the originals)
        plan = [batches[0:12], batches[12:24], batches[0:12], batches[12:24][::-1]]
        threads = [threading.Thread(target=writer, args=(p,)) for p in plan]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        assert len(results) == 48
        assert store.count("events") - base_count == 24 * 250  # every event once: nothing lost, nothing duplicated
        assert sum(r["accepted"] for r in results) + sum(r["duplicates"] for r in results) == 48 * 250
        ids = store.read_frame("SELECT COUNT(DISTINCT event_id) AS n FROM events WHERE event_id LIKE 'pg-%'")["n"].iloc[0]
        assert ids == 24 * 250
        # the live loop reaches both workers: a purchase disappears from every worker's lists within a second
        with httpx.Client(timeout=10, headers=auth(key)) as c:
            before = [i["product_id"] for i in c.get(url + "/v1/recommendations/u000?k=16").json()["items"]]
            target = next(p for p in before if p.startswith("b"))
            c.post(url + "/v1/events", json={"events": [{"event_id": "pg-live", "customer_id": "u000", "product_id": target,
                                                        "event_type": "purchase", "timestamp": NOW.isoformat()}]})
            time.sleep(1.0)
            for _ in range(12):  # new connections: both workers answer some of them
                with httpx.Client(timeout=10, headers=auth(key)) as fresh:
                    items = [i["product_id"] for i in fresh.get(url + "/v1/recommendations/u000?k=16").json()["items"]]
                assert target not in items
    finally:
        proc.terminate()
        proc.wait(15)
        store.dispose()


def test_redis_cache_is_shared_between_processes_and_invalidated(tmp_path: Path) -> None:
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/13"
    try:
        r = redis.Redis.from_url(url, socket_timeout=1)
        r.ping()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable: {exc}")
    from persona.api.service import RecommendationService

    prefix = f"persona-test-{uuid.uuid4().hex[:8]}"
    settings = load_settings(tmp_path / "ws", progress=False)
    init_workspace(settings)
    store = open_store(settings)
    try:
        seed_two_worlds(store)
        model = make_recommender("itemknn").fit(Interactions.from_store(store))
        register(store, "recommender", "recommender", model, {"algorithm": "itemknn"}, {}, activate=True)
        one = RecommendationService(store, redis_url=url, redis_prefix=prefix)  # e.g. worker 1
        two = RecommendationService(store, redis_url=url, redis_prefix=prefix)  # e.g. worker 2
        one.load()
        two.load()
        first = one.recommend("u000", 5)
        assert r.exists(f"{prefix}:recs:u000") and one.stats["computed"] == 1
        assert two.recommend("u000", 5) == first and two.stats["redis_hits"] == 1 and two.stats["computed"] == 0
        store.bulk_insert("events", [{"event_id": "r1", "customer_id": "u000", "product_id": first[0]["product_id"],
                                      "event_type": "purchase", "ts": NOW, "value": 1.0}], key=["event_id"])
        one.mark_changed(["u000"])  # the worker that took the event drops the shared entry
        assert not r.exists(f"{prefix}:recs:u000")
        two.mark_changed(["u000"])  # what the other worker's live loop does when it sees the event
        again = two.recommend("u000", 5)
        assert first[0]["product_id"] not in [i["product_id"] for i in again] and two.stats["foldin"] == 1
    finally:
        for k in r.scan_iter(f"{prefix}:*"):
            r.delete(k)
        store.dispose()
