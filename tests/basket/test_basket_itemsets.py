"""Bitset Eclat itemsets and streamed rules: identical to mlxtend, MovieLens 100K counts, bounded top-N."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shared_data import shared_data

from persona.basket import (
    BasketRules,
    baskets_from_events,
    count_rules,
    frequent_itemsets,
    iter_rules,
    rules_frame,
    top_rules,
)
from persona.basket.itemsets import min_count_for
from persona.errors import InputError, NotFittedError


def _random_baskets(seed: int, n: int = 300, items: int = 25) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    pop = rng.random(items) ** 2  # skewed popularity
    return [[f"i{j}" for j in np.flatnonzero(rng.random(items) < pop * 0.6)] for _ in range(n)]


def _onehot(baskets: list[list[str]]) -> pd.DataFrame:
    from mlxtend.preprocessing import TransactionEncoder

    te = TransactionEncoder()
    return pd.DataFrame(te.fit(baskets).transform(baskets), columns=te.columns_)


@pytest.mark.parametrize("seed,min_support", [(0, 0.05), (1, 0.1), (2, 0.02), (3, 0.3)])
def test_itemsets_and_rules_equal_mlxtend(seed: int, min_support: float) -> None:
    fp = pytest.importorskip("mlxtend.frequent_patterns")
    baskets = _random_baskets(seed)
    oh = _onehot(baskets)
    ref = fp.fpgrowth(oh, min_support, use_colnames=True)
    mine = frequent_itemsets(baskets, min_support).to_frame()
    assert dict(zip(mine["itemsets"], mine["support"], strict=False)) == pytest.approx(dict(zip(ref["itemsets"], ref["support"], strict=False)))
    fi = frequent_itemsets(oh, min_support)
    ref_rules = fp.association_rules(ref, metric="confidence", min_threshold=0.3)
    got = pd.concat([rules_frame(fi, c) for c in iter_rules(fi, min_confidence=0.3, chunk_size=50)], ignore_index=True) if len(ref_rules) else None
    if got is None:
        assert count_rules(fi, min_confidence=0.3) == 0
        return
    key = lambda df: {(a, c): (s, cf, lf, lv) for a, c, s, cf, lf, lv in  # noqa: E731
                      zip(df["antecedents"], df["consequents"], df["support"], df["confidence"], df["lift"], df["leverage"], strict=True)}
    a, b = key(ref_rules), key(got)
    assert a.keys() == b.keys()
    for k in a:
        assert b[k] == pytest.approx(a[k])
    conv_ref = dict(zip(zip(ref_rules["antecedents"], ref_rules["consequents"], strict=False), ref_rules["conviction"], strict=False))
    conv = dict(zip(zip(got["antecedents"], got["consequents"], strict=False), got["conviction"], strict=False))
    finite = [k for k in conv_ref if np.isfinite(conv_ref[k])]
    assert all(conv[k] == pytest.approx(conv_ref[k]) for k in finite)


def test_top_rules_equal_sorted_full_list_and_memory_is_chunked() -> None:
    fi = frequent_itemsets(_random_baskets(5), 0.03)
    allr = pd.concat([rules_frame(fi, c) for c in iter_rules(fi, chunk_size=37)], ignore_index=True)
    assert max(len(c) for c in iter_rules(fi, chunk_size=37)) < 37 + 400  # a chunk is bounded by chunk_size plus one block
    best = rules_frame(fi, top_rules(fi, 25, by="lift", chunk_size=37))
    expected = allr.sort_values(["lift", "support", "confidence"], ascending=False).head(25)
    np.testing.assert_allclose(best["lift"].to_numpy(), expected["lift"].to_numpy())
    assert count_rules(fi) == len(allr)
    with pytest.raises(InputError):
        top_rules(fi, 5, by="nonsense")


def test_min_count_matches_float_comparison() -> None:
    for n in (7, 942, 1000, 12345):
        for s in (0.05, 0.1, 0.2, 0.3333, 1.0):
            c = min_count_for(s, n)
            assert c / n >= s and (c == 1 or (c - 1) / n < s)


def test_movielens_counts_and_exact_itemsets() -> None:
    path = shared_data("ml-100k", "ml-100k.inter")
    ml = pd.read_csv(path, sep="\t")
    ml.columns = [c.split(":")[0] for c in ml.columns]
    baskets = ml[ml["rating"] >= 4].groupby("user_id")["item_id"].agg(list).tolist()
    assert len(frequent_itemsets(baskets, 0.2)) == 90
    fi = frequent_itemsets(baskets, 0.1)
    assert len(fi) == 3683
    fp = pytest.importorskip("mlxtend.frequent_patterns")
    ref = fp.fpgrowth(_onehot(baskets), 0.1, use_colnames=True)
    assert set(fi.to_frame()["itemsets"]) == set(ref["itemsets"])
    assert count_rules(fi) == 26442


@pytest.mark.slow
def test_movielens_at_005_has_287506_itemsets() -> None:
    ml = pd.read_csv(shared_data("ml-100k", "ml-100k.inter"), sep="\t")
    ml.columns = [c.split(":")[0] for c in ml.columns]
    baskets = ml[ml["rating"] >= 4].groupby("user_id")["item_id"].agg(list).tolist()
    fi = frequent_itemsets(baskets, 0.05)
    assert len(fi) == 287506
    assert len(top_rules(fi, 10)) == 10


def test_basket_rules_estimator_and_bought_together(tmp_path) -> None:  # noqa: ANN001
    baskets = [["tea", "cup"], ["tea", "cup", "sugar"], ["tea", "sugar"], ["coffee", "cup"], ["tea", "cup"], ["bread"]]
    m = BasketRules(min_support=0.3, min_confidence=0.1)
    with pytest.raises(NotFittedError):
        m.rules()
    m.fit(baskets)
    fbt = m.frequently_bought_together("tea", 3)
    assert fbt["product_id"].tolist()[0] in {"cup", "sugar"}
    row = fbt.set_index("product_id").loc["cup"]
    assert row["confidence"] == pytest.approx(3 / 4) and row["lift"] == pytest.approx((3 / 4) / (4 / 6))
    assert m.frequently_bought_together("unknown").empty
    assert len(m.rules(top=None)) == sum(len(f) for f in m.iter_rules(chunk_size=1))
    with pytest.raises(InputError, match="more than"):
        m.rules(top=None, max_rules=1)
    assert BasketRules.load(m.save(tmp_path / "b.pkl")).itemsets_frame().equals(m.itemsets_frame())
    with pytest.raises(InputError):
        frequent_itemsets(baskets, 0)
    with pytest.raises(InputError, match="more than"):
        frequent_itemsets(_random_baskets(0), 0.01, max_itemsets=10)
    assert frequent_itemsets(baskets, 0.1, max_len=1).sizes.max() == 1


def test_baskets_from_events_groups_by_session_then_day() -> None:
    ev = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "b"],
            "product_id": ["p1", "p2", "p3", "p1", "p1", None],
            "session_id": ["s1", "s1", None, None, None, None],
            "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 11:00", "2024-01-03 09:00", "2024-01-03 20:00", "2024-01-03 00:00", "2024-01-03 00:00"], utc=True),
        }
    )
    got = sorted(sorted(b) for b in baskets_from_events(ev))
    assert got == [["p1"], ["p1", "p2"], ["p1", "p3"]]
    by_day = sorted(sorted(b) for b in baskets_from_events(ev, by="day"))
    assert by_day == [["p1"], ["p1"], ["p1", "p3"], ["p2"]]
    with pytest.raises(InputError):
        baskets_from_events(ev, by="week")
