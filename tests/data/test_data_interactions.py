"""Interactions: vocabularies, weights, side data, immutability, and building from the store."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from persona.data import DEFAULT_EVENT_WEIGHTS, Interactions
from persona.errors import InputError, SchemaError
from persona.store.models import Customer, Event, Product, SegmentMembership


def test_matrix_sums_duplicates_and_sorts_vocabularies():
    df = pd.DataFrame({"user_id": ["b", "a", "a", "b"], "item_id": [2, 1, 1, 3], "r": [4.0, 1.0, 2.0, 5.0]})
    data = Interactions.from_frame(df, weight="r")
    assert list(data.user_ids) == ["a", "b"] and list(data.item_ids) == [1, 2, 3]
    assert data.matrix.dtype == np.float32
    np.testing.assert_array_equal(data.matrix.toarray(), [[3, 0, 0], [0, 4, 5]])
    assert list(data.log.columns) == ["user_idx", "item_idx", "weight", "time"]
    assert len(data.log) == 4 and data.nnz == 3
    assert data.user_index(["b", "zz"]).tolist() == [1, -1]
    assert data.item_index(["3", 1]).tolist() == [2, 0]  # ids given as text still match
    assert data.item_popularity().tolist() == [1, 1, 1]


def test_taking_a_product_out_of_the_cart_or_back_adds_no_interest():
    df = pd.DataFrame({"u": ["a"] * 5 + ["b", "b"], "i": ["x", "x", "y", "y", "z", "x", "q"],
                       "type": ["add_to_cart", "remove_from_cart", "purchase", "refund", "remove_from_cart",
                                "rating", "share"],
                       "value": [None, None, None, None, None, 0.0, None], "t": range(7)})
    data = Interactions.from_frame(df, "u", "i", weight="value", time="t", event_type="type")
    m = pd.DataFrame(data.matrix.toarray(), index=data.user_ids, columns=data.item_ids)
    assert m.loc["a", "x"] == 3.0 and m.loc["a", "y"] == 5.0  # the add to cart and the purchase, nothing more
    assert m.loc["a", "z"] == 0.0 and data.matrix[data.user_index(["a"])[0]].nnz == 2  # a removal alone: no pair
    assert set(data.log["event"].astype(str)) == {"add_to_cart", "purchase", "rating", "share"}
    assert m.loc["b", "x"] == 0.0 and data.matrix[data.user_index(["b"])[0]].nnz == 2  # a 0 rating still rates
    custom = Interactions.from_frame(df, "u", "i", weight="value", event_type="type", event_weights={"refund": -1.0})
    assert custom.matrix[custom.user_index(["a"])[0], custom.item_index(["y"])[0]] == 4.0


def test_event_weights_defaults_override_and_ratings():
    df = pd.DataFrame(
        {
            "u": [1, 1, 1, 1, 1, 1, 1],
            "i": [1, 2, 3, 4, 5, 6, 7],
            "type": ["purchase", "add_to_cart", "view", "rating", "wishlist", "click", "share"],
            "value": [None, None, None, 4.0, None, None, None],
        }
    )
    data = Interactions.from_frame(df, "u", "i", weight="value", event_type="type")
    assert data.matrix.toarray().ravel().tolist() == [5.0, 3.0, 1.0, 4.0, 3.0, 2.0, 0.5]  # an unknown type: 0.5
    assert DEFAULT_EVENT_WEIGHTS["purchase"] == 5.0
    custom = Interactions.from_frame(
        df, "u", "i", weight="value", event_type="type", event_weights={"view": 0.1}
    )
    assert custom.matrix[0, 2] == pytest.approx(0.1)
    assert list(custom.log["event"].astype(str))[:2] == ["purchase", "add_to_cart"]


def test_fixed_vocabularies_and_catalogue_items():
    df = pd.DataFrame(
        {
            "user_id": [1, 2, 3],
            "item_id": ["x", "y", "gone"],
            "t": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
        }
    )
    data = Interactions.from_frame(df, time="t", item_ids=["x", "y", "z"], user_ids=[1, 2, 3, 4])
    assert (data.n_users, data.n_items) == (4, 3)
    assert len(data.log) == 2  # the row with an item outside the vocabulary is dropped
    assert data.log["time"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC").timestamp()
    items = pd.DataFrame({"item_id": ["x", "new"], "title": ["Ex", "Brand new"], "price": [1.0, 2.0]})
    cat = Interactions.from_frame(df.iloc[:2], items=items)
    assert list(cat.item_ids) == ["new", "x", "y"]
    assert cat.items.loc["new", "title"] == "Brand new"
    assert pd.isna(cat.items.loc["y", "title"])
    assert cat.item_labels([0, 2]) == ["Brand new", "y"]


def test_immutable_and_picklable():
    data = Interactions.from_frame(pd.DataFrame({"user_id": [1], "item_id": [2]}))
    with pytest.raises(AttributeError):
        data._matrix = None
    with pytest.raises(ValueError):
        data.matrix.data[0] = 9.0
    back = pickle.loads(pickle.dumps(data))
    assert back.user_index(1).tolist() == [0]
    np.testing.assert_array_equal(back.matrix.toarray(), data.matrix.toarray())


def test_errors_name_the_problem():
    df = pd.DataFrame({"user": [1], "item_id": [2], "w": ["high"]})
    with pytest.raises(SchemaError, match="user_id"):
        Interactions.from_frame(df)
    with pytest.raises(SchemaError, match="not numeric"):
        Interactions.from_frame(df, user="user", weight="w")
    with pytest.raises(InputError):
        Interactions.from_frame([1, 2, 3])
    with pytest.raises(InputError, match="duplicates"):
        Interactions.from_frame(df, user="user", item_ids=[2, 2])


def test_from_store_reads_events_products_customers_without_pii(any_store):
    store = any_store
    now = datetime(2024, 5, 1, tzinfo=UTC)
    with store.session() as s:
        s.add_all(
            [
                Customer(
                    customer_id="c1",
                    customer_key="k1",
                    email_enc=b"secret",
                    gender="f",
                    birth_year=1990,
                    attributes={"interests": ["garden"]},
                ),
                Customer(customer_id="c2", customer_key="k2", gender="m", attributes={"segment": "vip"}),
                Product(product_id="p1", title="Rake", category="garden", price=12.0, in_stock=True),
                Product(product_id="p2", title="Hose", category="garden", price=20.0, in_stock=False),
                Event(event_id="e1", customer_id="c1", product_id="p1", event_type="purchase", ts=now),
                Event(event_id="e2", customer_id="c1", product_id="p2", event_type="view", ts=now),
                Event(
                    event_id="e3", customer_id="c2", product_id="p1", event_type="rating", value=4.0, ts=now
                ),
                Event(event_id="e4", customer_id="c2", product_id=None, event_type="login", ts=now),
                SegmentMembership(customer_id="c1", method="rfm", segment_id="champions"),
            ]
        )
    data = Interactions.from_store(store)
    assert (data.n_users, data.n_items) == (2, 2)
    np.testing.assert_array_equal(data.matrix.toarray(), [[5, 1], [4, 0]])
    assert not {"email_enc", "phone_enc", "name_enc", "email_hash"} & set(data.users.columns)
    assert data.users.loc["c1", "segment"] == "champions"
    assert data.users.loc["c1", "interests"] == ["garden"]
    assert data.items.loc["p2", "in_stock"] == False  # noqa: E712
    assert data.has_time


def test_from_store_accepts_events_without_values(store) -> None:  # noqa: ANN001
    """Events posted through the API usually carry no value: the column is all NULL."""
    from datetime import UTC, datetime

    from persona.data import Interactions

    store.bulk_insert("events", [
        {"event_id": f"v{i}", "customer_id": f"c{i % 3}", "product_id": f"p{i % 4}", "event_type": "view", "ts": datetime(2026, 1, 1, tzinfo=UTC)}
        for i in range(12)
    ], key=["event_id"])
    data = Interactions.from_store(store)
    assert data.n_users == 3 and data.matrix.sum() > 0


def test_from_store_counts_a_review_without_an_event_as_a_rating(any_store):
    from persona.store.models import Review

    now = datetime(2024, 5, 1, tzinfo=UTC)
    with any_store.session() as s:
        s.add_all([
            Customer(customer_id="c1", customer_key="k1"), Customer(customer_id="c2", customer_key="k2"),
            Product(product_id="p1"), Product(product_id="p2"),
            Event(event_id="e1", customer_id="c1", product_id="p1", event_type="purchase", ts=now),
            # c1 reviewed what the purchase already records: not counted twice
            Review(review_id="r1", customer_id="c1", product_id="p1", rating=2.0, ts=now),
            # reviews with no event behind them: the stars are the weight, a review without stars counts 1
            Review(review_id="r2", customer_id="c2", product_id="p2", rating=4.0, ts=now),
            Review(review_id="r3", customer_id="c1", product_id="p2", rating=None, ts=now),
        ])
    data = Interactions.from_store(any_store)
    np.testing.assert_array_equal(data.matrix.toarray(), [[5, 1], [0, 4]])
    assert Interactions.from_store(any_store, event_types=["purchase"]).matrix.sum() == 5
    # the stars are ratings wherever the review is, the purchased product's included; a review without stars is none
    r = data.ratings()
    assert r.nnz == 2 and r[0, 0] == 2.0 and r[1, 1] == 4.0
    assert Interactions.from_store(any_store, event_types=["purchase"]).ratings().nnz == 0
