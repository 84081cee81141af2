"""HTTP load benchmark: ``persona serve`` vs a bare FastAPI endpoint, driven over loopback from other processes.

1. Builds a demo workspace (``persona init`` + ``persona demo generate`` + ``persona ingest`` +
   ``persona recommend train``) in a temporary folder (or reuses ``--workspace``).
2. Starts two servers with the same uvicorn settings (uvloop + httptools when installed, no access log):
   * ``persona serve`` on the workspace, every customer's list precomputed (``PERSONA_PRECOMPUTE``),
     the live loop on, API-key auth and rate limiting on (limit raised above the load);
   * ``bench_api:bare_app``: a FastAPI app whose endpoint returns a constant list of the same shape
     and no auth — the ceiling of FastAPI + uvicorn on this machine.
3. ``GET /v1/recommendations/{random customer}`` on both with ``wrk`` (``apt-get install wrk``;
   C, so the client costs little CPU), same connections and duration, one after the other.
4. ``POST /v1/events`` to Persona: ``--writers`` processes, batches of 1,000 events with unique ids;
   each writer re-sends ``--retry-share`` of its batches (a client retry after a lost response) and
   retries failed requests with back-off. Afterwards the store must hold exactly the unique events.

Prints a side-by-side table with the load average (other work on the machine skews every figure).
Usage: python bench/bench_api.py [--customers 3000] [--duration 10] [--connections 32] [--workers 1]
       [--events 200000] [--writers 4] [--database-url URL] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
PERSONA = [str(Path(PY).parent / "persona")] if (Path(PY).parent / "persona").exists() else [shutil.which("persona") or "persona"]

CONSTANT = {"customer_id": "c", "model": "recommender", "version": 1,
            "items": [{"product_id": f"p{i}", "score": 1.0 / (i + 1), "rank": i + 1, "reason": "because you bought Product X"}
                      for i in range(10)]}
bare_app = FastAPI()


@bare_app.get("/v1/recommendations/{customer_id}")
async def bare(customer_id: str) -> dict[str, Any]:
    """The bare endpoint: a constant payload of the recommendations' shape."""
    return CONSTANT


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children (uvicorn workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    except OSError:
        pass
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / tick  # utime, stime
        except (OSError, IndexError):
            pass
    return total


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str, ws: Path, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run([*PERSONA, *args, "--workspace", str(ws), "--json"], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"persona {' '.join(args)} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout) if out.stdout.strip().startswith(("{", "[")) else {}


def build_workspace(ws: Path, customers: int, env: dict[str, str]) -> dict[str, Any]:
    """Demo shop ingested and a recommender trained; returns timings."""
    t0 = time.perf_counter()
    _cli("init", ws=ws, env=env)
    demo = ws / "demo"
    _cli("demo", "generate", "--customers", str(customers), "--products", "400", "--days", "180", "--out", str(demo), ws=ws, env=env)
    for entity in ("customers", "products", "events"):
        f = next(p for p in demo.iterdir() if p.name.startswith(entity))
        _cli("ingest", entity, str(f), ws=ws, env=env)
    t1 = time.perf_counter()
    rec = _cli("recommend", "train", "--model", "itemknn", ws=ws, env=env)
    return {"setup_s": round(t1 - t0, 1), "train_s": round(time.perf_counter() - t1, 1), "model": rec.get("best")}


def _wait(port: int, path: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on :{port} exited with {proc.returncode}: {proc.stderr.read()[-3000:] if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server on :{port} did not start")


def _wrk(url: str, ids: list[str], key: str, duration: int, connections: int, threads: int) -> dict[str, Any]:
    lua = Path(tempfile.mkstemp(suffix=".lua")[1])
    lua.write_text(
        "local ids = {" + ",".join(f'"{i}"' for i in ids) + "}\n"
        "request = function()\n"
        "  return wrk.format('GET', '/v1/recommendations/' .. ids[math.random(#ids)], "
        f"{{['Authorization'] = 'Bearer {key}'}})\nend\n"
        "done = function(summary, latency, requests)\n"
        "  io.write(string.format('JSON {\"p50\":%d,\"p90\":%d,\"p99\":%d,\"max\":%d,\"requests\":%d,\"non2xx\":%d,\"errors\":%d}\\n',"
        " latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, summary.requests,"
        " summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))\n"
        "end\n")
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s",
                          "-s", str(lua), url], capture_output=True, text=True, check=True).stdout
    lua.unlink()
    stats = json.loads(re.search(r"JSON (\{.*\})", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return {"req_s": round(rps), "p50_ms": stats["p50"] / 1000, "p90_ms": stats["p90"] / 1000, "p99_ms": stats["p99"] / 1000,
            "max_ms": stats["max"] / 1000, "requests": stats["requests"], "non_2xx": stats["non2xx"], "socket_errors": stats["errors"]}


def _median(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-figure median over rounds (the rounds themselves are kept under ``rounds``)."""
    import statistics

    out = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    out["rounds"] = rounds
    return out


def _writer(args: tuple[int, int, int, str, str, float, list[str], list[str], str], start: Any = None,
            results: Any = None) -> dict[str, int]:
    """One writer process: its share of the batches, with deliberate re-sends and retries on failure.

    The bodies are built and the client is connected before ``start`` (a barrier) is passed, so the timed
    window holds only the posting, not process start-up or the client's own JSON generation.
    """
    import httpx

    wid, n_batches, batch, url, key, retry_share, customers, products, prefix = args
    rng = random.Random(wid)
    sent = accepted = duplicates = retries = resent = 0
    bodies = []
    for b in range(n_batches):
        events = [{"event_id": f"{prefix}-{wid}-{b}-{i}", "customer_id": rng.choice(customers),
                   "product_id": rng.choice(products), "event_type": rng.choice(("view", "view", "add_to_cart", "purchase")),
                   "timestamp": "2026-06-01T12:00:00Z", "value": 1.0} for i in range(batch)]
        sends = 2 if rng.random() < retry_share else 1  # a client that lost the first response re-sends
        bodies.append((json.dumps({"events": events}).encode(), sends))
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}) as client:
        client.get(url.rsplit("/v1/", 1)[0] + "/healthz")  # connection open before the clock starts
        if start is not None:
            start.wait()
        for body, sends in bodies:
            for s in range(sends):
                for attempt in range(8):
                    try:
                        r = client.post(url, content=body)
                        if r.status_code == 200:
                            res = r.json()
                            accepted += res["accepted"]
                            duplicates += res["duplicates"]
                            break
                        if r.status_code not in (429, 500, 502, 503):
                            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:300]}")
                    except httpx.HTTPError:
                        pass
                    retries += 1
                    time.sleep(min(2.0, 0.05 * 2**attempt))
                else:
                    raise RuntimeError("batch failed after 8 attempts")
                sent += batch
                resent += s
    out = {"sent": sent, "unique": n_batches * batch, "accepted": accepted, "duplicates": duplicates, "retries": retries,
           "resent_batches": resent}
    if results is not None:
        results.put(out)
    return out


def bench_events(url: str, key: str, total: int, writers: int, batch: int, retry_share: float, customers: list[str],
                 products: list[str], prefix: str) -> dict[str, Any]:
    """Post ``total`` unique events from ``writers`` processes; the clock runs from a common start to the last reply."""
    per = max(1, total // (writers * batch))
    ctx = mp.get_context("spawn")
    start, results = ctx.Barrier(writers + 1), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=((w, per, batch, url, key, retry_share, customers, products, prefix),
                                               start, results)) for w in range(writers)]
    for p in procs:
        p.start()
    start.wait(timeout=300)
    t0 = time.perf_counter()
    parts = [results.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    agg = {k: sum(p[k] for p in parts) for k in parts[0]}
    agg["wall_s"] = round(wall, 2)
    agg["events_s"] = round(agg["unique"] / wall)
    agg["posted_events_s"] = round(agg["sent"] / wall)
    return agg


def _count(ws: Path, env: dict[str, str], prefix: str) -> int:
    code = ("import sys; from persona.config import load_settings; from persona.store import open_store; "
            f"s = open_store(load_settings({str(ws)!r})); "
            f"print(int(s.read_frame(\"SELECT COUNT(*) AS n FROM events WHERE event_id LIKE '{prefix}-%'\")['n'].iloc[0]))")
    return int(subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="alternating wrk rounds per server (medians reported)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes for both servers")
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--retry-share", type=float, default=0.1)
    ap.add_argument("--workspace", type=Path, default=None, help="reuse a built workspace (bench events are added to it)")
    ap.add_argument("--database-url", default=None, help="e.g. postgresql+psycopg://postgres@127.0.0.1/bench (a fresh, empty DB)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    env = {**os.environ, "PERSONA_PROGRESS": "0", "PYTHONPATH": f"{ROOT / 'bench'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("PERSONA_WORKSPACE", None)
    if a.database_url:
        env["PERSONA_DATABASE_URL"] = a.database_url
    tmp = None
    ws = a.workspace
    info: dict[str, Any] = {}
    load = {"before": os.getloadavg()}
    if ws is None or not (ws / "demo").exists():
        tmp = Path(tempfile.mkdtemp(prefix="persona-bench-api-"))
        ws = ws or tmp / "ws"
        info = build_workspace(ws, a.customers, env)
    key = subprocess.run([*PERSONA, "keys", "create", "--scope", "write", "--workspace", str(ws), "--json"], capture_output=True,
                         text=True, env=env, check=True).stdout
    key = json.loads(key)["key"]
    ids_code = (f"from persona.config import load_settings; from persona.store import open_store; s = open_store(load_settings({str(ws)!r})); "
                "print('\\n'.join(s.read_frame('SELECT customer_id FROM customers ORDER BY customer_id')['customer_id']))")
    ids = subprocess.run([PY, "-c", ids_code], capture_output=True, text=True, env=env, check=True).stdout.split()
    products = subprocess.run([PY, "-c", ids_code.replace("customer_id", "product_id").replace("customers", "products")],
                              capture_output=True, text=True, env=env, check=True).stdout.split()
    prefix = f"bench{int(time.time())}"
    p_port, b_port = _port(), _port()
    senv = {**env, "PERSONA_PRECOMPUTE": str(len(ids)), "PERSONA_API_RATE_LIMIT": "1000000000"}
    common = ["--workers", str(a.workers), "--log-level", "warning"]
    persona = subprocess.Popen([*PERSONA, "serve", "--workspace", str(ws), "--port", str(p_port), *common], env=senv,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    bare_p = subprocess.Popen([PY, "-m", "uvicorn", "bench_api:bare_app", "--port", str(b_port), "--no-access-log", *common],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT / "bench")
    try:
        _wait(b_port, "/v1/recommendations/x", bare_p)
        _wait(p_port, "/readyz", persona)
        import httpx

        hdr = {"Authorization": f"Bearer {key}"}
        probe = httpx.get(f"http://127.0.0.1:{p_port}/v1/recommendations/{ids[0]}", headers=hdr).json()
        assert len(probe["items"]) == 10, probe
        # warm-up: every precomputed list once (and the process caches)
        subprocess.run(["wrk", "-t", "1", "-c", "4", "-d", "2s", f"http://127.0.0.1:{b_port}/v1/recommendations/x"], capture_output=True, check=True)
        rounds: dict[str, list[dict[str, Any]]] = {"bare FastAPI constant": [], "persona /v1/recommendations": []}
        load["during_get"] = os.getloadavg()
        for _ in range(a.rounds):  # alternate, so both see the same background load
            for name, port, proc in (("bare FastAPI constant", b_port, bare_p), ("persona /v1/recommendations", p_port, persona)):
                c0 = _cpu_seconds(proc.pid)
                r = _wrk(f"http://127.0.0.1:{port}", ids, key, a.duration, a.connections, a.wrk_threads)
                r["server_cpu_s"] = round(_cpu_seconds(proc.pid) - c0, 2)
                r["req_per_cpu_s"] = round(r["requests"] / max(r["server_cpu_s"], 1e-9))
                rounds[name].append(r)
        rec = {name: _median(rs) for name, rs in rounds.items()}
        before = _count(ws, env, prefix)
        load["during_events"] = os.getloadavg()
        c0 = _cpu_seconds(persona.pid)
        ev = bench_events(f"http://127.0.0.1:{p_port}/v1/events", key, a.events, a.writers, a.batch, a.retry_share, ids, products, prefix)
        ev["server_cpu_s"] = round(_cpu_seconds(persona.pid) - c0, 2)
        ev["events_per_server_cpu_s"] = round(ev["sent"] / max(ev["server_cpu_s"], 1e-9))
        after = _count(ws, env, prefix)
        ev["stored"] = after - before
        ev["lost"] = max(0, ev["unique"] - ev["stored"])
        ev["duplicated"] = max(0, ev["stored"] - ev["unique"])
        ev["count_check"] = "ok" if ev["stored"] == ev["unique"] else "MISMATCH"
        ready = httpx.get(f"http://127.0.0.1:{p_port}/readyz").json()
    finally:
        for p in (persona, bare_p):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    load["after"] = os.getloadavg()
    p, b = rec["persona /v1/recommendations"], rec["bare FastAPI constant"]
    p = {**p, "req_s": round(p["req_s"])}
    result = {"machine": {"cpus": os.cpu_count(), "loadavg": {k: [round(x, 2) for x in v] for k, v in load.items()}},
              "workspace": info, "customers": len(ids), "workers": a.workers, "connections": a.connections,
              "duration_s": a.duration, "get": rec, "persona_vs_bare_throughput": round(b["req_s"] / max(p["req_s"], 1), 2),
              "events": ev, "readyz": ready.get("checks")}
    if a.json:
        print(json.dumps(result, indent=2))
        return
    print(f"\nGET /v1/recommendations/{{id}}: {len(ids)} customers, wrk -c {a.connections} -d {a.duration}s, {a.workers} worker(s)")
    print(f"(median of {a.rounds} alternating rounds; req/CPU-s = requests per second of server CPU time, less sensitive to other load)")
    print(f"{'server':32} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'non-2xx':>8} {'req/CPU-s':>10}")
    for name, r in rec.items():
        print(f"{name:32} {r['req_s']:>8.0f} {r['p50_ms']:>8.2f} {r['p90_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.1f} "
              f"{r['non_2xx']:>8.0f} {r['req_per_cpu_s']:>10.0f}")
    print(f"bare / persona throughput: {result['persona_vs_bare_throughput']}x (target ≤ 2x); "
          f"target ≥ 1,000 req/s and p99 < 50 ms: {'met' if p['req_s'] >= 1000 and p['p99_ms'] < 50 else 'NOT met'}")
    print(f"\nPOST /v1/events: {a.writers} writer processes, batches of {a.batch}, {a.retry_share:.0%} of batches re-sent")
    print(f"{'unique events':>14} {'posted':>8} {'wall s':>7} {'events/s':>9} {'stored':>8} {'accepted':>9} {'dups':>7} "
          f"{'retries':>8} {'check':>6} {'server CPU s':>13} {'events/CPU-s':>13}")
    print(f"{ev['unique']:>14} {ev['sent']:>8} {ev['wall_s']:>7} {ev['events_s']:>9} {ev['stored']:>8} {ev['accepted']:>9} "
          f"{ev['duplicates']:>7} {ev['retries']:>8} {ev['count_check']:>6} {ev['server_cpu_s']:>13} {ev['events_per_server_cpu_s']:>13}")
    print(f"target ≥ 20,000 events/s: {'met' if ev['events_s'] >= 20000 else 'NOT met'}")
    print(f"\nload average (1, 5, 15 min) on {os.cpu_count()} CPUs: " + "; ".join(f"{k} {v}" for k, v in result["machine"]["loadavg"].items()))


if __name__ == "__main__":
    main()
