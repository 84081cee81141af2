"""Association rules from frequent itemsets, generated in vectorised chunks with bounded memory.

For every itemset of length k and every non-empty proper subset (a bit mask over its k items) the rule
``subset -> rest`` is scored. Supports of the two sides are found by hashing: each item gets a random 64-bit
key and an itemset's key is the (wrapping) sum of its items' keys, so the key of any subset is a row sum and
one ``searchsorted`` finds its count. Rules stay numpy arrays (itemset index + mask) until a caller turns a
chunk into a DataFrame, so millions of rules stream through in constant memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from persona.basket.itemsets import FrequentItemsets
from persona.errors import InputError

METRICS = ("antecedent support", "consequent support", "support", "confidence", "lift", "leverage", "conviction")
SORT_KEYS = ("lift", "confidence", "support", "leverage", "conviction")


@dataclass
class RuleChunk:
    """A chunk of rules as arrays: the itemset each rule splits, which items form the antecedent, and metrics."""

    itemset: np.ndarray
    mask: np.ndarray
    metrics: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.itemset)

    def take(self, idx: np.ndarray) -> RuleChunk:
        """The rules at positions ``idx``."""
        return RuleChunk(self.itemset[idx], self.mask[idx], {k: v[idx] for k, v in self.metrics.items()})

    @staticmethod
    def concat(chunks: list[RuleChunk]) -> RuleChunk:
        """One chunk holding the rules of several."""
        if not chunks:
            return RuleChunk(np.empty(0, np.int64), np.empty(0, np.int64), {k: np.empty(0) for k in METRICS})
        return RuleChunk(
            np.concatenate([c.itemset for c in chunks]),
            np.concatenate([c.mask for c in chunks]),
            {k: np.concatenate([c.metrics[k] for c in chunks]) for k in METRICS},
        )


def _key_index(fi: FrequentItemsets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20250101)
    item_keys = rng.integers(1, np.iinfo(np.int64).max, size=len(fi.vocabulary), dtype=np.int64).astype(np.uint64)
    set_keys = np.add.reduceat(item_keys[fi.items], fi.indptr[:-1]) if len(fi.items) else np.empty(0, np.uint64)
    order = np.argsort(set_keys, kind="stable")
    return item_keys, set_keys[order], fi.counts[order]


def _validate(min_confidence: float, min_lift: float | None, chunk_size: int) -> None:
    if not (0 <= min_confidence <= 1):
        raise InputError(f"min_confidence={min_confidence!r} must be in [0, 1]", hint="e.g. --min-confidence 0.5")
    if min_lift is not None and min_lift < 0:
        raise InputError(f"min_lift={min_lift!r} must be >= 0", hint="e.g. --min-lift 1.2")
    if chunk_size < 1:
        raise InputError(f"chunk_size={chunk_size!r} must be >= 1", hint="e.g. 100000")


def iter_rules(
    itemsets: FrequentItemsets,
    *,
    min_confidence: float = 0.0,
    min_lift: float | None = None,
    chunk_size: int = 200_000,
) -> Iterator[RuleChunk]:
    """Yield every rule meeting the thresholds, in chunks of about ``chunk_size`` rules.

    Args:
        itemsets: frequent itemsets (their subsets are frequent too, so every side's support is known).
        min_confidence: keep rules with confidence >= this.
        min_lift: keep rules with lift >= this (None = no filter).
        chunk_size: rules per yielded chunk (memory is O(chunk_size), not O(rules)).

    Yields:
        :class:`RuleChunk` objects.

    Raises:
        InputError: thresholds out of range.
    """
    _validate(min_confidence, min_lift, chunk_size)
    item_keys, sorted_keys, sorted_counts = _key_index(itemsets)
    n = float(itemsets.n_transactions)
    buf: list[RuleChunk] = []
    buffered = 0
    max_k = int(itemsets.sizes.max()) if len(itemsets) else 0
    for k in range(2, max_k + 1):
        idx_all, mat_all = itemsets.by_size(k)
        for lo in range(0, len(idx_all), chunk_size):
            idx = idx_all[lo : lo + chunk_size]
            keys = item_keys[mat_all[lo : lo + chunk_size]]
            total_key = keys.sum(axis=1)
            sup_ab = itemsets.counts[idx] / n
            for mask in range(1, (1 << k) - 1):
                cols = [j for j in range(k) if mask >> j & 1]
                a_key = keys[:, cols].sum(axis=1)
                c_key = total_key - a_key
                a_sup = sorted_counts[np.searchsorted(sorted_keys, a_key)] / n
                c_sup = sorted_counts[np.searchsorted(sorted_keys, c_key)] / n
                conf = sup_ab / a_sup
                lift = conf / c_sup
                keep = conf >= min_confidence
                if min_lift is not None:
                    keep &= lift >= min_lift
                if not keep.any():
                    continue
                sel = np.flatnonzero(keep)
                conf_s, c_s = conf[sel], c_sup[sel]
                with np.errstate(divide="ignore"):
                    conviction = np.where(conf_s < 1, (1 - c_s) / (1 - conf_s), np.inf)
                chunk = RuleChunk(
                    idx[sel],
                    np.full(len(sel), mask, dtype=np.int64),
                    {
                        "antecedent support": a_sup[sel],
                        "consequent support": c_s,
                        "support": sup_ab[sel],
                        "confidence": conf_s,
                        "lift": lift[sel],
                        "leverage": sup_ab[sel] - a_sup[sel] * c_s,
                        "conviction": conviction,
                    },
                )
                buf.append(chunk)
                buffered += len(chunk)
                if buffered >= chunk_size:
                    yield RuleChunk.concat(buf)
                    buf, buffered = [], 0
    if buf:
        yield RuleChunk.concat(buf)


def count_rules(itemsets: FrequentItemsets, *, min_confidence: float = 0.0, min_lift: float | None = None) -> int:
    """Number of rules meeting the thresholds, counted without keeping them."""
    return sum(len(c) for c in iter_rules(itemsets, min_confidence=min_confidence, min_lift=min_lift))


def top_rules(
    itemsets: FrequentItemsets,
    n: int,
    *,
    by: str = "lift",
    min_confidence: float = 0.0,
    min_lift: float | None = None,
    chunk_size: int = 200_000,
) -> RuleChunk:
    """The ``n`` best rules by ``by`` (ties broken by support, then confidence), in O(n + chunk_size) memory.

    Raises:
        InputError: unknown sort key or n < 1.
    """
    if by not in SORT_KEYS:
        raise InputError(f"by={by!r} is not a rule metric", hint=f"use one of {SORT_KEYS}")
    if n < 1:
        raise InputError(f"n={n!r} must be >= 1", hint="e.g. --top 20")
    best = RuleChunk.concat([])
    for chunk in iter_rules(itemsets, min_confidence=min_confidence, min_lift=min_lift, chunk_size=chunk_size):
        both = RuleChunk.concat([best, chunk])
        if len(both) > n:
            order = np.lexsort((-both.metrics["confidence"], -both.metrics["support"], -both.metrics[by]))[:n]
            both = both.take(order)
        best = both
    order = np.lexsort((-best.metrics["confidence"], -best.metrics["support"], -best.metrics[by]))
    return best.take(order)


def rules_frame(itemsets: FrequentItemsets, chunk: RuleChunk, *, labels: bool = True) -> pd.DataFrame:
    """mlxtend's layout for a chunk: ``antecedents``/``consequents`` frozensets plus the metric columns."""
    vocab = itemsets.vocabulary if labels else np.arange(len(itemsets.vocabulary))
    ants, cons = [], []
    for i, m in zip(chunk.itemset.tolist(), chunk.mask.tolist(), strict=True):
        items = vocab[itemsets.items[itemsets.indptr[i] : itemsets.indptr[i + 1]]].tolist()
        ants.append(frozenset(x for j, x in enumerate(items) if m >> j & 1))
        cons.append(frozenset(x for j, x in enumerate(items) if not m >> j & 1))
    frame = pd.DataFrame({"antecedents": ants, "consequents": cons})
    for k in METRICS:
        frame[k] = chunk.metrics[k]
    return frame
