"""Bank account numbers in free text that are neither a card number nor an IBAN, replaced by ``[account]``.

A national account number (US 8–17 digits, a German ``Kontonummer`` of up to 10, a Chinese ``账号`` of 16–19 that
fails the card checks) has no check this module could use, so only an account word right before it announces it;
the word stays, the number goes (``account no. [account]``, ``收款账号：[account]``). Card numbers and IBANs are
found first (:mod:`persona.privacy.financial`), so ``卡号 6222 0212 3456 7890 128`` stays a ``[card]``.

- **Account words**: English ``account``, ``bank account``, ``acct``, each with an optional ``no.`` / ``nr.`` /
  ``number`` / ``#``, and ``a/c`` with one of those or a colon (alone it is air conditioning); German
  ``Kontonummer``, ``Konto``, ``Bankkonto``, ``Konto-Nr.``, ``Kto.``; French ``compte``, ``compte bancaire``,
  ``n° de compte``, ``numéro de compte``; Chinese ``账号`` / ``帐号``, ``账户`` / ``帐户``, ``银行账号``, ``收款账号``,
  ``卡号``, ``银行卡(号)``. Latin words are words of their own (``Kundenkonto`` is not ``Konto``).
- **Between word and number**: spaces, a colon, ``is`` / ``ist`` / ``est`` / ``是`` (:data:`~persona.privacy.labels.ANNOUNCE`).
- **The number**: 6 to 20 digits, unbroken or in groups of two digits or more split by single spaces or hyphens
  (``1234 5678 90``; a last group of one after fours, as cards are written: ``9558 8012 3456 7890 1``), not part of a longer number, a decimal or a word, and no currency, unit or measure word after it
  (``账户余额`` has no number right after the word; ``账户 12345元`` is an amount).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from persona.privacy.labels import ANNOUNCE, quantity_after

_NUMBER_WORD = r"(?:[ \t]*(?:no\.?|nr\.?|num(?:ber)?|#))?"
ACCOUNT_WORD = (
    r"(?:(?<![A-Za-z0-9_])(?:(?:bank[ \t]*)?account|acct\.?)" + _NUMBER_WORD + r"(?![A-Za-z])"
    r"|(?<![A-Za-z0-9_])a/c(?:[ \t]*(?:no\.?|nr\.?|num(?:ber)?|#)|(?=[ \t]*[:：]))"
    r"|(?<![A-Za-z0-9_])(?:bank)?(?:konto(?:nummer|[ \t-]?nr\.?)?|kto\.?(?:[ \t-]?nr\.?)?)(?![A-Za-z])"
    r"|(?<![A-Za-z0-9_])(?:(?:n°|no\.?|num[ée]ro)[ \t]*de[ \t]*)?compte(?:[ \t]*bancaire)?(?:[ \t]*n°)?(?![A-Za-z])"
    r"|(?:银行|收款|对公)?[账帐](?:号|户)(?:号码?)?|(?:银行)?卡号码?|银行卡(?:号码?)?)"
)
#: characters before a number searched for its account word
LOOK_BACK = 40
#: a number that may be an account's (the word before it is checked apart: numbers are rare in text, words are not)
_NUMBER = re.compile(r"\d(?<![A-Za-z0-9_]\d)(?<!\d[.,]\d)\d*(?:[ \-]\d{2,})*(?:(?<=\d{4}[ \-]\d{4})[ \-]\d)?"
                     r"(?![A-Za-z0-9_]|[.,]\d)")
_WORD_BEFORE = re.compile(rf"{ACCOUNT_WORD}{ANNOUNCE}$", re.IGNORECASE)
MIN_ACCOUNT_DIGITS, MAX_ACCOUNT_DIGITS = 6, 20
#: what a text holding an account word contains (lower case): the rule runs only then
_HINTS = ("account", "acct", "a/c", "konto", "kto", "compte", "账号", "帐号", "账户", "帐户", "卡号", "银行卡")


def account_matches(text: str) -> Iterator[tuple[int, int]]:
    """The ``(start, end)`` spans of the bank account numbers in ``text`` (the numbers only, not their words).

    Args:
        text: any free text; card numbers and IBANs should be replaced first (they would pass for account numbers).

    Returns:
        An iterator of non-overlapping spans, left to right.
    """
    low = text.lower()
    if not any(h in low for h in _HINTS):  # most texts: no account word, nothing to look for
        return
    for m in _NUMBER.finditer(text):
        start, end = m.span()
        digits = sum(c.isdigit() for c in m.group(0))
        if (MIN_ACCOUNT_DIGITS <= digits <= MAX_ACCOUNT_DIGITS and not quantity_after(text, end)
                and _WORD_BEFORE.search(text, max(0, start - LOOK_BACK), start)):
            yield start, end
