"""Moving a workspace from SQLite to PostgreSQL: ``persona db export`` + ``db import`` vs pandas ``read_sql`` + ``to_sql``.

``pg_dump`` and ``sqlite3 .dump`` cannot cross dialects, so the obvious alternative a user would write is pandas:
read each table of the SQLite database in chunks and append it to the (``persona init``-ed) PostgreSQL tables.

The source is a SQLite workspace holding N events (the ``bench_ingest.py`` file, ingested once and cached in
``bench/out``) plus the stub customers and products ingestion makes. Each contender runs in a fresh subprocess (so
peak RSS is its own) against a fresh PostgreSQL database:

* persona export - every table to Parquet (zstd) in one read snapshot, streamed, with SHA-256 manifest.
* persona import - checksums, key check, one transaction, COPY with keys and indexes built once, counts verified,
                   sequences reset.
* pandas         - ``read_sql_query(chunksize=100_000)`` + ``to_sql(if_exists="append", dtype=<the models' types>)``
                   table by table, with the three fixes it needs to run at all: boolean columns converted (SQLite hands
                   back 0/1, which PostgreSQL refuses), JSON text parsed (else it is stored as a JSON string), and the
                   column types given (else an all-null column goes as text, which bytea and json refuse). No
                   verification, no snapshot, sequences left behind (the next insert into an id table fails).

Usage: python bench/bench_db_port.py [--rows 1000000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import OUT, _fresh_pg, _vm_hwm_mb, make_csv  # noqa: E402


def source_workspace(rows: int) -> Path:
    """A SQLite workspace with ``rows`` events (built once, cached in bench/out)."""
    ws = OUT / f"port_src_{rows}"
    if (ws / "done").exists():
        return ws
    from persona.config import load_settings
    from persona.ingest.runner import ingest_file
    from persona.store import open_store
    from persona.store.workspace import init_workspace

    settings = load_settings(ws, progress=False)
    init_workspace(settings)
    store = open_store(settings)
    try:
        ingest_file(store, "events", make_csv(rows), progress=False)
    finally:
        store.dispose()
    (ws / "done").write_text("ok")
    return ws


def _target(url: str, parent: Path, src: Path) -> Path:
    """A fresh PostgreSQL workspace sharing the source's key (as a user moving a workspace would copy secret.key)."""
    from persona.config import load_settings
    from persona.store.workspace import init_workspace

    ws = parent / "target"
    init_workspace(load_settings(ws, database_url=url, progress=False))
    (ws / "secret.key").write_bytes((src / "secret.key").read_bytes())
    return ws


def _child(kind: str, src: str, url: str, work: str) -> None:
    from persona.config import load_settings

    t0, c0 = time.perf_counter(), time.process_time()
    res: dict = {}
    if kind == "export":
        from persona.store.export import export_workspace

        info = export_workspace(load_settings(src, progress=False), Path(work) / "export", models=False)
        res = {"rows": info["rows"], "bytes": info["bytes"]}
    elif kind == "import":
        from persona.store.import_ import import_workspace

        ws = Path(work) / "target"
        t0, c0 = time.perf_counter(), time.process_time()  # init is not part of the move
        info = import_workspace(load_settings(ws, progress=False), Path(work) / "export")
        res = {"rows": info["rows"]}
    else:
        import pandas as pd
        from sqlalchemy import JSON, Boolean, create_engine

        from persona.store.models import Base

        lite, pg = create_engine(load_settings(src).url), create_engine(url)
        rows = 0
        for t in Base.metadata.sorted_tables:
            bools = [c.name for c in t.columns if isinstance(c.type, Boolean)]
            jsons = [c.name for c in t.columns if isinstance(c.type, JSON)]
            types = {c.name: c.type for c in t.columns}  # else an all-null column goes as text (bytea, json refuse it)
            for chunk in pd.read_sql_query(f"SELECT * FROM {t.name}", lite, chunksize=100_000):  # noqa: S608
                for c in bools:
                    chunk[c] = chunk[c].astype("boolean")
                for c in jsons:  # SQLite hands back the JSON text: to_sql would encode it a second time
                    chunk[c] = [None if v is None else json.loads(v) for v in chunk[c]]
                chunk.to_sql(t.name, pg, if_exists="append", index=False, dtype=types)
                rows += len(chunk)
        res = {"rows": rows}
    res.update(seconds=round(time.perf_counter() - t0, 2), cpu_seconds=round(time.process_time() - c0, 2),
               peak_rss_mb=round(_vm_hwm_mb() or 0))
    print("RESULT " + json.dumps(res))


def run(kind: str, src: Path, url: str, work: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(src), url, str(work)],
                          capture_output=True, text=True, env={**os.environ, "PERSONA_PROGRESS": "false"})
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        lines = [x for x in (proc.stderr or proc.stdout).strip().splitlines() if not x.startswith("(Background")]
        return {"contender": kind, "error": lines[-1:]}
    return {"contender": kind, **json.loads(line[7:])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return
    src = source_workspace(args.rows)
    results = []
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        work = Path(tmp)
        url, drop = _fresh_pg()
        try:
            _target(url, work, src)
            results.append(run("export", src, url, work))
            results.append(run("import", src, url, work))
        finally:
            drop()
        url, drop = _fresh_pg()
        try:
            _target(url, work / "pandas", src)
            results.append(run("pandas", src, url, work))
        finally:
            drop()
    ok = [r for r in results if "error" not in r]
    persona_s = sum(r["seconds"] for r in ok if r["contender"] in ("export", "import"))
    summary = {"events": args.rows, "cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2), "results": results,
               "persona_total_seconds": round(persona_s, 2)}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"{args.rows:,} events (+ stub customers and products), SQLite -> PostgreSQL, {os.cpu_count()} CPUs, "
          f"load average {summary['loadavg_1m']}")
    print(f"{'contender':<16}{'rows':>11}{'seconds':>9}{'client CPU':>12}{'peak RSS MB':>13}  notes")
    notes = {"export": "Parquet + manifest, one snapshot", "import": "verified, one transaction, sequences reset",
             "pandas": "unverified, no snapshot, sequences not reset"}
    for r in results:
        if "error" in r:
            print(f"{r['contender']:<16}  error: {r['error']}")
            continue
        extra = f", {r['bytes'] / 2**20:.0f} MB" if "bytes" in r else ""
        name = "pandas to_sql" if r["contender"] == "pandas" else f"persona {r['contender']}"
        print(f"{name:<16}{r['rows']:>11,}"
              f"{r['seconds']:>9.2f}{r['cpu_seconds']:>12.2f}{r['peak_rss_mb']:>13,}  {notes[r['contender']]}{extra}")
    print(f"persona export + import: {persona_s:.2f} s")


if __name__ == "__main__":
    main()
