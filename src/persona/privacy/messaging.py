"""Chinese messaging ids in free text: QQ numbers, QQ group numbers and WeChat ids, replaced by ``[im]``.

Neither has a shape of its own (a QQ number is 5 to 11 digits, a WeChat id 6 to 20 letters, digits, ``_`` or ``-``
starting with a letter), so only the keyword right before one announces it; the keyword stays, the id goes
(``加我微信 [im]``, ``QQ：[im]``).

- **Keywords**: QQ (``QQ``, ``qq号``, ``QQ号码``, ``QQ账号``, ``扣扣``, ``企鹅``), QQ groups (``QQ群``, ``qq群号``,
  ``Q群``, ``加群`` (join the group), ``群号``; ``群`` alone is too common a word) and WeChat (``微信``, ``微信号``,
  ``薇信``, ``威信``, ``v信``, ``vx``, ``wx``, ``WeChat``, ``WeChat ID`` / ``wechat_id`` / ``wechat-id``, ``weixin``),
  and ``加我`` (add me). A Latin keyword is a word of its own on the left, and on the right it is not glued to letters
  (``vxlan``, ``QQ音乐`` is fine but holds no id); an id may be glued to it (``QQ339546``, ``QQ群12345678``,
  ``微信abc_12345``).
- **Between keyword and id**: spaces, a colon (``:`` / ``：``), ``is`` / ``是`` (:data:`~persona.privacy.labels.ANNOUNCE`).
- **A QQ number** (after any keyword; WeChat ids are often QQ or phone numbers; a QQ group's number has the same
  shape): 5 to 11 digits, no leading 0, not part of a longer number, a decimal or a word, and no currency, unit or
  measure word after it (``QQ币 12345元``, ``QQ群50000人``).
- **A WeChat id** (after a WeChat keyword or ``加我`` only): a letter, then 5 to 19 letters, digits, ``_`` or ``-``,
  not itself a keyword (``加我QQ 12345678``: the QQ number goes; ``微信 wx_abc123`` is an id that starts like one).
  A plain word must be announced explicitly (a colon, ``is``, or the keyword ``微信号`` / ``WeChat ID``):
  ``WeChat: sarahliu`` is an id, ``微信 iPhone版``, ``wechat pay`` and ``WeChat account`` are not; with only spaces the
  id needs a digit, ``_`` or ``-`` (``加我微信 zhang_san88``, ``微信 user_123456``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from persona.privacy.labels import ANNOUNCE, quantity_after

_QQ_WORD = (r"(?:(?:(?<![A-Za-z0-9_])qq(?![A-Za-z])|扣扣|企鹅)群?(?:号码?|[账帐]号)?"
            r"|(?:(?<![A-Za-z0-9_])q群|加群)(?:号码?)?|群号码?)")
_WECHAT_WORD = (r"(?:(?<![A-Za-z0-9_])(?:wechat|weixin|vx|wx)(?:[ \t_-]?id)?(?![A-Za-z])"
                r"|(?:微信|薇信|威信|v信)(?:号码?|id)?|加我)")
#: characters before a number searched for its keyword
LOOK_BACK = 32
#: a QQ-shaped number (the keyword before it is checked apart: numbers are rare in text, keywords' letters are not)
_NUMBER = re.compile(r"[1-9](?<![0-9][1-9])(?<!\d[.,][1-9])\d{4,10}(?![A-Za-z0-9_]|[.,]\d)")
_KEYWORD_BEFORE = re.compile(rf"(?:{_QQ_WORD}|{_WECHAT_WORD}){ANNOUNCE}$", re.IGNORECASE)
#: a keyword that may start what follows another one (``加我QQ 12345678``, ``加我qq12345678``): never taken for a
#: WeChat id; an id that merely starts with one, run on with ``_`` or ``-`` (``微信 wx_abc123``, ``vx: qq_123456``),
#: is an id
_KEYWORD_AHEAD = r"(?!(?:qq|wechat|weixin|vx|wx)(?![A-Za-z_-]))"
_WECHAT_ID = re.compile(
    rf"(?P<wechat>{_WECHAT_WORD})(?P<sep>{ANNOUNCE}){_KEYWORD_AHEAD}(?P<id>[A-Za-z][A-Za-z0-9_-]{{5,19}})(?![A-Za-z0-9_-])",
    re.IGNORECASE,
)
#: what a text holding a WeChat keyword contains (lower case): the id regex runs only then
_WECHAT_HINTS = ("wechat", "weixin", "vx", "wx", "v信", "微信", "薇信", "威信", "加我")
#: what a text holding any messaging keyword contains (lower case): the rules run only then
_HINTS = ("qq", "扣扣", "企鹅", "q群", "加群", "群号", *_WECHAT_HINTS)
_EXPLICIT_WORD = re.compile(r"(?:号码?|id)$", re.IGNORECASE)


def _numbers(text: str) -> Iterator[tuple[int, int]]:
    """QQ-shaped numbers (QQ and QQ group numbers) right after any messaging keyword, with no amount's unit after them."""
    for m in _NUMBER.finditer(text):
        start, end = m.span()
        if _KEYWORD_BEFORE.search(text, max(0, start - LOOK_BACK), start) and not quantity_after(text, end):
            yield start, end


def _wechat_ids(text: str) -> Iterator[tuple[int, int]]:
    """WeChat ids right after a WeChat keyword: a plain word only when announced explicitly (module docstring)."""
    pos = 0
    while (m := _WECHAT_ID.search(text, pos)) is not None:
        explicit = bool(m.group("sep").strip()) or bool(_EXPLICIT_WORD.search(m.group("wechat")))
        if explicit or any(c.isdigit() or c in "_-" for c in m.group("id")):
            yield m.span("id")
            pos = m.end()
        else:  # a keyword may start inside a rejected match (微信 account 加我 bob_1988)
            pos = m.start() + 1


def im_matches(text: str) -> Iterator[tuple[int, int]]:
    """The ``(start, end)`` spans of the QQ numbers and WeChat ids in ``text`` (the ids only, not their keywords).

    Args:
        text: any free text.

    Returns:
        An iterator of non-overlapping spans, left to right.
    """
    low = text.lower()
    if not any(h in low for h in _HINTS):  # most texts: no keyword, nothing to look for
        return
    ids = _wechat_ids(text) if any(h in low for h in _WECHAT_HINTS) else iter(())
    last = 0
    for start, end in sorted([*_numbers(text), *ids]):
        if start >= last:
            yield start, end
            last = end
