"""The demo shop's behaviour model: sessions, funnels, repeat purchases, churn, ratings and e-mail engagement.

Everything is vectorised with numpy. Customers carry latent tastes (a factor vector, a category affinity that
follows from it and from demographics, a price sensitivity, an activity rate, a lifetime); products carry latent
factors near their category's centroid, a Zipf popularity, a quality and a price. Sessions arrive as a
seasonal Poisson process during each customer's active life and walk the funnel view → click → add_to_cart →
(remove_from_cart) → purchase or abandon.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from persona.demo.catalog import TAXONOMY, Catalog
from persona.demo.people import Population

DAY = 86400
EVENT_TYPES = ("view", "click", "add_to_cart", "remove_from_cart", "purchase", "rating", "email_open", "email_click")
VIEW, CLICK, CART, REMOVE, PURCHASE, RATING, OPEN, ECLICK = range(len(EVENT_TYPES))
CHANNELS = ("web", "app", "email")
WEB, APP, EMAIL = range(3)

# local hour-of-day shape: lunch and evening peaks
_HOURS = np.array([1, .6, .4, .3, .3, .4, .8, 1.5, 2.2, 2.6, 2.8, 3, 3.4, 3.2, 2.9, 2.8, 2.9, 3.1, 3.6, 4.4, 4.8, 4.5, 3.4, 2])
_WEEKDAY = np.array([0.95, 0.9, 0.9, 0.95, 1.0, 1.15, 1.2])  # Monday..Sunday

# leaves bought together (basket complements), by path
_COMPLEMENTS = {
    "Grocery > Coffee & Tea": "Home > Kitchen", "Home > Kitchen": "Books > Cookbooks",
    "Books > Cookbooks": "Grocery > Pantry", "Grocery > Pantry": "Grocery > Snacks",
    "Grocery > Snacks": "Grocery > Coffee & Tea", "Home > Bedding": "Home > Decor", "Home > Decor": "Home > Bedding",
    "Electronics > Audio": "Electronics > Accessories", "Electronics > Accessories": "Electronics > Audio",
    "Electronics > Smart Home": "Electronics > Accessories", "Beauty > Skincare": "Beauty > Makeup",
    "Beauty > Makeup": "Beauty > Skincare", "Beauty > Hair Care": "Beauty > Skincare",
    "Fashion > Shoes": "Sports > Fitness", "Fashion > Outerwear": "Fashion > Bags", "Fashion > Bags": "Fashion > Shoes",
    "Sports > Fitness": "Sports > Nutrition", "Sports > Nutrition": "Sports > Fitness",
    "Sports > Outdoor": "Fashion > Outerwear", "Books > Fiction": "Books > Business", "Books > Business": "Books > Fiction",
    "Baby & Kids > Diapers": "Baby & Kids > Toys", "Baby & Kids > Toys": "Baby & Kids > Diapers",
    "Pets > Pet Food": "Pets > Pet Supplies", "Pets > Pet Supplies": "Pets > Pet Food",
}


def season_curve(start_s: int, days: int) -> np.ndarray:
    """Daily demand multiplier: weekends up, a late-November peak, December gifting, a summer lull."""
    d = np.arange(days)
    dates = np.datetime64(start_s, "s").astype("datetime64[D]") + d
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    doy = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    yearly = (
        1.0
        + 1.1 * np.exp(-0.5 * ((doy - 330) / 6.0) ** 2)  # Black Friday / Cyber Monday
        + 0.45 * np.exp(-0.5 * ((doy - 345) / 9.0) ** 2)  # December gifting
        + 0.15 * np.exp(-0.5 * ((doy - 10) / 8.0) ** 2)  # January sales
        - 0.12 * np.exp(-0.5 * ((doy - 215) / 25.0) ** 2)  # summer lull
    )
    return _WEEKDAY[weekday] * yearly


def sale_discount(t: np.ndarray) -> np.ndarray:
    """Fraction off the list price: 20% in Black Friday week, 10% in the first half of December."""
    dates = t.astype("datetime64[s]").astype("datetime64[D]")
    doy = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    return np.where((doy >= 326) & (doy <= 334), 0.2, np.where((doy >= 335) & (doy <= 350), 0.1, 0.0))


@dataclass
class Events:
    """Column arrays of generated events (integers coded; turned into text when written)."""

    cols: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {k: [] for k in ("cust", "item", "etype", "t", "value", "qty", "rev", "channel", "session", "campaign")}
    )

    def add(self, cust, item, etype, t, *, value=None, qty=None, rev=None, channel=None, session=None, campaign=None) -> None:
        n = len(cust)
        if n == 0:
            return
        nan = np.full(n, np.nan)
        neg = np.full(n, -1, dtype=np.int64)
        for k, v, default in (
            ("cust", cust, None), ("item", item, neg), ("etype", etype, None), ("t", t, None), ("value", value, nan),
            ("qty", qty, nan), ("rev", rev, nan), ("channel", channel, neg), ("session", session, neg),
            ("campaign", campaign, neg),
        ):
            arr = default if v is None else np.broadcast_to(np.asarray(v), (n,))
            self.cols[k].append(np.asarray(arr))

    def arrays(self) -> dict[str, np.ndarray]:
        # a column nobody added to (a tiny shop over a short window may have no event at all) keeps its type
        floats = ("value", "qty", "rev")
        return {k: np.concatenate(v) if v else np.empty(0, dtype=float if k in floats else np.int64)
                for k, v in self.cols.items()}


class Chooser:
    """Samples one product per (customer, leaf) pair from the customer's taste within that leaf.

    Scores are ``beta * taste match + alpha * log popularity - price sensitivity * log price ratio``; a draw inverts the
    softmax CDF over the leaf's products, computed leaf by leaf so cost grows with requests × leaf size only.
    """

    def __init__(self, cat: Catalog, user_f: np.ndarray, sens: np.ndarray, *, beta: float, alpha: float,
                 max_cells: int = 4_000_000):
        self.cat, self.user_f, self.sens, self.beta, self.alpha = cat, user_f, sens, beta, alpha
        self.counts = np.diff(np.append(cat.block_starts, len(cat.subcat)))
        self.max_cells = max_cells
        self.log_pop = np.log(cat.popularity)

    def choose(self, users: np.ndarray, leaves: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One product per (user, leaf) pair."""
        out = np.empty(len(users), dtype=np.int64)
        cat = self.cat
        order = np.argsort(leaves, kind="stable")
        bounds = np.searchsorted(leaves[order], np.arange(len(self.counts) + 1))
        for leaf in range(len(self.counts)):
            idx = order[bounds[leaf]:bounds[leaf + 1]]
            if len(idx) == 0:
                continue
            lo, k = cat.block_starts[leaf], self.counts[leaf]
            items = np.arange(lo, lo + k)
            base = self.alpha * self.log_pop[items]
            step = max(1, self.max_cells // k)
            for a in range(0, len(idx), step):
                part = idx[a:a + step]
                u = users[part]
                logits = self.beta * affinity(self.user_f[u], cat.factors[items]) + base[None, :]
                logits -= self.sens[u, None] * cat.log_price_ratio[items][None, :]
                cdf = np.cumsum(np.exp(logits - logits.max(axis=1, keepdims=True)), axis=1)
                r = rng.random(len(part)) * cdf[:, -1]
                out[part] = lo + np.minimum((cdf < r[:, None]).sum(axis=1), k - 1)
        return out


def affinity(user_f: np.ndarray, item_f: np.ndarray) -> np.ndarray:
    """Standardised taste match between customers and products (dot product / sqrt(dim))."""
    return (user_f @ item_f.T) / np.sqrt(user_f.shape[1])


def _year(t: int) -> int:
    return int(np.datetime64(int(t), "s").astype("datetime64[Y]").astype(int)) + 1970


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _segment_cumsum(x: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``x`` restarting at each True in ``group_start`` (x in group order)."""
    c = np.cumsum(x)
    starts = np.flatnonzero(group_start)
    base = np.repeat(c[starts] - x[starts], np.diff(np.append(starts, len(x))))
    return c - base


@dataclass
class Simulation:
    """Result of :func:`simulate`: event arrays plus purchases (for ratings and reviews)."""

    events: dict[str, np.ndarray]
    ratings: dict[str, np.ndarray]  # cust, item, t, stars for the rating events
    campaigns: list[str]


def simulate(cat: Catalog, pop: Population, consent_windows: np.ndarray, start_s: int, days: int, rng: np.random.Generator,
             dim: int) -> Simulation:
    """Generate every event of the shop's window ``[start_s, start_s + days)``."""
    n = len(pop.customers)
    end_s = start_s + days * DAY
    n_leaves = len(TAXONOMY)
    season = season_curve(start_s, days)
    smax = season.max()

    # --- latent customer traits ------------------------------------------------------------------
    user_f = rng.normal(0, 0.9, (n, dim))
    leaf_logits = 1.6 * affinity(user_f, cat.leaf_centroids) + rng.gumbel(0, 1.0, (n, n_leaves))
    tops = np.array([s.top for s in TAXONOMY])
    age = _year(start_s) - pop.birth_year
    leaf_logits += np.where(pop.female[:, None], 0.9 * (tops == "Beauty") + 0.3 * (tops == "Home"),
                            0.7 * (tops == "Electronics") + 0.3 * (tops == "Sports"))[:, :]
    leaf_logits += (np.abs(age - 33) < 8)[:, None] * 1.2 * (tops == "Baby & Kids")[None, :]
    leaf_logits += (age > 50)[:, None] * 0.6 * ((tops == "Books") | (tops == "Home"))[None, :]
    has_pet = rng.random(n) < 0.3
    leaf_logits += np.where(has_pet[:, None], 1.0, -2.5) * (tops == "Pets")[None, :]
    leaf_p = np.exp(1.3 * (leaf_logits - leaf_logits.max(axis=1, keepdims=True)))
    leaf_p /= leaf_p.sum(axis=1, keepdims=True)
    leaf_cdf = np.cumsum(leaf_p, axis=1) + np.arange(n)[:, None]
    leaf_cdf[:, -1] = np.arange(1, n + 1) - 1e-12  # guard the last bin

    sens = np.exp(rng.normal(0, 0.5, n)) * np.where(age < 30, 1.3, 1.0)
    rate = rng.gamma(0.8, 0.115 / 0.8, n)  # sessions per day while active
    lifetime = rng.exponential(np.exp(rng.normal(np.log(260), 0.8, n))) * DAY
    loyalty = rng.beta(4, 3, n)  # propensity to re-buy a consumable when it runs out
    rater = rng.beta(1.6, 4, n)  # propensity to leave a rating
    opener = rng.beta(1.5, 4.5, n)  # e-mail open propensity
    app_share = np.clip(rng.beta(2, 2, n) + np.where(age < 35, 0.2, -0.2), 0, 1)
    user_bias = rng.normal(0, 0.4, n)

    active_from = np.maximum(pop.created_s, start_s)
    active_to = np.minimum(pop.created_s + lifetime.astype(np.int64), end_s)
    active_days = np.maximum(active_to - active_from, 0) / DAY

    chooser = Chooser(cat, user_f, sens, beta=2.0, alpha=0.55)
    ev = Events()
    purchases: list[tuple[np.ndarray, ...]] = []
    session_counter = [0]
    owned = [np.empty(0, dtype=np.int64)]  # cust * n_products + item of durable goods already bought
    comp = np.array([next(i for i, s in enumerate(TAXONOMY) if s.path == _COMPLEMENTS[leaf.path]) for leaf in TAXONOMY])
    consumable = np.array([s.repurchase_days is not None for s in TAXONOMY])
    cycle = np.array([s.repurchase_days or 0 for s in TAXONOMY], dtype=float)

    def new_sessions(k: int) -> np.ndarray:
        s = np.arange(session_counter[0], session_counter[0] + k, dtype=np.int64)
        session_counter[0] += k
        return s

    def funnel(cust, item, t, session, channel, click_boost=0.0) -> None:
        """Walk views through click, cart, removal and checkout; record events and purchases."""
        ok = cat.launch_s[item] <= t
        cust, item, t, session, channel = cust[ok], item[ok], t[ok], session[ok], channel[ok]
        z = np.einsum("ij,ij->i", user_f[cust], cat.factors[item]) / np.sqrt(dim)
        ev.add(cust, item, VIEW, t, channel=channel, session=session)
        clicked = rng.random(len(t)) < _sigmoid(-1.5 + 1.0 * z + click_boost)
        tc = t + rng.integers(3, 40, len(t))
        ev.add(cust[clicked], item[clicked], CLICK, tc[clicked], channel=channel[clicked], session=session[clicked])
        p_cart = _sigmoid(-1.2 + 0.9 * z - 0.9 * sens[cust] * cat.log_price_ratio[item] + 0.3 * cat.quality[item])
        carted = clicked & cat.in_stock[item] & (rng.random(len(t)) < p_cart)
        consum = consumable[cat.subcat[item]]
        # durable goods are bought once: a customer rarely carts one again after carting or owning it
        key = cust.astype(np.int64) * len(cat.subcat) + item
        again = np.zeros(len(t), dtype=bool)
        cand = np.flatnonzero(carted & ~consum)
        cand = cand[np.argsort(t[cand], kind="stable")]
        again[cand] = pd.Series(key[cand]).duplicated().to_numpy() | np.isin(key[cand], owned[0])
        carted &= ~(again & (rng.random(len(t)) < 0.95))
        qty = np.where(consum, 1 + rng.poisson(0.35, len(t)), 1 + (rng.random(len(t)) < 0.04)).astype(float)
        tcart = tc + rng.integers(15, 120, len(t))
        price = cat.price[item]
        ev.add(cust[carted], item[carted], CART, tcart[carted], value=price[carted], qty=qty[carted],
               channel=channel[carted], session=session[carted])
        removed = carted & (rng.random(len(t)) < 0.12)
        trem = tcart + rng.integers(30, 600, len(t))
        ev.add(cust[removed], item[removed], REMOVE, trem[removed], qty=qty[removed], channel=channel[removed],
               session=session[removed])
        kept = carted & ~removed
        if not kept.any():
            return
        # checkout decision per session, at the end of the session
        sess_k = session[kept]
        uniq, inv = np.unique(sess_k, return_inverse=True)
        t_end = np.full(len(uniq), 0, dtype=np.int64)
        in_cart = carted & np.isin(session, uniq)  # the session ends after its last cart change
        np.maximum.at(t_end, np.searchsorted(uniq, session[in_cart]), np.where(removed, trem, tcart)[in_cart])
        disc_sess = sale_discount(t_end)
        checkout = rng.random(len(uniq)) < _sigmoid(0.35 + 4.0 * disc_sess)
        t_buy = t_end + rng.integers(60, 600, len(uniq))
        bought = checkout[inv]
        coupon = np.where(rng.random(len(sess_k)) < 0.08, 0.1, 0.0)
        unit = np.round(price[kept] * (1 - np.maximum(disc_sess[inv], coupon)), 2)
        q = qty[kept]
        c, it, tb = cust[kept][bought], item[kept][bought], t_buy[inv][bought]
        ev.add(c, it, PURCHASE, tb, value=unit[bought], qty=q[bought], rev=np.round(unit[bought] * q[bought], 2),
               channel=channel[kept][bought], session=sess_k[bought])
        purchases.append((c, it, tb, q[bought]))
        durable = ~consumable[cat.subcat[it]]
        owned[0] = np.union1d(owned[0], c[durable].astype(np.int64) * len(cat.subcat) + it[durable])

    # --- organic sessions: seasonal Poisson process over each active life --------------------------
    n_cand = rng.poisson(rate * active_days * smax)
    cust = np.repeat(np.arange(n), n_cand)
    t0 = active_from[cust] + (rng.random(len(cust)) * (active_to - active_from)[cust]).astype(np.int64)
    day = np.clip((t0 - start_s) // DAY, 0, days - 1)
    keep = rng.random(len(cust)) < season[day] / smax
    cust, day = cust[keep], day[keep]
    hour = rng.choice(24, len(cust), p=_HOURS / _HOURS.sum())
    ts = start_s + day * DAY + hour * 3600 + rng.integers(0, 3600, len(cust)) - pop.utc_offset[cust] * 3600
    keep = (ts >= active_from[cust]) & (ts < end_s - 3600)
    cust, ts = cust[keep], ts[keep]
    order = np.lexsort((ts, cust))
    cust, ts = cust[order], ts[order]
    sess = new_sessions(len(cust))
    browse = rng.random(len(cust)) < 0.10  # home-page / trending sessions: popularity-driven
    leaf = np.searchsorted(leaf_cdf.ravel(), cust + rng.random(len(cust)), side="right") - cust * n_leaves
    leaf = np.clip(leaf, 0, n_leaves - 1)
    channel = np.where(rng.random(len(cust)) < app_share[cust], APP, WEB)

    n_views = np.minimum(rng.geometric(0.42, len(cust)), 10)
    v_sess = np.repeat(np.arange(len(cust)), n_views)
    first = np.ones(len(v_sess), dtype=bool)
    first[1:] = v_sess[1:] != v_sess[:-1]
    v_cust = cust[v_sess]
    v_leaf = np.where(~first & (rng.random(len(v_sess)) < 0.2), comp[leaf[v_sess]], leaf[v_sess])
    v_item = chooser.choose(v_cust, v_leaf, rng)
    pop_cdf = np.cumsum(cat.popularity)
    pop_item = np.minimum(np.searchsorted(pop_cdf, rng.random(len(v_sess)) * pop_cdf[-1], side="right"), len(pop_cdf) - 1)
    v_item = np.where(browse[v_sess], pop_item, v_item)
    gaps = rng.exponential(50, len(v_sess)).astype(np.int64) * (~first)
    v_t = ts[v_sess] + _segment_cumsum(gaps, first)
    funnel(v_cust, v_item, v_t, sess[v_sess], channel[v_sess])

    # --- e-mail campaigns: a weekly newsletter plus sale blasts ------------------------------------
    send_days = [d for d in range(days) if (np.datetime64(start_s, "s").astype("datetime64[D]") + d).astype(np.int64) % 7 == 0]
    sale_days = [d for d in range(days) if sale_discount(np.array([start_s + d * DAY + 12 * 3600]))[0] >= 0.2]
    send_days = sorted(set(send_days) | set(sale_days[:1]) | set(sale_days[-1:]))
    campaigns = []
    for k, d in enumerate(send_days):
        t_send = start_s + d * DAY + 15 * 3600
        date = np.datetime64(t_send, "s").astype("datetime64[D]")
        campaigns.append(f"CMP-{str(date)}-{'sale' if d in sale_days else 'newsletter'}")
        allowed = ((consent_windows[:, 0] <= t_send) & (t_send < consent_windows[:, 1])) | (consent_windows[:, 2] <= t_send)
        allowed &= pop.created_s <= t_send
        rcpt = np.flatnonzero(allowed)
        if len(rcpt) == 0:
            continue
        f_leaf = int(rng.choice(n_leaves, p=leaf_p.mean(axis=0)))
        block = np.arange(cat.block_starts[f_leaf], cat.block_starts[f_leaf] + chooser.counts[f_leaf])
        block = block[cat.launch_s[block] <= t_send]
        if len(block) == 0:
            continue
        featured = int(block[np.argmax(cat.popularity[block] * cat.in_stock[block])])
        alive = active_to[rcpt] > t_send
        p_open = opener[rcpt] * np.where(alive, 1.0, 0.2) * (1.25 if d in sale_days else 1.0)
        opened = rng.random(len(rcpt)) < np.minimum(p_open, 0.95)
        o_c = rcpt[opened]
        t_open = t_send + rng.exponential(4 * 3600, len(o_c)).astype(np.int64)
        ev.add(o_c, np.full(len(o_c), -1), OPEN, t_open, channel=EMAIL, campaign=k)
        p_click = np.minimum(0.06 + 2.0 * leaf_p[o_c, f_leaf], 0.6) * np.where(alive[opened], 1.0, 0.3)
        clicked = rng.random(len(o_c)) < p_click
        c_c, t_click = o_c[clicked], t_open[clicked] + rng.integers(5, 180, clicked.sum())
        ev.add(c_c, np.full(len(c_c), featured), ECLICK, t_click, channel=EMAIL, campaign=k)
        funnel(c_c, np.full(len(c_c), featured), t_click + 2, new_sessions(len(c_c)), np.full(len(c_c), EMAIL),
               click_boost=1.0)

    # --- repeat purchases of consumables, until churn or the end of the window --------------------
    frontier = [np.concatenate(x) for x in zip(*purchases, strict=True)] if purchases else None
    for _ in range(200):
        if frontier is None or len(frontier[0]) == 0:
            break
        c, it, tb, q = frontier
        leaf_b = cat.subcat[it]
        m = consumable[leaf_b] & (rng.random(len(c)) < loyalty[c] * _sigmoid(0.8 + 0.6 * cat.quality[it]))
        c, it, tb, q, leaf_b = c[m], it[m], tb[m], q[m], leaf_b[m]
        t_next = tb + (cycle[leaf_b] * q * np.exp(rng.normal(0, 0.3, len(c))) * DAY).astype(np.int64)
        ok = (t_next < active_to[c]) & (t_next < end_s - 3600)
        c, it, t_next, leaf_b = c[ok], it[ok], t_next[ok], leaf_b[ok]
        switch = rng.random(len(c)) < 0.15
        if switch.any():
            it = it.copy()
            it[switch] = chooser.choose(c[switch], leaf_b[switch], rng)
        before = len(purchases)
        ch = np.where(rng.random(len(c)) < app_share[c], APP, WEB)
        funnel(c, it, t_next, new_sessions(len(c)), ch, click_boost=2.5)
        frontier = purchases[-1] if len(purchases) > before else None

    # --- ratings of bought products ---------------------------------------------------------------
    if purchases:
        c, it, tb = (np.concatenate(x) for x in list(zip(*purchases, strict=True))[:3])
    else:  # a small shop over a short window may sell nothing at all: then nobody rates anything either
        c, it, tb = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    rated = rng.random(len(c)) < rater[c]
    c, it = c[rated], it[rated]
    t_rate = tb[rated] + rng.integers(2 * DAY, 21 * DAY, len(c))
    ok = t_rate < end_s
    c, it, t_rate = c[ok], it[ok], t_rate[ok]
    z = np.einsum("ij,ij->i", user_f[c], cat.factors[it]) / np.sqrt(dim)
    latent = 0.7 * z + 0.6 * cat.quality[it] + user_bias[c] + rng.normal(0, 0.6, len(c))
    stars = (1 + np.searchsorted(np.array([-0.4, -0.05, 0.4, 1.05]), latent)).astype(float)
    ev.add(c, it, RATING, t_rate, value=stars, channel=np.where(rng.random(len(c)) < app_share[c], APP, WEB))
    ratings = {"cust": c, "item": it, "t": t_rate, "stars": stars}
    events = ev.arrays()
    inside = events["t"] < end_s  # a session or e-mail visit that began late may run past the window: cut it
    return Simulation({k: v[inside] for k, v in events.items()}, ratings, campaigns)
