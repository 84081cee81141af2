"""Review texts lose their e-mail addresses and phone numbers at the door: file, adapter (frames) and SQL loads,
with the counts in the ingest report and the CLI, and every other column stored as given."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from persona.cli.main import app
from persona.ingest import ingest_file, ingest_frames, ingest_sql
from persona.privacy.crypto import PIICipher
from persona.privacy.detect import no_pii, texts_with_pii

CIPHER = PIICipher(b"q" * 32)
ENV = {"PERSONA_WORKSPACE": "", "PERSONA_GLOBAL_HOLDOUT": "0"}
HEADER = "review_id,customer_id,product_id,rating,text,lang,timestamp\n"
ROWS = [
    ("r1", "c1", "p1", 5, "Love it! Questions? call me on +44 7700 900123 or jane@x.org", "en", "2026-11-20T10:00:00Z"),
    ("r2", "c2", "p1", 1, "Broke after 2 days, order 123456789, paid $1,299.00, rated 1/5 on 2026-11-24", "en", "2026-11-24T08:30:00Z"),
    ("r3", "c3", "p2", 4, "质量很好，有问题打我电话13812345678，邮箱 li.lei@163.com", "zh", "2026-11-25T12:00:00Z"),
    ("r4", "c1", "p2", 3, "", "en", "2026-11-26T12:00:00Z"),
    ("r5", "c4", "p3", 2, "two numbers: 0170-7654321 and (030) 555 1234", "en", "2026-11-27T12:00:00Z"),
]
STORED = {
    "r1": "Love it! Questions? call me on [phone] or [email]",
    "r2": ROWS[1][4],
    "r3": "质量很好，有问题打我电话[phone]，邮箱 [email]",
    "r4": None,
    "r5": "two numbers: [phone] and [phone]",
}


def _csv(path: Path) -> Path:
    frame = pd.DataFrame(ROWS, columns=HEADER.strip().split(","))
    frame.to_csv(path, index=False)
    return path


def _stored(store) -> pd.DataFrame:  # noqa: ANN001
    return store.read_frame("SELECT review_id, customer_id, product_id, rating, text, lang, ts FROM reviews ORDER BY review_id")


def test_a_reviews_file_is_stored_redacted_with_counts_and_other_columns_untouched(any_store, tmp_path: Path) -> None:
    rep = ingest_file(any_store, "reviews", _csv(tmp_path / "reviews.csv"), cipher=CIPHER)
    assert (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (5, 5, 0, 0)  # nothing quarantined for PII
    assert rep.redacted == {**no_pii(), "email": 2, "phone": 4, "card": 0, "iban": 0} and rep.as_dict()["redacted"] == {**no_pii(), "email": 2, "phone": 4, "card": 0, "iban": 0}
    got = _stored(any_store)
    assert dict(zip(got["review_id"], got["text"].where(got["text"].notna(), None), strict=True)) == STORED
    assert got["customer_id"].tolist() == ["c1", "c2", "c3", "c1", "c4"] and got["rating"].tolist() == [5, 1, 4, 3, 2]
    assert got["lang"].tolist() == ["en", "en", "zh", "en", "en"]
    assert pd.to_datetime(got["ts"], utc=True).dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2026-11-20 10:00", "2026-11-24 08:30", "2026-11-25 12:00", "2026-11-26 12:00", "2026-11-27 12:00"]
    assert texts_with_pii(got["text"]) == no_pii()
    again = ingest_file(any_store, "reviews", tmp_path / "reviews.csv", cipher=CIPHER)
    assert (again.accepted, again.duplicates) == (0, 5)  # same source rows: duplicates, as before redaction existed


def test_an_adapter_stream_and_a_sql_source_are_redacted_too(store, tmp_path: Path) -> None:
    frame = pd.DataFrame(ROWS, columns=HEADER.strip().split(","))
    rep = ingest_frames(store, "reviews", [frame.iloc[:2], frame.iloc[2:]], source="adapter:test", cipher=CIPHER)
    assert rep.redacted == {**no_pii(), "email": 2, "phone": 4, "card": 0, "iban": 0} and texts_with_pii(_stored(store)["text"]) == no_pii()

    db = tmp_path / "shop.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE shop_reviews (id TEXT, buyer TEXT, sku TEXT, stars REAL, body TEXT)")
    con.execute("INSERT INTO shop_reviews VALUES ('s1', 'c9', 'p9', 5, 'ring me: 555-123-4567, bob@shop.example')")
    con.commit()
    con.close()
    rep = ingest_sql(store, "reviews", "shop_reviews", f"sqlite:///{db}", cipher=CIPHER,
                     mapping={"id": "review_id", "buyer": "customer_id", "sku": "product_id", "stars": "rating", "body": "text"})
    assert rep.accepted == 1 and rep.redacted == {**no_pii(), "email": 1, "phone": 1, "card": 0, "iban": 0}
    text = store.read_frame("SELECT text FROM reviews WHERE review_id = 's1'")["text"].iloc[0]
    assert text == "ring me: [phone], [email]"


def test_other_entities_report_no_redaction(store, tmp_path: Path) -> None:
    f = tmp_path / "products.csv"
    f.write_text("product_id,title,description\np1,Mug,call 0170-7654321 for bulk orders\n", encoding="utf-8")
    rep = ingest_file(store, "products", f, cipher=CIPHER)
    assert rep.redacted == {} and "redacted" in rep.as_dict()


def test_cli_ingest_reports_redaction_in_json_and_one_line_for_people(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", "--workspace", str(ws)], env=ENV).exit_code == 0
    f = _csv(tmp_path / "reviews.csv")
    r = runner.invoke(app, ["ingest", "reviews", str(f), "--workspace", str(ws), "--json"], env=ENV)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["redacted"] == {**no_pii(), "email": 2, "phone": 4, "card": 0, "iban": 0}
    clean = tmp_path / "clean.csv"
    clean.write_text(HEADER + "r9,c1,p1,5,lovely,en,2026-11-28\n", encoding="utf-8")
    r = runner.invoke(app, ["ingest", "reviews", str(clean), "--workspace", str(ws)], env=ENV)
    assert r.exit_code == 0 and "redacted" not in r.output  # nothing redacted: no note
    f2 = tmp_path / "more.csv"
    f2.write_text(HEADER + "r10,c1,p1,5,mail me at a@b.co,en,2026-11-28\n", encoding="utf-8")
    r = runner.invoke(app, ["ingest", "reviews", str(f2), "--workspace", str(ws)], env=ENV)
    assert r.exit_code == 0, r.output
    assert "redacted from review texts: 1 e-mail address(es) and 0 phone number(s)" in r.output



CARD_ROWS = [  # no review ids: derived from the content, keyed where the text held a card number or an IBAN
    ("c1", "p1", 1, "charged twice on my card 4111 1111 1111 1111!", "2026-11-20T10:00:00Z"),
    ("c2", "p1", 2, "退款请打到我的卡号6222 0212 3456 7890 128", "2026-11-21T10:00:00Z"),
    ("c3", "p2", 4, "refund to IBAN GB82 WEST 1234 5698 7654 32 or DE89370400440532013000", "2026-11-22T10:00:00Z"),
    ("c4", "p2", 5, "EAN 4006381333931, order 4111111111111111, card ending 1234", "2026-11-23T10:00:00Z"),
]
CARD_STORED = [
    "charged twice on my card [card]!",
    "退款请打到我的卡号[card]",
    "refund to IBAN [iban] or [iban]",
    CARD_ROWS[3][3],
]


def test_card_numbers_and_ibans_are_redacted_on_file_and_sql_loads_and_key_the_derived_ids(any_store, tmp_path: Path) -> None:
    from persona.ingest.writer import review_ids

    f = tmp_path / "cards.csv"
    frame = pd.DataFrame(CARD_ROWS, columns=["customer_id", "product_id", "rating", "text", "timestamp"])
    frame.to_csv(f, index=False)
    rep = ingest_file(any_store, "reviews", f, cipher=CIPHER)
    assert rep.accepted == 4 and rep.redacted == {**no_pii(), "email": 0, "phone": 0, "card": 2, "iban": 2}
    got = any_store.read_frame("SELECT review_id, text FROM reviews ORDER BY customer_id")
    assert got["text"].tolist() == CARD_STORED and texts_with_pii(got["text"]) == no_pii()
    assert [i[:2] for i in got["review_id"]] == ["k:", "k:", "k:", "h:"]  # only the untouched text keeps a public id
    public = review_ids(frame.assign(timestamp=pd.to_datetime(frame["timestamp"], utc=True), rating=frame["rating"].astype(float)))
    assert got["review_id"].iloc[3] == public.iloc[3] and got["review_id"].iloc[0][2:] != public.iloc[0][2:]
    again = ingest_file(any_store, "reviews", f, cipher=CIPHER)
    assert (again.accepted, again.duplicates) == (0, 4)

    db = tmp_path / "shop.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE shop_reviews (id TEXT, buyer TEXT, sku TEXT, stars REAL, body TEXT)")
    con.execute("INSERT INTO shop_reviews VALUES ('s1', 'c9', 'p9', 1, 'card 5555-5555-5555-4444, iban nl91abna0417164300')")
    con.commit()
    con.close()
    rep = ingest_sql(any_store, "reviews", "shop_reviews", f"sqlite:///{db}", cipher=CIPHER,
                     mapping={"id": "review_id", "buyer": "customer_id", "sku": "product_id", "stars": "rating", "body": "text"})
    assert rep.redacted == {**no_pii(), "email": 0, "phone": 0, "card": 1, "iban": 1}
    assert any_store.read_frame("SELECT text FROM reviews WHERE review_id = 's1'")["text"].iloc[0] == "card [card], iban [iban]"


def test_cli_ingest_names_cards_and_ibans_in_its_redaction_note(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", "--workspace", str(ws)], env=ENV).exit_code == 0
    f = tmp_path / "cards.csv"
    f.write_text(HEADER + "r1,c1,p1,1,\"card 4111 1111 1111 1111, call 0170-7654321\",en,2026-11-28\n", encoding="utf-8")
    r = runner.invoke(app, ["ingest", "reviews", str(f), "--workspace", str(ws)], env=ENV)
    assert r.exit_code == 0, r.output
    assert ("redacted from review texts: 0 e-mail address(es), 1 phone number(s) and 1 card number(s), stored as "
            "[email] / [phone] / [card]") in " ".join(r.output.split())  # the console wraps long lines


def test_messaging_ids_and_account_numbers_are_redacted_at_ingest_with_their_keywords_kept(any_store, tmp_path: Path) -> None:
    rows = [("c1", "p1", 5, "好用！加我微信 zhang_san88 或 QQ：383161223 交流，QQ群12345678", "2026-11-20T10:00:00Z"),
            ("c2", "p1", 1, "refund to account no. 12345678 or RIB 30004 00550 0001234567K 58 or call me at 5551234567",
             "2026-11-21T10:00:00Z"),
            ("c3", "p2", 4, "QQ音乐 10元, order 5551234567", "2026-11-22T10:00:00Z")]
    f = tmp_path / "ids.csv"
    pd.DataFrame(rows, columns=["customer_id", "product_id", "rating", "text", "timestamp"]).to_csv(f, index=False)
    rep = ingest_file(any_store, "reviews", f, cipher=CIPHER)
    assert rep.accepted == 3 and rep.redacted == {**no_pii(), "im": 3, "account": 2, "phone": 1}
    got = any_store.read_frame("SELECT text FROM reviews ORDER BY customer_id")["text"].tolist()
    assert got == ["好用！加我微信 [im] 或 QQ：[im] 交流，QQ群[im]",
                   "refund to account no. [account] or RIB [account] or call me at [phone]", rows[2][3]]
    assert texts_with_pii(pd.Series(got)) == no_pii()
