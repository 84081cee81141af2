"""Taobao UserBehavior log: ``user_id,item_id,category_id,behavior,timestamp`` without a header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from persona.errors import DataFileError
from persona.ingest.adapters.base import (
    Adapter,
    Chunks,
    check_chunk_size,
    find_file,
    lazy,
    make_id,
    require_path,
    text_id,
    to_utc_seconds,
    unique_rows,
)

COLUMNS = ["user_id", "item_id", "category_id", "behavior", "timestamp"]
BEHAVIORS = {"pv": "view", "cart": "add_to_cart", "fav": "wishlist", "buy": "purchase"}


def _has_header(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(4096)
    if b"\x00" in head:
        raise DataFileError(f"taobao: {path} is a binary file", hint="pass UserBehavior.csv (text, comma-separated)")
    first = head.decode("utf-8", "replace").splitlines()[0] if head.strip() else ""
    cells = first.split(",")
    if len(cells) != 5:
        raise DataFileError(f"taobao: {path} has {len(cells)} columns on its first line",
                            hint="expected 5: user_id,item_id,category_id,behavior,timestamp")
    return not cells[0].strip().isdigit()


class TaobaoAdapter(Adapter):
    """Taobao behaviour as events (pv → view, cart → add_to_cart, fav → wishlist, buy → purchase); items as products."""

    name = "taobao"
    description = "Taobao UserBehavior CSV: user_id,item_id,category_id,behavior(pv/cart/fav/buy),timestamp"

    def read(self, path: Path, chunk_size: int = 100_000) -> Chunks:
        check_chunk_size(chunk_size)
        p = require_path(path, self.name)
        f = find_file(p, self.name, ["UserBehavior*.csv", "*.csv"], what="UserBehavior CSV")
        header = 0 if _has_header(f) else None

        def raw() -> Iterator[pd.DataFrame]:
            yield from pd.read_csv(f, header=header, names=COLUMNS, dtype=str, chunksize=chunk_size)

        def events() -> Iterator[pd.DataFrame]:
            for df in raw():
                user, item = text_id(df["user_id"]), text_id(df["item_id"])
                behavior = text_id(df["behavior"]).str.lower()
                ts = pd.to_numeric(df["timestamp"], errors="coerce")
                yield pd.DataFrame({
                    "event_id": make_id("tb", user, item, behavior, ts),
                    "customer_id": user,
                    "product_id": item,
                    "event_type": behavior.map(BEHAVIORS).fillna(behavior),
                    "timestamp": to_utc_seconds(ts),
                })

        def products() -> Iterator[pd.DataFrame]:
            for df in raw():
                yield pd.DataFrame({"product_id": text_id(df["item_id"]), "category": text_id(df["category_id"])})

        return {"products": unique_rows("product_id")(lazy(products)), "events": lazy(events)}
