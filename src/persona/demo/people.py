"""The demo shop's customers (demographics, contact details, arrival) and their consent history."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# city, country, IANA timezone, UTC offset (hours, standard time), share of zh speakers, weight
CITIES: tuple[tuple[str, str, str, int, float, float], ...] = (
    ("New York", "US", "America/New_York", -5, 0.03, 8),
    ("Los Angeles", "US", "America/Los_Angeles", -8, 0.05, 6),
    ("Chicago", "US", "America/Chicago", -6, 0.02, 4),
    ("Seattle", "US", "America/Los_Angeles", -8, 0.05, 3),
    ("Austin", "US", "America/Chicago", -6, 0.02, 2),
    ("London", "GB", "Europe/London", 0, 0.02, 6),
    ("Manchester", "GB", "Europe/London", 0, 0.01, 2),
    ("Berlin", "DE", "Europe/Berlin", 1, 0.01, 3),
    ("Toronto", "CA", "America/Toronto", -5, 0.08, 3),
    ("Vancouver", "CA", "America/Vancouver", -8, 0.15, 2),
    ("Sydney", "AU", "Australia/Sydney", 10, 0.06, 3),
    ("Shanghai", "CN", "Asia/Shanghai", 8, 1.0, 8),
    ("Beijing", "CN", "Asia/Shanghai", 8, 1.0, 6),
    ("Shenzhen", "CN", "Asia/Shanghai", 8, 1.0, 4),
    ("Hangzhou", "CN", "Asia/Shanghai", 8, 1.0, 3),
    ("Chengdu", "CN", "Asia/Shanghai", 8, 1.0, 3),
    ("Singapore", "SG", "Asia/Singapore", 8, 0.5, 3),
    ("Taipei", "TW", "Asia/Taipei", 8, 1.0, 2),
)

_FIRST_F = ("Emma", "Olivia", "Ava", "Sophia", "Mia", "Isabella", "Charlotte", "Amelia", "Harper", "Grace", "Chloe",
            "Lily", "Hannah", "Zoe", "Nora", "Ella", "Lucy", "Sarah", "Laura", "Anna", "Julia", "Maya")
_FIRST_M = ("Liam", "Noah", "Oliver", "James", "Elijah", "William", "Henry", "Lucas", "Benjamin", "Theodore", "Jack",
            "Daniel", "Samuel", "David", "Leo", "Owen", "Ethan", "Adam", "Thomas", "Max", "Felix", "Ryan")
_LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
         "Thomas", "Moore", "Martin", "Jackson", "White", "Harris", "Clark", "Lewis", "Walker", "Young", "King",
         "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts", "Müller",
         "Schmidt", "O'Brien", "Nguyen", "Patel", "Kim", "Singh", "Lopez")
_ZH_SURNAME = (("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
               ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
               ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("林", "lin"))
_ZH_GIVEN_F = (("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("秀英", "xiuying"),
               ("婷", "ting"), ("雪", "xue"), ("慧", "hui"), ("佳怡", "jiayi"), ("欣然", "xinran"), ("雨涵", "yuhan"))
_ZH_GIVEN_M = (("伟", "wei"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"),
               ("杰", "jie"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("浩然", "haoran"), ("子轩", "zixuan"))
_DOMAINS_EN = ("example.com", "example.net", "example.org", "mail.example.com")
_DOMAINS_ZH = ("example.cn", "example.com", "mail.example.cn")


@dataclass
class Population:
    """Customers as written to the files plus the hidden traits that drive their behaviour."""

    customers: pd.DataFrame
    created_s: np.ndarray  # sign-up time, epoch seconds
    utc_offset: np.ndarray  # hours
    lang_zh: np.ndarray  # bool
    female: np.ndarray  # bool
    birth_year: np.ndarray


def _phone(country: str, r: int) -> str:
    if country in ("US", "CA"):
        return f"+1 {200 + r % 700:03d}-555-{r % 10000:04d}"
    if country == "GB":
        return f"+44 7700 900{r % 1000:03d}"
    if country in ("CN",):
        return f"+86 13{r % 10}{(r // 10) % 10000:04d}{(r // 7) % 10000:04d}"
    if country == "TW":
        return f"+886 9{r % 100:02d} {(r // 100) % 1000:03d} {(r // 3) % 1000:03d}"
    if country == "SG":
        return f"+65 9{r % 1000:03d} {(r // 1000) % 10000:04d}"
    if country == "DE":
        return f"+49 151 {r % 100000000:08d}"
    return f"+61 4{r % 100:02d} {(r // 100) % 1000:03d} {(r // 7) % 1000:03d}"


def build_population(
    n: int, start_s: int, days: int, season_daily: np.ndarray, rng: np.random.Generator
) -> Population:
    """Draw ``n`` customers: 55% signed up before the window, the rest arrive during it (growing, seasonal)."""
    city_w = np.array([c[5] for c in CITIES], dtype=float)
    city = rng.choice(len(CITIES), n, p=city_w / city_w.sum())
    zh_share = np.array([c[4] for c in CITIES])[city]
    lang_zh = rng.random(n) < zh_share
    g = rng.random(n)
    female = g < 0.53
    gender = np.where(female, "female", np.where(g < 0.97, "male", np.where(g < 0.985, "other", "")))
    year = int(np.datetime64(int(start_s), "s").astype("datetime64[Y]").astype(int)) + 1970
    birth_year = np.clip(np.round(rng.normal(year - 39, 12, n)), year - 85, year - 18).astype(int)

    existing = rng.random(n) < 0.55
    before = start_s - rng.integers(1, 730 * 86400, n)
    growth = (1 + 1.0 * np.arange(days) / max(days, 1)) * season_daily
    day = rng.choice(days, n, p=growth / growth.sum())
    during = start_s + day * 86400 + rng.integers(0, 86400, n)
    created_s = np.where(existing, before, during).astype(np.int64)
    order = np.argsort(created_s, kind="stable")  # ids follow sign-up order, as in a real CRM
    city, lang_zh, female, gender, birth_year, created_s = (
        a[order] for a in (city, lang_zh, female, gender, birth_year, created_s)
    )

    pick = rng.integers(0, 1 << 30, (n, 5))
    names, emails, phones = [], [], []
    for i in range(n):
        cc = CITIES[city[i]][1]
        if lang_zh[i]:
            s_zh, s_py = _ZH_SURNAME[pick[i, 0] % len(_ZH_SURNAME)]
            pool = _ZH_GIVEN_F if female[i] else _ZH_GIVEN_M
            g_zh, g_py = pool[pick[i, 1] % len(pool)]
            name = s_zh + g_zh
            local = f"{g_py}.{s_py}" if pick[i, 2] % 3 else f"{s_py}{g_py}"
            domain = _DOMAINS_ZH[pick[i, 3] % len(_DOMAINS_ZH)]
        else:
            pool = _FIRST_F if female[i] else _FIRST_M
            first = pool[pick[i, 1] % len(pool)]
            last = _LAST[pick[i, 0] % len(_LAST)]
            name = f"{first} {last}"
            clean = last.lower().replace("'", "").replace("ü", "ue")
            local = f"{first.lower()}.{clean}" if pick[i, 2] % 3 else f"{first[0].lower()}{clean}"
            domain = _DOMAINS_EN[pick[i, 3] % len(_DOMAINS_EN)]
        names.append(name)
        emails.append(f"{local}{pick[i, 4] % 100}@{domain}")
        phones.append(_phone(cc, int(pick[i, 4])) if pick[i, 2] % 10 < 7 else "")
    email = pd.Series(emails)
    dup = email.duplicated()
    email[dup] = [e.replace("@", f".{i}@") for i, e in zip(np.flatnonzero(dup.to_numpy()), email[dup], strict=True)]

    width = max(6, len(str(n)))
    customers = pd.DataFrame(
        {
            "customer_id": [f"C{i + 1:0{width}d}" for i in range(n)],
            "email": email,
            "phone": phones,
            "name": names,
            "gender": gender,
            "birth_year": birth_year,
            "city": [CITIES[c][0] for c in city],
            "country": [CITIES[c][1] for c in city],
            "created_at": created_s,
            "timezone": [CITIES[c][2] for c in city],
            "language": np.where(lang_zh, "zh", "en"),
        }
    )
    offset = np.array([c[3] for c in CITIES])[city]
    return Population(customers, created_s, offset, lang_zh, female, birth_year)


def build_consents(pop: Population, end_s: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Consent history: e-mail and SMS marketing at sign-up, later unsubscribes and a few re-subscribes.

    Returns:
        (consents frame with int timestamps, windows) where ``windows[c] = (granted_from, withdrawn_at, regranted_at)``
        in epoch seconds (int64 max when it never happened): e-mail marketing is allowed at ``t`` when
        ``granted_from <= t < withdrawn_at`` or ``t >= regranted_at``.
    """
    n = len(pop.customers)
    created = pop.created_s
    granted = rng.random(n) < 0.86
    withdraw = granted & (rng.random(n) < 0.12)
    withdraw_s = created + (rng.random(n) * np.maximum(end_s - created, 86400)).astype(np.int64)
    regrant = withdraw & (rng.random(n) < 0.2)
    regrant_s = withdraw_s + (rng.random(n) * np.maximum(end_s - withdraw_s, 3600)).astype(np.int64)
    sms = rng.random(n) < 0.34

    ids = pop.customers["customer_id"].to_numpy()
    src_signup = np.where(rng.random(n) < 0.7, "signup_form", "checkout")
    parts = [
        pd.DataFrame({"customer_id": ids, "channel": "email", "purpose": "marketing", "granted": granted,
                      "timestamp": created, "source": src_signup}),
        pd.DataFrame({"customer_id": ids, "channel": "sms", "purpose": "marketing", "granted": sms,
                      "timestamp": created + 5, "source": src_signup}),
        pd.DataFrame({"customer_id": ids[withdraw], "channel": "email", "purpose": "marketing", "granted": False,
                      "timestamp": withdraw_s[withdraw], "source": "unsubscribe_link"}),
        pd.DataFrame({"customer_id": ids[regrant], "channel": "email", "purpose": "marketing", "granted": True,
                      "timestamp": regrant_s[regrant], "source": "preference_center"}),
    ]
    consents = pd.concat(parts, ignore_index=True).sort_values(["timestamp", "customer_id", "channel"], kind="stable")
    consents = consents[consents["timestamp"] < end_s].reset_index(drop=True)
    never = np.iinfo(np.int64).max
    windows = np.stack(
        [
            np.where(granted, created, never),
            np.where(withdraw, withdraw_s, never),
            np.where(regrant, regrant_s, never),
        ],
        axis=1,
    ).astype(np.int64)
    return consents, windows
