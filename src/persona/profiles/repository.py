"""Reading and writing the ``profiles`` table, and the incremental (only-what-changed) build."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select

from persona.errors import NotFoundError
from persona.privacy.tombstones import erased_customers, live_rows
from persona.profiles.builder import ProfileBuilder
from persona.profiles.features import refresh_time_features
from persona.profiles.source import load_shop, to_utc
from persona.store import Store
from persona.store.models import Profile

log = logging.getLogger(__name__)


def profile_rows(frame: pd.DataFrame, updated_at: datetime, watermark: int) -> list[dict[str, Any]]:
    """Rows for the ``profiles`` table: features, the embedding, the build time.

    Features and embedding are left as the frame holds them: the store writes JSON columns with its one encoder
    (:mod:`persona.jsonvalues`), which turns numpy numbers and arrays into numbers and lists, timestamps into
    ISO 8601 text and NaN, NaT and ``pd.NA`` into null.
    """
    cols = [c for c in frame.columns if c != "embedding"]
    rows = []
    for cid, rec in zip(frame.index, frame[cols].to_dict(orient="records"), strict=True):
        emb = frame.at[cid, "embedding"] if "embedding" in frame else None
        rows.append({"customer_id": str(cid), "features": {**rec, "events_watermark": watermark}, "embedding": emb,
                     "updated_at": updated_at})
    return rows


def write_profiles(store: Store, frame: pd.DataFrame, *, watermark: int, replace_all: bool = False) -> int:
    """Upsert profiles (delete then insert, in one transaction); ``replace_all`` clears the table first. Customers
    erased by then get none (:func:`persona.privacy.tombstones.live_rows`); returns how many were written."""
    now = datetime.now(UTC)
    rows = profile_rows(frame, now, watermark)
    ids = [r["customer_id"] for r in rows]
    with store.session() as s:
        rows = live_rows(s, rows)
        if replace_all:
            s.execute(delete(Profile))
        else:
            for i in range(0, len(ids), 500):
                s.execute(delete(Profile).where(Profile.customer_id.in_(ids[i : i + 500])))
        for i in range(0, len(rows), 5000):
            s.execute(insert(Profile), rows[i : i + 5000])
    return len(rows)


def stale_customers(store: Store, watermark: int) -> list[str]:
    """Customers with events stored after the last build (id above ``watermark``) or with no profile yet."""
    newer = store.read_frame("SELECT DISTINCT customer_id FROM events WHERE id > :w", {"w": int(watermark)})
    missing = store.read_frame(
        "SELECT DISTINCT e.customer_id FROM events e LEFT JOIN profiles p ON p.customer_id = e.customer_id "
        "WHERE p.customer_id IS NULL"
    )
    missing_c = store.read_frame(
        "SELECT c.customer_id FROM customers c LEFT JOIN profiles p ON p.customer_id = c.customer_id "
        "WHERE p.customer_id IS NULL AND c.erased_at IS NULL"
    )
    ids = set(newer["customer_id"]) | set(missing["customer_id"]) | set(missing_c["customer_id"])
    return sorted(str(i) for i in ids)


def build_and_store(
    store: Store,
    *,
    full: bool = False,
    as_of: Any = None,
    alpha: float = 0.5,
    recommender: Any = None,
    seed: int = 42,
    data: Any = None,
) -> dict[str, Any]:
    """Build profiles and write them: everything (``full`` or first build) or only stale customers.

    The full build runs on the store's engine (``settings.engine``); the incremental one reads only the
    stale customers, locally.

    Returns:
        ``{"mode": "full"|"incremental", "rebuilt": n, "profiles": total, "embedding": kind, "alpha": α, "engine": name}``.
    """
    path = store.settings.profile_builder_path
    builder = None
    if not full and path.is_file() and store.count("profiles") > 0:
        builder = ProfileBuilder.load(path)
    if builder is None:
        opened = data is None
        if data is None:
            from persona.engines import open_shop

            data = open_shop(store)
        try:
            builder = ProfileBuilder(alpha=alpha, seed=seed).fit(data, as_of, recommender)
            frame = builder.transform(data, as_of)
        finally:
            if opened and hasattr(data, "release"):
                data.release()
        n = write_profiles(store, frame, watermark=builder.watermark_, replace_all=True)
        builder.save(path)
        mode, rebuilt, engine = "full", n, data.engine
    else:
        stale = stale_customers(store, builder.watermark_)
        rebuilt = 0
        if stale:
            sub = load_shop(store, stale)
            wm = int(store.read_frame("SELECT MAX(id) AS m FROM events")["m"].iloc[0] or 0)
            if as_of is None:
                as_of = to_utc(store.read_frame("SELECT MAX(ts) AS m FROM events")["m"]).iloc[0]
            frame = builder.transform(sub, as_of, stale)
            rebuilt = write_profiles(store, frame, watermark=wm)
            builder.watermark_ = max(builder.watermark_, wm)
            builder.save(path)
        mode, engine = "incremental", "local"
    kind = builder.embedding_.kind_
    log.info("profiles mode=%s rebuilt=%d embedding=%s", mode, rebuilt, kind)
    return {"mode": mode, "rebuilt": rebuilt, "profiles": store.count("profiles"), "embedding": kind, "alpha": builder.alpha,
            "engine": engine}


def _expand(rows: list[tuple[str, dict[str, Any], Any, datetime]]) -> pd.DataFrame:
    recs = []
    for cid, feats, emb, upd in rows:
        r = dict(feats or {})
        r["customer_id"], r["embedding"], r["updated_at"] = cid, emb, upd
        recs.append(r)
    df = pd.DataFrame.from_records(recs)
    return df.set_index("customer_id") if len(df) else df


def read_profiles(store: Store, *, as_of: Any = None, customer_ids: list[str] | None = None) -> pd.DataFrame:
    """Profiles as a frame (features expanded into columns); recency/tenure refreshed to one ``as_of``. An erased
    customer's profile, should one be left, is not read.

    Args:
        as_of: recompute time-relative features against this time (default: the newest profile's).
    """
    q = select(Profile.customer_id, Profile.features, Profile.embedding, Profile.updated_at)
    if customer_ids is not None:
        q = q.where(Profile.customer_id.in_(customer_ids))
    with store.session() as s:
        rows = [tuple(r) for r in s.execute(q)]
    erased = erased_customers(store)
    df = _expand([r for r in rows if str(r[0]) not in erased] if erased else rows)
    if df.empty:
        return df
    ref = as_of
    if ref is None and "as_of" in df:
        ref = pd.to_datetime(df["as_of"], utc=True, format="mixed").max()
    if ref is not None and not pd.isna(ref):
        df = refresh_time_features(df, ref)
    return df


def get_profile(store: Store, customer_id: str) -> dict[str, Any]:
    """One customer's stored profile.

    Raises:
        NotFoundError: no profile for this id.
    """
    with store.session() as s:
        row = s.get(Profile, customer_id)
        if row is None:
            n = s.query(Profile).count()
            hint = "run `persona profiles build` first" if n == 0 else "check the id (profiles exist for customers with data)"
            raise NotFoundError(f"no profile for customer {customer_id!r} ({n} profiles stored)", hint=hint)
        return {"customer_id": row.customer_id, "updated_at": row.updated_at, "features": row.features, "embedding": row.embedding}
