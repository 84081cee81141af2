"""Personal data where it should not be: e-mail addresses, phone, payment card and bank account numbers, IBANs and
messaging ids in free columns and texts.

Used by ingest (to warn about a file's extra columns, kept as plain-text attributes, and to redact review texts),
by ``persona privacy redact-reviews`` and by the privacy report (attributes, event contexts, review texts). Detection
and redaction (:mod:`persona.privacy.redact`) share :func:`replace_pii`, which looks for each kind in turn
(:data:`TEXT_KINDS`), so a redacted text is never reported. Card numbers and IBANs: :mod:`persona.privacy.financial`;
QQ numbers and WeChat ids (``[im]``): :mod:`persona.privacy.messaging`; account numbers after an account word
(``[account]``): :mod:`persona.privacy.accounts`.

A phone number is 8 to 15 digits (E.164 allows at most 15; 7-digit local numbers are too like other numbers to
tell apart) in groups split by one space, hyphen, dot, slash or parentheses, with an optional ``+`` country code,
not glued to ASCII letters or other digits (Chinese text around it is fine: ``电话13812345678``, and so is a colon
after a letter: ``Tel:+49 30 1234567``). A run of groups whose start is glued to a letter or ``#`` is one number
(``x4111 1111 1111 1111``, ``#5555 5555 5555 4444``, ``SN12 0170 1234567``): none of its later groups starts a
phone number, and neither do those of a run after an identifier label (below). Without a ``+``,
a leading ``0`` (trunk prefix) or parentheses, it needs a phone-like shape: a Chinese mobile number
(``1[3-9]`` + 9 digits), a bare North American number (10 digits, the first 2–9) right after a phone word
(``call me at 5551234567``, ``电话：…``: :data:`PHONE_WORD`; on its own it is an ISBN-10, an order number or a
hotline as often), or at least 9 digits in groups, one of them of three digits or more (US dots only as
``555.123.4567``). Never a phone number: dates (``2026-11-24``, ``24.11.2026``), years and year ranges
(``2019-2021``), decimals and prices (``$1,299.00``, ``1234567.89``, ``¥13800000``), IP addresses, percentages,
times, ratings (``5/5``), lists of round numbers (``100 200 300``, ``2000-100 1000-50``), plain digit strings
(order numbers, barcodes: ``123456789``, ``4006381333931``), 13 digits or more written in a card's groups
(``4111 1111 1111 1112``, Luhn-valid or not, or a parcel's number) and numbers after an order, invoice, tracking,
reference, serial, SKU, item, model, ticket, barcode or ``#`` label (``order #12345678``, ``订单号12345678901``; see
:mod:`persona.privacy.labels`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from persona.data.interactions import as_dict
from persona.privacy.accounts import account_matches, is_alnum_account_id, is_rib
from persona.privacy.financial import (
    IBAN_CANDIDATE_RE2,
    card_grouped,
    card_matches,
    iban_matches,
    is_card,
    is_iban,
)
from persona.privacy.labels import ID_LABEL, LOOK_BACK, id_label_before
from persona.privacy.messaging import im_matches

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
#: what splits a phone number's digit groups: one space, hyphen, dot or slash, or parentheses
_SEP = r"(?:[ ./\-]|\)\s?|\s?\()"
#: a phone-number candidate (see the module docstring; :func:`phone_matches` applies the rest of the rules):
#: optional +country code, up to 10 digit groups split by one separator, not glued to ASCII words, numbers, paths
#: or times (a colon only after a letter: ``Tel:+49 30 1234567``, never ``10:30``). A run of groups glued to a
#: letter or ``#`` (``x4111 1111 1111 1111``, ``#5555 5555 5555 4444``) is matched whole as ``glued`` and is no
#: phone number, so that none of its later groups starts one. The look-ahead first: most positions fail it at once,
#: before the look-behinds and the alternation are tried (three times as fast on review texts as without it)
PHONE = re.compile(
    r"(?=[\d+(])"
    rf"(?:(?P<glued>(?<=[A-Za-z_#])\d+(?:{_SEP}\d+)*)"
    r"|(?<![A-Za-z0-9_.,+#@/%\-])(?<![\W\d_]:)"
    rf"(?:\+\s?)?\(?(?=\d[\d ./()\-]{{6,}}\d)\d+(?:{_SEP}\d+){{0,9}}"
    r"(?![A-Za-z0-9_@%]|[ .,/:\-]\d))"
)
#: what a text holding a messaging id or an account number contains (RE2 syntax): every keyword of
#: :mod:`persona.privacy.messaging` and :mod:`persona.privacy.accounts` contains one of these, and a QQ number or an
#: account number (an alphanumeric one too: two of its digits have only letters between them) has two digits or more
#: within their look-back after it; a WeChat id may have no digit
KEYWORD_RE2 = (r"(?:(?i:qq|q群|account|acct|a/c|konto|kto|compte|rib)|扣扣|企鹅|加群|群号|[账帐][号户]|卡号|银行卡)"
               r"[^\n]{0,40}\d[A-Za-z]*\d"
               r"|(?i:wechat|weixin|vx|wx|v信)|微信|薇信|威信|加我")
#: what any text holding an e-mail address, a phone, card or account number, an IBAN or a messaging id contains (RE2
#: syntax, for a fast Arrow pre-filter): a card number is a digit run already (so is a RIB's bank and branch code); an
#: IBAN may have letters between short digit groups; a messaging id (5 digits) or an account number is known by its
#: keyword
CANDIDATE_RE2 = r"@|\d[\d ./()\-]{6,}\d|" + IBAN_CANDIDATE_RE2 + "|" + KEYWORD_RE2
#: how many digits a phone number has (E.164 allows at most 15)
MIN_DIGITS, MAX_DIGITS = 8, 15
#: digits a number in groups needs without a +, a leading 0 or parentheses (8 are room, seat and coupon numbers too)
NO_PREFIX_MIN_DIGITS = 9
#: the text dtype the pre-filter reads without a copy
STRING = pd.StringDtype("pyarrow")
#: an attribute is PII-like when at least this share of its non-empty values match
ATTRIBUTE_MATCH_SHARE = 0.5

_DATE = re.compile(r"\(?(?:\d{4}([./\- ])\d{1,2}\1\d{1,2}|\d{1,2}([./\- ])\d{1,2}\2(?:\d{4}|\d{2}))")
_YEARS = re.compile(r"(?:19|20)\d\d(?:\s?[ /\-]\s?(?:19|20)\d\d)+")
_DECIMAL = re.compile(r"\d+[.,]\d+")
_IP = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_US_DOTS = re.compile(r"\d{3}\.\d{3}\.\d{4}")
_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_NANP = re.compile(r"[2-9]\d{9}")  # area code 2-9; 555-123-4567, the usual example, has no valid exchange
#: a word just before a bare 10-digit number that makes it a North American phone number (``call me at 5551234567``)
PHONE_WORD = re.compile(r"(?:\b(?:call|text|(?:tele|cell|mobile\s?)?phone|tel|cell|mobile|sms|whatsapp)\b|电话|手机)[^\d\n]{0,12}$",
                        re.IGNORECASE)
_CURRENCY = "$€£¥￥₹₩元"
_CURRENCY_CODE = re.compile(r"(?:usd|eur|gbp|cny|rmb|jpy|inr|aud|cad|chf|hkd|sgd|krw)\s*$", re.IGNORECASE)
_CURRENCY_AFTER = re.compile(r"\s*(?:[$€£¥￥₹₩元]|(?:usd|eur|gbp|cny|rmb|jpy|inr|aud|cad|chf|hkd|sgd|krw)\b)", re.IGNORECASE)
_NON_DIGIT = re.compile(r"\D+")


def _digits(s: str) -> int:
    return len(_NON_DIGIT.sub("", s))


def _phone_shape(s: str) -> bool:
    """Whether a candidate on its own (no context) is shaped like a phone number."""
    digits = _digits(s)
    if not MIN_DIGITS <= digits <= MAX_DIGITS:
        return False
    body = s.lstrip("+ ")
    if _DATE.fullmatch(body) or _YEARS.fullmatch(body) or _DECIMAL.fullmatch(body) or _IP.fullmatch(body):
        return False
    groups = re.findall(r"\d+", body)
    plus, trunk, paren = s.startswith("+"), body.lstrip("(").startswith("0"), "(" in body
    if not (plus or trunk or paren) and card_grouped(body):  # 4111 1111 1111 1112: a card's (or parcel's) number
        return False
    if len(groups) == 1:  # digits only
        return plus or (trunk and 9 <= digits <= 12) or bool(_CN_MOBILE.fullmatch(body))
    if plus or trunk or paren:
        return True
    if digits < NO_PREFIX_MIN_DIGITS or all(g.endswith("0") for g in groups):  # room 1607 1107; 100 200 300, 2000-100 1000-50
        return False
    if "." in body and not _US_DOTS.fullmatch(body):  # versions, dotted numbers: only 555.123.4567
        return False
    return max(len(g) for g in groups) >= 3


def _isbn_shaped(s: str) -> bool:
    """Whether a candidate is a book's number rather than a phone's: an ISBN-13 (978 or 979 and a valid check digit,
    run together or in groups; no ``+``: +978 and +979 are no country's code), or an ISBN-10 written as ISBNs are, in
    four groups split by hyphens or spaces, the last one the check digit (``0-306-40615-2``)."""
    body = s.strip().strip("()")  # a candidate may take in the bracket before it: (978-3-16-148410-0)
    if body.startswith("+") or not is_isbn(body):
        return False
    groups = re.split(r"[\s-]+", body)
    return len(_NON_DIGIT.sub("", body)) == 13 or (len(groups) == 4 and len(groups[-1]) == 1)


def _phone_in_context(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a phone number: its shape (a bare North American number needs a phone word
    before it; an ISBN is a book's), then no currency or label around it."""
    if _isbn_shaped(text[start:end]):
        return False
    window = text[max(0, start - LOOK_BACK):start]
    if not (_phone_shape(text[start:end]) or (_NANP.fullmatch(text, start, end) and PHONE_WORD.search(window))):
        return False
    before = window.rstrip()
    if (before and before[-1] in _CURRENCY) or _CURRENCY_CODE.search(before) or ID_LABEL.search(before):
        return False
    return not _CURRENCY_AFTER.match(text, end)


def _split_at_spaces(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Phone numbers within a candidate of more than 15 digits (``07700 900123 07700 900124``): the longest run of
    its space-separated parts that is one, left to right."""
    cuts = [start] + [i + 1 for i in range(start, end - 1) if text[i] == " " and text[i + 1] not in " )"]
    i = 0
    while i < len(cuts):
        best = None
        for j in range(i + 1, len(cuts) + 1):  # each part holds a digit: at most 15 parts are tried
            stop = cuts[j] - 1 if j < len(cuts) else end
            if _digits(text[cuts[i]:stop]) > MAX_DIGITS:
                break
            if _phone_in_context(text, cuts[i], stop):
                best = j, stop
        if best is None:
            i += 1
        else:
            yield cuts[i], best[1]
            i = best[0]


def phone_matches(text: str) -> Iterator[tuple[int, int]]:
    """The ``(start, end)`` spans of the phone numbers in ``text``, left to right (see the module docstring).

    Args:
        text: any free text; an unmatched ``(`` before a number (``(07700 900123)``) is left out of its span.

    Returns:
        An iterator of non-overlapping spans.
    """
    for m in PHONE.finditer(text):
        if m.lastgroup == "glued" or (m.group(0)[0] != "0" and card_grouped(m.group(0))):  # not split either
            continue
        if _digits(m.group(0)) > MAX_DIGITS:
            if id_label_before(text, m.start()):  # order 1234 5678 0170 1234567: the label covers the whole run
                continue
            spans: Iterator[tuple[int, int]] = _split_at_spaces(text, m.start(), m.end())
        else:
            spans = iter([(m.start(), m.end())] if _phone_in_context(text, m.start(), m.end()) else [])
        for start, end in spans:
            if text[start] == "(" and ")" not in text[start:end]:
                start += 1
            yield start, end


def is_phone(value: str) -> bool:
    """Whether ``value`` as a whole (an attribute's value, not a text) is a phone number.

    Args:
        value: one value, e.g. of a ``mobile`` column; surrounding spaces are ignored.

    Returns:
        True when the whole value has a phone number's shape (labels and currencies are not looked for).
    """
    v = value.strip()
    return bool(PHONE.fullmatch(v)) and _phone_shape(v)


def is_isbn(value: str) -> bool:
    """Whether ``value`` as a whole is an ISBN: 13 digits starting 978 or 979 that pass the EAN check, or 9 digits
    and a check digit or ``X`` that pass the ISBN-10 check (mod 11), run together or split by hyphens or spaces
    (``978-3-16-148410-0``, ``0-306-40615-2``). A column of them has a phone number's shape, not its meaning."""
    d = re.sub(r"[\s\-]", "", value).upper()
    if len(d) == 13 and d.isascii() and d.isdigit() and d[:3] in ("978", "979"):
        return sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(d)) % 10 == 0
    if len(d) == 10 and d[:9].isascii() and d[:9].isdigit() and (d[9].isdigit() or d[9] == "X"):
        return sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(d)) % 11 == 0
    return False


#: a column or key named like this holds phone numbers, so bare digit strings in it count as phone numbers too
PHONE_NAME = re.compile(r"phone|mobile|\btel\b|telephone|cell|fax|whatsapp|电话|手机", re.IGNORECASE)
_BARE_NUMBER = re.compile(r"\+?\d{7,15}")
#: a column or key named like this holds messaging ids: its QQ numbers and WeChat ids count as personal data
IM_NAME = re.compile(r"qq|wechat|weixin|(?<![A-Za-z])(?:wx|vx)(?![A-Za-z])|微信|扣扣", re.IGNORECASE)
_IM_VALUE = re.compile(r"[1-9]\d{4,10}|[A-Za-z][A-Za-z0-9_-]{5,19}")
#: a column or key named like this holds bank account numbers (``account_id`` alone is a shop's own account)
ACCOUNT_NAME = re.compile(r"bank.?acc|acct|a/c|konto|compte|账号|帐号|账户|帐户|卡号|银行卡", re.IGNORECASE)
_ACCOUNT_VALUE = re.compile(r"\d{6,20}")
#: a date or a time stamp as a column holds one (``2023-01-05``, ``05.01.2023``, ``20230105``, ``2023-01-05 10:30``):
#: an ``acct_opened`` column's dates are no account numbers
_DATE_VALUE = re.compile(r"(?:19|20)\d\d(?P<s>[-/.]?)(?:0[1-9]|1[0-2])(?P=s)(?:0[1-9]|[12]\d|3[01])"
                         r"(?:[ T]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?"
                         r"|(?:0[1-9]|[12]\d|3[01])[-/.](?:0[1-9]|1[0-2])[-/.](?:19|20)\d\d")
_SPACES = re.compile(r"\s+")


def pii_kind(values: pd.Series, name: str | None = None) -> str | None:
    """The kind of personal data (``"email"``, ``"iban"``, ``"card"``, ``"im"``, ``"account"`` or ``"phone"``) most
    non-empty values are, or None.

    Args:
        values: the column's values.
        name: the column's (or key's) name; named like a phone field (``mobile``, ``tel``, ``手机`` …), its bare
            digit strings (``5551234567``) count as phone numbers, which on their own are too like order ids. Named
            like a messaging field (``qq``, ``wechat``, ``微信``) its QQ numbers and WeChat ids are ``"im"``, and named
            like a bank account (``bank_account``, ``Kontonummer``, ``账号``) its 6–20 digit numbers and alphanumeric
            account ids (a letter and at least 6 digits: ``0001234567K``, ``DE12ABC3456789``) are ``"account"``:
            neither has a shape of its own. French RIBs whose key is valid (``30004 00550 0001234567K 58``) are
            ``"account"`` under any name: the key is check enough, as an IBAN's is. ISBNs (``978-3-16-148410-0``)
            are no phone numbers, unless the column is named like a phone field.
    """
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""]
    if not len(text):
        return None
    phone_named = name is not None and bool(PHONE_NAME.search(str(name)))
    im_named = name is not None and bool(IM_NAME.search(str(name)))
    account_named = name is not None and bool(ACCOUNT_NAME.search(str(name)))

    def phone(t: str) -> bool:
        if phone_named:
            return is_phone(t) or bool(_BARE_NUMBER.fullmatch(re.sub(r"[\s\-().]", "", t)))
        return is_phone(t) and not is_isbn(t)  # 978-3-16-148410-0 is a book's

    def im(t: str) -> bool:
        return im_named and bool(_IM_VALUE.fullmatch(t))

    def account(t: str) -> bool:
        if is_rib(t):
            return True
        if not account_named or _DATE_VALUE.fullmatch(t):
            return False
        return bool(_ACCOUNT_VALUE.fullmatch(re.sub(r"[\s\-]", "", t))) or is_alnum_account_id(_SPACES.sub("", t))

    # cards before phones: in a phone-named column a bare card number (378282246310005) passes for a phone number;
    # named ids and accounts before phones too: a Kontonummer 0532013000 has a trunk prefix's shape
    tests = (("email", lambda t: bool(EMAIL.fullmatch(t))), ("iban", is_iban), ("card", is_card), ("im", im), ("account", account),
             ("phone", phone))
    for kind, test in tests:
        if text.map(test).mean() >= ATTRIBUTE_MATCH_SHARE:
            return kind
    return None


#: what to do about a plain-text column of each kind: map it into its encrypted column, or keep it out
_FIXES = {"email": "reload with --map {col}=email to encrypt it", "phone": "reload with --map {col}=phone to encrypt it",
          "card": "drop the column from the file and reload it (card numbers have no place in a marketing store)",
          "iban": "drop the column from the file and reload it (IBANs have no place in a marketing store)",
          "im": "drop the column from the file and reload it (messaging ids have no encrypted column)",
          "account": "drop the column from the file and reload it (bank account numbers have no place in a marketing store)"}
#: how each kind is named in messages
KIND_NAMES = {"email": "e-mail addresses", "phone": "phone numbers", "card": "card numbers", "iban": "IBANs",
              "im": "messaging ids (QQ, WeChat)", "account": "bank account numbers"}


def pii_fix(column: str, kind: str) -> str:
    """What to do about a column of ``kind`` values stored in plain text (an attribute or a context field)."""
    return _FIXES[kind].format(col=column)


def pii_like_keys(records: pd.Series) -> dict[str, dict[str, Any]]:
    """The keys of JSON objects (one per row) whose values mostly look like personal data (see :func:`pii_kind`).

    Returns:
        ``{key: {"kind": "email"|"iban"|"card"|"im"|"account"|"phone", "rows": n}}``.
    """
    frame = pd.DataFrame([as_dict(v) for v in records])
    out = {}
    for key in frame.columns:
        kind = pii_kind(frame[key], str(key))
        if kind is not None:
            out[str(key)] = {"kind": kind, "rows": int(frame[key].notna().sum())}
    return out


#: the kinds of personal data found in free text, in the order they are looked for; each rule sees the text with the
#: earlier kinds' tokens in place (an IBAN's digit groups could pass for a card number, a card's for a phone number)
TEXT_KINDS = ("email", "iban", "card", "im", "account", "phone")
#: what takes the place of each kind in a redacted text
TOKENS = {"email": "[email]", "iban": "[iban]", "card": "[card]", "im": "[im]", "account": "[account]", "phone": "[phone]"}
_SPANS: dict[str, Callable[[str], Iterator[tuple[int, int]]]] = {
    "email": lambda t: ((m.start(), m.end()) for m in EMAIL.finditer(t)) if "@" in t else iter(()),
    "iban": iban_matches,
    "card": card_matches,
    "im": im_matches,
    "account": account_matches,
    "phone": phone_matches,
}
#: the kinds in the order people read them: e-mail addresses and phone numbers always named, the others when found
_READ_ORDER = ("email", "phone", "card", "iban", "im", "account")


def no_pii() -> dict[str, int]:
    """Zero counts for every kind of :data:`TEXT_KINDS` (``{"email": 0, "iban": 0, "card": 0, "im": 0, …}``)."""
    return dict.fromkeys(TEXT_KINDS, 0)


def replace_pii(text: str) -> tuple[str, dict[str, int]]:
    """One pass over ``text``: each kind of :data:`TEXT_KINDS` in turn is replaced by its token.

    Redaction repeats this until nothing more is found; the report counts what the first pass finds, so a
    redacted text is never reported.

    Returns:
        The text with tokens in place, and how many of each kind were replaced.
    """
    counts = no_pii()
    for kind in TEXT_KINDS:
        spans = list(_SPANS[kind](text))
        if spans:
            parts, pos = [], 0
            for start, end in spans:
                parts += [text[pos:start], TOKENS[kind]]
                pos = end
            parts.append(text[pos:])
            text = "".join(parts)
            counts[kind] = len(spans)
    return text, counts


_COUNTED = {"email": "e-mail address(es)", "phone": "phone number(s)", "card": "card number(s)", "iban": "IBAN(s)",
            "im": "messaging id(s)", "account": "account number(s)"}


def describe_counts(counts: dict[str, int]) -> str:
    """Counts of replaced (or found) personal data for people: ``"3 e-mail address(es) and 2 phone number(s)"``,
    the other kinds (card numbers, IBANs, messaging ids, account numbers) named only when there are any."""
    parts = [f"{counts.get(k, 0):,} {_COUNTED[k]}" for k in _READ_ORDER if k in ("email", "phone") or counts.get(k)]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def tokens_of(counts: dict[str, int]) -> str:
    """The tokens of the kinds described by :func:`describe_counts`: ``"[email] / [phone] / [card]"``."""
    return " / ".join(TOKENS[k] for k in _READ_ORDER if k in ("email", "phone") or counts.get(k))


def candidates(texts: pd.Series) -> np.ndarray:
    """Positions of the texts that may hold personal data: a C++ (Arrow, RE2) pre-filter with
    :data:`CANDIDATE_RE2`, so most texts never reach the Python rules. Missing values are no candidates."""
    s = texts if texts.dtype == STRING else texts.astype(STRING)
    hits = pc.fill_null(pc.match_substring_regex(s.array.__arrow_array__(), CANDIDATE_RE2), False)
    return np.flatnonzero(np.asarray(hits.to_numpy(zero_copy_only=False), dtype=bool))


def texts_with_pii(texts: pd.Series) -> dict[str, int]:
    """How many texts contain each kind of personal data redaction replaces.

    Returns:
        ``{kind: n}`` for each of :data:`TEXT_KINDS`: texts holding at least one of that kind.
    """
    out = no_pii()
    if texts.empty:
        return out
    for t in texts.iloc[candidates(texts)].tolist():
        for kind, n in replace_pii(str(t))[1].items():
            out[kind] += n > 0
    return out
