"""Payment card numbers and IBANs in free text: the rules behind ``[card]`` and ``[iban]``.

**Card numbers** (PCI scope: never to be stored in plain text). 13 to 19 digits that pass the Luhn check and
start with an issuer's prefix at one of its lengths (:data:`CARD_ISSUERS`): Visa ``4`` (13, 16, 19 digits),
Mastercard ``51``–``55`` and ``2221``–``2720`` (16), American Express ``34``/``37`` (15), Discover ``6011``,
``644``–``649``, ``65``, JCB ``3528``–``3589``, Diners Club ``300``–``305``, ``36``, ``38``–``39``, UnionPay ``62``
(16–19), Mir ``2200``–``2204``, and Maestro by its IINs ``5018``, ``5020``, ``5038``, ``5893``, ``6304``, ``6759``,
``6761``–``6763`` (Maestro's whole ``50``/``56``–``69`` range would make most numbers starting with 5 or 6 a card).
Written either

- in groups split by one kind of separator, a single space or hyphen: fours with a shorter last group
  (``4111 1111 1111 1111``, ``6222-0212-3456-7890-128``, ``4222 2222 2222 2``) or 4-6-5 / 4-6-4
  (``3782 822463 10005``), 13 to 19 digits; or
- as one unbroken run of 15 to 19 digits, or of 13 or 14 digits after a card word (``card``, ``visa``, ``amex``,
  ``卡``, ``信用卡``, ``银行卡`` … within 24 characters before): an EAN-13 barcode (``4006381333931``) or a GTIN-14
  passes Luhn one time in ten and starts with 4 or 5 as often as not.

**UnionPay without Luhn.** Some UnionPay cards (``62``, 16–19 digits) are issued without a Luhn check digit, so a
``62`` number that fails Luhn still counts when it is written in a card's groups (``6222 0212 3456 7890 123``) or
comes after a card word (``银联``, ``UnionPay``, ``卡号``, ``card`` …, as for a short run), and is the whole run of
groups (not part of a longer one): both forms say "card", and redacting a parcel or order number in fours that
starts with 62 costs far less than leaving a card number in plain text. An unbroken ``62`` run without a card word
still needs Luhn: shops' order and transaction numbers (Chinese ones above all) are unbroken runs of 16–19 digits,
and any of them may start with 62.

Not glued to letters, digits or a decimal point (``A4111…``, ``0.4111…``); a number in a longer run of groups is
one of its windows (``qty 2 4111 1111 1111 1111``), even in a run glued to a letter (``x5555 4111 1111 1111 1111``,
where no later group starts a phone number): a card's Luhn check and issuer prefix make a chance match rare, and a
card number left behind costs more than a serial number's redacted tail. An identifier label right before the run
wins (``order``, ``invoice``, ``tracking``, ``EAN``, ``条码``, ``#`` …: see :mod:`persona.privacy.labels`), except
a card word (``card #4111…``). Masked numbers (``**** **** **** 1234``, ``xxxx-1234``) hold too few digits to match.

**IBANs** (ISO 13616): a country code, two check digits and the national account number (BBAN), as long as the
country's entry in :data:`IBAN_LENGTHS` says (all SEPA countries and some thirty more), compact
(``DE89370400440532013000``) or in print form (``GB82 WEST 1234 5698 7654 32``: groups of four split by single
spaces), in upper or lower case, valid under the mod-97 check. For the SEPA countries the BBAN must also have the
registry's format (:data:`IBAN_BBAN_FORMATS`: DE 18 digits, GB 4 letters and 14 digits, NL 4 letters and 10
digits …): one look-alike in 97 passes mod-97 by chance, and most of those break the format. An account number without its IBAN form (``sort code 12-34-56, account 12345678``)
is not found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from persona.privacy.labels import CARD_LABEL, CARD_WORD, LOOK_BACK, id_label_before


class Issuer(NamedTuple):
    """A card brand: the leading digits it issues under (inclusive ranges of equal length) and its lengths."""

    brand: str
    prefixes: tuple[tuple[str, str], ...]
    lengths: frozenset[int]


_16_19 = frozenset(range(16, 20))
#: the card issuers recognised (see the module docstring)
CARD_ISSUERS: tuple[Issuer, ...] = (
    Issuer("visa", (("4", "4"),), frozenset({13, 16, 19})),
    Issuer("mastercard", (("51", "55"), ("2221", "2720")), frozenset({16})),
    Issuer("amex", (("34", "34"), ("37", "37")), frozenset({15})),
    Issuer("discover", (("6011", "6011"), ("644", "649"), ("65", "65")), _16_19),
    Issuer("jcb", (("3528", "3589"),), _16_19),
    Issuer("diners", (("300", "305"), ("36", "36"), ("38", "39")), frozenset(range(14, 20))),
    Issuer("unionpay", (("62", "62"),), _16_19),
    Issuer("mir", (("2200", "2204"),), _16_19),
    Issuer("maestro", (("5018", "5018"), ("5020", "5020"), ("5038", "5038"), ("5893", "5893"), ("6304", "6304"),
                       ("6759", "6759"), ("6761", "6763")), frozenset(range(13, 20))),
)
MIN_CARD_DIGITS, MAX_CARD_DIGITS = 13, 19
#: an unbroken run needs this many digits, unless a card word comes before it
UNBROKEN_MIN_DIGITS = 15

#: IBAN length per country (ISO 13616 registry): SEPA, then the other countries that use IBANs
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18,
    "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "VA": 22,
    "AE": 23, "AL": 28, "AZ": 28, "BA": 20, "BH": 22, "BR": 29, "BY": 28, "CR": 22, "DO": 28, "EG": 29, "FO": 18, "GE": 22,
    "GL": 18, "GT": 28, "IL": 23, "IQ": 23, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MU": 30, "PK": 24, "PS": 29, "QA": 29, "RS": 22, "SA": 24, "SC": 31, "TL": 23, "TN": 24, "TR": 26, "UA": 29,
    "VG": 24, "XK": 20,
}
#: the national part (BBAN) of an IBAN per country, as the ISO 13616 registry writes it: ``n`` digits, ``a`` upper-case
#: letters, ``c`` letters or digits (``4!a6!n8!n``: 4 letters, 6 digits, 8 digits); SEPA countries (GB, CH and NO
#: among them). An IBAN of another country needs its length and mod-97 only
IBAN_BBAN_FORMATS: dict[str, str] = {
    "AD": "4!n4!n12!c", "AT": "5!n11!n", "BE": "3!n7!n2!n", "BG": "4!a4!n2!n8!c", "CH": "5!n12!c", "CY": "3!n5!n16!c",
    "CZ": "4!n6!n10!n", "DE": "8!n10!n", "DK": "4!n9!n1!n", "EE": "2!n2!n11!n1!n", "ES": "4!n4!n1!n1!n10!n",
    "FI": "3!n11!n", "FR": "5!n5!n11!c2!n", "GB": "4!a6!n8!n", "GI": "4!a15!c", "GR": "3!n4!n16!c", "HR": "7!n10!n",
    "HU": "3!n4!n1!n15!n1!n", "IE": "4!a6!n8!n", "IS": "4!n2!n6!n10!n", "IT": "1!a5!n5!n12!c", "LI": "5!n12!c",
    "LT": "5!n11!n", "LU": "3!n13!c", "LV": "4!a13!c", "MC": "5!n5!n11!c2!n", "MT": "4!a5!n18!c", "NL": "4!a10!n",
    "NO": "4!n6!n1!n", "PL": "8!n16!n", "PT": "4!n4!n11!n2!n", "RO": "4!a16!c", "SE": "3!n16!n1!n", "SI": "5!n8!n2!n",
    "SK": "4!n6!n10!n", "SM": "1!a5!n5!n12!c", "VA": "3!n15!n",
}
_BBAN_CLASS = {"n": "[0-9]", "a": "[A-Z]", "c": "[0-9A-Z]"}


def bban_pattern(registry_format: str) -> re.Pattern[str]:
    """The regex of a registry BBAN format string (``"4!a6!n8!n"`` → ``[A-Z]{4}[0-9]{6}[0-9]{8}``)."""
    parts = re.findall(r"(\d+)!([nac])", registry_format)
    if "".join(f"{n}!{k}" for n, k in parts) != registry_format:
        raise ValueError(f"BBAN format {registry_format!r} is not a run of LENGTH!n, LENGTH!a or LENGTH!c parts")
    return re.compile("".join(f"{_BBAN_CLASS[k]}{{{n}}}" for n, k in parts))


_BBAN = {country: bban_pattern(f) for country, f in IBAN_BBAN_FORMATS.items()}

# Both patterns start with a character class and look behind only after it: Python's re then skips to the next
# digit (letter) quickly instead of trying the look-behinds at every position (twice as fast on review texts).
#: digit groups split by single spaces or hyphens, not glued to letters, digits or a decimal point
_CARD_RUN = re.compile(r"\d(?<![A-Za-z0-9_]\d)(?<!\d[.,]\d)\d*(?:[ \-]\d+)*(?![A-Za-z0-9_])(?![.,]\d)")
_GROUP = re.compile(r"\d+")
_IBAN = re.compile(
    r"[A-Za-z](?<![A-Za-z0-9_][A-Za-z])[A-Za-z]\d{2}"
    r"(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,4})?)(?![A-Za-z0-9_])"
)
#: what a text holding an IBAN contains (RE2 syntax, for the Arrow pre-filter; card numbers are digit runs already)
IBAN_CANDIDATE_RE2 = r"(?i:(?:" + "|".join(sorted(IBAN_LENGTHS)) + r")\d\d ?[0-9a-z]{4})"


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn (mod 10) check that every payment card number passes."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The issuer whose prefix and length ``digits`` has (``"visa"``, ``"amex"`` …), or None; Luhn is not checked."""
    n = len(digits)
    for issuer in CARD_ISSUERS:
        if n in issuer.lengths and any(lo <= digits[:len(lo)] <= hi for lo, hi in issuer.prefixes):
            return issuer.brand
    return None


def is_card_number(digits: str) -> bool:
    """Whether a string of digits is a payment card number: a known issuer's prefix and length, and Luhn-valid (see
    :func:`card_matches` for UnionPay numbers that are not)."""
    return card_brand(digits) is not None and luhn_valid(digits)


def _card_shape(lengths: list[int], seps: list[str]) -> bool:
    """Whether digit groups of these lengths, split by these separators, are written like a card number."""
    if len(lengths) == 1:
        return True
    if len(set(seps)) != 1:
        return False
    return lengths in ([4, 6, 5], [4, 6, 4]) or (all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4)


_FOURS = re.compile("|".join(rf"\d{{4}}(?:{s}\d{{4}})*{s}\d{{1,4}}|\d{{4}}{s}\d{{6}}{s}\d{{4,5}}" for s in (" ", "-")))


def card_grouped(number: str) -> bool:
    """Whether ``number`` is written in a card's groups: fours with a shorter last group, 13 digits or more (tracking
    numbers are written so too), or 4-6-5 / 4-6-4. Such a number is never split into phone numbers."""
    return bool(_FOURS.fullmatch(number)) and sum(c.isdigit() for c in number) >= MIN_CARD_DIGITS


def _labelled(text: str, start: int) -> bool:
    """Whether an identifier label (not a card word: ``card #4111…`` is a card) comes right before ``start``."""
    return not CARD_LABEL.search(text[max(0, start - LOOK_BACK):start]) and id_label_before(text, start)


def card_matches(text: str) -> Iterator[tuple[int, int]]:
    """The ``(start, end)`` spans of the payment card numbers in ``text``, left to right (see the module docstring).

    Args:
        text: any free text.

    Returns:
        An iterator of non-overlapping spans.
    """
    for m in _CARD_RUN.finditer(text):
        if m.end() - m.start() < MIN_CARD_DIGITS or _labelled(text, m.start()):  # order 5555 5555 5555 4444: all of it
            continue
        groups = [(g.start(), g.end()) for g in _GROUP.finditer(text, m.start(), m.end())]
        i = 0
        while i < len(groups):
            found = None
            total = 0
            for j in range(i, len(groups)):  # the longest window of whole groups from i that is a card
                total += groups[j][1] - groups[j][0]
                if total > MAX_CARD_DIGITS:
                    break
                if total >= MIN_CARD_DIGITS and _is_card_window(text, groups[i:j + 1], i == 0 and j == len(groups) - 1):
                    found = j
            if found is None:
                i += 1
                continue
            yield groups[i][0], groups[found][1]
            i = found + 1


def _is_card_window(text: str, groups: list[tuple[int, int]], whole_run: bool) -> bool:
    """Whether these consecutive digit groups (``whole_run``: all of their run) are a card number: its shape, issuer
    and Luhn (a whole run that is a UnionPay number in groups or after a card word may fail it); a short unbroken
    run needs a card word before it."""
    lengths = [e - s for s, e in groups]
    seps = [text[groups[k][1]] for k in range(len(groups) - 1)]
    if not _card_shape(lengths, seps):
        return False
    digits = "".join(text[s:e] for s, e in groups)
    brand = card_brand(digits)
    if brand is None:
        return False
    start = groups[0][0]
    if not luhn_valid(digits):
        return (brand == "unionpay" and whole_run
                and (len(groups) > 1 or bool(CARD_WORD.search(text[max(0, start - LOOK_BACK):start]))))
    return len(groups) > 1 or len(digits) >= UNBROKEN_MIN_DIGITS or bool(CARD_WORD.search(text[max(0, start - LOOK_BACK):start]))


def iban_valid(iban: str) -> bool:
    """Whether ``iban`` (compact, any case) has its country's length and national format (where
    :data:`IBAN_BBAN_FORMATS` has it) and passes the ISO 13616 mod-97 check."""
    s = iban.upper()
    if IBAN_LENGTHS.get(s[:2]) != len(s) or not s[2:4].isdigit() or not s.isalnum() or not s.isascii():
        return False
    bban = _BBAN.get(s[:2])
    if bban is not None and not bban.fullmatch(s, 4):
        return False
    return int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1


def iban_matches(text: str) -> Iterator[tuple[int, int]]:
    """The ``(start, end)`` spans of the IBANs in ``text``, compact or in print form, left to right.

    A print-form candidate that runs on into a following word of four characters (``… 7034 from``) is cut at its
    country's length.

    Args:
        text: any free text.

    Returns:
        An iterator of non-overlapping spans.
    """
    for m in _IBAN.finditer(text):
        length = IBAN_LENGTHS.get(m.group(0)[:2].upper())
        if length is None:
            continue
        if " " not in m.group(0):
            if len(m.group(0)) == length and iban_valid(m.group(0)):
                yield m.span()
            continue
        end = m.start() + length + (length - 1) // 4  # the print form: a space after every four characters
        if end <= m.end() and (end == m.end() or text[end] == " ") and iban_valid(text[m.start():end].replace(" ", "")):
            yield m.start(), end


def is_card(value: str) -> bool:
    """Whether ``value`` as a whole (an attribute's value, not a text) is a payment card number, in any form above;
    no card word is needed for a 13- or 14-digit run."""
    v = value.strip()
    m = _CARD_RUN.fullmatch(v)
    if m is None:
        return False
    groups = [(g.start(), g.end()) for g in _GROUP.finditer(v)]
    lengths = [e - s for s, e in groups]
    digits = re.sub(r"\D", "", v)
    if not (MIN_CARD_DIGITS <= len(digits) <= MAX_CARD_DIGITS and _card_shape(lengths, [v[e] for _, e in groups[:-1]])):
        return False
    return is_card_number(digits) or (len(groups) > 1 and card_brand(digits) == "unionpay")


def is_iban(value: str) -> bool:
    """Whether ``value`` as a whole is an IBAN, compact or in print form."""
    v = value.strip()
    return bool(v) and next(iban_matches(v), None) == (0, len(v))
