"""``BasketRules``: frequent itemsets + association rules as one estimator, with "frequently bought together"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from persona.basket.itemsets import FrequentItemsets, frequent_itemsets
from persona.basket.rules import RuleChunk, iter_rules, rules_frame, top_rules
from persona.errors import InputError, NotFittedError
from persona.persistence import load_estimator, save_estimator


class BasketRules:
    """Market-basket analysis: itemsets by bitset Eclat (same itemsets as mlxtend), rules streamed in chunks.

    Args:
        min_support: itemset support threshold in (0, 1].
        min_confidence: rule confidence threshold in [0, 1].
        min_lift: rule lift threshold (None = none).
        max_len: longest itemset (None = unlimited).
        max_itemsets: refuse to mine more itemsets than this (memory guard).
        engine: ``"local"`` (bitset Eclat here) or ``"spark"`` (Spark's FP-growth; the same itemsets and rules).
    """

    def __init__(
        self,
        min_support: float = 0.01,
        min_confidence: float = 0.1,
        min_lift: float | None = None,
        max_len: int | None = None,
        max_itemsets: int | None = 5_000_000,
        engine: str = "local",
    ) -> None:
        self.min_support = min_support
        self.min_confidence = min_confidence
        self.min_lift = min_lift
        self.max_len = max_len
        self.max_itemsets = max_itemsets
        self.engine = engine

    def fit(self, baskets: Any) -> BasketRules:
        """Mine the frequent itemsets of ``baskets`` (lists of items, or a one-hot frame/matrix; on the Spark
        engine also a Spark frame with an ``items`` array column).

        Returns:
            self

        Raises:
            InputError: invalid thresholds or no baskets.
        """
        if not (0 <= self.min_confidence <= 1):
            raise InputError(f"min_confidence={self.min_confidence!r} must be in [0, 1]", hint="e.g. 0.3")
        from persona.engines import check_engine

        if check_engine(self.engine) == "spark":
            from persona.engines.spark.basket import as_spark_baskets, spark_itemsets

            self.itemsets_: FrequentItemsets = spark_itemsets(
                as_spark_baskets(baskets), self.min_support, max_len=self.max_len, max_itemsets=self.max_itemsets)
        else:
            self.itemsets_ = frequent_itemsets(baskets, self.min_support, max_len=self.max_len, max_itemsets=self.max_itemsets)
        self._pairs = None
        return self

    def _check(self) -> FrequentItemsets:
        if not hasattr(self, "itemsets_"):
            raise NotFittedError(self)
        return self.itemsets_

    def itemsets_frame(self) -> pd.DataFrame:
        """Frequent itemsets in mlxtend's layout (``support``, ``itemsets``)."""
        return self._check().to_frame()

    def iter_rules(self, chunk_size: int = 200_000) -> Iterator[pd.DataFrame]:
        """Every rule meeting the thresholds, as DataFrames of about ``chunk_size`` rows (bounded memory)."""
        fi = self._check()
        for chunk in iter_rules(fi, min_confidence=self.min_confidence, min_lift=self.min_lift, chunk_size=chunk_size):
            yield rules_frame(fi, chunk)

    def rules(self, top: int | None = 100, by: str = "lift", max_rules: int = 1_000_000) -> pd.DataFrame:
        """The best ``top`` rules by ``by`` (or all of them when top is None, refused beyond ``max_rules``).

        Raises:
            InputError: more than ``max_rules`` rules would be materialised.
        """
        fi = self._check()
        if top is not None:
            return rules_frame(fi, top_rules(fi, top, by=by, min_confidence=self.min_confidence, min_lift=self.min_lift))
        chunks: list[RuleChunk] = []
        total = 0
        for c in iter_rules(fi, min_confidence=self.min_confidence, min_lift=self.min_lift):
            total += len(c)
            if total > max_rules:
                raise InputError(
                    f"more than {max_rules:,} rules match", hint="ask for the top N, stream them with iter_rules(), or raise the thresholds"
                )
            chunks.append(c)
        return rules_frame(fi, RuleChunk.concat(chunks))

    def frequently_bought_together(self, product_id: Any, k: int = 5, *, by: str = "lift") -> pd.DataFrame:
        """Products most often bought with ``product_id`` (pair rules product -> other), best first.

        Args:
            product_id: the anchor product.
            k: how many to return.
            by: ``"lift"`` or ``"confidence"``.

        Returns:
            DataFrame[product_id, support, confidence, lift] (empty when the product is not frequent).

        Raises:
            InputError: k < 1 or an unknown ``by``.
        """
        fi = self._check()
        if k < 1 or by not in ("lift", "confidence"):
            raise InputError(f"k={k!r}, by={by!r} are invalid", hint="k >= 1 and by in ('lift', 'confidence')")
        if self._pairs is None:
            code_of = {v: i for i, v in enumerate(fi.vocabulary.tolist())}
            single = np.full(len(fi.vocabulary), 0, dtype=np.int64)
            idx1, m1 = fi.by_size(1)
            single[m1[:, 0]] = fi.counts[idx1]
            idx2, m2 = fi.by_size(2)
            self._pairs = (code_of, single, m2, fi.counts[idx2])
        code_of, single, m2, c2 = self._pairs
        empty = pd.DataFrame({"product_id": [], "support": [], "confidence": [], "lift": []})
        code = code_of.get(product_id, code_of.get(str(product_id)))
        if code is None:
            return empty
        hit = np.flatnonzero((m2[:, 0] == code) | (m2[:, 1] == code))
        if len(hit) == 0:
            return empty
        other = np.where(m2[hit, 0] == code, m2[hit, 1], m2[hit, 0])
        n = fi.n_transactions
        conf = c2[hit] / single[code]
        lift = conf / (single[other] / n)
        frame = pd.DataFrame({"product_id": fi.vocabulary[other], "support": c2[hit] / n, "confidence": conf, "lift": lift})
        frame = frame[frame["confidence"] >= self.min_confidence]
        return frame.sort_values([by, "support"], ascending=False).head(k).reset_index(drop=True)

    def save(self, path: str | Path) -> Path:
        """Pickle the fitted model."""
        self._check()
        return save_estimator(self, path)

    @classmethod
    def load(cls, path: str | Path) -> BasketRules:
        """Load a model saved with :meth:`save`."""
        return load_estimator(cls, path)
