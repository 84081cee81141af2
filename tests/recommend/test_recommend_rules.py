"""Filters: parsing, item masks, purchases, category matching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend import Filters
from persona.recommend.rules import purchase_matrix


def _data() -> Interactions:
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "category": ["Home > Kitchen", "home", "Garden", None],
            "price": [10.0, 25.0, None, 5.0],
            "in_stock": [True, False, None, True],
        }
    )
    ev = pd.DataFrame(
        {
            "user_id": ["x", "x", "y"],
            "item_id": ["a", "b", "c"],
            "event_type": ["purchase", "view", "purchase"],
        }
    )
    return Interactions.from_frame(ev, event_type="event_type", items=items)


def test_coerce_and_validation():
    assert Filters.coerce(None).is_empty
    f = Filters.coerce({"categories_include": "Home", "blocklist": ["d"]})
    assert f.categories_include == frozenset({"home"})
    assert f.to_dict()["blocklist"] == ["d"]
    with pytest.raises(InputError, match="unknown filter"):
        Filters.coerce({"in_stock": True})
    with pytest.raises(InputError, match="price_min"):
        Filters(price_min=10, price_max=5)
    with pytest.raises(InputError):
        Filters.coerce(["in_stock_only"])


def test_item_masks():
    data = _data()
    assert Filters(in_stock_only=True).item_mask(data).tolist() == [
        True,
        False,
        True,
        True,
    ]  # unknown = available
    assert Filters(categories_include={"home"}).item_mask(data).tolist() == [True, True, False, False]
    assert Filters(categories_include={"home > kitchen"}).item_mask(data).tolist() == [
        True,
        False,
        False,
        False,
    ]
    assert Filters(categories_exclude={"garden"}).item_mask(data).tolist() == [True, True, False, True]
    assert Filters(price_min=6, price_max=30).item_mask(data).tolist() == [True, True, False, False]
    assert Filters(blocklist={"a", "zzz"}).item_mask(data).tolist() == [False, True, True, True]


def test_purchases_use_event_types():
    data = _data()
    m = purchase_matrix(data).toarray()
    assert m.sum() == 2 and m[0, 0] == 1 and m[0, 1] == 0
    plain = Interactions.from_frame(pd.DataFrame({"user_id": [1], "item_id": [2]}))
    np.testing.assert_array_equal(purchase_matrix(plain).toarray(), plain.matrix.toarray())
