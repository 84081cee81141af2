"""Frequent itemsets by depth-first Eclat on packed bitsets (numpy), exact same output as mlxtend.

Each frequent item gets a bitset over the transactions (uint64 words). The search walks equivalence
classes depth first: for a prefix with extension items e_1..e_k (their bitsets already intersected with the
prefix), one vectorised AND + popcount of e_i against e_{i+1..k} yields every child's support at once.
Items are ordered by increasing support, which keeps classes small. Itemsets are kept in flat numpy
arrays (CSR layout), never as one Python object per itemset, until a caller asks for a DataFrame.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from persona.errors import InputError

log = logging.getLogger(__name__)

if hasattr(np, "bitwise_count"):

    def _popcount_rows(a: np.ndarray) -> np.ndarray:
        return np.bitwise_count(a).sum(axis=-1, dtype=np.int64)

else:  # numpy < 2
    _TABLE = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def _popcount_rows(a: np.ndarray) -> np.ndarray:
        return _TABLE[a.view(np.uint8)].reshape(*a.shape[:-1], -1).sum(axis=-1, dtype=np.int64)


_PAIR_BUDGET = 1 << 21  # uint64 words per batch of pairwise intersections (16 MiB)


def min_count_for(min_support: float, n_transactions: int) -> int:
    """Smallest count c with c / n >= min_support, evaluated in floating point exactly as mlxtend does."""
    c = max(int(math.ceil(min_support * n_transactions)), 0)
    while c > 0 and (c - 1) / n_transactions >= min_support:
        c -= 1
    while c / n_transactions < min_support:
        c += 1
    return max(c, 1)


@dataclass
class FrequentItemsets:
    """Frequent itemsets in CSR layout: itemset i holds ``items[indptr[i]:indptr[i+1]]`` (codes into ``vocabulary``).

    Attributes:
        items: item codes of all itemsets, each itemset sorted ascending.
        indptr: offsets into ``items`` (length n_itemsets + 1).
        counts: transactions containing each itemset.
        vocabulary: the item labels (code -> label).
        n_transactions: number of baskets mined.
        min_count: the support threshold as a count.
    """

    items: np.ndarray
    indptr: np.ndarray
    counts: np.ndarray
    vocabulary: np.ndarray
    n_transactions: int
    min_count: int

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def sizes(self) -> np.ndarray:
        """Length of each itemset."""
        return np.diff(self.indptr)

    @property
    def support(self) -> np.ndarray:
        """Support (share of transactions) of each itemset."""
        return self.counts / self.n_transactions

    def by_size(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(itemset indices, n x k matrix of item codes) of the itemsets of length k."""
        idx = np.flatnonzero(self.sizes == k)
        if len(idx) == 0:
            return idx, np.empty((0, k), dtype=self.items.dtype)
        starts = self.indptr[idx]
        return idx, self.items[starts[:, None] + np.arange(k)[None, :]]

    def to_frame(self, *, labels: bool = True) -> pd.DataFrame:
        """mlxtend's layout: columns ``support`` and ``itemsets`` (frozensets of labels, or of codes)."""
        vocab = self.vocabulary if labels else np.arange(len(self.vocabulary))
        sets = [frozenset(vocab[self.items[a:b]].tolist()) for a, b in zip(self.indptr[:-1], self.indptr[1:], strict=True)]
        return pd.DataFrame({"support": self.support, "itemsets": sets})


def _encode(transactions: Any) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Turn baskets (iterable of item lists, a boolean DataFrame, or a sparse/dense 0-1 matrix) into a CSR matrix."""
    if isinstance(transactions, pd.DataFrame):
        mat = sparse.csr_matrix(transactions.to_numpy(dtype=bool))
        return mat, np.asarray(transactions.columns, dtype=object)
    if sparse.issparse(transactions) or isinstance(transactions, np.ndarray):
        mat = sparse.csr_matrix(transactions).astype(bool)
        return mat, np.arange(mat.shape[1], dtype=object)
    if not isinstance(transactions, Iterable):
        raise InputError(f"transactions must be baskets of items; got {type(transactions).__name__}", hint="pass a list of item lists or a 0/1 matrix")
    codes: dict[Any, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    n = 0
    for n, basket in enumerate(transactions, start=1):
        for item in set(basket):
            rows.append(n - 1)
            cols.append(codes.setdefault(item, len(codes)))
    mat = sparse.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n, len(codes)))
    vocab = np.empty(len(codes), dtype=object)
    for item, c in codes.items():
        vocab[c] = item
    return mat, vocab


def _bitsets(mat: sparse.csr_matrix, item_cols: np.ndarray) -> np.ndarray:
    """Packed bitsets (n_items x n_words uint64) of the given columns of a transactions matrix."""
    n = mat.shape[0]
    n_words = max((n + 63) // 64, 1)
    sub = mat[:, item_cols].tocsc()
    dense = np.zeros((len(item_cols), n_words * 64), dtype=bool)
    for j in range(len(item_cols)):
        dense[j, sub.indices[sub.indptr[j] : sub.indptr[j + 1]]] = True
    packed = np.packbits(dense, axis=1, bitorder="little")
    return packed.view(np.uint64).reshape(len(item_cols), n_words)


def frequent_itemsets(
    transactions: Any,
    min_support: float = 0.1,
    *,
    max_len: int | None = None,
    max_itemsets: int | None = None,
) -> FrequentItemsets:
    """Mine every itemset contained in at least ``min_support`` of the transactions.

    Args:
        transactions: baskets as an iterable of item lists, a boolean one-hot DataFrame (mlxtend's input),
            or a sparse/dense 0-1 matrix (transactions x items).
        min_support: threshold in (0, 1], compared as ``count / n >= min_support`` (as mlxtend).
        max_len: longest itemset to report (None = no limit).
        max_itemsets: stop with an error beyond this many itemsets (guards memory; None = no limit).

    Returns:
        :class:`FrequentItemsets`.

    Raises:
        InputError: a support outside (0, 1], a bad max_len, no transactions, or more itemsets than allowed.
    """
    if not (isinstance(min_support, int | float) and 0 < min_support <= 1):
        raise InputError(f"min_support={min_support!r} must be in (0, 1]", hint="e.g. --min-support 0.05")
    if max_len is not None and (not isinstance(max_len, int) or max_len < 1):
        raise InputError(f"max_len={max_len!r} must be a positive integer or None", hint="e.g. max_len=3")
    mat, vocab = _encode(transactions)
    n = mat.shape[0]
    if n == 0:
        raise InputError("no transactions to mine", hint="check that there are purchase events with products")
    min_count = min_count_for(float(min_support), n)
    item_counts = np.asarray(mat.sum(axis=0)).ravel().astype(np.int64)
    freq_items = np.flatnonzero(item_counts >= min_count)
    # ascending support (ties by code) keeps equivalence classes small
    freq_items = freq_items[np.lexsort((freq_items, item_counts[freq_items]))]
    bits = _bitsets(mat, freq_items)
    limit = max_len or 1 << 30
    cap = max_itemsets or 1 << 62

    # one block per search node: (prefix, i codes, j codes, counts) for the itemsets prefix + (i, j)
    blocks: list[tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]] = []
    total = len(freq_items)

    def grow(prefix: tuple[int, ...], codes: np.ndarray, b: np.ndarray) -> None:
        # codes/b: extensions of ``prefix`` (already frequent together with it), in search order
        nonlocal total
        k = len(codes)
        if k < 2 or len(prefix) + 2 > limit:
            return
        step = max(1, _PAIR_BUDGET // max(k * b.shape[1], 1))  # rows of the pair matrix per batch
        upper = np.arange(k)
        for lo in range(0, k - 1, step):
            hi = min(lo + step, k - 1)
            inter = b[lo:hi, None, :] & b[None, :, :]  # (rows, k, words)
            sup = _popcount_rows(inter)
            ok = (sup >= min_count) & (upper[None, :] > upper[lo:hi, None])  # only j > i
            rr, jj = ok.nonzero()
            if len(rr) == 0:
                continue
            blocks.append((prefix, codes[lo + rr], codes[jj], sup[rr, jj]))
            total += len(rr)
            if total > cap:
                raise InputError(
                    f"more than {cap:,} frequent itemsets at min_support={min_support}",
                    hint="raise --min-support or set max_len",
                )
            if len(prefix) + 3 > limit:
                continue
            n_children = ok.sum(axis=1)
            for r in (n_children > 1).nonzero()[0].tolist():
                keep = ok[r].nonzero()[0]
                grow((*prefix, int(codes[lo + r])), codes[keep], inter[r, keep])

    grow((), freq_items.astype(np.int32), bits)
    # flatten the blocks, size by size, into the CSR layout (items of each itemset sorted by code)
    by_len: dict[int, list[tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]]] = {}
    for blk in blocks:
        by_len.setdefault(len(blk[0]) + 2, []).append(blk)
    mats = [freq_items.astype(np.int32)[:, None]]
    cnts = [item_counts[freq_items]]
    for k in sorted(by_len):
        group = by_len[k]
        lens = np.array([len(g[1]) for g in group])
        cols = [np.concatenate([g[1] for g in group]), np.concatenate([g[2] for g in group])]
        if k > 2:
            heads = np.repeat(np.array([g[0] for g in group], dtype=np.int32), lens, axis=0)
            cols = [heads, *[c[:, None] for c in cols]]
            m = np.hstack(cols)
        else:
            m = np.column_stack(cols)
        mats.append(np.sort(m, axis=1))
        cnts.append(np.concatenate([g[3] for g in group]))
    sizes = np.concatenate([np.full(len(m), m.shape[1], dtype=np.int64) for m in mats])
    indptr = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    flat = np.concatenate([m.ravel() for m in mats]).astype(np.int32)
    out_counts = np.concatenate(cnts)
    log.info("itemsets n_tx=%d min_count=%d items=%d itemsets=%d", n, min_count, len(freq_items), len(out_counts))
    return FrequentItemsets(
        items=flat, indptr=indptr, counts=out_counts.astype(np.int64), vocabulary=vocab, n_transactions=n, min_count=min_count
    )
