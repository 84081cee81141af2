"""Dataset adapters: read well-known public layouts (MovieLens, CDNOW, retail invoices, Taobao, REES46) into
canonical entity chunks that the ingest engine validates and loads like any other file."""

from __future__ import annotations

from persona.errors import InputError
from persona.ingest.adapters.base import Adapter, Chunks
from persona.ingest.adapters.cdnow import CDNOWAdapter, read_cdnow_transactions
from persona.ingest.adapters.movielens import MovieLensAdapter
from persona.ingest.adapters.rees46 import Rees46Adapter
from persona.ingest.adapters.retail import RetailAdapter
from persona.ingest.adapters.taobao import TaobaoAdapter

ADAPTERS: dict[str, Adapter] = {
    a.name: a for a in (MovieLensAdapter(), CDNOWAdapter(), RetailAdapter(), TaobaoAdapter(), Rees46Adapter())
}


def get_adapter(name: str) -> Adapter:
    """The adapter called ``name`` (case-insensitive; ``-``/``_`` ignored).

    Raises:
        InputError: unknown name; the message lists the valid ones.
    """
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    for known, adapter in ADAPTERS.items():
        if known.replace("-", "").replace("_", "") == key:
            return adapter
    raise InputError(f"unknown adapter {name!r}", hint=f"use one of: {', '.join(ADAPTERS)}")


__all__ = ["ADAPTERS", "Adapter", "Chunks", "get_adapter", "read_cdnow_transactions", "CDNOWAdapter", "MovieLensAdapter",
           "Rees46Adapter", "RetailAdapter", "TaobaoAdapter"]
