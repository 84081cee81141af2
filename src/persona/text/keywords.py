"""What customers talk about: top keywords per product (class-based TF-IDF) and aspect sentiment.

Keywords use c-TF-IDF (Grootendorst 2022, BERTopic): all reviews of one product form one document,
term frequency is normalised per product and weighted by ``log(1 + A / f_t)`` (A = average number of
words per product, f_t = the term's frequency over all products), so a term ranks high when it is
frequent for this product and rare elsewhere. Aspects are the product's top keywords; an aspect's
sentiment is the mean sentiment of the review sentences that mention it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from persona.errors import InputError
from persona.text.language import check_lang, detect_languages
from persona.text.tokenize import split_sentences, tokenize_en, tokenize_zh

ZH_STOPWORDS = frozenset("""
的 了 是 我 你 他 她 它 们 我们 你们 他们 这 那 这个 那个 这些 那些 就 都 也 还 在 有 和 与 及 或 而 但 但是 可是 不过
很 非常 太 挺 比较 特别 真的 真 一个 一下 一些 一点 什么 怎么 这样 那样 因为 所以 如果 虽然 然后 还是 已经 没有 不 没 会
能 可以 要 想 让 给 被 把 对 从 到 上 下 中 里 吧 呢 啊 吗 哦 呀 嘛 啦 着 过 得 地 之 其 为 以 于 等 又 再 才 只 个 本
买 东西 感觉 觉得 就是 还有 一样 时候 比 用 说 看 次 后 前 多 少 大 小 好 很好 不错
""".split())
_EN_EXTRA_STOP = frozenset(
    {"product", "item", "one", "use", "used", "using", "get", "got", "would", "really", "just", "like", "also", "well",
     "great", "good", "love", "bought", "buy", "will", "can", "much", "even", "still", "make", "made", "it's", "i'm",
     "im", "ive", "i've", "don't", "didn't", "doesn't", "not", "n't", "though", "since", "way", "lot", "thing",
     "things", "little", "bit", "time", "times", "nice", "better", "best", "recommend", "stars", "star", "five"}
)
_TOKEN_OK = re.compile(r"^[a-z][a-z'\-]{2,}$|^[\u4e00-\u9fff]{2,}$")


def _en_stopwords() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | _EN_EXTRA_STOP


def keyword_tokens(text: str, lang: str) -> list[str]:
    """Content words of ``text`` for keywords: no stopwords, numbers, punctuation or negation marks."""
    if lang == "zh":
        toks = tokenize_zh(text, negation=False)
        stop = ZH_STOPWORDS
    else:
        toks = tokenize_en(text, negation=False)
        stop = _en_stopwords()
    return [t for t in toks if t not in stop and _TOKEN_OK.match(t)]


def _terms(tokens: list[str], bigrams: bool) -> list[str]:
    if not bigrams:
        return tokens
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]


def product_keywords(
    reviews: pd.DataFrame,
    *,
    k: int = 10,
    lang: str = "auto",
    min_count: int = 2,
    bigrams: bool = True,
) -> pd.DataFrame:
    """Top ``k`` c-TF-IDF terms per product.

    Args:
        reviews: DataFrame with ``product_id`` and ``text`` (``lang`` optional).
        k: terms per product.
        lang: ``"en"``, ``"zh"`` or ``"auto"`` (per review, or the ``lang`` column when given).
        min_count: a term must occur at least this often for the product.
        bigrams: also rank two-word phrases (English; Chinese words are already multi-character).

    Returns:
        DataFrame ``[product_id, rank, term, score, count, n_reviews]``, best first per product.

    Raises:
        InputError: missing columns or a bad ``k``.
    """
    _need(reviews, ("product_id", "text"))
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    df = reviews[reviews["text"].fillna("").astype(str).str.strip() != ""]
    cols = ["product_id", "rank", "term", "score", "count", "n_reviews"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    langs = _languages(df, lang)
    counts: dict[str, Counter[str]] = {}
    n_reviews: Counter[str] = Counter()
    for pid, text, lg in zip(df["product_id"].astype(str), df["text"].astype(str), langs, strict=True):
        toks = keyword_tokens(text, lg)
        counts.setdefault(pid, Counter()).update(_terms(toks, bigrams and lg == "en"))
        n_reviews[pid] += 1
    total = Counter()
    for c in counts.values():
        total.update(c)
    avg_words = np.mean([sum(c.values()) for c in counts.values()]) or 1.0
    rows = []
    for pid, c in counts.items():
        size = sum(c.values()) or 1
        scored = [
            (term, (n / size) * np.log1p(avg_words / total[term]), n)
            for term, n in c.items() if n >= min_count
        ]
        scored.sort(key=lambda r: (-r[1], r[0]))
        rows.extend((pid, i + 1, t, float(s), int(n), n_reviews[pid]) for i, (t, s, n) in enumerate(scored[:k]))
    return pd.DataFrame(rows, columns=cols)


def aspect_sentiment(
    reviews: pd.DataFrame,
    *,
    aspects: Sequence[str] | None = None,
    k: int = 8,
    lang: str = "auto",
    min_mentions: int = 2,
) -> pd.DataFrame:
    """Sentiment of what customers say about each aspect of each product.

    An aspect is a term from ``aspects`` or, when none are given, one of the product's top ``k``
    keywords. Each review sentence mentioning it is scored with the shipped sentiment models.

    Args:
        reviews: DataFrame with ``product_id`` and ``text``.
        aspects: fixed aspect terms (e.g. ``["battery", "screen", "价格"]``); ``None`` discovers them.
        k: aspects per product when discovering them.
        lang: ``"en"``, ``"zh"`` or ``"auto"``.
        min_mentions: drop aspects mentioned in fewer sentences.

    Returns:
        DataFrame ``[product_id, aspect, mentions, sentiment, share_negative]``, most mentioned first.
    """
    from persona.text.sentiment import score_texts

    _need(reviews, ("product_id", "text"))
    cols = ["product_id", "aspect", "mentions", "sentiment", "share_negative"]
    df = reviews[reviews["text"].fillna("").astype(str).str.strip() != ""]
    if df.empty:
        return pd.DataFrame(columns=cols)
    langs = _languages(df, lang)
    if aspects is None:
        kw = product_keywords(df.assign(lang=langs), k=k, lang="auto", bigrams=False)
        per_product = kw.groupby("product_id")["term"].apply(list).to_dict()
    else:
        terms = [a.strip().lower() for a in aspects if a and a.strip()]
        per_product = {pid: terms for pid in df["product_id"].astype(str).unique()}
    sent_rows: list[tuple[str, str, str]] = []  # product, aspect, sentence
    for pid, text, lg in zip(df["product_id"].astype(str), df["text"].astype(str), langs, strict=True):
        terms = per_product.get(pid, [])
        if not terms:
            continue
        for sent in split_sentences(text):
            low = sent.lower()
            words = set(keyword_tokens(sent, lg)) if lg == "en" else None
            for term in terms:
                hit = (term in words or (" " in term and term in low)) if words is not None else term in low
                if hit:
                    sent_rows.append((pid, term, sent))
    if not sent_rows:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame(sent_rows, columns=["product_id", "aspect", "sentence"])
    uniq = frame["sentence"].drop_duplicates()
    scores = dict(zip(uniq, score_texts(uniq.tolist(), lang=lang), strict=True))
    frame["sentiment"] = frame["sentence"].map(scores)
    out = (frame.groupby(["product_id", "aspect"])
           .agg(mentions=("sentiment", "size"), sentiment=("sentiment", "mean"),
                share_negative=("sentiment", lambda s: float((s < 0).mean())))
           .reset_index())
    out = out[out["mentions"] >= min_mentions]
    return out.sort_values(["product_id", "mentions", "aspect"], ascending=[True, False, True]).reset_index(drop=True)[cols]


def _need(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"reviews lack column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))}",
                         hint="pass a DataFrame with product_id and text columns")


def _languages(df: pd.DataFrame, lang: str) -> np.ndarray:
    lang = check_lang(lang)
    if lang != "auto":
        return np.full(len(df), lang, dtype=object)
    detected = detect_languages(df["text"].astype(str))
    if "lang" in df.columns:
        given = df["lang"].astype(str).str.lower().str[:2].to_numpy()
        detected = np.where(np.isin(given, ["en", "zh"]), given, detected)
    return detected
