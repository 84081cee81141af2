"""Bank account numbers in free text that are neither a card number nor an IBAN, replaced by ``[account]``.

A national account number (US 8–17 digits, a German ``Kontonummer`` of up to 10, a Chinese ``账号`` of 16–19 that
fails the card checks) has no check this module could use, so only an account word right before it announces it;
the word stays, the number goes (``account no. [account]``, ``收款账号：[account]``). Card numbers and IBANs are
found first (:mod:`persona.privacy.financial`), so ``卡号 6222 0212 3456 7890 128`` stays a ``[card]``.

- **Account words**: English ``account``, ``bank account``, ``acct``, each with an optional ``no.`` / ``nr.`` /
  ``number`` / ``#``, and ``a/c`` with one of those or a colon (alone it is air conditioning); German
  ``Kontonummer``, ``Konto``, ``Bankkonto``, ``Konto-Nr.``, ``Kto.``; French ``compte``, ``compte bancaire``,
  ``n° de compte``, ``numéro de compte``, ``RIB``; Chinese ``账号`` / ``帐号``, ``账户`` / ``帐户``, ``银行账号``,
  ``收款账号``, ``卡号``, ``银行卡(号)``. Latin words are words of their own on the left (``Kundenkonto`` is not
  ``Konto``); a number may be glued to them (``account12345678``, ``账号6222…``), and so may an alphanumeric id
  (below) where the joint shows: it starts with a digit, or with a capital after the word's small letter
  (``accountAB123456``, ``KontoDE12ABC3456``, ``acct1234AB5678``; never ``accounting202312`` or ``ACCOUNTING202312``).
- **Between word and number**: spaces, a colon, ``is`` / ``ist`` / ``est`` / ``是`` (:data:`~persona.privacy.labels.ANNOUNCE`);
  or a dash (:data:`_DASH_BEFORE`): an en or em dash, a hyphen with a space after it (``account - 12345678``) or
  after no Latin letter (``账户-AB123456``, ``Konto-Nr.-DE12345678``; ``account -1234567`` may be a balance), or a
  hyphen that joins a Latin account word to the id in one hyphenated word (``account-AB123456``, ``acct-12345678``,
  ``Konto-Nr-DE12345678``, ``account-no-AB-123456``, ``my-account-…``: words of small letters before it, so that
  ``AB-RIB-123456`` stays a code). Not an underscore or a slash (``account_AB123456``, ``/account/AB123456``: code
  and addresses).
- **The number**: 6 to 20 digits, unbroken or in groups of two digits or more split by single spaces or hyphens
  (``1234 5678 90``; a last group of one after fours, as cards are written: ``9558 8012 3456 7890 1``), not part of a longer number, a decimal or a word, and no currency, unit or measure word after it
  (``账户余额`` has no number right after the word; ``账户 12345元`` is an amount); never a date in its groups
  (``account 2019-12-31``, ``31 12 2019``).
- **An alphanumeric account id** (:func:`is_alnum_account_id`): one word of ASCII letters and digits (hyphens inside
  allowed, at most 34 characters, an IBAN's longest) holding a letter and at least 6 digits (``Konto: DE12ABC3456789``,
  ``compte 0001234567K``): no ordinary word has six digits, product names rarely do (``iPhone12``, ``MP3``). Never
  one whose first part is an identifier label (``account SKU-AB123456``, ``account: order-AB123456`` name things:
  :data:`~persona.privacy.labels.ID_LABEL`) or, after a dash or hyphen, a plain word (``account-settings-123456789``,
  a page's address); and a number that heads a longer hyphenated code (a UUID's ``12345678-1234-5678-9abc-…``) is
  no account number on its own.
- **A French RIB** (relevé d'identité bancaire): bank code (5 digits), branch code (5), account number (11 letters or
  digits) and the RIB key (2), whose key is valid (the 23 characters, letters mapped to digits by the RIB table,
  are a multiple of 97). In its four groups split by single spaces or hyphens (``30004 00550 0001234567K 58``) the key
  is check enough to find it anywhere; run together (``3000400550…``) it needs an account word first. A RIB-shaped
  run whose key fails is left whole, not cut into shorter numbers. :func:`is_rib` tells the same of a column's value
  (:func:`persona.privacy.detect.pii_kind`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from persona.privacy.labels import ANNOUNCE, ID_LABEL, quantity_after

_NUMBER_WORD = r"(?:[ \t]*-?[ \t]*(?:no\.?|nr\.?|num(?:ber)?|#))?"
ACCOUNT_WORD = (
    r"(?:(?<![A-Za-z0-9_])(?:(?:bank[ \t]*)?account|acct\.?)" + _NUMBER_WORD + r"(?![A-Za-z])"
    r"|(?<![A-Za-z0-9_])a/c(?:[ \t]*(?:no\.?|nr\.?|num(?:ber)?|#)|(?=[ \t]*[:：]))"
    r"|(?<![A-Za-z0-9_])(?:bank)?(?:konto(?:nummer|[ \t-]?nr\.?)?|kto\.?(?:[ \t-]?nr\.?)?)(?![A-Za-z])"
    r"|(?<![A-Za-z0-9_])(?:(?:n°|no\.?|num[ée]ro)[ \t]*de[ \t]*)?compte(?:[ \t]*bancaire)?(?:[ \t]*n°)?(?![A-Za-z])"
    r"|(?<![A-Za-z0-9_])rib(?![A-Za-z])"
    r"|(?:银行|收款|对公)?[账帐](?:号|户)(?:号码?)?|(?:银行)?卡号码?|银行卡(?:号码?)?)"
)
#: characters before a number searched for its account word
LOOK_BACK = 40
#: a number that may be an account's (the word before it is checked apart: numbers are rare in text, words are not);
#: glued to a letter on the left only as the end of an account word (``account12345678``), which that check sees
_NUMBER = re.compile(r"\d(?<![0-9_]\d)(?<!\d[.,]\d)\d*(?:[ \-]\d{2,})*(?:(?<=\d{4}[ \-]\d{4})[ \-]\d)?"
                     r"(?![A-Za-z0-9_]|[.,]\d)")
#: a word of ASCII letters and digits (hyphens inside) that may be an alphanumeric account id; a hyphen before it
#: that follows no such word is a dash (``账户-AB123456``), the word starts after it
_ALNUM_ID = re.compile(r"[A-Za-z0-9](?<![A-Za-z0-9_][A-Za-z0-9])(?<![A-Za-z0-9_]-[A-Za-z0-9])(?<!\d[.,]\d)"
                       r"[A-Za-z0-9]*(?:-[A-Za-z0-9]+)*"
                       r"(?![A-Za-z0-9_\-]|[.,]\d)")
#: a French RIB's shape: bank, branch, account, key; in groups split by one kind of separator, or run together
_RIB = re.compile(r"\d(?<![A-Za-z0-9_]\d)(?<!\d[.,]\d)\d{4}(?P<sep>[ \-]?)\d{5}(?P=sep)[A-Za-z0-9]{11}(?P=sep)\d{2}"
                  r"(?![A-Za-z0-9_]|[.,]\d)")
#: the RIB table (each letter of an account number stands for a digit: A, J → 1; B, K, S → 2 …); separators go
_RIB_DIGITS = str.maketrans({" ": None, "-": None, **{c: str(d) for d, letters in enumerate(
    ("", "AJ", "BKS", "CLT", "DMU", "ENV", "FOW", "GPX", "HQY", "IRZ")) for c in letters}})
RIB_LENGTH = 23
_WORD_BEFORE = re.compile(rf"{ACCOUNT_WORD}{ANNOUNCE}$", re.IGNORECASE)
#: a Latin account word joined by a hyphen to what follows in one hyphenated word, after words of small letters if
#: any (``account-``, ``acct-no-``, ``Konto-Nr-``, ``accountNo-``, ``my-bank-account-``; not ``AB-RIB-``, a code's part)
_JOINED_WORD = (r"(?:[A-Za-z][a-z]*-)*(?i:(?:bank-?)?account|acct|(?:bank)?konto|kto|compte|rib)"
                r"(?i:-?(?:no|nr|num(?:ber)?|nummer))?-")
#: an account word then a dash: an en or em dash, a hyphen with a space after it or after no Latin letter
#: (``account - 1234…``, ``账户-1234…``, ``Konto-Nr.-DE12…``; ``account -1234567`` may be a balance), or a hyphen that
#: joins it to the number in one hyphenated word (``account-12345678``, ``my-account-12345678``)
_DASH_BEFORE = re.compile(rf"(?i:{ACCOUNT_WORD})[ \t]*(?:[–—]|-(?=[ \t])|(?<![A-Za-z \t])-)[ \t]*$"
                          rf"|(?<![A-Za-z0-9_\-]){_JOINED_WORD}$")
MIN_ACCOUNT_DIGITS, MAX_ACCOUNT_DIGITS = 6, 20
#: the longest alphanumeric account id (an IBAN's longest)
MAX_ALNUM_ID_LENGTH = 34
#: the shape of an alphanumeric account id: ASCII letters and digits, hyphens inside
_ALNUM_SHAPE = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
#: a Latin account word (with ``no`` / ``nr`` / ``number`` run on) at the start of a word an id is glued to
#: (``accountAB123456``, ``accountNoAB123456``, ``KontonummerDE12ABC3456``)
_GLUED_WORD = re.compile(r"(?:(?:bank)?account|acct)(?:no|nr|num(?:ber)?)?|(?:bank)?konto(?:nummer|nr)?|kto(?:nr)?|compte|rib",
                         re.IGNORECASE)
#: what a dash between an account word and its id is written with: :data:`_DASH_BEFORE` is searched only after one
_DASHES = ("-", "–", "—")
#: a Latin account word joined by a hyphen at the start of one hyphenated word (:func:`_hyphenated_id`)
_HYPHENATED_WORD = re.compile(_JOINED_WORD)
#: what after a number makes it the head of a longer hyphenated code (a UUID's ``12345678-1234-5678-9abc-…``):
#: the code is an alphanumeric id or nothing, never this number
_CODE_TAIL = re.compile(r"-[A-Za-z0-9\-]*[A-Za-z]")
#: a date in a number's groups (``2019-12-31``, ``31-12-2019``, ``12 31 2019``): no account number
_DATE = re.compile(r"(?:19|20)\d\d(?P<a>[ \-])(?:0[1-9]|1[0-2])(?P=a)(?:0[1-9]|[12]\d|3[01])"
                   r"|(?:0?[1-9]|[12]\d|3[01])(?P<b>[ \-])(?:0[1-9]|[12]\d|3[01])(?P=b)(?:19|20)\d\d")
#: what a text holding an account word contains (lower case): the rule runs only then
_HINTS = ("account", "acct", "a/c", "konto", "kto", "compte", "rib", "账号", "帐号", "账户", "帐户", "卡号", "银行卡")


def rib_valid(rib: str) -> bool:
    """Whether a RIB (bank, branch, account, key: 23 characters, run together or split by spaces or hyphens) has a
    valid key: with the account's letters mapped to digits by the RIB table, the number is a multiple of 97."""
    digits = rib.upper().translate(_RIB_DIGITS)
    return len(digits) == RIB_LENGTH and digits.isascii() and digits.isdigit() and int(digits) % 97 == 0


def is_rib(value: str) -> bool:
    """Whether ``value`` as a whole (a column's value, not a text) is a French RIB with a valid key: bank code,
    branch code, account number (11 letters or digits) and key, run together or in its four groups split by single
    spaces or hyphens; surrounding spaces are ignored."""
    v = value.strip()
    return bool(_RIB.fullmatch(v)) and rib_valid(v)


def is_alnum_account_id(word: str) -> bool:
    """Whether ``word`` may be an alphanumeric account id (``0001234567K``, ``DE12ABC3456789``): ASCII letters and
    digits (hyphens inside), at most :data:`MAX_ALNUM_ID_LENGTH` characters, a letter and at least
    :data:`MIN_ACCOUNT_DIGITS` digits."""
    return (len(word) <= MAX_ALNUM_ID_LENGTH and bool(_ALNUM_SHAPE.fullmatch(word)) and any(c.isalpha() for c in word)
            and sum(c.isdigit() for c in word) >= MIN_ACCOUNT_DIGITS)


def _names_a_thing(word: str, joined: bool) -> bool:
    """Whether an id-shaped word names a thing, not an account: its first part is an identifier label
    (``SKU-AB123456``, ``order-AB123456``, ``REF-12345678``: :data:`~persona.privacy.labels.ID_LABEL`) or, joined
    to its account word by a hyphen or dash, a plain word (``account-settings-123456789``, a page's address)."""
    first = word.split("-", 1)[0]
    return bool(ID_LABEL.fullmatch(first)) or (joined and first.isalpha() and not first.isupper())


def _glued_id(word: str) -> int | None:
    """Where an alphanumeric account id glued to a Latin account word starts in ``word`` (``accountAB123456`` → 7),
    or None: the id holds a letter (digits alone are :data:`_NUMBER`'s) and the joint shows (a digit, or a capital
    after a small letter), so ``accounting202312`` and ``ACCOUNTING202312`` are no account word with an id."""
    m = _GLUED_WORD.match(word)
    if m is None or m.end() == len(word):
        return None
    rest, last = word[m.end():], word[m.end() - 1]
    joint = rest[0].isdigit() or (rest[0].isupper() and last.islower())
    ok = joint and any(c.isalpha() for c in rest) and is_alnum_account_id(rest) and not _names_a_thing(rest, False)
    return m.end() if ok else None


def _hyphenated_id(word: str) -> int | None:
    """Where an alphanumeric account id joined by a hyphen to a Latin account word starts in ``word``
    (``account-AB123456`` → 8, ``my-account-no-AB123456`` → 14), or None: the id holds a letter (digits alone are
    :data:`_NUMBER`'s) and names no thing or page (:func:`_names_a_thing`)."""
    m = _HYPHENATED_WORD.match(word)
    if m is None or m.end() == len(word):
        return None
    rest = word[m.end():]
    ok = any(c.isalpha() for c in rest) and is_alnum_account_id(rest) and not _names_a_thing(rest, True)
    return m.end() if ok else None


def _account_number(number: str) -> bool:
    """Whether a :data:`_NUMBER` match has an account number's length (6 to 20 digits) and is no date."""
    return MIN_ACCOUNT_DIGITS <= sum(c.isdigit() for c in number) <= MAX_ACCOUNT_DIGITS and not _DATE.fullmatch(number)


def _announced(text: str, start: int) -> str | None:
    """How an account word ends right before ``start``: ``"word"`` (then spaces, a colon, ``is`` …), ``"dash"`` (then a
    dash, or joined by a hyphen: :data:`_DASH_BEFORE`), or None."""
    lo = max(0, start - LOOK_BACK)
    if _WORD_BEFORE.search(text, lo, start):
        return "word"
    if text[lo:start].rstrip(" \t")[-1:] not in _DASHES:  # most numbers: no dash before, no second search
        return None
    return "dash" if _DASH_BEFORE.search(text, lo, start) else None


def _candidates(text: str, has_word: bool) -> Iterator[tuple[int, int, bool]]:
    """``(start, end, redact)`` for each RIB-shaped run (``redact``: its key is valid and, run together, an account
    word announces it) and, when ``has_word`` (the text holds an account word), each number and alphanumeric id
    announced by one, glued to one or joined to one by a hyphen."""
    for m in _RIB.finditer(text):
        yield m.start(), m.end(), rib_valid(m.group(0)) and (bool(m.group("sep")) or _announced(text, m.start()) is not None)
    if not has_word:
        return
    for m in _NUMBER.finditer(text):
        start, end = m.span()
        if (_account_number(m.group(0)) and not quantity_after(text, end) and not _CODE_TAIL.match(text, end)
                and _announced(text, start)):
            yield start, end, True
    for m in _ALNUM_ID.finditer(text):
        word = m.group(0)
        if word.isalpha() or word.isdigit() or sum(c.isdigit() for c in word) < MIN_ACCOUNT_DIGITS:  # most words
            continue
        start, end = m.span()
        if quantity_after(text, end):
            continue
        if is_alnum_account_id(word) and (how := _announced(text, start)) is not None:
            if not _names_a_thing(word, how == "dash"):
                yield start, end, True
        elif (glued := _glued_id(word)) is not None:  # accountAB123456: the word is no id's, what follows is
            yield start + glued, end, True
        elif (joined := _hyphenated_id(word)) is not None:  # account-AB123456: likewise
            yield start + joined, end, True


def account_matches(text: str) -> Iterator[tuple[int, int]]:
    """The ``(start, end)`` spans of the bank account numbers in ``text`` (the numbers only, not their words).

    Args:
        text: any free text; card numbers and IBANs should be replaced first (they would pass for account numbers).

    Returns:
        An iterator of non-overlapping spans, left to right; where candidates overlap, the longest that starts first
        decides (a RIB-shaped run whose key fails hides the numbers inside it).
    """
    low = text.lower()
    last = 0
    for start, end, redact in sorted(_candidates(text, any(h in low for h in _HINTS)), key=lambda c: (c[0], -c[1])):
        if start >= last:
            if redact:
                yield start, end
            last = end
