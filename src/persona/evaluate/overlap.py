"""Where two recommenders' top-k lists differ, and which of them is right there.

Two models whose metrics tie can do so in two ways: their lists are nearly the same, or they differ a lot
and each finds as many held-out items where it differs. Counting the (user, item) slots both lists share,
the slots only one of them has, and the held-out items among each says which: when the slots only model A
recommends hit the test set as often as the slots only model B recommends, no re-weighting of A towards B
(or back) can raise recall; a blend needs a model that is right where both are wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from persona.errors import InputError
from persona.evaluate.ranking import ranked_lists, require_columns


@dataclass(frozen=True)
class ListDifference:
    """Model A's top-k lists against model B's, over the users both recommended for and the test set holds.

    ``shared`` counts (user, item) slots in both lists, ``only_a`` / ``only_b`` the slots in one list only; the
    ``hits_*`` fields count the held-out (test) items among each group. ``recall_only_a`` / ``recall_only_b`` are
    the recall@k those one-sided hits are worth (each hit 1 / the user's held-out items, averaged over ``users``):
    their difference is exactly model A's recall@k minus model B's, since shared slots count for both.
    """

    users: int
    k: int
    shared: int
    only_a: int
    only_b: int
    hits_shared: int
    hits_only_a: int
    hits_only_b: int
    recall_only_a: float
    recall_only_b: float

    @property
    def overlap(self) -> float:
        """Share of model A's slots that model B recommends too (0 when A recommends nothing)."""
        total = self.shared + self.only_a
        return self.shared / total if total else 0.0

    @property
    def precision_only_a(self) -> float:
        """Share of the slots only model A recommends that are held-out items (0 when there are none)."""
        return self.hits_only_a / self.only_a if self.only_a else 0.0

    @property
    def precision_only_b(self) -> float:
        """Share of the slots only model B recommends that are held-out items (0 when there are none)."""
        return self.hits_only_b / self.only_b if self.only_b else 0.0

    def sentence(self, a: str, b: str) -> str:
        """The comparison in words, naming model A ``a`` and model B ``b``."""
        if not self.only_a and not self.only_b:
            return f"{a} and {b} recommend the same top-{self.k} lists"
        return (f"{a} and {b} share {self.overlap:.0%} of their top-{self.k} slots; where they differ ({self.only_a:,} "
                f"and {self.only_b:,} slots), the items only {a} recommends are held-out ones {self.precision_only_a:.1%} "
                f"of the time ({self.hits_only_a:,}), those only {b} recommends {self.precision_only_b:.1%} "
                f"({self.hits_only_b:,}), worth recall@{self.k} {self.recall_only_a:.4f} and {self.recall_only_b:.4f}")

    def to_dict(self, digits: int = 6) -> dict[str, float | int]:
        """The fields plus ``overlap`` and the two precisions, rounded, for JSON."""
        return {"users": self.users, "k": self.k, "shared": self.shared, "only_a": self.only_a,
                "only_b": self.only_b, "hits_shared": self.hits_shared, "hits_only_a": self.hits_only_a,
                "hits_only_b": self.hits_only_b, "recall_only_a": round(self.recall_only_a, digits),
                "recall_only_b": round(self.recall_only_b, digits), "overlap": round(self.overlap, digits),
                "precision_only_a": round(self.precision_only_a, digits),
                "precision_only_b": round(self.precision_only_b, digits)}


def list_difference(
    recs_a: pd.DataFrame,
    recs_b: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    k: int = 10,
    user: str = "user_id",
    item: str = "item_id",
    score: str = "score",
) -> ListDifference:
    """Compare two models' top-``k`` lists slot by slot against held-out interactions.

    Only users that both models recommended for and that hold test items count (as in the ranking metrics).

    Args:
        recs_a: model A's recommendations (``user``, ``item`` and ``score`` or ``rank``).
        recs_b: model B's recommendations, same columns.
        truth: held-out interactions (every row relevant).
        k: list length compared.
        user, item, score: column names.

    Raises:
        InputError: ``k`` below 1. SchemaError: a frame lacks a column.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}")
    a, b = (ranked_lists(r, int(k), user=user, item=item, score=score, name=n)[[user, item]].drop_duplicates()
            for r, n in ((recs_a, "recs_a"), (recs_b, "recs_b")))
    require_columns(truth, "truth", user, item)
    t = truth[[user, item]].drop_duplicates()
    common = np.intersect1d(np.intersect1d(pd.unique(a[user]), pd.unique(b[user])), pd.unique(t[user]))
    a, b, t = (f[f[user].isin(common)] for f in (a, b, t))
    both = a.merge(b, on=[user, item], how="outer", indicator="side")
    both["hit"] = both.merge(t.assign(_hit=1), on=[user, item], how="left")["_hit"].notna().to_numpy()
    both["credit"] = both["hit"] / both[user].map(t.groupby(user).size()).to_numpy(dtype=np.float64)
    count = both.groupby("side", observed=False).agg(size=("hit", "size"), sum=("hit", "sum"), credit=("credit", "sum"))

    def get(side: str, col: str) -> int:
        return int(count.loc[side, col]) if side in count.index else 0

    def credit(side: str) -> float:
        return float(count.loc[side, "credit"]) if side in count.index else 0.0

    return ListDifference(users=len(common), k=int(k), shared=get("both", "size"), only_a=get("left_only", "size"),
                          only_b=get("right_only", "size"), hits_shared=get("both", "sum"),
                          hits_only_a=get("left_only", "sum"), hits_only_b=get("right_only", "sum"),
                          recall_only_a=credit("left_only") / max(len(common), 1),
                          recall_only_b=credit("right_only") / max(len(common), 1))
