"""Bulk-ingest benchmark: Persona's ingest path vs what a user would otherwise write, SQLite and PostgreSQL.

Generates N synthetic events as CSV (numpy, seeded), then loads it, each contender in a fresh
subprocess (so peak RSS is its own) and, for PostgreSQL, into a fresh database:

* persona      - ``persona.ingest.ingest_file``: validation, timestamp parsing, de-duplication on
                 event_id, stub customers/products, indexes, crash-safe (SQLite: one transaction per
                 chunk; PostgreSQL: this first load into an empty table is one transaction).
* pandas to_sql - ``pd.read_csv`` of the whole file + ``DataFrame.to_sql`` (default and ``method="multi"``):
                 no validation, no de-duplication, no indexes.
* psycopg COPY - PostgreSQL only: the raw file streamed with ``COPY … FROM STDIN`` into an unindexed
                 table; the ceiling of what the server can take.

``--append`` adds ``persona_append``: a second file of N new events into the store already holding the first N
(the per-chunk path, keys maintained as rows arrive, secondary indexes rebuilt over the whole table).

``--variants`` adds ``persona_noid`` (the same file without ``event_id``: ids are content hashes) and
``persona_extra`` (with one more column, ``device``, kept as JSON ``context``).

Usage: python bench/bench_ingest.py [--rows 1000000] [--only persona] [--append] [--variants] [--no-postgres] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

PG_ADMIN = os.environ.get("PERSONA_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
OUT = Path(__file__).resolve().parent / "out"


def make_csv(rows: int, seed: int = 7, id_prefix: str = "ev") -> Path:
    """N events over ~100k customers and 20k products, one year, ISO timestamps (cached in bench/out)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / (f"events_{rows}_{seed}.csv" if id_prefix == "ev" else f"events_{rows}_{seed}_{id_prefix}.csv")
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    n_cust, n_prod = max(rows // 10, 10), max(rows // 50, 10)
    ts = np.sort(rng.integers(1_569_888_000, 1_601_510_400, rows)).astype("datetime64[s]")
    etype = rng.choice(np.array(["view", "add_to_cart", "purchase", "click"]), rows, p=[0.7, 0.12, 0.05, 0.13])
    qty = np.where(etype == "purchase", rng.integers(1, 4, rows), 1)
    price = np.round(rng.lognormal(3, 0.8, rows), 2)
    revenue = np.where(etype == "purchase", np.round(price * qty, 2).astype(str), "")
    df = pd.DataFrame({
        "event_id": np.char.add(id_prefix, np.arange(rows).astype(str)),
        "customer_id": np.char.add("c", rng.zipf(1.3, rows).clip(max=n_cust).astype(str)),
        "product_id": np.char.add("p", (rng.zipf(1.2, rows) % n_prod).astype(str)),
        "event_type": etype,
        "timestamp": np.datetime_as_string(ts, unit="s"),
        "value": price,
        "quantity": qty,
        "revenue": revenue,
        "channel": rng.choice(np.array(["web", "app"]), rows),
    })
    tmp = path.with_suffix(".tmp")
    df.to_csv(tmp, index=False)
    tmp.rename(path)
    return path


def variant_csv(path: Path, kind: str) -> Path:
    """The bench file without its event_id column (``noid``) or with an extra ``device`` column (``extra``)."""
    out = path.with_name(f"{path.stem}_{kind}.csv")
    if out.exists():
        return out
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if kind == "noid":
        df = df.drop(columns=["event_id"])
    else:
        df["device"] = np.where(np.arange(len(df)) % 3 == 0, "mobile", "desktop")
    tmp = out.with_suffix(".tmp")
    df.to_csv(tmp, index=False)
    tmp.rename(out)
    return out


# --- the contenders, each run in a child process --------------------------------------------------
def server_cpu(url: str | None) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends connected to ``url``'s database (same host only)."""
    if not url or not url.startswith("postgresql"):
        return None
    import psycopg

    tick = os.sysconf("SC_CLK_TCK")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None  # server on another host: not measurable
        total += (int(fields[11]) + int(fields[12])) / tick
    return total

def run_persona(csv_path: str, url: str | None, workdir: str, before: str | None = None) -> dict:
    """Time Persona's ingest of ``csv_path`` (after an untimed load of ``before``, when given)."""
    from persona.config import load_settings
    from persona.ingest import ingest_file
    from persona.store import init_workspace, open_store

    settings = load_settings(Path(workdir) / "ws", database_url=url, progress=False)
    init_workspace(settings)
    store = open_store(settings)
    if before:
        ingest_file(store, "events", before)
    srv0 = server_cpu(url) or 0.0
    t, c = time.perf_counter(), time.process_time()
    rep = ingest_file(store, "events", csv_path)
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    srv = server_cpu(url)
    store.dispose()
    assert rep.read == rep.accepted + rep.duplicates + rep.rejected
    return {"seconds": secs, "cpu_seconds": cpu, "server_cpu_seconds": None if srv is None else srv - srv0, "rows": rep.accepted,
            "read": rep.read, "accepted": rep.accepted}


def run_to_sql(csv_path: str, url: str, method: str | None) -> dict:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    t, c = time.perf_counter(), time.process_time()
    df = pd.read_csv(csv_path)
    df.to_sql("events_naive", engine, if_exists="append", index=False, method=method, chunksize=1_000 if method else None)
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    with engine.connect() as c:
        n = c.exec_driver_sql("SELECT COUNT(*) FROM events_naive").scalar()
        srv = server_cpu(url)
    engine.dispose()
    return {"seconds": secs, "cpu_seconds": cpu, "server_cpu_seconds": srv, "rows": n}


def run_copy(csv_path: str, url: str) -> dict:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE raw_events (event_id text, customer_id text, product_id text, event_type text, "
                     "ts timestamptz, value float8, quantity float8, revenue float8, channel text)")
        t, c = time.perf_counter(), time.process_time()
        with conn.cursor() as cur, cur.copy("COPY raw_events FROM STDIN (FORMAT csv, HEADER true)") as cp, open(csv_path, "rb") as fh:
            while block := fh.read(1 << 20):
                cp.write(block)
        conn.commit()
        secs, cpu = time.perf_counter() - t, time.process_time() - c
        n = conn.execute("SELECT COUNT(*) FROM raw_events").fetchone()[0]
        tick = os.sysconf("SC_CLK_TCK")
        pid = conn.info.backend_pid
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            srv = (int(f[11]) + int(f[12])) / tick
        except OSError:
            srv = None
    return {"seconds": secs, "cpu_seconds": cpu, "server_cpu_seconds": srv, "rows": n}


def _child(args: argparse.Namespace) -> None:
    kind, csv_path, url = args.child
    url = None if url == "-" else url
    with tempfile.TemporaryDirectory() as wd:
        if kind in ("persona", "persona_noid", "persona_extra"):
            res = run_persona(csv_path, url, wd)
        elif kind == "persona_append":
            first, second = csv_path.split(os.pathsep)
            res = run_persona(second, url, wd, before=first)
        elif kind.startswith("to_sql"):
            res = run_to_sql(csv_path, url or f"sqlite:///{wd}/naive.db", "multi" if kind.endswith("multi") else None)
        else:
            res = run_copy(csv_path, url)
    res["peak_rss_mb"] = _vm_hwm_mb()
    print("RESULT " + json.dumps(res))


def _vm_hwm_mb() -> float | None:
    """Peak resident memory of this process (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fresh_pg() -> tuple[str, callable]:
    from sqlalchemy import create_engine

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"persona_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def measure(kind: str, csv_path: Path, db: str) -> dict:
    """Run one contender in a child process; return its figures and peak RSS."""
    drop = None
    url = "-"
    if db == "postgresql":
        url, drop = _fresh_pg()
    try:
        proc = subprocess.Popen([sys.executable, __file__, "--child", kind, str(csv_path), url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate()
    finally:
        if drop:
            drop()
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        return {"contender": kind, "db": db, "error": (err or out).strip().splitlines()[-1:]}
    res = json.loads(line[7:])
    res.update(contender=kind, db=db)
    res["rows_per_s"] = round(res["rows"] / res["seconds"]) if res["seconds"] else None
    cpu = res["cpu_seconds"] + (res.get("server_cpu_seconds") or 0.0)
    res["rows_per_cpu_s"] = round(res["rows"] / cpu) if cpu else None
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--only", choices=["persona"], help="only Persona's ingest (skip the peers)")
    ap.add_argument("--append", action="store_true", help="also time a second file of new events into the loaded store")
    ap.add_argument("--variants", action="store_true", help="also time files without event ids and with an extra column")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--slow-peer-rows", type=int, default=100_000,
                    help="rows for to_sql(method='multi'), which is 10x slower (its rate is reported on this many rows)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    path = make_csv(args.rows)
    plan = []
    if not args.no_sqlite:
        plan += [("persona", "sqlite")] + ([("persona_append", "sqlite")] if args.append else [])
        plan += [("persona_noid", "sqlite"), ("persona_extra", "sqlite")] if args.variants else []
        if not args.only:
            plan += [("to_sql", "sqlite"), ("to_sql_multi", "sqlite")]
    if not args.no_postgres:
        plan += [("persona", "postgresql")] + ([("persona_append", "postgresql")] if args.append else [])
        plan += [("persona_noid", "postgresql"), ("persona_extra", "postgresql")] if args.variants else []
        if not args.only:
            plan += [("to_sql", "postgresql"), ("to_sql_multi", "postgresql"), ("copy", "postgresql")]
    results = []
    small = make_csv(min(args.slow_peer_rows, args.rows)) if any(k == "to_sql_multi" for k, _ in plan) else path
    second = f"{path}{os.pathsep}{make_csv(args.rows, id_prefix='fv')}" if args.append else ""
    files = {"to_sql_multi": small, "persona_append": second}
    if args.variants:
        files.update(persona_noid=variant_csv(path, "noid"), persona_extra=variant_csv(path, "extra"))
    for kind, db in plan:
        r = measure(kind, files.get(kind, path), db)
        results.append(r)
        if not args.json:
            print(f"  {db:<10} {kind:<15} " + (f"{r['rows_per_s']:>9,} rows/s  {r['seconds']:7.2f} s  {r['rows_per_cpu_s']:>9,} rows/CPU-s  peak RSS {r['peak_rss_mb']:6.0f} MB"
                                               if "error" not in r else f"error: {r['error']}"), flush=True)
    load = os.getloadavg()[0]
    summary = {"rows": args.rows, "csv": str(path), "csv_mb": round(path.stat().st_size / 2**20, 1), "cpus": os.cpu_count(),
               "loadavg_1m": round(load, 2), "results": results}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"\n{args.rows:,} events, CSV {summary['csv_mb']} MB, {os.cpu_count()} CPUs, load average {load:.1f} at the end")
        print("events/s = wall clock; events/CPU-s = rows / (client + PostgreSQL backend CPU seconds): load-independent")
        print(f"{'database':<11}{'contender':<16}{'events/s':>10}{'seconds':>9}{'client CPU':>11}{'server CPU':>11}"
              f"{'events/CPU-s':>13}{'peak RSS MB':>13}  notes")
        notes = {"persona": "validated, de-duplicated, indexed, crash-safe",
                 "persona_append": f"as persona, {args.rows:,} new events into a table holding {args.rows:,}",
                 "persona_noid": "as persona, no event_id column (content-hash ids)",
                 "persona_extra": "as persona, one extra column (kept as JSON context)", "to_sql": "no validation/dedup/indexes",
                 "to_sql_multi": f"no validation/dedup/indexes; on {min(args.slow_peer_rows, args.rows):,} rows",
                 "copy": "raw COPY, ceiling"}
        for r in results:
            if "error" in r:
                print(f"{r['db']:<11}{r['contender']:<16}  error: {r['error']}")
                continue
            srv = "" if r.get("server_cpu_seconds") is None else f"{r['server_cpu_seconds']:.2f}"
            print(f"{r['db']:<11}{r['contender']:<16}{r['rows_per_s']:>10,}{r['seconds']:>9.2f}{r['cpu_seconds']:>11.2f}{srv:>11}"
                  f"{r['rows_per_cpu_s']:>13,}{r['peak_rss_mb']:>13.0f}  {notes[r['contender']]}")


if __name__ == "__main__":
    main()
