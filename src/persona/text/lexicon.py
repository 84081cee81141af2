"""General-domain sentiment lexicon features, so the classifier carries over to shops it was not trained on.

English uses VADER's lexicon and rules (Hutto & Gilbert 2014, ``vaderSentiment``) plus a short list of
shopping cues VADER lacks ("returned", "stopped working"). Chinese uses a hand-written general lexicon
of common review words (quality, service, taste, delivery…) with negators and degree adverbs. The
classifier learns how much to trust these signals; they are features, not rules.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import numpy as np

from persona.text.tokenize import NOT_PREFIX, split_sentences, tokenize_en, tokenize_zh

# --- English shop cues (not in VADER's general lexicon) -------------------------------------------
EN_SHOP_NEGATIVE = (
    "return it", "returned", "returning", "sent it back", "send it back", "sending it back", "refund",
    "broke", "broken", "stopped working", "quit working", "died after", "defective", "doa", "faulty",
    "waste of money", "not worth", "flimsy", "cheaply made", "poor quality", "low quality", "bad quality",
    "fell apart", "falls apart", "leaked", "leaks", "leaking", "overpriced", "rash", "itchy", "itching",
    "burned", "burning", "broke out", "break out", "breakouts", "junk", "ripped", "tore", "torn", "faded",
    "shrunk", "shrank", "stale", "soggy", "bland", "undercooked", "overcooked", "rude", "dirty", "filthy",
    "smelly", "noisy", "uncomfortable", "scratchy", "never arrived", "arrived late", "missing",
    "damaged", "counterfeit", "fake", "knockoff", "sticky", "greasy", "does not work", "did not work",
    "do not work", "will not work", "doesn't work", "didn't work", "won't work", "not as described",
    "not as advertised", "do not buy", "don't buy", "would not recommend", "wouldn't recommend",
    "not recommend", "one star", "zero stars", "worst", "useless", "unusable", "disappointing",
    "disappointed", "disappointment", "misleading", "rip off", "ripoff", "scam", "mold", "moldy",
    "peeling", "cracked", "overheats", "overheating", "lag", "laggy", "crashes", "freezes", "too small",
    "too big", "runs small", "runs large", "see through", "pilling", "unraveled", "expired", "bugs",
    "cockroach", "stained", "stains", "smells bad", "bad smell", "horrible smell", "weak", "thin",
    # electronics
    "flicker", "flickers", "flickering", "crackle", "crackles", "crackling", "static", "buzzing", "crash",
    "crashed", "crashing", "keeps crashing", "won't connect", "will not connect", "can not connect",
    "disconnects", "keeps disconnecting", "drops connection", "won't charge", "will not charge",
    "stopped charging", "not charging", "dead pixel", "dead pixels", "battery drains", "drains fast",
    "died", "dies", "glitchy", "buggy", "unresponsive", "bricked", "reboots", "overheated", "slow",
    # clothing and shoes
    "blisters", "itches", "seams", "came apart", "coming apart", "loose threads", "holes", "snagged",
    "wrinkled", "stretched out", "bleeds", "color ran",
    # food and restaurants
    "too salty", "salty", "cold food", "was cold", "were cold", "burnt", "raw", "watery", "tasteless",
    "greasy", "rotten", "spoiled", "food poisoning", "hair in", "waited an hour", "long wait",
    # hotels and service
    "noisy", "thin walls", "smelled", "smoke smell", "musty", "bed bugs", "unhelpful", "ignored",
    "nobody answered", "no one answered", "never responded", "no response", "lost our", "lost my",
    "overcharged", "hidden fees", "late", "delayed", "cancelled", "canceled", "wrong item", "wrong size",
    # verdicts
    "never again", "not what i expected", "not as expected", "never buy", "never buying", "never order",
    "won't be back", "will not be back", "not coming back", "not going back", "stay away",
    "save your money", "buyer beware", "not happy", "unhappy", "regret", "regret buying", "two stars",
    "meh", "mediocre", "so-so", "not impressed", "underwhelming", "nothing special", "could be better",
)
EN_SHOP_POSITIVE = (
    "works great", "works well", "works perfectly", "fits perfectly", "fits great", "fits well",
    "highly recommend", "would recommend", "recommend it", "would buy again", "will buy again",
    "buy again", "repurchase", "five stars", "5 stars", "love it", "love this", "love these", "loved it",
    "worth every penny", "worth the money", "worth it", "great value", "good value", "as described",
    "as advertised", "exactly as", "sturdy", "durable", "comfortable", "comfy", "delicious", "tasty",
    "fresh", "spotless", "friendly", "helpful staff", "fast shipping", "fast delivery", "arrived quickly",
    "arrived early", "well made", "high quality", "good quality", "great quality", "excellent quality",
    "soft", "smooth", "long lasting", "lasts long", "no complaints", "exceeded my expectations",
    "exceeded expectations", "perfect", "flawless", "reliable", "crisp", "bright", "cozy", "clean",
    "quiet", "spacious", "holds up", "true to size", "my go to", "holy grail", "favorite", "favourite",
    "impressed", "solid", "rock solid", "reliable", "fast", "responsive", "crystal clear", "long battery",
    "battery lasts", "fits like a glove", "well fitting", "warm", "breathable", "flavorful", "juicy",
    "generous portions", "cooked perfectly", "attentive", "welcoming", "great location", "upgraded",
    "on time", "arrived on time", "well packaged", "easy to use", "easy to install", "no issues", "no problems",
    "come back", "coming back", "will return", "definitely return",
)


def _phrase_regex(phrases: tuple[str, ...]) -> re.Pattern[str]:
    alts = sorted({re.escape(p) for p in phrases}, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(alts) + r")\b")


_EN_NEG_RE = _phrase_regex(EN_SHOP_NEGATIVE)
_EN_POS_RE = _phrase_regex(EN_SHOP_POSITIVE)
_EN_NEGATED_POS_RE = re.compile(
    r"\b(?:not|never|no|n't|hardly|barely)\s+(?:\w+\s+){0,2}?(?:" + _EN_POS_RE.pattern[2:-2] + r")\b"
)


_EN_BUT = re.compile(r"\b(?:but|however|although|though|yet)\b")


@lru_cache(maxsize=1)
def _vader() -> Any:
    """VADER's analyzer, built once per process (it reads its lexicon file from the package)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


EN_FEATURES = ("vader_compound", "vader_pos", "vader_neg", "vader_min_sent", "vader_max_sent",
               "vader_last_sent", "vader_after_but", "vader_negative_part", "vader_min_sent_negative_part",
               "shop_pos", "shop_neg", "exclaim", "question")


def en_lexicon_features(text: str) -> np.ndarray:
    """Lexicon features of one English review, in the order of ``EN_FEATURES``."""
    vader = _vader()
    text = text or ""
    whole = vader.polarity_scores(text)
    sents = split_sentences(text)[:20] or [text]
    comps = [vader.polarity_scores(s)["compound"] for s in sents] if len(sents) > 1 else [whole["compound"]]
    low = text.lower().replace("’", "'")
    parts = _EN_BUT.split(low)
    after_but = vader.polarity_scores(parts[-1])["compound"] if len(parts) > 1 and parts[-1].strip() else comps[-1]
    neg = len(_EN_NEG_RE.findall(low))
    negated_pos = len(_EN_NEGATED_POS_RE.findall(low))
    pos = len(_EN_POS_RE.findall(low)) - negated_pos
    neg += negated_pos
    return np.array(
        [whole["compound"], whole["pos"], whole["neg"], min(comps), max(comps), comps[-1], after_but,
         max(0.0, -whole["compound"]), max(0.0, -min(comps)), math.log1p(max(pos, 0)), math.log1p(neg), min(low.count("!"), 5) / 5.0, min(low.count("?"), 5) / 5.0],
        dtype=np.float64,
    )


# --- Chinese lexicon ------------------------------------------------------------------------------
ZH_POSITIVE = frozenset("""
好 很好 挺好 不错 很不错 满意 非常满意 喜欢 很喜欢 推荐 值得 值 划算 实惠 便宜 物美价廉 性价比高 超值 优秀 完美 精彩
赞 点赞 棒 很棒 好用 耐用 结实 牢固 舒服 舒适 柔软 合身 漂亮 好看 美观 精致 大方 时尚 清晰 流畅 快 很快 迅速 及时
准时 新鲜 好吃 美味 可口 香 入味 正宗 干净 整洁 安静 方便 便利 周到 热情 友好 耐心 专业 贴心 细心 负责 靠谱 放心
正品 惊喜 开心 高兴 愉快 感谢 谢谢 支持 信赖 优质 上乘 一流 给力 完好 齐全 稳定 灵敏 省电 持久 轻便 温馨 宽敞 舒心
实用 有用 受益 受益匪浅 经典 感人 精美 清新 丰富 充实 细致 到位 好评 五星 回购 再来 还会再来 物超所值 推荐购买 值得购买
值得一读 爱不释手 赞不绝口 无可挑剔 超赞 给好评 好喝 顺滑 细腻 保暖 透气 吸引 有趣 生动 深刻 启发 不虚此行 宾至如归
""".split())
ZH_NEGATIVE = frozenset("""
差 很差 太差 差劲 糟糕 很糟 垃圾 失望 很失望 后悔 不满 不满意 不值 不值得 贵 太贵 坑 坑人 骗 骗人 欺骗 上当 假 假货
次品 劣质 破 破损 损坏 坏 坏了 烂 破烂 脏 很脏 臭 异味 难闻 难吃 难用 难看 难受 恶心 讨厌 无聊 乏味 枯燥 慢 很慢 太慢
延迟 拖延 迟到 冷淡 态度差 敷衍 粗糙 褪色 掉色 起球 开线 缩水 变形 卡 卡顿 死机 发热 发烫 噪音 吵 漏水 漏 过期 变质
不新鲜 咸 太咸 油腻 生 硬 退货 退款 投诉 差评 一星 别买 不推荐 不要买 鸡肋 浪费 白费 可惜 遗憾 郁闷 气愤 生气 愤怒
不好 不好用 不舒服 不清晰 不耐用 质量差 做工差 服务差 有问题 问题 毛病 故障 瑕疵 划痕 缺页 错字 盗版 残缺 少了
掉漆 断 裂 裂开 漏发 发错 少发 不符 与描述不符 货不对板 虚假 忽悠 无语 崩溃 吐槽 不行 不怎么样 一般般 凑合 勉强 糊弄
潮湿 霉 发霉 蟑螂 虫 吵闹 隔音差 简陋 老旧 破旧 拥挤 偏僻 排队 等了 冷了 凉了 不合身 偏小 偏大 起皱 扎 过敏 刺鼻
""".split())
ZH_DEGREE = {
    "非常": 1.8, "特别": 1.8, "极其": 2.0, "极": 2.0, "超": 1.6, "超级": 1.8, "太": 1.6, "十分": 1.7, "很": 1.4,
    "挺": 1.2, "比较": 1.1, "相当": 1.5, "真": 1.4, "真的": 1.4, "好": 1.2, "最": 1.9, "更": 1.3, "有点": 0.8,
    "有些": 0.8, "稍微": 0.6, "略": 0.6, "一点": 0.7, "蛮": 1.2, "巨": 1.8,
}


_ZH_NEG_PREFIXES = ("不太", "不够", "不怎么", "没那么", "没有", "不", "没", "无", "未")


def _zh_polarity(word: str) -> float:
    """+1, -1 or 0 for one jieba token, undoing jieba's merges like "不太好" (negator + word) or "中好"."""
    if word in ZH_POSITIVE:
        return 1.0
    if word in ZH_NEGATIVE:
        return -1.0
    for prefix in _ZH_NEG_PREFIXES:
        if word.startswith(prefix) and len(word) > len(prefix):
            rest = word[len(prefix):]
            if rest in ZH_POSITIVE:
                return -1.0
            if rest in ZH_NEGATIVE:
                return 0.8
    if len(word) >= 2 and word[-1] in ("好", "差", "棒", "烂"):
        return 1.0 if word[-1] in ("好", "棒") else -1.0
    return 0.0


def zh_lexicon_score(tokens: list[str]) -> tuple[float, float]:
    """Positive and negative evidence in jieba tokens (negation-marked tokens flip their polarity)."""
    pos = neg = 0.0
    degree = 1.0
    for tok in tokens:
        negated = tok.startswith(NOT_PREFIX)
        word = tok[len(NOT_PREFIX):] if negated else tok
        if word in ZH_DEGREE:
            degree = ZH_DEGREE[word]
            continue
        pol = _zh_polarity(word)
        if pol == 0.0:
            degree = 1.0
            continue
        if negated:
            pol = -0.8 * pol  # "不好" is clearly negative, "不差" only mildly positive
        if pol > 0:
            pos += pol * degree
        else:
            neg -= pol * degree
        degree = 1.0
    return pos, neg


ZH_FEATURES = ("lex_pos", "lex_neg", "lex_net", "lex_net_last", "exclaim", "question")


def zh_lexicon_features(text: str, tokens: list[str] | None = None) -> np.ndarray:
    """Lexicon features of one Chinese review, in the order of ``ZH_FEATURES``."""
    text = text or ""
    toks = tokens if tokens is not None else tokenize_zh(text)
    pos, neg = zh_lexicon_score(toks)
    sents = split_sentences(text)
    if len(sents) > 1:
        lp, ln = zh_lexicon_score(tokenize_zh(sents[-1]))
        last = (lp - ln) / (1.0 + lp + ln)
    else:
        last = (pos - neg) / (1.0 + pos + neg)
    return np.array(
        [math.log1p(pos), math.log1p(neg), (pos - neg) / (1.0 + pos + neg), last,
         min(text.count("!") + text.count("！"), 5) / 5.0, min(text.count("?") + text.count("？"), 5) / 5.0],
        dtype=np.float64,
    )


def lexicon_features(texts: list[str], lang: str, tokens: list[list[str]] | None = None) -> np.ndarray:
    """Matrix of lexicon features (one row per text) for ``lang``."""
    if lang == "zh":
        rows = [zh_lexicon_features(t, tokens[i] if tokens is not None else None) for i, t in enumerate(texts)]
        width = len(ZH_FEATURES)
    else:
        rows = [en_lexicon_features(t) for t in texts]
        width = len(EN_FEATURES)
    return np.vstack(rows) if rows else np.zeros((0, width))


def lexicon_feature_names(lang: str) -> tuple[str, ...]:
    """Names of the lexicon features for ``lang``."""
    return ZH_FEATURES if lang == "zh" else EN_FEATURES


__all__ = ["lexicon_features", "lexicon_feature_names", "en_lexicon_features", "zh_lexicon_features",
           "tokenize_en"]
