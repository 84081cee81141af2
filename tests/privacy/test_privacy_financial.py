"""Payment card numbers and IBANs in free text: each brand and country found in its usual forms, in English and
Chinese text; barcodes, order numbers, masked and Luhn-failing numbers, prices, dates and phone numbers left as
they were; redaction a fixed point that leaves no card number behind; attribute columns classified."""

from __future__ import annotations

import random
import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona.privacy.detect import TOKENS, no_pii, pii_kind, texts_with_pii
from persona.privacy.financial import (
    CARD_ISSUERS,
    IBAN_BBAN_FORMATS,
    IBAN_LENGTHS,
    bban_pattern,
    card_brand,
    iban_valid,
    is_card,
    is_iban,
    luhn_valid,
)
from persona.privacy.redact import redact_text, redact_texts


def luhn_complete(body: str) -> str:
    """``body`` and the check digit that makes it pass Luhn."""
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def grouped(number: str, sep: str = " ") -> str:
    """A card number as printed: 4-6-5 / 4-6-4 for 15 / 14 digits, else fours with a shorter last group."""
    cuts = [4, 10] if len(number) in (14, 15) else list(range(4, len(number), 4))
    return sep.join(number[i:j] for i, j in zip([0, *cuts], [*cuts, len(number)], strict=True))


def iban_print(iban: str) -> str:
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


#: the public test numbers of each brand (all pass Luhn)
CARDS = {
    "visa": ["4111111111111111", "4012888888881881"],
    "mastercard": ["5555555555554444", "5105105105105100", "2223003122003222"],
    "amex": ["378282246310005", "371449635398431"],
    "discover": ["6011111111111117", "6011000990139424"],
    "jcb": ["3530111333300000", "3566002020360505"],
    "diners": ["30569309025904", "38520000023237"],
    "unionpay": ["6200000000000005", "6222021234567890128"],
    "maestro": ["6759649826438453", "5018000000000009"],
    "mir": ["2200000000000004"],
}
#: the ISO 13616 registry's example IBANs
IBANS = [
    "GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300",
    "BE68539007547034", "CH9300762011623852957", "NO9386011117947", "ES9121000418450200051332",
    "IT60X0542811101000000123456", "AT611904300234573201", "PL61109010140000071219812874", "SE4550000000058398257466",
    "IE29AIBK93115212345678", "DK5000400440116243", "FI2112345600000785", "PT50000201231234567890154",
    "LU280019400644750000", "MT84MALT011000012345MTLCAST001S", "GR1601101250000000012300695", "CZ6508000000192000145399",
    "SK3112000000198742637541", "HU42117730161111101800000000", "RO49AAAA1B31007593840000", "SI56263300012039086",
    "HR1210010051863000160", "BG80BNBG96611020345678", "EE382200221020145685", "LT121000011101001000",
    "LV80BANK0000435195001", "IS140159260076545510730339", "LI21088100002324013AA", "CY17002001280000001200527600",
    "SM86U0322509800000000270100", "MC5811222000010123456789030", "AD1200012030200359100100", "VA59001123000012345678",
    "GI75NWBK000000007099453",
]

#: (text, redacted text)
REDACTED = [
    ("charged twice on my card 4111 1111 1111 1111, please refund", "charged twice on my card [card], please refund"),
    ("card: 5555-5555-5555-4444 (expired)", "card: [card] (expired)"),
    ("amex 3782 822463 10005 was declined", "amex [card] was declined"),
    ("paid with 6011111111111117 and then 3530111333300000", "paid with [card] and then [card]"),
    ("visa 4222222222222 (an old 13-digit one)", "visa [card] (an old 13-digit one)"),
    ("card #4111111111111111", "card #[card]"),
    ("qty 2 4111 1111 1111 1111 exp 12/27 cvv 123", "qty 2 [card] exp 12/27 cvv 123"),
    ("我的卡号6222 0212 3456 7890 128，退款请打到这张卡", "我的卡号[card]，退款请打到这张卡"),
    ("信用卡6200000000000005扣了两次钱", "信用卡[card]扣了两次钱"),
    ("银行卡：6222021234567890128", "银行卡：[card]"),
    ("refund to IBAN GB82 WEST 1234 5698 7654 32 thanks", "refund to IBAN [iban] thanks"),
    ("iban de89370400440532013000.", "iban [iban]."),
    ("BE68 5390 0754 7034 from my wife's account", "[iban] from my wife's account"),
    ("退款账户 FR14 2004 1010 0505 0001 3M02 606，谢谢", "退款账户 [iban]，谢谢"),
    # a run glued to a letter is no phone number, but a card number among its later groups is still one
    ("x5555 4111 1111 1111 1111, SN12 6011-1111-1111-1117", "x5555 [card], SN12 [card]"),
    ("call +44 7700 900123 or use card 4111-1111-1111-1111, mail jane@x.org",
     "call [phone] or use card [card], mail [email]"),
]

#: numbers that are no card number or IBAN (and no phone number): must come back unchanged
UNCHANGED = [
    "refund 4111 1111 1111 1112 please",  # fails Luhn: not even split into phone numbers
    "4111111111111112 was the reference they gave",
    "card ending **** **** **** 1234, or xxxx-1234, XXXX XXXX XXXX 4444",
    "order 4111111111111111 arrived; order #5555555555554444; invoice 6011111111111117; Order No. 5555 5555 5555 4444",
    "order 1234 4111 1111 1111 1111 and ref: 12 4111-1111-1111-1111",  # the label covers the whole run
    "EAN 4006381333931, barcode 4006381333931, 条码6901234567892",
    "the box says 4006381333931 and 14006381333938",  # plain EAN-13 / GTIN-14, Luhn-valid or not: no card word
    "tracking number: 9400 1000 0000 0000 0000 00, parcel 1Z999AA10123456784",
    "9400 1118 9922 3397 4291 20 is the USPS number",
    "cost $1,299.00, ¥13800000, 0.4111111111111111 of it",
    "Delivered 2026-11-24, 24.11.2026, 2019-2021, 5/5",
    "A4111111111111111 and 4111111111111111B and 1.4111111111111111",
    "GB82 WEST 1234 5698 7654 33 (wrong check digits), DE8937040044053201300 (too short)",
    "XX82WEST12345698765432 is no country; DE89370400440532013000X is glued",
    "订单号6222021234567890128已发货",
]

PHONES = [  # phone numbers next to card-like numbers stay phone numbers
    ("call 0170-7654321 about 4111111111111111", "call [phone] about [card]"),
    ("手机13812345678，卡号6200000000000005", "手机[phone]，卡号[card]"),
]


@pytest.mark.parametrize(("brand", "number"), [(b, n) for b, ns in CARDS.items() for n in ns])
def test_each_brand_is_found_compact_and_grouped(brand: str, number: str) -> None:
    assert card_brand(number) == brand and luhn_valid(number) and is_card(number) and is_card(grouped(number, "-"))
    forms = [grouped(number), grouped(number, "-"), f"card {number}"] + ([number] if len(number) >= 15 else [])
    for form in forms:
        text = f"please refund {form} today"
        assert redact_text(text) == (text.replace(form.removeprefix("card "), "[card]"), {**no_pii(), "card": 1}), form
        assert texts_with_pii(pd.Series([text])) == {**no_pii(), "card": 1}


@pytest.mark.parametrize("iban", IBANS)
def test_each_iban_is_found_compact_and_in_print_form_in_any_case(iban: str) -> None:
    assert iban_valid(iban) and len(iban) == IBAN_LENGTHS[iban[:2]]
    for form in (iban, iban_print(iban), iban.lower(), iban_print(iban).lower()):
        assert is_iban(form)
        for text in (f"refund to {form} thanks", f"退款到{form}，谢谢", f"{form}."):
            out, counts = redact_text(text)
            assert out == text.replace(form, "[iban]") and counts == {**no_pii(), "iban": 1}, text
    broken = iban[:2] + f"{(int(iban[2:4]) + 1) % 100:02d}" + iban[4:]
    assert not iban_valid(broken) and redact_text(f"to {broken}")[1]["iban"] == 0


def iban_with_check(country: str, bban: str) -> str:
    """A valid IBAN: the check digits that make ``country`` + ``bban`` pass mod 97."""
    n = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - n % 97:02d}{bban}"


def _positions(registry_format: str) -> str:
    """A BBAN format one class letter per character: ``"2!a3!n"`` → ``"aannn"``."""
    return "".join(kind * int(n) for n, kind in re.findall(r"(\d+)!([nac])", registry_format))


def test_each_bban_format_has_its_countrys_length_and_a_registry_example() -> None:
    examples = {iban[:2]: iban for iban in IBANS}
    for country, fmt in IBAN_BBAN_FORMATS.items():
        assert 4 + len(_positions(fmt)) == IBAN_LENGTHS[country], country
        assert bban_pattern(fmt).fullmatch(examples[country][4:]), country
    assert {"DE", "GB", "FR", "NL", "ES", "IT", "CH", "NO"} <= set(IBAN_BBAN_FORMATS)
    with pytest.raises(ValueError, match="LENGTH!n"):
        bban_pattern("4!a6n")


def _format_breaking(iban: str) -> list[str]:
    """Look-alikes of ``iban`` that pass its country's length and mod-97 but not its BBAN format: a letter where the
    format wants a digit, a digit where it wants a letter, a lower-case letter made upper-case is no such break."""
    bban, kinds = iban[4:], _positions(IBAN_BBAN_FORMATS[iban[:2]])
    out = []
    for kind, wrong in (("n", "A"), ("a", "7")):
        if kind in kinds:
            i = kinds.rindex(kind)
            out.append(iban_with_check(iban[:2], bban[:i] + wrong + bban[i + 1:]))
    return out


@pytest.mark.parametrize("iban", IBANS)
def test_a_look_alike_that_passes_mod_97_but_breaks_the_national_format_is_no_iban(iban: str) -> None:
    fakes = _format_breaking(iban)
    assert fakes
    for fake in fakes:
        assert len(fake) == IBAN_LENGTHS[fake[:2]] and _mod97(fake) == 1  # what the old rule alone accepted
        assert not iban_valid(fake) and not is_iban(fake) and not is_iban(iban_print(fake)), fake
        for form in (fake, iban_print(fake), fake.lower()):
            assert redact_text(f"refund to {form} thanks")[1]["iban"] == 0, form


def test_a_country_without_a_bban_format_keeps_the_length_and_mod_97_rule() -> None:
    for country, bban in (("TR", "0006100519786457841326"), ("QA", "DOHB00001234567890ABCDEFG"), ("SA", "80000000608010167519")):
        assert country not in IBAN_BBAN_FORMATS
        iban = iban_with_check(country, bban)
        assert iban_valid(iban) and redact_text(f"to {iban_print(iban)}")[0] == "to [iban]"
    assert iban_valid(iban_with_check("TR", "A006100519786457841326"))  # a letter where TR's registry wants a digit


def _mod97(iban: str) -> int:
    return int("".join(str(int(c, 36)) for c in iban[4:] + iban[:4])) % 97


def test_the_pre_filter_lets_an_iban_with_few_digits_through() -> None:
    from persona.privacy.detect import CANDIDATE_RE2, candidates

    iban = iban_with_check("QA", "DOHB" + "A1B2C3D4E5F6G7H8I9J0K")  # no run of digits the number rule needs
    assert iban_valid(iban) and not re.search(r"\d[\d ./()\-]{6,}\d", iban_print(iban)) and re.search(CANDIDATE_RE2, iban)
    texts = pd.Series(["great", f"refund to {iban_print(iban)}", f"refund to {iban.lower()}", "Qatar 12 ABCD"])
    assert candidates(texts).tolist() == [1, 2]
    out, counts = redact_texts(texts)
    assert out.tolist() == ["great", "refund to [iban]", "refund to [iban]", "Qatar 12 ABCD"] and counts["iban"] == 2


@pytest.mark.parametrize(("text", "expected"), REDACTED + PHONES)
def test_cards_and_ibans_in_english_and_chinese_text(text: str, expected: str) -> None:
    out, counts = redact_text(text)
    assert out == expected
    assert counts == {kind: expected.count(token) for kind, token in TOKENS.items()}
    assert texts_with_pii(pd.Series([text])) == {kind: int(token in expected) for kind, token in TOKENS.items()}
    assert texts_with_pii(pd.Series([out])) == no_pii() and redact_text(out) == (out, no_pii())


@pytest.mark.parametrize("text", UNCHANGED)
def test_barcodes_order_numbers_masked_and_luhn_failing_numbers_survive(text: str) -> None:
    assert redact_text(text) == (text, no_pii())
    assert texts_with_pii(pd.Series([text])) == no_pii()


def test_a_luhn_valid_ean_needs_a_card_word_to_be_a_card() -> None:
    ean = "4006381333931"  # a real EAN-13 (GS1 check digit); fails Luhn, so make one that passes
    visa13 = luhn_complete(ean[:12])
    assert card_brand(visa13) == "visa" and luhn_valid(visa13)
    assert redact_text(f"barcode {visa13}")[0] == f"barcode {visa13}"
    assert redact_text(f"in the box: {visa13}")[0] == f"in the box: {visa13}"
    assert redact_text(f"my visa {visa13}")[0] == "my visa [card]"
    assert redact_text(f"卡{visa13}")[0] == "卡[card]"
    assert redact_text(grouped(visa13))[0] == "[card]"  # written in groups, it is a card


def luhn_failing(body: str) -> str:
    """``body`` and a check digit that makes it fail Luhn."""
    return next(body + d for d in "0123456789" if not luhn_valid(body + d))


@pytest.mark.parametrize("length", [16, 17, 18, 19])
def test_a_unionpay_number_failing_luhn_is_a_card_in_groups_or_after_a_card_word(length: int) -> None:
    number = luhn_failing("6222021234567890123"[:length - 1])
    assert card_brand(number) == "unionpay" and not luhn_valid(number)
    for form in (grouped(number), grouped(number, "-")):
        assert redact_text(f"退款到 {form}，谢谢") == ("退款到 [card]，谢谢", {**no_pii(), "card": 1}), form
        assert is_card(form)
    for word in ("银联", "UnionPay ", "卡号：", "card no. ", "my card is ", "信用卡"):
        assert redact_text(f"{word}{number}") == (f"{word}[card]", {**no_pii(), "card": 1}), word


@pytest.mark.parametrize("length", [16, 17, 18, 19])
def test_an_unbroken_unionpay_run_failing_luhn_needs_a_card_word(length: int) -> None:
    number = luhn_failing("6212345678901234567"[:length - 1])
    for text in (f"订单 {number} 已发货", f"transaction {number}", f"{number}", f"see {number} thanks",
                 f"订单号{number}", f"order {grouped(number)}", f"card order #{number}"[5:]):  # labels win as before
        assert redact_text(text) == (text, no_pii()), text
    assert not is_card(number)
    assert redact_text(f"paid {luhn_complete(number[:-1])} ok")[0] == "paid [card] ok"  # Luhn-valid: a card, as before


def test_a_luhn_failing_number_of_another_brand_or_in_a_longer_run_stays() -> None:
    for text in ("4111 1111 1111 1112", "card 5555555555554445", "6011 1111 1111 1118",  # Visa, Mastercard, Discover
                 "6200 1000 0000 0000 0000 00",  # 22 digits in fours: a parcel's number, not part of it a card
                 "银联 6222 0212 3456 789"):  # 15 digits: no UnionPay length
        assert redact_text(text)[1]["card"] == 0, text


def test_the_column_version_counts_cards_and_ibans_and_keeps_the_rest() -> None:
    texts = [t for t, _ in REDACTED] + UNCHANGED + [None]
    for dtype in (object, "string[pyarrow]"):
        out, counts = redact_texts(pd.Series(texts, dtype=dtype))
        assert out.iloc[:-1].tolist() == [e for _, e in REDACTED] + UNCHANGED and pd.isna(out.iloc[-1])
        assert counts == {kind: sum(e.count(token) for _, e in REDACTED) for kind, token in TOKENS.items()}
        assert texts_with_pii(out) == no_pii()


def test_attribute_columns_of_cards_and_ibans_are_classified() -> None:
    assert pii_kind(pd.Series(["4111 1111 1111 1111", "5555555555554444", "3782 822463 10005", None])) == "card"
    assert pii_kind(pd.Series(["GB82 WEST 1234 5698 7654 32", "de89370400440532013000", ""])) == "iban"
    assert pii_kind(pd.Series(["**** **** **** 1234", "xxxx-4444"]), "card_number") is None
    assert pii_kind(pd.Series(["4006381333931", "5901234123457", "4012345678901"]), "barcode") is None  # EANs
    assert pii_kind(pd.Series(["3782 822463 10005", "371449635398431"]), "mobile") == "card"  # not a phone
    assert pii_kind(pd.Series(["4111 1111 1111 1112", "1234 5678 9012 3456"])) is None


# --- generated inputs -------------------------------------------------------------------------------------------

def _card_numbers() -> st.SearchStrategy[str]:
    """Luhn-valid numbers of every issuer, at each of its lengths."""
    def make(draw_issuer: int, length: int, seed: int) -> str | None:
        issuer = CARD_ISSUERS[draw_issuer % len(CARD_ISSUERS)]
        lo, hi = issuer.prefixes[seed % len(issuer.prefixes)]
        length = sorted(issuer.lengths)[length % len(issuer.lengths)]
        rng = random.Random(seed)
        prefix = str(rng.randint(int(lo), int(hi))).zfill(len(lo))
        return luhn_complete(prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1)))

    return st.builds(make, st.integers(0, 100), st.integers(0, 10), st.integers(0, 10**9))


_CARD_FORMS = st.tuples(_card_numbers(), st.sampled_from(["", " ", "-"])).map(
    lambda t: t[0] if not t[1] else grouped(t[0], t[1]))
_PIECES = st.one_of(
    _CARD_FORMS,
    st.sampled_from(IBANS).map(iban_print),
    st.sampled_from([
        " ", ", ", " and ", "great", "质量很好", "卡号", "my card ", "visa ", "2026-11-24", "$1,299.00", "5/5", "+44 7700 900123",
        "0170-7654321", "jane@x.org", "13812345678", "(415) 555-0100", "4111111111111112", "1234 5678 9012 3456",
        "**** **** **** 1234", "4006381333931", "x", "-", "+", "(", ")", "0", "12", "345", "6789", "[card]", "GB82",
    ]),
)
#: a Luhn-valid number with an issuer's prefix, unbroken (15-19 digits) or in groups of four, not glued to letters
#: or digits: what must never survive redaction (labels are not among the pieces)
_LEFT_BEHIND = re.compile(r"(?<![A-Za-z0-9])(?=(\d{15,19}|\d{4}([ \-])\d{4}\2\d{4}\2\d{4}(?:\2\d{1,3})?)(?![A-Za-z0-9]))")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=10).map("".join))
def test_redaction_is_a_fixed_point_and_leaves_no_card_number_behind(text: str) -> None:
    out, counts = redact_text(text)
    assert redact_text(out) == (out, no_pii())
    assert texts_with_pii(pd.Series([out])) == no_pii()
    for m in _LEFT_BEHIND.finditer(out):
        digits = re.sub(r"\D", "", m.group(1))
        assert not (card_brand(digits) and luhn_valid(digits)), (text, out, m.group(1))
    assert {k: out.count(t) - text.count(t) for k, t in TOKENS.items()} == counts


@settings(max_examples=300, deadline=None)
@given(_CARD_FORMS, st.sampled_from(["", "paid ", "退款卡号", "card no. ", "refund to "]),
       st.sampled_from(["", ".", " thanks", "，谢谢", ")"]))
def test_a_generated_card_number_in_any_form_is_redacted(form: str, before: str, after: str) -> None:
    digits = form.replace(" ", "").replace("-", "")
    text = before + form + after
    if len(digits) < 15 and form == digits and before not in ("退款卡号", "card no. "):  # a short run needs a card word
        assert redact_text(text)[0] == text
    else:
        assert redact_text(text) == (before + "[card]" + after, {**no_pii(), "card": 1})
