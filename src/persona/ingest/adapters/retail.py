"""Invoice-line retail exports (UCI Online Retail layout: ``InvoiceNo, StockCode, Description, Quantity,
InvoiceDate, UnitPrice, CustomerID, Country``; the Online Retail II spellings ``Invoice``, ``Price`` and
``Customer ID`` are accepted too).

How the awkward rows are handled, as a retailer would expect the books to add up:

* **Every line is kept** as an event, so revenue totals over the events equal the file's totals.
* Invoices starting with ``C`` are cancellations: ``refund`` events with negative quantity and revenue, linked to
  the customer's latest earlier invoice holding the same stock code (``original_invoice`` in the event context,
  empty when the original is not in the file).
* A negative quantity without ``C`` (stock write-offs: "damaged", "lost"), a zero quantity, a negative price and
  ``A…`` invoices (bad-debt adjustments) are ``adjustment`` events, never purchases.
* Non-merchandise stock codes become ``fee`` (POST, DOT, C2, BANK CHARGES, AMAZONFEE, CRUK, PADS), ``discount`` (D)
  or ``adjustment`` (M, B, S) events without a product, the code kept as ``stock_code``.
* Lines without a CustomerID are guest checkouts: the customer becomes ``guest:<invoice>`` (one stub customer per
  guest basket, so baskets stay intact for basket analysis and revenue is preserved; analytics that need known
  customers drop ids starting with ``guest:``) and the context says ``guest: true``.
* A unit price of 0 on a sale is kept as a ``purchase`` with revenue 0 and ``flag: zero_price``.
* ``event_id`` is ``retail:<invoice>:<stock>:<quantity>:<price>``: exact duplicate lines (common in these exports)
  share an id, so the engine counts them as duplicates instead of double-counting revenue.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from persona.errors import DataFileError, SchemaError
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

COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
ALIASES = {"Invoice": "InvoiceNo", "Price": "UnitPrice", "Customer ID": "CustomerID", "CustomerId": "CustomerID"}
SERVICE_CODES = {
    "POST": "fee", "DOT": "fee", "C2": "fee", "BANK CHARGES": "fee", "AMAZONFEE": "fee", "CRUK": "fee", "PADS": "fee",
    "D": "discount", "M": "adjustment", "B": "adjustment", "S": "adjustment",
}


def parse_invoice_date(values: pd.Series) -> pd.Series:
    """Invoice dates as UTC: ISO text, or the ``12/1/2010 8:26`` month-first form of the UCI CSV copies."""
    s = values.astype("string").str.strip()
    ts = pd.to_datetime(s, format="ISO8601", errors="coerce", utc=True)
    for fmt in ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%m/%d/%y %H:%M"):
        rest = ts.isna() & s.notna()
        if not rest.any():
            break
        ts[rest] = pd.to_datetime(s[rest], format=fmt, errors="coerce", utc=True)
    return ts


def _encoding(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(1 << 20)
    if b"\x00" in head:
        raise DataFileError(f"retail: {path} is a binary file", hint="export the invoice lines as CSV")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the buffer's end
            return "latin-1"
    return "utf-8"


class RetailAdapter(Adapter):
    """Invoice lines as purchase / refund / adjustment / fee / discount events; stock codes as products."""

    name = "retail"
    description = ("invoice-line retail export (UCI Online Retail): InvoiceNo, StockCode, Description, Quantity, "
                   "InvoiceDate, UnitPrice, CustomerID, Country")

    def read(self, path: Path, chunk_size: int = 100_000) -> Chunks:
        check_chunk_size(chunk_size)
        p = require_path(path, self.name)
        f = find_file(p, self.name, ["*.csv", "*.csv.gz", "*.txt"], what="invoice-line CSV")
        enc = _encoding(f) if f.suffix != ".gz" else "utf-8"
        header = [ALIASES.get(c.strip(), c.strip()) for c in pd.read_csv(f, nrows=0, encoding=enc).columns]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise SchemaError(f"retail: {f.name} lacks columns {', '.join(missing)}",
                              hint=f"the layout needs: {', '.join(COLUMNS)}")

        def raw() -> Iterator[pd.DataFrame]:
            for df in pd.read_csv(f, dtype=str, chunksize=chunk_size, encoding=enc, keep_default_na=False,
                                  na_values=[""]):
                df.columns = [ALIASES.get(c.strip(), c.strip()) for c in df.columns]
                yield df

        def events() -> Iterator[pd.DataFrame]:
            last_invoice: dict[tuple[str, str], tuple[pd.Timestamp, str]] = {}
            for df in raw():
                yield _events(df, last_invoice)

        def products() -> Iterator[pd.DataFrame]:
            for df in raw():
                stock = text_id(df["StockCode"])
                qty = pd.to_numeric(df["Quantity"], errors="coerce")
                price = pd.to_numeric(df["UnitPrice"], errors="coerce")
                desc = text_id(df["Description"])
                ok = (~stock.str.upper().isin(list(SERVICE_CODES)) & (qty > 0) & (price > 0) & desc.notna()
                      & ~text_id(df["InvoiceNo"]).str.upper().str.startswith(("C", "A"), na=False))
                yield pd.DataFrame({"product_id": stock[ok], "title": desc[ok], "price": price[ok]})

        def customers() -> Iterator[pd.DataFrame]:
            for df in raw():
                cust = text_id(df["CustomerID"])
                yield pd.DataFrame({"customer_id": cust, "country": text_id(df["Country"])})

        return {
            "customers": unique_rows("customer_id")(lazy(customers)),
            "products": unique_rows("product_id")(lazy(products)),
            "events": lazy(events),
        }


def _events(df: pd.DataFrame, last_invoice: dict[tuple[str, str], tuple[pd.Timestamp, str]]) -> pd.DataFrame:
    """Canonical events of one chunk; ``last_invoice`` carries (customer, stock) → latest sale across chunks."""
    invoice = text_id(df["InvoiceNo"])
    inv_up = invoice.str.upper()
    stock = text_id(df["StockCode"])
    qty = pd.to_numeric(df["Quantity"], errors="coerce")
    price = pd.to_numeric(df["UnitPrice"], errors="coerce")
    cust = text_id(df["CustomerID"])
    ts = parse_invoice_date(df["InvoiceDate"])
    service = stock.str.upper().map(SERVICE_CODES)
    cancel = inv_up.str.startswith("C", na=False)

    etype = np.select(
        [service.notna().to_numpy(), cancel.to_numpy(),
         (inv_up.str.startswith("A", na=False) | (price < 0) | (qty <= 0)).to_numpy(), (qty > 0).to_numpy()],
        [service.fillna("").to_numpy(), "refund", "adjustment", "purchase"],
        default="adjustment",
    )
    etype = pd.Series(etype, index=df.index)
    guest = cust.isna()
    flag = pd.Series(None, index=df.index, dtype=object)
    flag[(etype == "purchase") & (price == 0)] = "zero_price"

    # link refunds to the customer's latest earlier sale of the same stock code
    sale = etype == "purchase"
    original = pd.Series(None, index=df.index, dtype=object)
    refunds = np.flatnonzero(((etype == "refund") & ~guest).to_numpy())
    if len(refunds):
        sales = pd.DataFrame({"c": cust[sale], "s": stock[sale], "ts": ts[sale], "inv": invoice[sale]}).dropna()
        sales = sales.sort_values("ts", kind="stable")
        ref = pd.DataFrame({"c": cust.iloc[refunds], "s": stock.iloc[refunds], "ts": ts.iloc[refunds],
                            "pos": refunds}).dropna(subset=["ts"]).sort_values("ts", kind="stable")
        if len(sales) and len(ref):
            m = pd.merge_asof(ref, sales, on="ts", by=["c", "s"], direction="backward")
            original.iloc[m["pos"].to_numpy()] = m["inv"].to_numpy()
        for pos in refunds:
            if pd.isna(original.iloc[pos]):
                prev = last_invoice.get((cust.iloc[pos], stock.iloc[pos]))
                if prev is not None and (pd.isna(ts.iloc[pos]) or prev[0] <= ts.iloc[pos]):
                    original.iloc[pos] = prev[1]
    latest = pd.DataFrame({"c": cust[sale], "s": stock[sale], "ts": ts[sale], "inv": invoice[sale]}).dropna()
    latest = latest.sort_values("ts", kind="stable").drop_duplicates(["c", "s"], keep="last")
    last_invoice.update({(c, s): (t, i) for c, s, t, i in latest.itertuples(index=False, name=None)})

    is_product = service.isna()
    guest_id = make_id("guest", invoice).where(invoice.notna())
    return pd.DataFrame({
        "event_id": make_id("retail", invoice, stock, qty, price),
        "customer_id": cust.where(~guest, guest_id),
        "product_id": stock.where(is_product),
        "event_type": etype,
        "timestamp": ts,
        "value": price,
        "quantity": qty,
        "revenue": (qty * price).round(2),
        "session_id": invoice,
        "invoice_no": invoice,
        "stock_code": stock,
        "description": text_id(df["Description"]),
        "country": text_id(df["Country"]),
        "guest": guest,
        "original_invoice": original,
        "flag": flag,
    })
