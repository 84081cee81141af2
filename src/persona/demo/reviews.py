"""Review text for the demo shop, in English and Chinese, composed from phrase banks so it agrees with the rating.

Five-star reviews praise, one-star reviews complain, and the middle mixes praise with a complaint; negation
("not worth it", "not bad at all", "不值这个价", "还不错") and mixed sentences make a sentiment model work for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EN_OPEN = {
    5: ("Absolutely love it!", "Couldn't be happier with this purchase.", "Five stars, no question.", "Exceeded my expectations.",
        "Best buy of the year.", "Wow, this is fantastic."),
    4: ("Really good overall.", "Happy with it.", "Solid choice.", "Pretty great, would buy again.", "Does the job well.",
        "Not bad at all, actually quite nice."),
    3: ("It's okay.", "Mixed feelings about this one.", "Average, nothing special.", "Decent, but not great.",
        "It works, I guess."),
    2: ("Disappointed.", "Not what I expected.", "Wouldn't buy it again.", "Rather underwhelming.",
        "I wanted to like it, but no."),
    1: ("Terrible.", "Complete waste of money.", "Do not buy this.", "Awful experience from start to finish.",
        "Worst purchase I've made in a long time."),
}
EN_CLOSE = {
    5: ("Highly recommend!", "Already ordered another one.", "Worth every penny.", "My friends want one too.", ""),
    4: ("Would recommend.", "Good value for the price.", "I'd buy it again.", ""),
    3: ("Might work for you, though.", "Fine if it's on sale.", "Can't say I love it.", ""),
    2: ("Not recommended.", "Not worth the money.", "I'll probably return it.", ""),
    1: ("Returning it today.", "Stay away.", "I want my money back.", "Never again."),
}
EN_POS = {
    "_": ("The {noun} feels solid and well made.", "Arrived quickly and well packed.", "Great value for money.",
          "Looks even better in person.", "Exactly as described."),
    "Home": ("Fits perfectly in my home.", "Easy to clean, which I appreciate.", "The finish is beautiful."),
    "Electronics": ("Battery life is excellent.", "Setup took two minutes.", "Sound is clear and rich."),
    "Beauty": ("My skin feels so much softer.", "The scent is subtle and lovely.", "A little goes a long way."),
    "Grocery": ("Tastes amazing.", "Fresh and full of flavour.", "My new daily staple."),
    "Fashion": ("Fits true to size.", "Super comfortable all day.", "The material feels premium."),
    "Sports": ("Holds up great during workouts.", "Sturdy and comfortable.", "Made my training easier."),
    "Books": ("Couldn't put it down.", "Well written and easy to follow.", "Full of useful ideas."),
    "Baby & Kids": ("My little one loves it.", "Gentle and safe for kids.", "Keeps the kids busy for hours."),
    "Pets": ("My dog goes crazy for it.", "The cat approves.", "Our pet loves it."),
}
EN_NEG = {
    "_": ("The {noun} feels cheap and flimsy.", "Shipping took forever.", "Way overpriced for what you get.",
          "Looks nothing like the photos.", "The box arrived damaged."),
    "Home": ("Scratched after a week.", "Hard to clean.", "The colour is off."),
    "Electronics": ("Battery dies within hours.", "Stopped working after a month.", "Keeps disconnecting."),
    "Beauty": ("Broke me out badly.", "The smell is way too strong.", "Dried out my skin."),
    "Grocery": ("Tastes stale.", "Bland and overpriced.", "Packaging was leaking."),
    "Fashion": ("Runs two sizes small.", "Fell apart after one wash.", "Uncomfortable after an hour."),
    "Sports": ("Started tearing on day three.", "Not sturdy at all.", "Slippery and awkward to use."),
    "Books": ("Boring and repetitive.", "Pages were misprinted.", "Nothing I didn't already know."),
    "Baby & Kids": ("Broke within a day.", "Not safe for small kids.", "Leaked overnight."),
    "Pets": ("My dog won't touch it.", "The cat ignored it completely.", "Fell apart in minutes."),
}

ZH_OPEN = {
    5: ("非常满意！", "太喜欢了！", "五星好评！", "超出预期！", "买到就是赚到。"),
    4: ("整体不错。", "挺满意的。", "还不错，值得购买。", "质量挺好。", "性价比可以。"),
    3: ("一般般吧。", "中规中矩。", "还行，没有特别惊喜。", "马马虎虎。"),
    2: ("有点失望。", "和预期不太一样。", "不太满意。", "不会再买了。"),
    1: ("太差了！", "完全是浪费钱。", "千万别买！", "非常糟糕的购物体验。", "垃圾。"),
}
ZH_CLOSE = {
    5: ("强烈推荐！", "已经回购了。", "物超所值。", "推荐给朋友了。", ""),
    4: ("推荐购买。", "会考虑回购。", "价格合理。", ""),
    3: ("打折的时候可以考虑。", "凑合用吧。", "说不上喜欢。", ""),
    2: ("不推荐。", "不值这个价。", "准备退货了。", ""),
    1: ("已经申请退货。", "大家避雷。", "再也不买了。", "退钱！"),
}
ZH_POS = {
    "_": ("{noun}做工扎实，质量很好。", "物流很快，包装完好。", "性价比很高。", "实物比图片还好看。", "和描述的一模一样。"),
    "Home": ("放在家里很搭。", "很好清洁。", "质感很棒。"),
    "Electronics": ("续航很给力。", "两分钟就装好了。", "音质清晰饱满。"),
    "Beauty": ("用完皮肤很滑。", "味道淡淡的很好闻。", "很耐用。"),
    "Grocery": ("味道很好。", "很新鲜。", "每天都在吃。"),
    "Fashion": ("尺码很标准。", "穿一整天都很舒服。", "面料很高级。"),
    "Sports": ("运动时很好用。", "结实又舒服。", "训练轻松多了。"),
    "Books": ("一口气读完了。", "写得很好，通俗易懂。", "收获很多。"),
    "Baby & Kids": ("宝宝很喜欢。", "很安全，放心给孩子用。", "孩子能玩好几个小时。"),
    "Pets": ("狗狗超爱吃。", "猫咪很喜欢。", "宠物很喜欢。"),
}
ZH_NEG = {
    "_": ("{noun}做工粗糙，很廉价。", "物流太慢了。", "价格太贵，不值。", "和图片完全不一样。", "收到时盒子都坏了。"),
    "Home": ("用了一周就划花了。", "很难清洗。", "颜色有色差。"),
    "Electronics": ("电池几个小时就没电。", "用了一个月就坏了。", "老是断连。"),
    "Beauty": ("用了过敏长痘。", "味道太冲了。", "用完皮肤很干。"),
    "Grocery": ("吃起来不新鲜。", "没什么味道还贵。", "包装漏了。"),
    "Fashion": ("尺码偏小两码。", "洗一次就坏了。", "穿一会儿就不舒服。"),
    "Sports": ("第三天就开裂了。", "一点都不结实。", "很滑，不好用。"),
    "Books": ("内容无聊又重复。", "有印刷错误。", "没什么新东西。"),
    "Baby & Kids": ("一天就坏了。", "不适合小孩用。", "晚上漏了。"),
    "Pets": ("狗狗根本不吃。", "猫完全不理。", "几分钟就被咬坏了。"),
}


def _pick(bank: tuple[str, ...], r: float) -> str:
    return bank[int(r * len(bank)) % len(bank)]


EN_NEUTRAL = ("Bought this for my sister.", "Ordered it last month.", "Second time ordering from this shop.",
              "I use it most days.", "Got it as a birthday present.", "Saw it in an ad and gave it a try.",
              "Compared a few before picking this one.", "It came in the standard box.")
ZH_NEUTRAL = ("给家人买的。", "上个月下的单。", "第二次在这家店买了。", "基本每天都用。", "生日礼物。", "看到广告就试了一下。",
              "对比了几家才选的。", "普通快递包装。")
EN_SARCASM = ("Great, another one that broke in a week.", "Just perfect... if you enjoy waiting three weeks.",
              "Love how it fell apart immediately.", "Amazing how something this expensive feels this cheap.",
              "Wonderful, the {noun} stopped working on day two.")
ZH_SARCASM = ("真是太好了，用两天就坏了。", "好评！好到用一次就坏。", "太棒了，等了三个星期才到。", "这么贵的东西这么廉价，也是厉害。")
EN_NEGATED_POS = ("Can't complain.", "No regrets.", "Never had a problem with it.", "Not bad at all.", "Didn't disappoint.")
ZH_NEGATED_POS = ("没有任何问题。", "不错不错。", "没让我失望。", "挑不出毛病。", "一点都不差。")


def review_tone(stars: int, r: float) -> int:
    """The tone a reviewer writes in: mostly their star rating, sometimes a notch off, rarely the opposite
    (a slip on the stars, or a rating given for the delivery rather than the product)."""
    if r < 0.03:
        return 6 - stars
    if r < 0.11:
        return min(5, stars + 1)
    if r < 0.19:
        return max(1, stars - 1)
    return stars


def compose_review(stars: int, lang: str, top: str, noun: str, r: np.ndarray) -> str:
    """One review whose tone follows ``stars`` (1-5); ``r`` holds nine uniform draws that pick the phrases.

    Phrase banks are mixed so a model has to read: neutral filler, negated praise ("can't complain"),
    sarcasm ("Great, another one that broke"), mixed praise-and-complaint in the middle ratings, and a tone
    that now and then sits a notch off the stars.
    """
    zh = lang == "zh"
    tone = review_tone(stars, r[6])
    opens, closes = (ZH_OPEN, ZH_CLOSE) if zh else (EN_OPEN, EN_CLOSE)
    pos_bank = (ZH_POS if zh else EN_POS)
    neg_bank = (ZH_NEG if zh else EN_NEG)
    pos = pos_bank["_"] + pos_bank.get(top, ())
    neg = neg_bank["_"] + neg_bank.get(top, ())
    p1, p2 = _pick(pos, r[1]), _pick(pos, r[4])
    n1, n2 = _pick(neg, r[2]), _pick(neg, r[4])
    if r[7] < 0.3 and tone <= 2:
        n1 = _pick(ZH_SARCASM if zh else EN_SARCASM, r[7] / 0.3)
    if zh:
        but, only, even = "但是", "唯一的缺点是", "虽然"
    else:
        but, only, even = "But", "Only downside:", "Even though"
    if tone == 5:
        body = [p1] + ([p2] if r[3] < 0.5 and p2 != p1 else [])
    elif tone == 4:
        body = [p1] + ([f"{only}{n1}" if zh else f"{only} {n1[0].lower()}{n1[1:]}"] if r[3] < 0.4 else [])
    elif tone == 3:
        body = [p1, f"{but}{n1}" if zh else f"{but} {n1[0].lower()}{n1[1:]}"] if r[3] < 0.5 else [n1, p1]
    elif tone == 2:
        body = [n1] + ([f"{even}{p1[:-1]}，还是很失望。" if zh else f"{even} {p1[0].lower()}{p1[1:-1]}, it's not enough."]
                       if r[3] < 0.35 else [])
    else:
        body = [n1] + ([n2] if r[3] < 0.6 and n2 != n1 else [])
    opener = _pick(opens[tone], r[0])
    if tone >= 4 and r[8] < 0.3:
        opener = _pick(ZH_NEGATED_POS if zh else EN_NEGATED_POS, r[8] / 0.3)
    parts = [opener, *body, _pick(closes[tone], r[5])]
    if r[8] > 0.5:  # neutral filler somewhere in the text
        filler = _pick(ZH_NEUTRAL if zh else EN_NEUTRAL, (r[8] - 0.5) * 2)
        parts.insert(1 + int(r[3] * 10) % len(parts), filler)
    if r[8] > 0.85 and len(parts) > 2:  # short reviews: some people write one line
        parts = parts[:2]
    text = ("" if zh else " ").join(p for p in parts if p)
    return text.replace("{noun}", noun)


def _lower_noun(noun: str) -> str:
    """'Resistance Bands' → 'resistance bands', keeping acronyms and sizes ('USB-C Cable' → 'USB-C cable')."""
    return " ".join(w if w.isupper() or any(ch.isdigit() for ch in w) else w.lower() for w in noun.split())


def build_reviews(ratings: dict[str, np.ndarray], lang_zh: np.ndarray, leaf_top: list[str], leaf_nouns: list[tuple[str, str]],
                  customer_ids: np.ndarray, product_ids: np.ndarray, rng: np.random.Generator, share: float = 0.55) -> pd.DataFrame:
    """Reviews for a share of the ratings, written in the customer's language; timestamps as epoch seconds."""
    n = len(ratings["cust"])
    has_text = rng.random(n) < share
    draws = rng.random((n, 9))
    idx = np.flatnonzero(has_text)
    texts, langs = [], []
    for i in idx:
        c, it = ratings["cust"][i], ratings["item"][i]
        zh = bool(lang_zh[c])
        noun_en, noun_zh = leaf_nouns[it]
        texts.append(compose_review(int(ratings["stars"][i]), "zh" if zh else "en", leaf_top[it],
                                    noun_zh if zh else _lower_noun(noun_en), draws[i]))
        langs.append("zh" if zh else "en")
    t = ratings["t"][idx] + rng.integers(0, 600, len(idx))
    df = pd.DataFrame({
        "customer_id": customer_ids[ratings["cust"][idx]],
        "product_id": product_ids[ratings["item"][idx]],
        "rating": ratings["stars"][idx].astype(int),
        "text": texts,
        "lang": langs,
        "timestamp": t,
    })
    df = df.sort_values(["timestamp", "customer_id"], kind="stable").reset_index(drop=True)
    width = max(6, len(str(len(df))))
    df.insert(0, "review_id", [f"R{i + 1:0{width}d}" for i in range(len(df))])
    return df
