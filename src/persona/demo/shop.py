"""Build the demo shop (customers, products, events, reviews, consents) and write it as canonical CSV files."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from persona.demo.behaviour import CHANNELS, DAY, EVENT_TYPES, season_curve, simulate
from persona.demo.catalog import TAXONOMY, build_catalog
from persona.demo.people import build_consents, build_population
from persona.demo.reviews import build_reviews
from persona.errors import InputError

log = logging.getLogger(__name__)

ENTITIES = ("customers", "products", "events", "reviews", "consents")
DEFAULT_START = "2025-01-01"
LATENT_DIM = 12


@dataclass
class DemoShop:
    """The generated shop as canonical frames (timestamps already ISO-8601 text), one per entity."""

    customers: pd.DataFrame
    products: pd.DataFrame
    events: pd.DataFrame
    reviews: pd.DataFrame
    consents: pd.DataFrame
    dirty_rows: dict[str, int] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Entity name → frame, in ingestion order (customers and products before events)."""
        return {name: getattr(self, name) for name in ENTITIES}

    def counts(self) -> dict[str, int]:
        """Rows per entity."""
        return {name: len(df) for name, df in self.frames().items()}


_str = getattr(np, "strings", np.char)  # numpy >= 2: vectorised string ufuncs


def _iso(seconds: np.ndarray) -> np.ndarray:
    return _str.add(np.datetime_as_string(np.asarray(seconds, dtype="datetime64[s]"), unit="s"), "Z")


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` + zero-padded numbers (numpy's zfill fails on an empty array: a tiny shop may have no event)."""
    if len(numbers) == 0:
        return np.empty(0, dtype=object)
    return _str.add(prefix, _str.zfill(np.asarray(numbers).astype(str), width))


def _parse_start(start: str) -> int:
    try:
        dt = datetime.fromisoformat(start)
    except (TypeError, ValueError) as exc:
        raise InputError(f"start {start!r} is not an ISO date", hint="use YYYY-MM-DD, e.g. 2025-01-01") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def _check(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or not low <= value <= high:
        raise InputError(f"{name}={value!r} is out of range", hint=f"use a whole number from {low:,} to {high:,}")


def build_shop(*, customers: int = 3000, products: int = 600, days: int = 365, seed: int = 42,
               start: str = DEFAULT_START, dirty: bool = False) -> DemoShop:
    """Generate the demo shop in memory.

    Args:
        customers: number of customers (10 to 2,000,000).
        products: number of products (at least one per leaf category: 25 to 200,000).
        days: length of the event window in days (7 to 3,650).
        seed: random seed; the same seed gives the same shop, byte for byte.
        start: first day of the window (ISO date, UTC).
        dirty: add a handful of realistic bad rows (duplicates, bad timestamps, missing ids) for ingestion demos.

    Returns:
        A :class:`DemoShop` holding one canonical frame per entity.

    Raises:
        InputError: a size is out of range or ``start`` is not a date.
    """
    _check("customers", customers, 10, 2_000_000)
    _check("products", products, len(TAXONOMY), 200_000)
    _check("days", days, 7, 3650)
    _check("seed", seed, 0, 2**32 - 1)
    start_s = _parse_start(start)
    end_s = start_s + days * DAY
    rng = np.random.default_rng(seed)

    cat = build_catalog(products, LATENT_DIM, start_s, days, rng)
    pop = build_population(customers, start_s, days, season_curve(start_s, days), rng)
    consents, windows = build_consents(pop, end_s, rng)
    sim = simulate(cat, pop, windows, start_s, days, rng, LATENT_DIM)

    cust_ids = pop.customers["customer_id"].to_numpy()
    prod_ids = cat.products["product_id"].to_numpy()
    leaf_top = [TAXONOMY[s].top for s in cat.subcat]
    reviews = build_reviews(sim.ratings, pop.lang_zh, leaf_top, cat.nouns, cust_ids, prod_ids, rng)

    events = _events_frame(sim.events, sim.campaigns, cust_ids, prod_ids)
    customers_df = pop.customers.assign(created_at=_iso(pop.customers["created_at"].to_numpy()))
    products_df = cat.products.assign(created_at=_iso(cat.products["created_at"].to_numpy()))
    reviews = reviews.assign(timestamp=_iso(reviews["timestamp"].to_numpy()))
    consents = consents.assign(timestamp=_iso(consents["timestamp"].to_numpy()))
    shop = DemoShop(customers_df, products_df, events, reviews, consents)
    if dirty:
        _make_dirty(shop, np.random.default_rng([seed, 1]))
    log.info("demo shop generated seed=%s counts=%s", seed, shop.counts())
    return shop


def _events_frame(ev: dict[str, np.ndarray], campaigns: list[str], cust_ids: np.ndarray, prod_ids: np.ndarray) -> pd.DataFrame:
    order = np.lexsort((ev["etype"], ev["item"], ev["cust"], ev["t"]))
    ev = {k: v[order] for k, v in ev.items()}
    n = len(order)
    has_item = ev["item"] >= 0
    product = np.where(has_item, prod_ids[np.maximum(ev["item"], 0)], "")
    sess = ev["session"]
    has_sess = sess >= 0
    codes = pd.factorize(sess[has_sess])[0]  # sessions numbered by first appearance in time
    width = max(7, len(str(len(codes))))
    session_id = np.full(n, "", dtype=object)
    session_id[has_sess] = _ids("S", codes + 1, width)
    camp = np.array(campaigns + [""], dtype=object)
    df = pd.DataFrame({
        "event_id": _ids("E", np.arange(1, n + 1), max(8, len(str(n)))),
        "customer_id": cust_ids[ev["cust"]],
        "product_id": product,
        "event_type": np.array(EVENT_TYPES)[ev["etype"]],
        "timestamp": _iso(ev["t"]),
        "value": np.round(ev["value"], 2),
        "quantity": pd.array(np.where(np.isnan(ev["qty"]), 0, ev["qty"]).astype(np.int64), dtype="Int64"),
        "revenue": np.round(ev["rev"], 2),
        "channel": np.array(CHANNELS)[ev["channel"]],
        "session_id": session_id,
        "campaign_id": camp[ev["campaign"]],
    })
    df.loc[np.isnan(ev["qty"]), "quantity"] = pd.NA
    return df


def _make_dirty(shop: DemoShop, rng: np.random.Generator) -> None:
    """Append realistic bad rows: exact duplicates, unparseable timestamps, missing ids, a malformed price."""
    ev = shop.events

    def some(k: int) -> pd.DataFrame:  # k rows of the events, or all of them when a tiny shop has fewer
        return ev.iloc[np.sort(rng.choice(len(ev), min(k, len(ev)), replace=False))]

    dups = some(max(3, len(ev) // 500))
    bad_ts = some(3).copy()
    bad_ts["event_id"] = bad_ts["event_id"] + "-bad-ts"
    bad_ts["timestamp"] = ["2025-13-45T25:61:00Z", "not a date", ""][:len(bad_ts)]
    no_cust = some(3).copy()
    no_cust["event_id"] = no_cust["event_id"] + "-no-customer"
    no_cust["customer_id"] = ""
    no_id = some(2).copy()
    no_id["event_id"] = ""
    shop.events = pd.concat([ev, dups, bad_ts, no_cust, no_id], ignore_index=True)

    cu = shop.customers
    c_dups = cu.iloc[np.sort(rng.choice(len(cu), max(2, len(cu) // 300), replace=False))]
    c_noid = cu.iloc[[0]].copy()
    c_noid["customer_id"] = ""
    c_bad = cu.iloc[[1]].copy()
    c_bad["customer_id"] = c_bad["customer_id"] + "-x"
    c_bad["created_at"] = "31/02/2025"
    c_bad["birth_year"] = -1
    shop.customers = pd.concat([cu, c_dups, c_noid, c_bad], ignore_index=True)

    pr = shop.products.astype({"price": object})
    p_bad = pr.iloc[[0, 1]].copy()
    p_bad["product_id"] = ["", p_bad["product_id"].iloc[1] + "-x"]
    p_bad["price"] = [9.99, "twelve dollars"]
    shop.products = pd.concat([pr, p_bad], ignore_index=True)
    shop.dirty_rows = {
        "events": len(dups) + len(bad_ts) + len(no_cust) + len(no_id),
        "customers": len(c_dups) + 2,
        "products": 2,
    }


def write_shop(shop: DemoShop, out_dir: str | Path) -> dict[str, Path]:
    """Write one CSV per entity into ``out_dir`` (created if missing); returns entity → path.

    All or nothing: every file is written into a hidden staging folder inside ``out_dir`` first and moved under its
    final name only once all of them are complete, so an error or Ctrl-C leaves neither a half-written file nor
    part of a new set (the staging folder, and ``out_dir`` when this call created it, are removed).

    Raises:
        InputError: ``out_dir`` is a file, or one of the target names is a folder.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder", hint="pass a folder path")
    frames = shop.frames()
    paths = {name: out / f"{name}.csv" for name in frames}
    blocked = [p.name for p in paths.values() if p.is_dir()]
    if blocked:
        raise InputError(f"--out {out} holds folder(s) named {', '.join(blocked)}, where the demo files go",
                         hint="move them away, or pass another --out folder")
    created = [d for d in (out, *out.parents) if not d.exists()]
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".demo-", suffix=".tmp", dir=out))
    moved: list[str] = []
    try:
        for name, df in frames.items():
            df.to_csv(stage / paths[name].name, index=False, lineterminator="\n")
        for name, path in paths.items():  # renames within one folder: quick, and each file is whole
            if path.exists():
                os.replace(path, stage / f"{path.name}.old")  # kept until the whole new set is in place
            moved.append(name)
            os.replace(stage / path.name, path)
    except BaseException:
        for name in reversed(moved):  # stopped between the renames: put the previous set back
            old = stage / f"{paths[name].name}.old"
            if old.exists():
                os.replace(old, paths[name])
            elif not (stage / paths[name].name).exists():  # the new file was moved in: take it out
                paths[name].unlink(missing_ok=True)
        shutil.rmtree(stage, ignore_errors=True)
        for d in created:  # folders this call made (innermost first), if still empty
            try:
                d.rmdir()
            except OSError:
                break
        raise
    shutil.rmtree(stage, ignore_errors=True)
    return paths


def generate_shop(out_dir: str | Path, *, customers: int = 3000, products: int = 600, days: int = 365, seed: int = 42,
                  start: str = DEFAULT_START, dirty: bool = False) -> dict[str, Path]:
    """Generate the demo shop and write customers/products/events/reviews/consents CSV files.

    Args:
        out_dir: folder to write into (created if missing; existing files of the same names are replaced).
        customers: number of customers.
        products: number of products (at least 25, one per leaf category).
        days: length of the event window in days.
        seed: random seed; the same arguments give byte-identical files.
        start: first day of the window (ISO date, UTC).
        dirty: add a handful of bad rows (duplicates, bad timestamps, missing ids) for ingestion demos.

    Returns:
        Entity name → path of its CSV file.

    Raises:
        InputError: a size is out of range, ``start`` is not a date, or ``out_dir`` is a file.
    """
    shop = build_shop(customers=customers, products=products, days=days, seed=seed, start=start, dirty=dirty)
    return write_shop(shop, out_dir)
