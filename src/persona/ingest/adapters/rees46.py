"""REES46-style shop event log: ``event_time,event_type,product_id,category_id,category_code,brand,price,user_id,
user_session`` with a header (a layout many shops export)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from persona.errors import SchemaError
from persona.ingest.adapters.base import (
    Adapter,
    Chunks,
    check_chunk_size,
    find_file,
    lazy,
    make_id,
    require_path,
    text_id,
    unique_rows,
)

COLUMNS = ["event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id",
           "user_session"]
EVENT_TYPES = {"view": "view", "cart": "add_to_cart", "remove_from_cart": "remove_from_cart", "purchase": "purchase"}


def parse_event_time(values: pd.Series) -> pd.Series:
    """``2019-10-01 00:00:00 UTC`` (or ISO text) → ``datetime64[ns, UTC]``; bad values become NaT."""
    s = values.astype("string").str.strip().str.replace(r"\s*UTC$", "", regex=True)
    ts = pd.to_datetime(s, format="%Y-%m-%d %H:%M:%S", errors="coerce", utc=True)
    rest = ts.isna() & s.notna()
    if rest.any():
        ts[rest] = pd.to_datetime(s[rest], format="ISO8601", errors="coerce", utc=True)
    return ts


class Rees46Adapter(Adapter):
    """Shop events (view, cart → add_to_cart, remove_from_cart, purchase with revenue = price); products with
    category path, brand and price."""

    name = "rees46"
    description = ("shop event log: event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
                   "user_session (REES46 eCommerce layout)")

    def read(self, path: Path, chunk_size: int = 100_000) -> Chunks:
        check_chunk_size(chunk_size)
        p = require_path(path, self.name)
        f = find_file(p, self.name, ["*.csv", "*.csv.gz"], what="event CSV")
        header = pd.read_csv(f, nrows=0).columns.str.strip().tolist()
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise SchemaError(f"rees46: {f.name} lacks columns {', '.join(missing)}",
                              hint=f"the layout needs: {', '.join(COLUMNS)}")

        def raw() -> Iterator[pd.DataFrame]:
            for df in pd.read_csv(f, dtype=str, chunksize=chunk_size, keep_default_na=False, na_values=[""]):
                df.columns = df.columns.str.strip()
                yield df

        def events() -> Iterator[pd.DataFrame]:
            for df in raw():
                ts = parse_event_time(df["event_time"])
                etype = text_id(df["event_type"]).str.lower()
                mapped = etype.map(EVENT_TYPES).fillna(etype)
                price = pd.to_numeric(df["price"], errors="coerce")
                product, user = text_id(df["product_id"]), text_id(df["user_id"])
                epoch = (ts.astype("int64") // 10**9).where(ts.notna())
                session = text_id(df["user_session"])
                carts = mapped.isin(["add_to_cart", "remove_from_cart", "purchase"])
                yield pd.DataFrame({
                    "event_id": make_id("rees46", user, session, etype, product, epoch),
                    "customer_id": user,
                    "product_id": product,
                    "event_type": mapped,
                    "timestamp": ts,
                    "value": price,
                    "quantity": np.where(carts, 1.0, np.nan),
                    "revenue": price.where(mapped == "purchase"),
                    "session_id": session,
                })

        def products() -> Iterator[pd.DataFrame]:
            for df in raw():
                code = df["category_code"].astype("string").str.strip()
                yield pd.DataFrame({
                    "product_id": text_id(df["product_id"]),
                    "category": code.str.replace(".", " > ", regex=False),
                    "brand": df["brand"].astype("string").str.strip(),
                    "price": pd.to_numeric(df["price"], errors="coerce"),
                    "category_id": text_id(df["category_id"]),
                })

        return {"products": unique_rows("product_id")(lazy(products)), "events": lazy(events)}
