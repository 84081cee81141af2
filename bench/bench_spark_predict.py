"""The predict and CLV stages of ``persona run`` on the local engine and on Spark, side by side, with the driver's memory.

A generated demo shop (``--customers``) is ingested once into a fresh PostgreSQL database; each engine then runs
the two stages in its own process (so each peak RSS is its own): local reads every event into pandas, Spark reads
the store over JDBC and brings back per-customer rows. Printed per engine: seconds per stage, the headline figures
(they must agree) and the peak RSS of the Python process and of its children (Spark's JVM). Spark runs ``local[*]``
on this machine: the figures show its overhead here, the memory what stays on the driver. Usage::

    python bench/bench_spark_predict.py [--customers 3000] [--days 365] [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _peak_mib() -> tuple[float, float]:
    """Peak RSS (MiB) of this process and of its largest finished-or-waited child (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return round(own, 1), round(kids, 1)


def _jvm_rss_mib() -> float:
    """Current RSS (MiB) of this process's child processes (Spark's JVM is still running when asked)."""
    total = 0.0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(os.getpid()):
            total += int(fields.get("VmHWM", "0 kB").split()[0]) / 1024
    return round(total, 1)


def worker(engine: str, workspace: Path) -> dict[str, Any]:
    """Run the predict and clv stages on ``engine`` and return seconds, figures and peak memory."""
    from persona.config import load_settings
    from persona.pipeline.stage import RunContext
    from persona.pipeline.stages.clv import CLV
    from persona.pipeline.stages.predict import PREDICT
    from persona.store import open_store

    os.environ["PERSONA_ENGINE"] = engine
    settings = load_settings(workspace, progress=False)
    store = open_store(settings)
    ctx = RunContext(settings=settings, store=store, data_dir=None, seed=1, progress=False)
    out: dict[str, Any] = {"engine": engine}
    for stage in (PREDICT, CLV):
        t0 = time.perf_counter()
        res = stage.run(ctx)
        out[stage.name] = {"seconds": round(time.perf_counter() - t0, 1), "status": res.status, "message": res.message,
                           "engine": res.figures.get("engine")}
        if stage is PREDICT and res.status == "ok":
            out[stage.name]["churn_auc"] = res.figures["churn"]["auc"]
            out[stage.name]["spend_r2"] = res.figures["spend"]["r2"]
        if stage is CLV and res.status == "ok":
            out[stage.name]["clv_total"] = round(res.figures["clv_total"], 2)
            out[stage.name]["bgnbd_r"] = round(res.figures["bgnbd"]["r"], 6)
    out["jvm_peak_mib"] = _jvm_rss_mib()
    out["python_peak_mib"], _ = _peak_mib()
    store.dispose()
    return out


def prepare(customers: int, days: int, pg_admin: str) -> tuple[Path, str, int]:
    """A workspace on a fresh PostgreSQL database holding a generated shop; returns (workspace, database, events)."""
    import sqlalchemy

    from persona.config import load_settings
    from persona.demo import generate_shop
    from persona.ingest import ENTITY_ORDER, ingest_file
    from persona.privacy.crypto import PIICipher
    from persona.store import open_store
    from persona.store.workspace import init_workspace

    name = f"persona_bench_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    tmp = Path(tempfile.mkdtemp(prefix="bench_spark_predict_"))
    files = generate_shop(tmp / "shop", customers=customers, products=max(100, customers // 20), days=days, seed=7)
    settings = load_settings(tmp / "ws", progress=False, database_url=pg_admin.rsplit("/", 1)[0] + f"/{name}")
    init_workspace(settings)
    store = open_store(settings)
    for entity in ENTITY_ORDER:
        if entity in files:
            ingest_file(store, entity, files[entity], progress=False, cipher=PIICipher(b"b" * 32))
    n = int(store.read_frame("SELECT COUNT(*) AS n FROM events")["n"].iloc[0])
    store.dispose()
    (tmp / "ws" / "bench_url").write_text(settings.url)
    return tmp / "ws", name, n


def drop(pg_admin: str, name: str) -> None:
    """Drop the bench's database."""
    import sqlalchemy

    admin = sqlalchemy.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--pg-url", default=os.environ.get("PERSONA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", choices=("local", "spark"), help=argparse.SUPPRESS)
    ap.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        os.environ["PERSONA_DATABASE_URL"] = (args.workspace / "bench_url").read_text()
        print(json.dumps(worker(args.worker, args.workspace)))
        return 0
    from persona.engines.spark.session import spark_available

    reason = spark_available()
    if reason:
        print(f"the Spark engine cannot run here: {reason}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    ws, db, n_events = prepare(args.customers, args.days, args.pg_url)
    print(f"# {args.customers:,} customers, {n_events:,} events in PostgreSQL ({time.perf_counter() - t0:.0f} s to generate and ingest)",
          file=sys.stderr)
    rows = []
    try:
        for engine in ("local", "spark"):
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OPENBLAS_NUM_THREADS": "1"}
            done = subprocess.run([sys.executable, __file__, "--worker", engine, "--workspace", str(ws)], env=env,
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                return 1
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        drop(args.pg_url, db)
    if args.json:
        print(json.dumps({"customers": args.customers, "events": n_events, "rows": rows}, indent=2))
        return 0
    print("| engine | predict s | clv s | churn AUC | spend R² | CLV total | BG/NBD r | Python peak RSS MiB | JVM peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        p, c = r["predict"], r["clv"]
        print(f"| {r['engine']} (stages said {p['engine']}/{c['engine']}) | {p['seconds']} | {c['seconds']} | {p.get('churn_auc')} | "
              f"{p.get('spend_r2')} | {c.get('clv_total')} | {c.get('bgnbd_r')} | {r['python_peak_mib']} | {r['jvm_peak_mib'] or '-'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
