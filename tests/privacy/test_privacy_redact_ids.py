"""Identifiers only a keyword announces: QQ numbers, QQ group numbers and WeChat ids (``[im]``), bank account numbers
and alphanumeric account ids after an account word (``[account]``), French RIBs (key checked) and bare North American
phone numbers after a phone word; the keyword stays, also when the id is glued to it or joined by a hyphen
(``account-AB123456``). Near-misses (``QQ音乐``, group sizes, prices, order numbers, product codes, ISBNs, RIBs with a
wrong key, words that merely start like a keyword: ``accounting2023``; hyphenated words that join an account word to a
page's name, a thing's number or a date: ``account-settings-123456789``, ``account-SKU-AB123456``,
``account-2019-12-31``) come back unchanged; the real corpora when present. Columns: messaging ids and bank account numbers
(alphanumeric ids too) in columns named for them, French RIBs under any name; columns of things (SKUs, order ids,
hashes, UUIDs, ISBNs, barcodes) are never flagged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from persona.privacy.accounts import is_rib, rib_valid
from persona.privacy.detect import (
    TOKENS,
    describe_counts,
    is_isbn,
    no_pii,
    pii_kind,
    pii_like_keys,
    texts_with_pii,
    tokens_of,
)
from persona.privacy.redact import redact_text, redact_texts

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

#: (text, redacted text): each id replaced by its token, its keyword kept
REDACTED = [
    # QQ numbers (texts as written in reviews-zh)
    ("希望和更多富爸爸粉丝交流！QQ：383161223（注明：当当）", "希望和更多富爸爸粉丝交流！QQ：[im]（注明：当当）"),
    ("我的QQ:410073425", "我的QQ:[im]"),
    ("东券要的加qq 673946022", "东券要的加qq [im]"),
    ("能用就OK  QQ339546 有使用的朋友一起交流", "能用就OK  QQ[im] 有使用的朋友一起交流"),
    ("需要的联系我呗qq42950063", "需要的联系我呗qq[im]"),
    ("我的qq号是 12345678，扣扣 87654321，企鹅：1234567", "我的qq号是 [im]，扣扣 [im]，企鹅：[im]"),
    ("QQ号码：10001 QQ帐号 123456789", "QQ号码：[im] QQ帐号 [im]"),
    ("my QQ is 12345678, thanks", "my QQ is [im], thanks"),
    # QQ group numbers
    ("有问题的可以加群8757013咨询！群内有高手！", "有问题的可以加群[im]咨询！群内有高手！"),  # reviews-zh
    ("QQ群 12345678，欢迎加入", "QQ群 [im]，欢迎加入"),
    ("qq群号：123456789", "qq群号：[im]"),
    ("群号 12345678，Q群：87654321，加群 10001", "群号 [im]，Q群：[im]，加群 [im]"),
    ("QQ群号码是 12345, 扣扣群：54321", "QQ群号码是 [im], 扣扣群：[im]"),
    # WeChat ids
    ("加我微信 zhang_san88 详聊", "加我微信 [im] 详聊"),
    ("微信号：sarahliu，欢迎交流", "微信号：[im]，欢迎交流"),
    ("我的微信是：abcdefg", "我的微信是：[im]"),
    ("微信号是wxid_abc123", "微信号是[im]"),
    ("vx: Lily-2020 或 V信 lily2020", "vx: [im] 或 V信 [im]"),
    ("加我 tom_cat99", "加我 [im]"),
    ("add me on WeChat: sarahliu or wechat id zhangsan", "add me on WeChat: [im] or wechat id [im]"),
    ("WX abc_123, weixin bob1988", "WX [im], weixin [im]"),
    ("加我QQ 12345678", "加我QQ [im]"),  # QQ after 加我: the number goes, QQ stays
    ("微信 383161223", "微信 [im]"),  # a WeChat id may be a QQ number
    # ids glued to their keyword
    ("QQ123456789 或 QQ群12345678", "QQ[im] 或 QQ群[im]"),
    ("微信abc_12345，wx13812345678", "微信[im]，wx[im]"),
    # WeChat ids with underscores, also when they start like a keyword (wx_…, qq_…); wechat_id / wechat-id as keywords
    ("微信 user_123456", "微信 [im]"),
    ("wechat: john_doe_88, vx：abc_12345", "wechat: [im], vx：[im]"),
    ("微信 wx_abc123，vx: qq_123456，wechat wechat_fan88", "微信 [im]，vx: [im]，wechat [im]"),
    ("加我微信 wx-123456 谢谢", "加我微信 [im] 谢谢"),
    ("wechat_id: john_doe_88 / wechat-id: jane_doe_99", "wechat_id: [im] / wechat-id: [im]"),
    ("加我qq12345678", "加我qq[im]"),  # QQ glued to its number after 加我: still the QQ number that goes
    # bank account numbers that are not a card or an IBAN
    ("refund to account no. 12345678 please", "refund to account no. [account] please"),
    ("sort code 12-34-56, account 12345678", "sort code 12-34-56, account [account]"),
    ("Acct# 000123456789 and a/c no. 98765432", "Acct# [account] and a/c no. [account]"),
    ("bank account number: 1234 5678 90", "bank account number: [account]"),
    ("my account number is 9876543210", "my account number is [account]"),
    ("Bitte auf Kontonummer 0532013000 überweisen, Konto-Nr. 1234567", "Bitte auf Kontonummer [account] überweisen, Konto-Nr. [account]"),
    ("Kto.: 12345678, Bankkonto ist 87654321", "Kto.: [account], Bankkonto ist [account]"),
    ("virement sur le n° de compte 12345678901, compte bancaire 98765432100", "virement sur le n° de compte [account], compte bancaire [account]"),
    ("退款请打到账号：6222021234567890123", "退款请打到账号：[account]"),
    ("收款账号 1234567890123，银行卡号: 9558 8012 3456 7890 1", "收款账号 [account]，银行卡号: [account]"),
    ("帐户 12345678 户名张三", "帐户 [account] 户名张三"),
    ("account12345678, acct#12345678, acctno 87654321", "account[account], acct#[account], acctno [account]"),
    ("账号6222020200112233", "账号[account]"),  # fails Luhn: not a card
    ("Kontonummer0532013000, compte98765432100", "Kontonummer[account], compte[account]"),
    # alphanumeric ids glued to a Latin account word: the joint shows (a digit, or a capital after a small letter)
    ("accountAB123456, KontoDE12ABC3456", "account[account], Konto[account]"),
    ("KontonummerDE12ABC3456 und acct1234AB5678", "Kontonummer[account] und acct[account]"),
    ("accountNoAB123456, bankaccountXY987654321", "accountNo[account], bankaccount[account]"),
    ("ACCOUNT1234AB5678 and compteFR1234567X", "ACCOUNT[account] and compte[account]"),
    # ids joined to a Latin account word by a hyphen, in one hyphenated word: the word and the hyphen stay
    ("account-AB123456, acct-12345678, ACCT-1234-5678-90", "account-[account], acct-[account], ACCT-[account]"),
    ("Konto-DE12345678 und Kto-Nr-12345678, Kontonummer-0532013000", "Konto-[account] und Kto-Nr-[account], Kontonummer-[account]"),
    ("account-no-AB123456, account-number-AB-123456, accountNo-X-1234-5678", "account-no-[account], account-number-[account], accountNo-[account]"),
    ("compte-FR1234567X, RIB-0001234567K, Bankkonto-1234567", "compte-[account], RIB-[account], Bankkonto-[account]"),
    ("my-account-AB123456, savings-account-12345678, bank-account-ID-12345678", "my-account-[account], savings-account-[account], bank-account-[account]"),
    ("refund to account-AB123456.", "refund to account-[account]."),
    # a dash between word and id: an en or em dash, a hyphen with a space after it or after no Latin letter
    ("account – 12345678, Konto—DE12345678, account - AB-123456", "account – [account], Konto—[account], account - [account]"),
    ("账户-AB123456，账号-6222020200112233，Konto-Nr.-DE12345678", "账户-[account]，账号-[account]，Konto-Nr.-[account]"),
    ("account-no. 12345678, Acct-No: AB123456", "account-no. [account], Acct-No: [account]"),
    ("RIB-30004005500001234567K58", "RIB-[account]"),  # a RIB run together, its key valid, joined to its word
    ("account 12345678-9abc", "account [account]"),  # the whole code, not its head
    # the same ids after a colon, Konto-Nr. or a Chinese word, found before
    ("acct:AB123456, Konto-Nr. DE12345678, 账户AB123456", "acct:[account], Konto-Nr. [account], 账户[account]"),
    # alphanumeric account ids
    ("account AB123456CD please", "account [account] please"),
    ("Konto: DE12ABC3456789", "Konto: [account]"),  # not an IBAN (wrong length)
    ("n° de compte 0001234567K", "n° de compte [account]"),
    ("acct no. X-1234-5678, 账号：abc123456", "acct no. [account], 账号：[account]"),
    ("bank account: A1B2C3D4E5F6G", "bank account: [account]"),  # no two digits side by side: the pre-filter lets it in
    # French RIBs with a valid key: in groups anywhere, run together after an account word
    ("RIB : 30004 00550 0001234567K 58", "RIB : [account]"),
    ("virement sur 20041-01005-0500013M026-06 svp", "virement sur [account] svp"),
    ("mon RIB 30004005500001234567K58, clé 58", "mon RIB [account], clé 58"),
    ("payez au 30004 00550 00012345678 40 merci", "payez au [account] merci"),
    # bare North American numbers after a phone word
    ("call me at 5551234567", "call me at [phone]"),
    ("text 2125550100 anytime, or phone: 4155550100", "text [phone] anytime, or phone: [phone]"),
    ("my cell is 3125550199.", "my cell is [phone]."),
    ("Tel. 5551234567", "Tel. [phone]"),
    ("电话：5551234567，手机 6505550100", "电话：[phone]，手机 [phone]"),
]

#: near-misses: no id, no account number, no phone number
UNCHANGED = [
    # QQ / WeChat keywords without an id, and numbers that are not one
    "QQ音乐很好用，QQ空间也不错",
    "用了QQ10元礼券以后",
    "QQ币 12345元，QQ群50000人，QQ 12345%",
    "QQ群 500人，加群 12345元，群号 20000个",  # group sizes, amounts
    "人群 12345678，群 12345678，微信群 12345678，群内有高手",  # 群 alone is no keyword; WeChat groups have no number
    "QQ2012 比 QQ2009 好用",  # a version: 4 digits
    "qq 012345 and QQ 123456789012",  # a leading 0; 12 digits
    "QQ 12345.67 and QQ12345abc",
    "合上盖子的时候感觉要很用力；vx600x毕竟不是VX600 多个X就差了",
    "WeChat account, wechat payment, WeChat groups",
    "微信 iPhone版很好用，微信支付很方便",
    "加我 好友 吧",
    "vxlan 123456, wxWidgets 3.1.5, aqq 12345678",
    "微信 account",  # a plain word needs a colon, "is" or 微信号 before it
    "微信 支付很方便，wechat pay and wechat group chats, WeChat groups",
    "wx_abc123 and wechat_fan88 on their own, my_wechat abc_12345",  # a keyword run on with _ is no keyword
    "加我 好友 wechat_id",
    # account words without an account number
    "I had to account for 12345678 reasons",
    "account 2019, account 12345元, account 123456789012345678901",  # a year; an amount; 21 digits
    "账户余额 123456，京东账户有几百块钱余额",
    "涮了第一次卡号称POS机坏了",
    "a/c 120000 BTU, A/C unit 12345678",  # air conditioning
    "Kundenkonto 12345678 ist neu",  # a shop's customer account, not the word Konto
    "account 12345678.90 paid",
    "myaccount12345678, Kundenkonto12345678, myaccountAB123456, KundenkontoAB123456",  # not a word of their own
    "accounting2023, accountability, accounting202312, Accountant123456",  # a longer word: no joint shows
    "ACCOUNTING202312, ACCOUNTAB123456, accountsAB123456, accountNotes123456",  # capitals only; longer words
    "accountAB12345, accountAB123456元, ribbon123456, RIBBON123456, Ribbon2023ab1234",  # 5 digits; an amount
    "account iPhone12, account B07XJ8C8F5, 账号 zhangsan2019",  # fewer than 6 digits
    "Acct v1.2.3456789 and account 1024x768.5",
    # hyphenated words that are no account word and its id: things' numbers, pages, codes, dates, shorter ids
    "SKU-AB123456, order-AB123456, invoice-AB123456, ORD-2023-000123, REF-12345678",
    "account-SKU-AB123456, account-order-AB123456, acct-ref-12345678, account-ITEM-AB123456",  # a thing's number
    "account-settings-123456789, account-overview-AB123456, https://x.com/account-settings/123456789",  # a page
    "https://x.com/account/0f8fad5b-d9cb-469f-a165-70867728950e, account-6ba7b810-9dad-11d1-80b4-00c04fd430c8",
    "account 12345678-1234-5678-9abc-def012345678, account-12345678-1234-5678-9abc-def012345678",  # a UUID's head
    "account SKU-AB123456, account: order-AB123456, 账户 REF-12345678, Konto – SKU-AB123456",  # a thing's number
    "RIB-30004005500001234567K25",  # a wrong key
    "account-2019-12-31, account 2019-12-31, account – 31-12-2019, 账户-2019 12 31",  # dates
    "account-v2.10.3, account-#ff00aa, account-ff00aa12, account-978-3-16-148410-0",
    "accounting-AB123456, accounts-AB123456, myaccount-AB123456, Kundenkonto-AB123456, ribbon-123456",
    "AB-RIB-123456, XY-ACCT-12345678, account-AB12345, account-123456元, account-12345",  # a code's part; too short
    "account_AB123456 in the log, /account/AB123456/edit, account.AB123456",  # code and addresses
    "account -1234567 this month",  # a balance
    "customer no. AB-123456, Kundennummer 12345678, customer-AB123456",  # a shop's own customer numbers
    # RIBs: a wrong key (left whole); run together without an account word (a URL's digits)
    "RIB : 30004 00550 0001234567K 25",
    "colis 30004005500001234567K58",
    "http://tommyjade.blog.163.com/blog/static/91910950200952821959864/",
    # order numbers, product codes, ISBNs, barcodes, prices, dates: bare 10 digits are never a phone
    "order 5551234567 arrived; 订单号1411592970都7天了",
    "ISBN 7111075897, model 2125550100, EAN 4006381333931",
    "5551234567 and 7111075897 in the list",
    "call 1234567890",  # no area code starts with 1
    "phone model 5551234567",
    "phone case 5551234567",
    "cost 5551234567 yen after the call",
    "call me 2026-11-24, text 2019 2020",
    "12345元, 1299元, 价格12345678元",
]


def test_the_rib_key_is_checked_with_letters_mapped_by_the_rib_table() -> None:
    assert rib_valid("30004005500001234567K58") and rib_valid("20041010050500013m02606")  # K → 2, M → 4; any case
    assert not rib_valid("30004005500001234567K25") and not rib_valid("20041010050500013M02607")
    assert rib_valid("30004005500001234567B58")  # B and K stand for the same digit
    assert rib_valid("30004 00550 0001234567K 58") and not rib_valid("3000400550000123456_K58")
    assert not rib_valid("3000400550000123456K58")  # 22 characters


def _counts(redacted: str) -> dict[str, int]:
    return {kind: redacted.count(token) for kind, token in TOKENS.items()}


@pytest.mark.parametrize(("text", "expected"), REDACTED)
def test_each_announced_id_is_replaced_and_its_keyword_kept(text: str, expected: str) -> None:
    out, counts = redact_text(text)
    assert out == expected
    assert counts == _counts(expected)
    assert texts_with_pii(pd.Series([text])) == {k: int(n > 0) for k, n in _counts(expected).items()}  # the pre-filter lets it in
    assert redact_text(out) == (out, no_pii())


@pytest.mark.parametrize("text", UNCHANGED)
def test_keywords_without_an_id_prices_order_numbers_and_product_codes_survive(text: str) -> None:
    assert redact_text(text) == (text, no_pii())


def test_cards_and_ibans_after_an_account_word_keep_their_own_tokens() -> None:
    assert redact_text("account no. 4111 1111 1111 1111")[0] == "account no. [card]"
    assert redact_text("账号 6222021234567890128")[0] == "账号 [card]"  # Luhn-valid UnionPay
    assert redact_text("account DE89 3704 0044 0532 0130 00")[0] == "account [iban]"
    assert redact_text("QQ 12345678@qq.com")[0] == "QQ [email]"


def test_the_column_version_counts_every_kind_and_counts_are_described() -> None:
    texts = pd.Series(["加我微信 zhang_san88", "account no. 12345678", "QQ音乐", None, "call me at 5551234567"], dtype=object)
    out, counts = redact_texts(texts)
    assert out.tolist()[:3] == ["加我微信 [im]", "account no. [account]", "QQ音乐"] and out.iloc[3] is None
    assert counts == {**no_pii(), "im": 1, "account": 1, "phone": 1}
    assert describe_counts(counts) == "0 e-mail address(es), 1 phone number(s), 1 messaging id(s) and 1 account number(s)"
    assert tokens_of(counts) == "[email] / [phone] / [im] / [account]"


def test_columns_named_for_messaging_ids_or_bank_accounts_are_flagged_but_shop_account_ids_are_not() -> None:
    qq = pd.Series(["383161223", "410073425", "12345"])
    assert pii_kind(qq, "qq") == "im" and pii_kind(qq, "QQ号") == "im" and pii_kind(qq) is None
    assert pii_kind(pd.Series(["zhang_san88", "sarahliu", None]), "wechat_id") == "im"
    assert pii_kind(pd.Series(["zhang_san88", "sarahliu"]), "nickname") is None
    konto = pd.Series(["0532013000", "1234567890"])  # a trunk prefix's shape: not taken for phone numbers
    assert pii_kind(konto, "Kontonummer") == "account" and pii_kind(konto, "bank_account") == "account"
    assert pii_kind(pd.Series(["9558 8012 3456 7890 123"]), "银行账号") == "account"
    assert pii_kind(pd.Series(["12345678", "87654321"]), "account_id") is None  # the shop's own account
    assert pii_kind(pd.Series(["4111 1111 1111 1111"]), "bank_account") == "card"


#: valid RIBs (the key checks) and the same with a wrong key
RIBS = ["30004 00550 0001234567K 58", "20041010050500013M02606", "30002-00550-0000157841Z-25", "10107 00175 00034567890 49",
"18206000216501234567A05", "30066 10021 000104557C6 73"]
BAD_RIBS = ["30004 00550 0001234567K 25", "20041010050500013M02607", "30002-00550-0000157841Z-26", "10107 00175 00034567890 48"]
#: realistic columns of things, not people, with the names they have in shop exports
THINGS = {
    "sku": ["AB-12345-X", "CD-67890-Y", "EF-24680-Z", "GH-13579-W"],
    "order_id": ["ORD-2023-000123", "ORD-2023-000124", "1000234567", "1000234568"],
    "hash": ["c4ca4238a0b923820dcc509a6f75849b", "c81e728d9d4c2f636f067f89cc14862c", "eccbc87e4b5ce2fe28308fd9f2a7baf3",
             "a87ff679a2f3e71d9181a67b7542122c"],
    "sha1": ["356a192b7913b04c54574d18c28d46e6395428ab", "da4b9237bacccdf19c0760cab7aec4a8359010b0",
             "77de68daecd823babbb58edb1c8e14d7106e83bb"],
    "uuid": ["0f8fad5b-d9cb-469f-a165-70867728950e", "7c9e6679-7425-40de-944b-e07fc1f90ae7",
             "6ba7b810-9dad-11d1-80b4-00c04fd430c8"],
    "isbn": ["978-3-16-148410-0", "978-0-306-40615-7", "9780306406157", "0-306-40615-2", "080442957X"],
    "ean": ["4006381333931", "5901234123457", "4012345678901", "0012345678905"],
    "asin": ["B00006L9LC", "B0009RF9DW", "B00012345X", "B000052YAN"],
    "user_session": ["26dd6e6e-4dac-4778-8d2c-92e149dab885", "3f0a2ea4-5f1d-4a0e-9e6b-c6c7d3c1d2b4"],
    "account_id": ["cus_ABC1234567", "cus_XYZ7654321", "acc-000123456"],  # the shop's own accounts
}


def test_rib_columns_are_accounts_under_any_name_and_only_with_a_valid_key() -> None:
    assert all(is_rib(r) for r in RIBS) and not any(is_rib(r) for r in BAD_RIBS)
    assert not is_rib("30004 00550-0001234567K 58") and not is_rib("x30004005500001234567K58")  # mixed separators
    ribs = pd.Series([*RIBS, None, ""])
    assert pii_kind(ribs) == "account" and pii_kind(ribs, "reference") == "account" and pii_kind(ribs, "RIB") == "account"
    assert pii_kind(ribs, "bank_account") == "account"
    assert pii_kind(pd.Series(BAD_RIBS)) is None and pii_kind(pd.Series(BAD_RIBS), "ref") is None
    assert pii_like_keys(pd.Series([{"rib": r, "note": "ok"} for r in RIBS])) == {"rib": {"kind": "account", "rows": len(RIBS)}}


def test_columns_named_like_a_bank_account_hold_alphanumeric_ids_too() -> None:
    ids = pd.Series(["0001234567K", "DE12ABC3456789", "X-1234-5678", "AB 123 456 CD", None])
    for name in ("bank_account", "Kontonummer", "n° de compte", "账号", "acct_no"):
        assert pii_kind(ids, name) == "account", name
    assert pii_kind(ids) is None and pii_kind(ids, "account_id") is None and pii_kind(ids, "customer_ref") is None
    assert pii_kind(pd.Series(["GIRO2023", "ABC12345", "SPAR-01"]), "konto_typ") is None  # fewer than 6 digits
    assert pii_kind(pd.Series(["GB82 WEST 1234 5698 7654 32", "de89370400440532013000"]), "bank_account") == "iban"


def test_dates_in_a_column_named_like_an_account_are_no_account_numbers() -> None:
    for dates in (["2023-01-05", "2024-11-30"], ["20230105", "20241130"], ["05.01.2023", "30/11/2024"],
                  ["2023-01-05 10:30:00", "2024-11-30T08:15:00Z"]):
        assert pii_kind(pd.Series(dates), "acct_opened") is None, dates
    assert pii_kind(pd.Series(["20231305", "0532013000"]), "acct_no") == "account"  # month 13: not a date


@pytest.mark.parametrize("name", sorted(THINGS))
def test_columns_of_things_skus_order_ids_hashes_uuids_isbns_and_barcodes_are_not_flagged(name: str) -> None:
    values = pd.Series(THINGS[name])
    assert pii_kind(values, name) is None and pii_kind(values) is None
    assert pii_like_keys(pd.Series([{name: v} for v in THINGS[name]])) == {}


def test_isbns_are_no_phone_numbers_unless_the_column_is_named_for_phones() -> None:
    assert is_isbn("978-3-16-148410-0") and is_isbn("080442957x") and not is_isbn("978-3-16-148410-1")
    assert not is_isbn("+49 30 1234567") and not is_isbn("0-306-40615-3")
    assert pii_kind(pd.Series(["+44 20 7946 0958", "020 7946 0959"])) == "phone"
    assert pii_kind(pd.Series(["0-306-40615-2", "030 6406152"]), "mobile") == "phone"


_QQ_KEYWORD = re.compile(r"qq|加群|群号", re.IGNORECASE)


def _corpus_zh() -> list[str]:
    lines = (DATA / "reviews-zh" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t", 1)[1] for line in lines]


@pytest.mark.skipif(not (DATA / "reviews-zh").is_dir(), reason="the shared review corpora are not present")
def test_on_real_chinese_reviews_every_messaging_id_follows_a_qq_keyword_and_no_account_is_invented() -> None:
    out, counts = redact_texts(pd.Series(_corpus_zh(), dtype=object))
    ids = [t for t in out if "[im]" in t]
    assert counts["account"] == 0 and 10 <= counts["im"] <= 16 and len(ids) == counts["im"]  # 13 when written
    assert all(len(_QQ_KEYWORD.findall(t)) >= t.count("[im]") for t in ids)


@pytest.mark.skipif(not (DATA / "amazon-beauty").is_dir(), reason="the shared review corpora are not present")
def test_on_real_english_reviews_nothing_is_taken_for_an_id_or_account() -> None:
    path = DATA / "amazon-beauty" / "All_Beauty_5.json"
    texts = pd.Series([json.loads(line).get("reviewText") or "" for line in path.read_text(encoding="utf-8").splitlines()])
    _, counts = redact_texts(texts)
    assert counts["im"] == counts["account"] == 0
