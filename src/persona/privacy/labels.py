"""What the words just before a number say about it: an identifier of a thing, or a payment card's number.

Shared by the phone rules (:mod:`persona.privacy.detect`) and the card rules (:mod:`persona.privacy.financial`):
``order #12345678`` and ``EAN 4006381333931`` are numbers of things, never a person's phone or card, while
``card no. 4111 …`` and ``卡号6222…`` announce a card number. Also what may stand between a keyword and the id it
announces (:data:`ANNOUNCE`) and what after a number makes it an amount (:func:`quantity_after`), shared by the
messaging-id and account rules.
"""

from __future__ import annotations

import re

#: characters before a number searched for a label
LOOK_BACK = 24
_NUMBER_WORD = r"\s*(?:no\.?|nr\.?|num(?:ber)?|#|号码?)?\s*[:#：]?\s*$"
#: a label that makes the number after it an identifier of a thing, not of a person
ID_LABEL = re.compile(
    r"(?:\b(?:order|invoice|tracking|parcel|shipment|ref|reference|receipt|serial|sku|item|model|part|article"
    r"|isbn(?:[- ]?1[03])?|ean(?:[- ]?1[38])?|upc(?:[- ]?a)?"
    r"|gtin|barcode|transaction|confirmation|booking|ticket|case|claim|batch|lot)|订单|单号|编号|货号|型号|批号|件号|条码|条形码|#)"
    + _NUMBER_WORD,
    re.IGNORECASE,
)
_CARD_WORDS = (r"\b(?:(?:credit|debit|bank|payment|gift)?\s*cards?|visa|master\s?card|amex|american\s+express|discover|jcb|diners"
               r"|union\s?pay|maestro|cc)\b|信用卡|银行卡|借记卡|储蓄卡|银联|卡")
#: a card word anywhere in the look-back (``paid with my visa, 4012888888881``): a short digit run may be a card
CARD_WORD = re.compile(_CARD_WORDS, re.IGNORECASE)
#: a card word right before the number (``card #4111…``, ``卡号：6222…``): it wins over ``#`` as an identifier label
CARD_LABEL = re.compile(f"(?:{_CARD_WORDS})" + _NUMBER_WORD, re.IGNORECASE)


def id_label_before(text: str, start: int) -> bool:
    """Whether an identifier label (``order``, ``invoice``, ``EAN``, ``订单号``, ``#`` …) ends just before ``start``."""
    return bool(ID_LABEL.search(text[max(0, start - LOOK_BACK):start].rstrip()))


#: what may stand between a keyword and the identifier it announces: spaces, a colon, ``is`` / ``是`` or both
#: (``QQ：123…``, ``my wechat is abc_123``, ``账号是：6222…``, ``Kontonummer ist 1234…``)
ANNOUNCE = r"[ \t]*(?:(?:(?:is|ist|est)\b|是|为)[ \t]*[:：]?|[:：])?[ \t]*"
#: what after a number makes it an amount or a count, never an identifier (``12345元``, ``50000人``, ``20%``)
_QUANTITY_AFTER = re.compile(r"[ \t]*(?:[$€£¥￥₹₩元块圆角%‰年月日天号个人次位条本件台万千百亿多]"
                             r"|(?:usd|eur|gbp|cny|rmb|jpy|yuan|dollars?|euros?|points?|punkte)\b)", re.IGNORECASE)


def quantity_after(text: str, end: int) -> bool:
    """Whether a currency, a unit or a Chinese measure word follows the number that ends at ``end``."""
    return bool(_QUANTITY_AFTER.match(text, end))
