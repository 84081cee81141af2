"""RP3beta: item-item random walks with popularity damping (Paudel, Christoffel, Newell & Bernstein, TiiS 2016).

The similarity of items i → j is the probability of a three-step walk i → user → j on the bipartite
interaction graph, with each transition probability raised to ``alpha`` and the target item's weight
divided by its popularity to the power ``beta`` (β > 0 favours less popular items). Only the ``k``
strongest neighbours of each item are kept. Scores are the user's history times that sparse matrix.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend.itemmatrix import ItemMatrixRecommender, exclude_self, row_chunks, top_k_rows

log = logging.getLogger(__name__)


def _row_normalise(x: sp.csr_matrix) -> sp.csr_matrix:
    """Each row divided by its sum (rows summing to zero stay zero)."""
    x = x.tocsr(copy=True)
    sums = np.asarray(x.sum(axis=1)).ravel()
    inv = np.divide(1.0, sums, out=np.zeros_like(sums, dtype=np.float64), where=sums > 0)
    x.data = (x.data * np.repeat(inv, np.diff(x.indptr))).astype(np.float32)
    return x


def rp3beta_similarity(x: sp.csr_matrix, alpha: float, beta: float, k: int) -> sp.csr_matrix:
    """Sparse item × item RP3beta matrix W (row i: the ``k`` items j most reachable from i, self excluded).

    Args:
        x: users × items interactions (binary or weighted; non-negative).
        alpha: exponent of the transition probabilities.
        beta: popularity damping exponent of the target item.
        k: neighbours kept per item.

    Returns:
        CSR float32 matrix (n_items × n_items).
    """
    x = sp.csr_matrix(x, dtype=np.float32)
    n_items = x.shape[1]
    p_ui = _row_normalise(x)  # user → item
    p_iu = _row_normalise(x.T.tocsr())  # item → user
    if alpha != 1.0:
        p_ui.data **= alpha
        p_iu.data **= alpha
    pop = np.asarray((x > 0).sum(axis=0)).ravel().astype(np.float64)
    damp = np.divide(1.0, np.power(pop, beta), out=np.zeros_like(pop), where=pop > 0).astype(np.float32)
    p_ui = p_ui.tocsr()  # a CSR right operand: a CSC one is converted again in every block product

    def blocks() -> Iterator[sp.csr_matrix]:
        for rows in row_chunks(n_items, n_items):
            w = (p_iu[rows] @ p_ui).tocsr()
            w.data *= damp[w.indices]
            yield exclude_self(w, rows)  # an item is not its own neighbour

    return top_k_rows(blocks(), n_items, k)


class RP3betaRecommender(ItemMatrixRecommender):
    """Graph random-walk item model: score(u, j) = Σ_i x(u, i) · W[i, j] with the RP3beta W.

    Args:
        alpha: exponent of the walk's transition probabilities (1 = plain probabilities).
        beta: popularity damping of recommended items (0 = none; 0.3-0.6 usually best).
        k: neighbours kept per item.
        binary: build the graph on 0/1 interactions (True) or on the event weights.
    """

    name: ClassVar[str] = "rp3beta"

    def __init__(self, alpha: float = 1.0, beta: float = 0.5, k: int = 200, binary: bool = True):
        self.alpha = alpha
        self.beta = beta
        self.k = k
        self.binary = binary

    def _validate_params(self) -> None:
        for p in ("alpha", "beta"):
            v = getattr(self, p)
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise InputError(f"RP3beta {p} must be a non-negative number, got {v!r}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise InputError(f"RP3beta neighbourhood size k must be a positive integer, got {self.k!r}")

    def _fit(self, data: Interactions) -> None:
        x = self._input(data)
        self.similarity_ = rp3beta_similarity(x, float(self.alpha), float(self.beta), int(self.k))
        self._x_ = x
