"""Profile features on a hand-made shop whose answers are known, and the fused embedding z = x + α·y."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from persona.errors import InputError, NotFittedError
from persona.profiles import ProfileBuilder, ShopData, build_profiles, compute_features
from persona.profiles.source import CUSTOMER_COLUMNS

T0 = pd.Timestamp("2024-01-01", tz="UTC")
AS_OF = pd.Timestamp("2024-03-01", tz="UTC")


def day(n: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=n)


@pytest.fixture
def shop() -> ShopData:
    products = pd.DataFrame(
        {"product_id": ["p1", "p2", "p3"], "category": ["Home > Kitchen", "Home > Kitchen", "Books > Fiction"],
         "brand": ["acme", "acme", "pulp"], "price": [10.0, 30.0, 20.0]}
    )
    ev = [
        # A: three orders of p1 at full price on days 0, 10, 30 (web), one view; one order after as_of (ignored)
        ("A", "p1", "purchase", day(0), 1, 10.0, "web"),
        ("A", "p1", "purchase", day(10), 2, 20.0, "web"),
        ("A", "p3", "purchase", day(30), 1, 20.0, "web"),
        ("A", "p1", "view", day(29), None, None, "app"),
        ("A", "p2", "purchase", day(70), 1, 30.0, "web"),
        # B: only views, in the app
        ("B", "p2", "view", day(5), None, None, "app"),
        ("B", "p2", "view", day(6), None, None, "app"),
        # C: one discounted order (paid 15 for a 30 list price); two e-mails sent, one opened, one clicked
        ("C", "p2", "purchase", day(50), 1, 15.0, "app"),
        ("C", None, "email_sent", day(40), None, None, "email"),
        ("C", None, "email_sent", day(45), None, None, "email"),
        ("C", None, "email_open", day(45.1), None, None, "email"),
        ("C", "p2", "email_click", day(45.2), None, None, "email"),
    ]
    events = pd.DataFrame(ev, columns=["customer_id", "product_id", "event_type", "ts", "quantity", "revenue", "channel"])
    customers = pd.DataFrame(
        {"customer_id": ["A", "B", "C", "D"], "gender": ["f", "m", None, "f"], "birth_year": [1980, 2000, None, 1990],
         "country": ["DE", "FR", "US", "DE"], "created_at": [day(-100), day(0), day(20), day(80)]}
    )
    reviews = pd.DataFrame(
        {"customer_id": ["A", "A", "C"], "product_id": ["p1", "p3", "p2"], "rating": [5.0, 1.0, 4.0],
         "sentiment": [None, None, 0.9], "ts": [day(1), day(31), day(51)]}
    )
    return ShopData(events=events, customers=customers, products=products, reviews=reviews)


def test_rfm_and_behaviour_features(shop: ShopData) -> None:
    f = compute_features(shop, AS_OF)
    assert list(f.index) == ["A", "B", "C"]  # D is created after as_of
    a = f.loc["A"]
    assert a["frequency"] == 3 and a["monetary"] == 50.0
    assert a["avg_order_value"] == pytest.approx(50 / 3)
    assert a["recency_days"] == pytest.approx((AS_OF - day(30)).days)
    assert a["mean_interpurchase_days"] == pytest.approx(15.0)
    assert a["tenure_days"] == pytest.approx(160.0)  # created 100 days before the first event
    assert a["discount_share"] == 0.0
    assert a["preferred_channel"] == "web"
    assert a["top_categories"][0] == "Home > Kitchen"
    assert sum(a["category_shares"].values()) == pytest.approx(1.0)
    assert a["avg_sentiment"] == pytest.approx(0.0)  # ratings 5 and 1 → +1 and −1
    assert a["age"] == 2024 - 1980
    b = f.loc["B"]
    assert b["frequency"] == 0 and np.isnan(b["recency_days"]) and b["n_views"] == 2
    assert b["preferred_channel"] == "app"
    c = f.loc["C"]
    assert c["discount_share"] == 1.0
    assert c["price_index"] == pytest.approx(15.0 / 20.0)  # paid 15, category median list price 20
    assert c["email_sent"] == 2 and c["email_open_rate"] == 0.5 and c["email_click_rate"] == 0.5
    assert c["avg_sentiment"] == pytest.approx(0.8)  # probability 0.9 rescaled to 2p − 1
    assert np.isnan(c["age"])


def test_features_never_look_past_as_of(shop: ShopData) -> None:
    early = compute_features(shop, day(20))
    assert early.loc["A", "frequency"] == 2 and early.loc["A", "monetary"] == 30.0
    trimmed = ShopData(events=shop.events[shop.events["ts"] <= day(20)], customers=shop.customers, products=shop.products, reviews=shop.reviews)
    again = compute_features(trimmed, day(20))
    num = ["frequency", "monetary", "recency_days", "n_views", "discount_share", "tenure_days"]
    pd.testing.assert_frame_equal(early[num], again.loc[early.index, num])


def test_customer_frames_hold_no_pii() -> None:
    assert not {"email", "email_enc", "phone_enc", "name_enc", "city", "email_hash"} & set(CUSTOMER_COLUMNS)


def test_build_profiles_embedding_content_space(shop: ShopData) -> None:
    p = build_profiles(shop.events, shop.customers, shop.products, shop.reviews, AS_OF, alpha=0.5)
    assert len(p) == 3
    dims = {len(e) for e in p["embedding"]}
    assert len(dims) == 1 and dims.pop() >= 1
    b0 = ProfileBuilder(alpha=0.0).fit(shop, AS_OF)
    b1 = ProfileBuilder(alpha=2.0).fit(shop, AS_OF)
    assert b0.embedding_.kind_ == "content"
    # y (the items' block) only enters through α: with α = 0 every item coordinate of z is 0
    z0 = b0.embedding_._content_z(compute_features(shop, AS_OF), shop)
    n_own = len(b0.embedding_.own_mean_)
    assert np.allclose(z0[:, n_own:], 0.0)
    z1 = b1.embedding_._content_z(compute_features(shop, AS_OF), shop)
    assert np.allclose(z1[:, :n_own], z0[:, :n_own]) and not np.allclose(z1[:, n_own:], 0.0)


def test_embedding_fuses_recommender_factors(shop: ShopData) -> None:
    users, items = np.array(["A", "B", "C"], dtype=object), np.array(["p1", "p2", "p3"], dtype=object)
    u = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    v = np.array([[2.0, 0.0], [0.0, 4.0], [2.0, 2.0]])
    rec = SimpleNamespace(user_factors_=u, item_factors_=v, data_=SimpleNamespace(user_ids=users, item_ids=items))
    p = ProfileBuilder(alpha=0.5).fit(shop, AS_OF, recommender=rec).transform(shop, AS_OF)
    # B viewed p2 twice (weight 1 each): y = v[p2]; z = u_B + 0.5·y
    assert np.allclose(p.loc["B", "embedding"], [0.0, 1.0 + 0.5 * 4.0])
    # A before as_of: purchases of p1 (×2, weight 3), p3 (weight 3), a view of p1 (weight 1)
    y = (3 * v[0] + 3 * v[0] + 3 * v[2] + 1 * v[0]) / 10
    assert np.allclose(p.loc["A", "embedding"], u[0] + 0.5 * y)


def test_builder_errors(shop: ShopData) -> None:
    with pytest.raises(NotFittedError, match="call fit first"):
        ProfileBuilder().transform(shop)
    with pytest.raises(InputError, match="alpha"):
        ProfileBuilder(alpha=-1).fit(shop, AS_OF)
    empty = ShopData(events=shop.events.iloc[:0], customers=shop.customers, products=shop.products, reviews=None)
    with pytest.raises(InputError, match="no events"):
        ProfileBuilder().fit(empty)
