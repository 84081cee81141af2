"""Stages ``demo`` (generate the demo shop), ``ingest`` (load a data folder) and ``quality`` (data-quality summary)."""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

from persona.display import when
from persona.jsonvalues import utc_iso
from persona.pipeline.stage import RunContext, Section, Stage, StageResult

log = logging.getLogger(__name__)

#: the suffixes ``persona ingest`` reads (``persona.ingest.readers``), matched case-insensitively
SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json", ".parquet", ".pq")
_MARKER = ".persona-demo.json"


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


# --- demo ---------------------------------------------------------------------------------------
def _stored_rows(ctx: RunContext) -> dict[str, int]:
    """Rows per entity table that hold any (customers, products, events, reviews)."""
    counts = {t: ctx.store.count(t) for t in ("customers", "products", "events", "reviews")}
    return {t: n for t, n in counts.items() if n}


def configured_sources(ctx: RunContext) -> list[Any]:
    """The sources of the workspace's ``config.toml`` (``[sources.NAME]``), read once per run."""
    if "sources" not in ctx.artifacts:
        from persona.ingest.sources.configured import load_sources

        ctx.artifacts["sources"] = load_sources(ctx.settings)
    return ctx.artifacts["sources"]


def run_demo(ctx: RunContext) -> StageResult:
    """Generate the demo shop into ``<workspace>/demo`` unless the run was given a data folder, the workspace
    has sources configured, or it already holds data of its own (ingested with ``persona ingest``): a synthetic shop
    is never mixed into it."""
    if ctx.data_dir is not None:
        return StageResult(status="skipped", message=f"using the data in {ctx.data_dir}")
    if sources := configured_sources(ctx):
        return StageResult(status="skipped", message=f"pulling the workspace's {len(sources)} configured source(s) instead")
    out = ctx.settings.workspace / "demo"
    marker = out / _MARKER
    if not marker.is_file() and (held := _stored_rows(ctx)):
        ctx.artifacts["own_data"] = True
        what = ", ".join(f"{n:,} {t}" for t, n in held.items())
        return StageResult(status="skipped", message=f"the workspace holds data of its own ({what}): running on it "
                                                     "(no demo shop is added; --data DIR ingests more files first)")
    from persona.demo import generate_shop

    files: dict[str, Path] | None = None
    if marker.is_file():  # same seed, files present: reuse them (generation is deterministic)
        try:
            meta = json.loads(marker.read_text(encoding="utf-8"))
            if meta.get("seed") == ctx.seed and all(Path(p).is_file() for p in meta["files"].values()):
                files = {k: Path(v) for k, v in meta["files"].items()}
        except (ValueError, KeyError, TypeError):
            files = None
    reused = files is not None
    if files is None:
        files = generate_shop(out, seed=ctx.seed)
        marker.write_text(json.dumps({"seed": ctx.seed, "files": {k: str(v) for k, v in files.items()}}), encoding="utf-8")
    ctx.artifacts["data_dir"] = out
    sizes = {k: Path(v).stat().st_size for k, v in files.items()}
    rows = [{"entity": k, "file": Path(v).name, "bytes": sizes[k]} for k, v in files.items()]
    section = Section(
        title="Demo shop",
        html=(f"<p>{'Reused' if reused else 'Generated'} the synthetic demo shop (seed {ctx.seed}) in "
              f"<code>{html.escape(str(out))}</code>.</p>" + _table(rows, ["entity", "file", "bytes"])),
    )
    return StageResult(figures={"data_dir": str(out), "seed": ctx.seed, "reused": reused, "files": {k: str(v) for k, v in files.items()}},
                       sections=[section])


# --- ingest -------------------------------------------------------------------------------------
def find_entity_files(data_dir: Path) -> dict[str, Path]:
    """The file of each entity in ``data_dir`` (``customers.csv``, ``events.parquet``, ``products.TSV``…).

    Raises:
        DataFileError: the folder does not exist, or two files claim the same entity.
    """
    return scan_data_dir(data_dir)[0]


def scan_data_dir(data_dir: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """The file of each entity in ``data_dir``, and every other file of the folder with why it is not loaded.

    A file is an entity's when its name before the first dot is the entity (any case) and its suffix is one
    ``persona ingest`` reads (any case): ``customers.csv``, ``products.tsv``, ``consents.json``, ``events.CSV``.
    Hidden files (``.persona-demo.json``) and sub-folders are not data and are not listed.

    Raises:
        DataFileError: the folder does not exist, or two files claim the same entity.
    """
    from persona.errors import DataFileError
    from persona.ingest import ENTITY_ORDER

    if not data_dir.is_dir():
        raise DataFileError(f"data folder not found: {data_dir}", hint="pass a folder holding customers.csv, events.csv, …")
    hits: dict[str, list[Path]] = {}
    skipped: dict[str, str] = {}
    for path in sorted(data_dir.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or not path.is_file():
            continue
        stem, _, rest = path.name.partition(".")
        suffix = f".{rest}".lower() if rest else ""
        entity = stem.strip().lower()
        if entity not in ENTITY_ORDER:
            close = [e for e in ENTITY_ORDER if e.rstrip("s") == entity.rstrip("s") or entity.startswith(e)]
            skipped[path.name] = (f"not named after an entity ({'/'.join(ENTITY_ORDER)})"
                                  + (f": rename it {close[0]}{suffix or '.csv'} to load it" if close else ""))
        elif suffix not in SUFFIXES:
            skipped[path.name] = (f"{entity} file with suffix {suffix or '(none)'!r}, which persona ingest does not read "
                                  f"(use one of {', '.join(SUFFIXES)})")
        else:
            hits.setdefault(entity, []).append(path)
    found: dict[str, Path] = {}
    for entity in ENTITY_ORDER:
        paths = hits.get(entity, [])
        if len(paths) > 1:
            raise DataFileError(f"more than one {entity} file in {data_dir}: {[p.name for p in paths]}", hint="keep one")
        if paths:
            found[entity] = paths[0]
    return found, skipped


def run_ingest(ctx: RunContext) -> StageResult:
    """Ingest every entity file of the data folder, in dependency order; one failed file does not stop the others."""
    from persona.errors import PersonaError
    from persona.ingest import ingest_file

    data_dir = ctx.data_dir or ctx.artifacts.get("data_dir")
    if data_dir is None and configured_sources(ctx):
        return _pull_sources(ctx)
    if data_dir is None and ctx.artifacts.get("own_data"):  # the later stages read the store: ingestion is done
        return StageResult(figures={"source": "workspace"},
                           message="no data folder: running on the data already in the workspace")
    if data_dir is None:
        return StageResult(status="failed", message="no data folder: pass --data DIR or let the demo stage generate one")
    data_dir = Path(data_dir)
    files, skipped = scan_data_dir(data_dir)
    not_loaded = "; ".join(f"{name}: {why}" for name, why in skipped.items())
    if not files:
        return StageResult(status="failed", figures={"not_loaded": skipped},
                           message=f"no entity files in {data_dir}: expected customers/products/events/reviews/consents "
                                   f"with suffix {', '.join(SUFFIXES)}" + (f"; not loaded: {not_loaded}" if skipped else ""))
    figures: dict[str, Any] = {}
    rows = []
    errors = []
    notes = []  # what the user must hear about a file that loaded: columns not kept, conflicting duplicates
    for entity, path in files.items():
        try:
            rep = ingest_file(ctx.store, entity, path, progress=ctx.progress)
        except PersonaError as exc:
            errors.append(f"{entity}: {exc}")
            figures[entity] = {"file": path.name, "error": str(exc)}
            rows.append({"entity": entity, "file": path.name, "error": str(exc)})
            continue
        d = rep.as_dict()
        figures[entity] = {k: d[k] for k in ("read", "accepted", "duplicates", "rejected", "quarantine", "stubs", "seconds")}
        figures[entity]["file"] = path.name
        for key in ("conflicts", "ignored_columns"):  # conflicts: same id, different content (when the runner counts them)
            if d.get(key):
                figures[entity][key] = d[key]
        if d.get("conflicts"):
            notes.append(f"{entity}: {d['conflicts']:,} duplicate id(s) with different content ({_CONFLICT_RULE[entity]})")
        if d.get("ignored_columns"):
            notes.append(f"{entity}: column(s) {', '.join(d['ignored_columns'])} not kept (the {entity} table has no "
                         "attributes column)")
        rows.append({"entity": entity, "file": path.name, **{k: d[k] for k in ("read", "accepted", "duplicates", "rejected", "seconds")},
                     "conflicts": d.get("conflicts") or "", "columns not kept": ", ".join(d.get("ignored_columns") or ()),
                     "quarantine": Path(d["quarantine"]).name if d["quarantine"] else ""})
    if skipped:
        figures["not_loaded"] = skipped
        notes.append(f"not loaded: {not_loaded}")
    cols = ["entity", "file", "read", "accepted", "duplicates", "rejected", "quarantine", "seconds"]
    cols += [c for c in ("conflicts", "columns not kept") if any(r.get(c) for r in rows)] + (["error"] if errors else [])
    skipped_html = ""
    if skipped:
        skipped_html = ("<p>Files of the folder that were <b>not loaded</b>:</p>"
                        + _table([{"file": n, "why": w} for n, w in skipped.items()], ["file", "why"]))
    section = Section(
        title="Ingestion",
        html=(f"<p>Files from <code>{html.escape(str(data_dir))}</code>. For every file read = accepted + duplicates + rejected; "
              "rejected rows are in the quarantine files with their line number and reason.</p>" + _table(rows, cols)
              + skipped_html),
    )
    ok = "events" in files and "events" not in {e.split(":")[0] for e in errors}
    if "events" not in files:
        events_like = [n for n in skipped if n.lower().startswith("event")]
        errors.append("no events file" + (f" ({', '.join(events_like)} is not loaded: see below)" if events_like else ""))
    return StageResult(status="ok" if ok else "failed", figures=figures, sections=[section],
                       message="; ".join(errors + notes))


#: which row wins when an id repeats with different content (see ``persona.ingest.writer``)
_CONFLICT_RULE = {
    "customers": "the last row wins, as an update would",
    "products": "the last row wins, as an update would",
    "reviews": "the last row wins, as an update would",
    "events": "the first row is kept, the later ones are quarantined",
    "consents": "consents are a history: every distinct row is kept",
}


def _pull_sources(ctx: RunContext) -> StageResult:
    """Pull the configured sources (as ``persona sync`` does); failed when a source fails or none yields events."""
    from persona.ingest.sources.configured import sync_sources

    results = [r.as_dict() for r in sync_sources(ctx.store, configured_sources(ctx), progress=ctx.progress,
                                                  actor="pipeline")]
    failed = [r for r in results if r["status"] == "failed"]
    cols = ["name", "entity", "kind", "source", "read", "accepted", "duplicates", "rejected", "seconds"] + (["error"] if failed else [])
    section = Section(
        title="Ingestion",
        html=("<p>The sources configured in the workspace's <code>config.toml</code>, pulled in dependency order. For every "
              "source read = accepted + duplicates + rejected; rejected rows are in the quarantine files with their row "
              "number and reason.</p>" + _table(results, cols)),
    )
    has_events = ctx.store.count("events") > 0
    message = "; ".join(f"{r['name']}: {r['error']}" for r in failed) or ("" if has_events else "the workspace holds no events")
    return StageResult(status="failed" if failed or not has_events else "ok", figures={"sources": results},
                       sections=[section], message=message)


# --- quality ------------------------------------------------------------------------------------
NULL_CHECKS = {
    "events": ["product_id", "value", "revenue", "channel", "session_id"],
    "customers": ["email_enc", "birth_year", "city", "country", "created_at"],
    "products": ["title", "category", "brand", "price"],
    "reviews": ["rating", "text", "lang", "ts"],
}


def quality_summary(store: Any) -> dict[str, Any]:
    """Row counts, stubs, events per type, time range, null rates of key columns and quarantine totals."""
    counts = {t: store.count(t) for t in ("customers", "products", "events", "reviews", "consents")}
    one = store.read_frame(
        "SELECT (SELECT COUNT(*) FROM customers WHERE is_stub = :t) AS stub_customers, "
        "(SELECT COUNT(*) FROM products WHERE is_stub = :t) AS stub_products, "
        "(SELECT MIN(ts) FROM events) AS first_event, (SELECT MAX(ts) FROM events) AS last_event, "
        "(SELECT COALESCE(SUM(rejected), 0) FROM ingest_runs) AS quarantined_rows, "
        "(SELECT COUNT(*) FROM ingest_runs WHERE quarantine IS NOT NULL) AS quarantine_files",
        {"t": True},
    ).iloc[0]
    by_type = store.read_frame("SELECT event_type, COUNT(*) AS n FROM events GROUP BY event_type ORDER BY n DESC")
    nulls: dict[str, dict[str, float]] = {}
    for table, cols in NULL_CHECKS.items():
        if counts[table] == 0:
            continue
        exprs = ", ".join(f"AVG(CASE WHEN {c} IS NULL THEN 1.0 ELSE 0.0 END) AS {c}" for c in cols)
        row = store.read_frame(f"SELECT {exprs} FROM {table}").iloc[0]  # noqa: S608 - our own names
        nulls[table] = {c: round(float(row[c]), 4) for c in cols}
    return {
        "rows": counts,
        "stubs": {"customers": int(one["stub_customers"]), "products": int(one["stub_products"])},
        "events_by_type": {str(r.event_type): int(r.n) for r in by_type.itertuples()},
        "time_range": {"first": utc_iso(one["first_event"]), "last": utc_iso(one["last_event"])},
        "null_rates": nulls,
        "quarantine": {"rows": int(one["quarantined_rows"]), "files": int(one["quarantine_files"])},
    }


def events_per_day(store: Any) -> Any:
    """Events per UTC day and type, as a DataFrame (day, event_type, n)."""
    day = "substr(ts, 1, 10)" if store.dialect == "sqlite" else "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return store.read_frame(f"SELECT {day} AS day, event_type, COUNT(*) AS n FROM events GROUP BY 1, 2 ORDER BY 1")


def _plot(per_day: Any) -> Any:
    import pandas as pd
    from matplotlib.figure import Figure

    wide = per_day.pivot_table(index="day", columns="event_type", values="n", aggfunc="sum", fill_value=0)
    wide.index = pd.to_datetime(wide.index)
    wide = wide[wide.sum().sort_values(ascending=False).index]
    fig = Figure(figsize=(9, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    for col in wide.columns[:8]:
        ax.plot(wide.index, wide[col], label=str(col), linewidth=1)
    ax.set_yscale("log")
    ax.set_ylabel("events per day (log)")
    ax.set_title("Events per day by type")
    ax.legend(fontsize=7, ncols=4, loc="upper left")
    fig.autofmt_xdate()
    return fig


def run_quality(ctx: RunContext) -> StageResult:
    """Summarize what the store holds and how clean it is; plot events per day by type."""
    q = quality_summary(ctx.store)
    if q["rows"]["events"] == 0:
        return StageResult(status="skipped", figures=q, message="no events in the store")
    rows = [{"table": t, "rows": n, "stubs": q["stubs"].get(t)} for t, n in q["rows"].items()]
    types = [{"event_type": k, "events": v} for k, v in q["events_by_type"].items()]
    nulls = [{"column": f"{t}.{c}", "null rate": v} for t, cs in q["null_rates"].items() for c, v in cs.items()]
    html_text = (
        f"<p>Events from {when(q['time_range']['first']) or '–'} to {when(q['time_range']['last']) or '–'}; "
        f"{q['quarantine']['rows']:,} rows quarantined in {q['quarantine']['files']} file(s).</p>"
        + _table(rows, ["table", "rows", "stubs"]) + _table(types, ["event_type", "events"]) + _table(nulls, ["column", "null rate"])
    )
    section = Section(title="Data quality", html=html_text)
    section.add_figure(_plot(events_per_day(ctx.store)))
    return StageResult(figures=q, sections=[section])


DEMO = Stage(name="demo", title="Demo shop", run=run_demo)
INGEST = Stage(name="ingest", title="Ingestion", run=run_ingest)
QUALITY = Stage(name="quality", title="Data quality", run=run_quality, requires=("ingest",))
