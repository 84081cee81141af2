"""Redaction of e-mail addresses and phone numbers from free text: what is replaced, what must survive unchanged
(dates, prices, order numbers, years, ratings, Chinese text), and agreement with the privacy report's detector."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona.errors import InputError
from persona.privacy.detect import TOKENS, is_phone, no_pii, pii_kind, texts_with_pii
from persona.privacy.redact import redact_text, redact_texts

#: (text, redacted text) pairs: each e-mail address and phone number replaced, nothing else touched
REDACTED = [
    ("call me on +44 7700 900123 or jane@x.org", "call me on [phone] or [email]"),
    ("write to john.smith+shop@mail.example.co.uk please", "write to [email] please"),
    ("my number is 0170-7654321!", "my number is [phone]!"),
    ("US: (415) 555-0100, or 555.123.4567, or 555-123-4567", "US: [phone], or [phone], or [phone]"),
    ("+1 (415) 555-0100 after 6pm", "[phone] after 6pm"),
    ("Tel.: +49 (0)30 123456", "Tel.: [phone]"),
    ("call (07700 900123).", "call ([phone])."),
    ("français: 06 12 34 56 78", "français: [phone]"),
    ("Berlin 030/1234567", "Berlin [phone]"),
    ("mobile +447700900123 or 07700900123", "mobile [phone] or [phone]"),
    ("电话13812345678联系我", "电话[phone]联系我"),
    ("手机号：138 1234 5678，邮箱 zhang.san@163.com", "手机号：[phone]，邮箱 [email]"),
    ("+86 138 1234 5678", "[phone]"),
    ("QQ邮箱 12345678@qq.com", "QQ邮箱 [email]"),
    ("two: 0412 345 678 and 612 345 678.", "two: [phone] and [phone]."),
    ("both: 07700 900123 07700 900124", "both: [phone] [phone]"),
    # after a label, a letter or # that ends before them (a glued number is one unit: see GLUED below)
    ("Tel:+49 30 1234567", "Tel:[phone]"),
    ("Tel:0301234567 or tel:+4930123456", "Tel:[phone] or tel:[phone]"),
    ("call 555-123-4567", "call [phone]"),
    ("(030) 1234 5678", "[phone]"),
    ("#1 seller, call 0170 1234567", "#1 seller, call [phone]"),
    ("x4111, call 0170 1234567", "x4111, call [phone]"),
    ("at 10:30 0170 1234567", "at 10:30 [phone]"),
    ("SN12345, 0170 1234567", "SN12345, [phone]"),
    ("ring 0-306-40615-3 now", "ring [phone] now"),  # ISBN-shaped but its check digit fails: a phone number
    ("call +978 316 148 4100", "call [phone]"),  # a + makes it a phone number, whatever the digits
]

#: texts with numbers that are not phone numbers (and no e-mail address): must come back unchanged
UNCHANGED = [
    "Delivered 2026-11-24, two days late.",
    "arrived 24.11.2026 at 10:30, ordered 2026/11/20",
    "2026-11-24 10:30:00 to 2026-11-30",
    "cost $1,299.00 and shipping €12,50 — worth it",
    "price 1234567.89 EUR for the whole lot, ¥13800000 in Tokyo",
    "order 123456789 arrived; Order #12345678; order no. 0987654321",
    "tracking number: 0123 4567 8901",
    "invoice 20261124-0042 attached, SKU 400638133393",
    "ISBN 978-3-16-148410-0, EAN 4006381333931",
    "ISBN-13: 978-3-16-148410-0; ISBN-10 0306406152; EAN-13: 4006381333931",  # labels with their length
    "a great read (978-3-16-148410-0), the sequel is 979-10-90636-07-1 and 9783161484100",  # ISBNs without a label
    "the old edition, 0-306-40615-2, is better",  # an ISBN-10 in its four groups
    "bought one in 2019, 2020 and 2021; used it 2019-2021 and 2019 2020 2021 2022",
    "from 2026-11-24 2026-11-30 2026-12-07",
    "5/5, 10/10, 4.5/5 stars, 100%",
    "sizes 100 200 300 all fit; 1000-2000 mAh",
    "firmware 10.0.19041.1234 fixed it; router at 192.168.100.200",
    "opens 09:00-17:30, 12:30-13:45",
    "订单号12345678901已收到，2026年11月24日到货，价格1299元，五星好评！",
    "质量很好，物流很快，3天就到了，包装完整。",
    "ordered 3 x 250 ml, 12 months warranty, model 2345678901",
    "在改住07系列房间（如1607 1107）有很大改观，本人还有几张2000-100 1000-50 东券，我的PRIORITY # 271 153 317",
    "@channel thanks! contact via the app, not by mail@",
    "",
]
#: numbers glued to a letter or # at their start: one unit, so no later group of theirs starts a phone number
GLUED = [
    "order #5555 5555 5555 4444",
    "x4111 1111 1111 1111",
    "#5555 5555 5555 4444 is the code",
    "SN12345 6789 0123 4567",
    "ab12 0170 1234567",
    "ref_12-0170-1234567",
    "order 1234 5678 0170 1234567",  # a label before a run too long for one phone number covers all of it
]
UNCHANGED += GLUED


def _counts(redacted: str) -> dict[str, int]:
    """How many of each token a redacted text holds."""
    return {kind: redacted.count(token) for kind, token in TOKENS.items()}


@pytest.mark.parametrize(("text", "expected"), REDACTED)
def test_each_email_and_phone_number_is_replaced(text: str, expected: str) -> None:
    out, counts = redact_text(text)
    assert out == expected
    assert counts == _counts(expected)
    assert texts_with_pii(pd.Series([text]))["email" if "[email]" in expected else "phone"] == 1


@pytest.mark.parametrize("text", UNCHANGED)
def test_dates_prices_order_numbers_years_ratings_and_chinese_text_survive(text: str) -> None:
    assert redact_text(text) == (text, no_pii())
    assert texts_with_pii(pd.Series([text])) == no_pii()


def test_the_column_version_matches_the_text_version_keeps_dtype_index_and_missing_values() -> None:
    texts = [t for t, _ in REDACTED] + UNCHANGED + [None]
    for dtype in (object, "string[pyarrow]"):
        col = pd.Series(texts, index=range(100, 100 + len(texts)), dtype=dtype)
        out, counts = redact_texts(col)
        assert out.dtype == col.dtype and out.index.equals(col.index)
        assert out.iloc[:-1].tolist() == [e for _, e in REDACTED] + UNCHANGED and pd.isna(out.iloc[-1])
        assert counts == {**no_pii(), "email": sum(e.count("[email]") for _, e in REDACTED),
                          "phone": sum(e.count("[phone]") for _, e in REDACTED)}
        assert col.iloc[0] == REDACTED[0][0]  # the input is not modified
        assert texts_with_pii(out) == no_pii()
    empty, counts = redact_texts(pd.Series([], dtype=object))
    assert empty.empty and counts == no_pii()


def test_report_detector_and_redaction_agree() -> None:
    texts = pd.Series([t for t, _ in REDACTED] + UNCHANGED)
    found = texts_with_pii(texts)
    assert found == {**no_pii(), "email": sum("[email]" in e for _, e in REDACTED), "phone": sum("[phone]" in e for _, e in REDACTED)}
    assert texts_with_pii(redact_texts(texts)[0]) == no_pii()


def test_attribute_values_still_classified_as_whole_values() -> None:
    assert is_phone("+49 170 1234567") and is_phone("(030) 555 1234") and is_phone("13812345678")
    assert not is_phone("2026-11-24") and not is_phone("123456789") and not is_phone("1,299.00")
    assert pii_kind(pd.Series(["2026-11-20", "2026-11-21"])) is None


def test_a_non_string_is_refused_with_what_was_received() -> None:
    with pytest.raises(InputError, match="needs a string, got int"):
        redact_text(12345678)  # type: ignore[arg-type]


_PIECES = st.sampled_from([
    " ", ", ", ". ", "great", "质量很好", "order #12345678", "2026-11-24", "$1,299.00", "5/5", "2019-2021", "10:30", "+44 7700 900123",
    "0170-7654321", "jane@x.org", "13812345678", "(415) 555-0100", "100 200 300", "订单号12345678901", "07700900123", "x", "1", "-", "+",
    "(", ")", "@", "0", "12", "345", "6789",
])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_redacted_text_holds_nothing_the_report_finds_and_redaction_is_idempotent(text: str) -> None:
    out, counts = redact_text(text)
    assert texts_with_pii(pd.Series([out])) == no_pii()
    assert redact_text(out) == (out, no_pii())
    assert {k: v - n for (k, v), n in zip(_counts(out).items(), _counts(text).values(), strict=True)} == counts


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",)) | st.sampled_from("0123456789 -./:,$%年月日"), max_size=60)
       .filter(lambda t: "@" not in t))
def test_text_with_fewer_than_eight_digits_is_never_changed(text: str) -> None:
    if sum(c in "0123456789" for c in text) < 8:
        assert redact_text(text)[0] == text


def test_a_phone_named_column_of_bare_digits_is_phone_but_an_order_id_column_is_not():
    bare = pd.Series(["5551234567", "5559876543", "555 123 4567", None])
    assert pii_kind(bare, "mobile") == "phone" and pii_kind(bare, "Tel") == "phone" and pii_kind(bare, "手机") == "phone"
    assert pii_kind(bare, "order_id") is None and pii_kind(bare) is None
    assert pii_kind(pd.Series(["A-1234567", "B-7654321"]), "phone") is None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["x", "SN", "#", "order #", "A_", "型号X"]), st.from_regex(r"\d{1,6}", fullmatch=True),
       st.lists(st.tuples(st.sampled_from([" ", "-"]), st.from_regex(r"\d{2,5}", fullmatch=True)), min_size=1, max_size=5),
       st.sampled_from(["", " ok", ", thanks", "。"]))
def test_no_later_group_of_a_number_glued_to_a_letter_or_hash_starts_a_phone_number(
        glue: str, first: str, groups: list[tuple[str, str]], after: str) -> None:
    text = glue + first + "".join(sep + g for sep, g in groups) + after
    out, counts = redact_text(text)
    assert counts["phone"] == 0 and (out == text or counts["card"])  # a card number among them is still one
