"""Team-draft interleaving and recommender A/B routing (offline parts; live traffic needs the API)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.errors import InputError
from persona.experiments.assignment import ExperimentSpec, assign
from persona.experiments.interleaving import analyze_interleaving, team_draft
from persona.experiments.recommenders import RecommenderABTest, interleave_recommenders


def test_team_draft_properties() -> None:
    a = list("abcdefgh")
    b = list("bxaycz")
    for s in range(50):
        il = team_draft(a, b, k=8, seed=s)
        assert len(il.items) == len(set(il.items)) == 8
        na, nb = il.teams.count("A"), il.teams.count("B")
        assert abs(na - nb) <= 1 or not (set(b) - set(il.items))  # unbalanced only once B has run out
        # each team's picks keep its own order
        pa = [i for i, tm in zip(il.items, il.teams, strict=True) if tm == "A"]
        assert pa == sorted(pa, key=a.index)
    assert team_draft(a, b, 6, seed="e:c1") == team_draft(a, b, 6, seed="e:c1")
    identical = team_draft(a, a, 4, seed=1)
    assert identical.items == a[:4]
    with pytest.raises(InputError):
        team_draft(a, b, 0)


def test_interleaving_finds_the_better_ranker() -> None:
    """Users click relevant items; ranker B puts relevant ones higher: B must win, A vs A must not."""
    rng = np.random.default_rng(0)
    items = np.arange(100)
    credits_ab, credits_aa = [], []
    for u in range(1500):
        relevant = set(rng.choice(items, 10, replace=False).tolist())
        rel_sorted = [i for i in rng.permutation(items).tolist() if i in relevant]
        good = rel_sorted[:5] + [i for i in rng.permutation(items).tolist() if i not in set(rel_sorted[:5])]
        bad = rng.permutation(items).tolist()
        for pair, out in (((bad, good), credits_ab), ((bad, rng.permutation(items).tolist()), credits_aa)):
            il = team_draft(pair[0], pair[1], 10, seed=u)
            clicks = [i for pos, i in enumerate(il.items) if i in relevant and rng.random() < 0.7 / (1 + 0.2 * pos)]
            out.append(il.credit(clicks))
    res = analyze_interleaving(credits_ab, name_a="popularity", name_b="hybrid", n_boot=300)
    assert res.wins_b > res.wins_a and res.p_value < 0.001 and res.ci_low > 0
    assert res.verdict.startswith("hybrid wins")
    aa = analyze_interleaving(pd.DataFrame(credits_aa, columns=["a", "b"]), n_boot=300)
    assert aa.p_value > 0.01 and aa.ci_low < 0 < aa.ci_high
    with pytest.raises(InputError):
        analyze_interleaving([])


class _Rec:
    def __init__(self, tag: str) -> None:
        self.tag = tag

    def recommend(self, user_ids, k=10, **kw):  # noqa: ANN001, ANN201
        return pd.DataFrame([{"user_id": u, "item_id": f"{self.tag}{r}", "score": 1.0 / (r + 1), "rank": r + 1, "reason": self.tag}
                             for u in user_ids for r in range(k)])


def test_recommender_ab_routes_each_customer_to_its_variant() -> None:
    spec = ExperimentSpec("rec-ab", {"ease": 1, "hybrid": 1}, holdout=0.1)
    ab = RecommenderABTest(spec, {"ease": _Rec("e"), "hybrid": _Rec("h")}, fallback=_Rec("pop"))
    ids = [f"c{i}" for i in range(500)]
    out = ab.recommend(ids, k=3)
    arms = assign(spec, ids)
    assert len(out) == 1500
    per_user = out.groupby("user_id")["variant"].first()
    pd.testing.assert_series_equal(per_user.sort_index(), arms.sort_index(), check_names=False, check_index_type=False)
    assert (out.loc[out.variant == "ease", "item_id"].str[0] == "e").all()
    assert (out.loc[out.variant == "holdout", "reason"] == "pop").all()
    with pytest.raises(InputError, match="no recommender"):
        RecommenderABTest(spec, {"ease": _Rec("e")})
    il = interleave_recommenders(_Rec("a"), _Rec("b"), ["u1", "u2"], k=4)
    assert sorted(il["u1"].teams) == ["A", "A", "B", "B"]
