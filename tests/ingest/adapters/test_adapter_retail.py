"""Invoice-line retail exports: sales, cancellations, write-offs, guests, fees and duplicates, as a retailer
expects the books to add up."""

from __future__ import annotations

import pandas as pd
import pytest

from persona.errors import SchemaError
from persona.ingest.adapters import get_adapter

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
LINES = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850.0,United Kingdom",  # sale
    "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850.0,United Kingdom",  # same basket
    "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850.0,United Kingdom",  # exact duplicate line
    "536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,,United Kingdom",  # guest checkout
    "536367,POST,POSTAGE,1,12/1/2010 8:34,18.00,12583,France",  # fee line
    "536368,22960,JAM MAKING SET WITH JARS,3,12/2/2010 9:00,4.25,12583,France",  # sale
    "C536379,D,Discount,-1,12/2/2010 9:41,27.50,14527,United Kingdom",  # discount in a C invoice
    "C536383,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-2,12/3/2010 9:49,2.55,17850.0,United Kingdom",  # refund
    "C536384,99999,UNKNOWN OLD ITEM,-1,12/3/2010 10:00,5.00,17850,United Kingdom",  # refund, original not in file
    "536414,22139,,56,12/3/2010 11:52,0,,United Kingdom",  # zero price, no customer
    "536415,22139,damaged,-20,12/3/2010 11:53,0,,United Kingdom",  # write-off without C
    "A563185,B,Adjust bad debt,1,8/12/2011 14:50,11062.06,,United Kingdom",  # bad-debt adjustment
    "536416,22961,\"JAM JAR, SMALL\",12,2010-12-04 10:00:00,1.45,13047,United Kingdom",  # ISO date, quoted comma
]


def _write(tmp_path, header=HEADER, lines=LINES, name="online_retail.csv", encoding="utf-8"):
    f = tmp_path / name
    f.write_bytes((header + "\n".join(lines) + "\n").encode(encoding))
    return f


def _read(path, **kw):
    return {k: pd.concat(list(v), ignore_index=True) for k, v in get_adapter("retail").read(path, **kw).items()}


@pytest.fixture
def out(tmp_path):
    return _read(_write(tmp_path), chunk_size=4)  # small chunks: links must work across chunk boundaries


def test_every_line_is_kept_and_revenue_adds_up(tmp_path, out):
    ev = out["events"]
    raw = pd.read_csv(_write(tmp_path))
    assert len(ev) == len(raw)
    assert ev["revenue"].sum() == pytest.approx((raw["Quantity"] * raw["UnitPrice"]).sum())
    # the exact duplicate line shares its id (the engine counts it as a duplicate); all others are unique
    assert ev["event_id"].nunique() == len(raw.drop_duplicates())


def test_event_types(out):
    ev = out["events"]
    assert ev["event_type"].tolist() == [
        "purchase", "purchase", "purchase", "purchase", "fee", "purchase", "discount", "refund", "refund", "purchase",
        "adjustment", "adjustment", "purchase",
    ]
    fee = ev.iloc[4]
    assert pd.isna(fee["product_id"]) and fee["stock_code"] == "POST" and fee["revenue"] == 18.0
    assert ev.iloc[6]["revenue"] == -27.5
    assert ev.iloc[0]["session_id"] == ev.iloc[1]["session_id"] == "536365"  # invoice = basket


def test_refunds_are_negative_and_linked_to_the_original_invoice(out):
    ev = out["events"]
    refund = ev.iloc[7]
    assert refund["customer_id"] == "17850" and refund["quantity"] == -2 and refund["revenue"] == -5.1
    assert refund["original_invoice"] == "536365"
    assert pd.isna(ev.iloc[8]["original_invoice"])


def test_guests_zero_prices_and_write_offs(out):
    ev = out["events"]
    guest = ev.iloc[3]
    assert guest["customer_id"] == "guest:536366" and bool(guest["guest"])
    free = ev.iloc[9]
    assert free["flag"] == "zero_price" and free["revenue"] == 0 and free["customer_id"] == "guest:536414"
    assert ev.iloc[10]["event_type"] == "adjustment" and ev.iloc[10]["quantity"] == -20
    assert ev["customer_id"].notna().all()
    assert ev.iloc[0]["customer_id"] == "17850"  # float-looking ids are cleaned


def test_timestamps_month_first_and_iso(out):
    ts = out["events"]["timestamp"]
    assert ts.iloc[0] == pd.Timestamp("2010-12-01 08:26", tz="UTC")
    assert ts.iloc[11] == pd.Timestamp("2011-08-12 14:50", tz="UTC")
    assert ts.iloc[12] == pd.Timestamp("2010-12-04 10:00", tz="UTC")


def test_products_and_customers(out):
    items = out["products"].set_index("product_id")
    assert set(items.index) == {"85123A", "71053", "22633", "22960", "22961"}  # merchandise sold at a price
    assert items.loc["22961", "title"] == "JAM JAR, SMALL" and items.loc["71053", "price"] == 3.39
    cust = out["customers"].set_index("customer_id")
    assert set(cust.index) == {"17850", "12583", "14527", "13047"}  # guests are not customers
    assert cust.loc["12583", "country"] == "France"


def test_online_retail_ii_headers_and_latin1(tmp_path):
    header = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
    f = _write(tmp_path, header=header, lines=["489434,85048,CAFÉ LIGHT,12,2009-12-01 07:45:00,6.95,13085.0,España"],
               encoding="latin-1")
    ev = _read(f)["events"]
    assert ev.loc[0, "description"] == "CAFÉ LIGHT" and ev.loc[0, "country"] == "España"
    assert ev.loc[0, "revenue"] == pytest.approx(83.4)


def test_missing_columns_are_named(tmp_path):
    f = _write(tmp_path, header="InvoiceNo,StockCode,Quantity\n", lines=["1,2,3"])
    with pytest.raises(SchemaError, match="UnitPrice"):
        get_adapter("retail").read(f)
