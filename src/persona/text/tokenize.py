"""Tokenizers for reviews: English words with negation scope, Chinese words with jieba (quiet, cached).

Negation is marked by prefixing ``not_`` to the few tokens after a negator (until punctuation), so
"not good" and "good" become different features (Das & Chen 2001; Pang et al. 2002).
"""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from typing import Any

log = logging.getLogger(__name__)

NEGATION_SCOPE = 3
NOT_PREFIX = "not_"

# --- English ------------------------------------------------------------------------------------
EN_NEGATORS = frozenset(
    {"not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "without", "hardly", "barely",
     "cannot", "lack", "lacks", "lacking", "nowhere"}
)
_EN_CONTRACTIONS = [
    (re.compile(r"\bwon['’]t\b"), "will not"),
    (re.compile(r"\bcan['’]t\b"), "can not"),
    (re.compile(r"\bain['’]t\b"), "is not"),
    (re.compile(r"n['’]t\b"), " not"),
    (re.compile(r"\b(dont|doesnt|didnt|isnt|wasnt|arent|werent|wouldnt|couldnt|shouldnt|havent|hasnt)\b"), r"\1 not"),
]
_EN_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?|[.!?;:,]|[\u2639\u263a\U0001F600-\U0001F64F]")
_EN_BREAK = frozenset(".!?;:,") | {"but", "however", "although", "though", "yet"}


def normalize_en(text: str) -> str:
    """Lower-case ``text`` and expand negative contractions ("don't" → "do not")."""
    t = (text or "").lower()
    for pattern, repl in _EN_CONTRACTIONS:
        t = pattern.sub(repl, t)
    return t


def mark_negation(tokens: list[str], negators: frozenset[str], breaks: frozenset[str],
                  scope: int = NEGATION_SCOPE) -> list[str]:
    """Prefix ``not_`` to up to ``scope`` tokens after each negator, stopping at a break token."""
    out: list[str] = []
    left = 0
    for tok in tokens:
        if tok in breaks:
            left = 0
            out.append(tok)
        elif tok in negators:
            left = scope
            out.append(tok)
        elif left > 0:
            out.append(NOT_PREFIX + tok)
            left -= 1
        else:
            out.append(tok)
    return out


def tokenize_en(text: str, *, negation: bool = True) -> list[str]:
    """English word tokens (lower-cased, contractions expanded, negation scope marked, punctuation dropped).

    Args:
        text: one review.
        negation: mark the tokens after a negator with ``not_``.

    Returns:
        The list of tokens.
    """
    toks = _EN_TOKEN.findall(normalize_en(text))
    if negation:
        toks = mark_negation(toks, EN_NEGATORS, _EN_BREAK)
    return [t for t in toks if t not in _EN_BREAK or t in {"but", "however"}]


# --- Chinese ------------------------------------------------------------------------------------
ZH_NEGATORS = frozenset(
    {"不", "没", "没有", "无", "未", "别", "非", "莫", "勿", "不是", "不太", "不怎么", "并不", "并没有", "从不",
     "从没", "毫不", "毫无", "不够", "不大", "不算", "没什么", "不会", "不能", "不再", "绝不", "一点也不", "一点都不",
     "不怎么样", "不要", "难以", "谈不上", "称不上", "算不上"}
)
_ZH_BREAK = frozenset("，。！？；：、,.!?;:~…") | {"但", "但是", "可是", "不过", "然而", "就是", "只是"}
_ZH_SPACE = re.compile(r"\s+")
_jieba_lock = threading.Lock()


@lru_cache(maxsize=1)
def _jieba() -> Any:
    """A jieba tokenizer with its default dictionary, initialised once per process without log noise."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    with _jieba_lock:
        tok.initialize()
    return tok


def tokenize_zh(text: str, *, negation: bool = True) -> list[str]:
    """Chinese word tokens from jieba (precise mode), negation scope marked, spaces and punctuation dropped.

    Args:
        text: one review (mixed Latin text is kept as lower-cased words).
        negation: mark the tokens after a negator with ``not_``.

    Returns:
        The list of tokens.
    """
    t = _ZH_SPACE.sub(" ", (text or "").lower()).strip()
    toks = [w for w in _jieba().lcut(t, HMM=True) if w.strip()]
    if negation:
        toks = mark_negation(toks, ZH_NEGATORS, _ZH_BREAK)
    return [w for w in toks if w not in _ZH_BREAK or w in {"但", "但是", "可是", "不过"}]


def tokenize(text: str, lang: str, *, negation: bool = True) -> list[str]:
    """Tokens of ``text`` in ``lang`` (``"en"`` or ``"zh"``)."""
    return tokenize_zh(text, negation=negation) if lang == "zh" else tokenize_en(text, negation=negation)


def char_text(text: str) -> str:
    """Text for character n-grams: lower-cased, contractions expanded, whitespace collapsed."""
    return _ZH_SPACE.sub(" ", normalize_en(text)).strip()


def split_sentences(text: str) -> list[str]:
    """Split a review into sentences on Latin and Chinese end punctuation and line breaks."""
    parts = re.split(r"(?<=[.!?。！？；;])\s*|\n+", text or "")
    return [p.strip() for p in parts if p and p.strip()]
