"""EASE: the closed-form linear item-item autoencoder (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019)."""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend.adjacent import timed_adjacency
from persona.recommend.base import Recommender

log = logging.getLogger(__name__)


def _spd_inverse(g: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix by Cholesky (LAPACK potrf + potri, ~3× faster than inv)."""
    c, info = scipy.linalg.lapack.dpotrf(g, lower=False, overwrite_a=False)
    if info != 0:
        return scipy.linalg.inv(g)
    p, info = scipy.linalg.lapack.dpotri(c, lower=False, overwrite_c=True)
    if info != 0:
        return scipy.linalg.inv(g)
    upper = np.triu(p)
    return upper + np.triu(p, 1).T


class EASERecommender(Recommender):
    """B = I - P · diag(1 / diag(P)), with P = (XᵀX + λI)⁻¹; scores = X · B.

    Args:
        lambda_: L2 regularisation λ (500 suits MovieLens-sized data; larger for denser data).
        binary: train and score on 0/1 interactions (True) or on the event weights.
        max_items: refuse catalogues larger than this (dense n_items² inversion: 20,000 items ≈ 3.2 GB).
        num_threads: BLAS threads for the inversion (0 = library default). One thread is the default because
            an oversubscribed OpenBLAS is up to 10× slower on a busy machine (measured: 0.9 s vs 8 s, 1,682 items).
    """

    name: ClassVar[str] = "ease"
    similar_reason: ClassVar[str] = "customers who liked {item} also liked this"

    def __init__(
        self, lambda_: float = 500.0, binary: bool = True, max_items: int = 20_000, num_threads: int = 1
    ):
        self.lambda_ = lambda_
        self.binary = binary
        self.max_items = max_items
        self.num_threads = num_threads

    def _validate_params(self) -> None:
        if not isinstance(self.lambda_, int | float) or self.lambda_ <= 0:
            raise InputError(f"EASE lambda_ must be a positive number, got {self.lambda_!r}")
        if not isinstance(self.max_items, int) or self.max_items < 1:
            raise InputError(f"EASE max_items must be a positive integer, got {self.max_items!r}")

    def unfit_reason(self, data: Interactions) -> str | None:
        if data.n_items > self.max_items:
            return f"{data.n_items:,} products is above its dense-inversion limit of {self.max_items:,}"
        return None

    def _input(self, data: Interactions):
        x = data.matrix.astype(np.float64)
        if self.binary:
            x = x.copy()
            x.data[:] = 1.0
        return x

    def _refuse_oversize(self, n: int, *, solve: str = "inversion", dense_arrays: int = 2,
                         instead: str = "'itemknn' or 'als'") -> None:
        """Refuse a catalogue of ``n`` items above ``max_items``, with the memory the fit would take
        (``dense_arrays`` float64 n × n arrays at once) and what to use ``instead``."""
        if n > self.max_items:
            gb = n * n * 8 * dense_arrays / 1e9
            raise InputError(
                f"{self.name} needs a dense {n:,} × {n:,} {solve} (about {gb:.1f} GB); the limit is max_items={self.max_items:,}",
                hint=f"use {instead} for large catalogues, or raise max_items if you have the memory",
            )

    def _fit(self, data: Interactions) -> None:
        n = data.n_items
        self._refuse_oversize(n)
        if n > 10_000:
            log.warning(
                "EASE on %d items: dense inversion needs about %.1f GB and minutes", n, n * n * 16 / 1e9
            )
        x = self._input(data)
        self.B_ = self._solve(self._gram(data, x)).astype(np.float32)
        self._x_ = x.astype(np.float32).tocsr()

    def _gram(self, data: Interactions, x: sp.csr_matrix) -> np.ndarray:
        """The dense Gram matrix the item regression rests on: XᵀX."""
        return (x.T @ x).toarray()

    def _solve(self, g: np.ndarray) -> np.ndarray:
        """The item-item matrix B from the Gram matrix (overwritten)."""
        n = len(g)
        g[np.diag_indices(n)] += float(self.lambda_)
        p = self._inverse(g)
        b = p / (-np.diag(p))
        b[np.diag_indices(n)] = 0.0
        return b

    def _inverse(self, g: np.ndarray) -> np.ndarray:
        """(XᵀX + Λ)⁻¹ on ``num_threads`` BLAS threads."""
        with threadpool_limits(self.num_threads or None, "blas"):
            return _spd_inverse(g)

    def score(self, user_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.history_scores(self._x_[np.asarray(user_idx, dtype=np.int64)])

    def history_scores(self, history: sp.csr_matrix) -> np.ndarray:
        """Scores of any (users × items) history matrix, e.g. one weighted by recency: history · B."""
        return np.asarray(history @ self.B_, dtype=np.float32)

    def _item_similarity(self, item_idx: np.ndarray) -> np.ndarray:
        return self.B_[np.asarray(item_idx, dtype=np.int64)]

    def _explain_rows(self, item_idx: np.ndarray) -> np.ndarray:
        # score(u, i) = Σ_j x(u, j) · B[j, i]: the history item j that explains i is the argmax of column i
        return self.B_[:, np.asarray(item_idx, dtype=np.int64)].T

    def _pair_explain(self, rec_items: np.ndarray, hist_items: np.ndarray) -> np.ndarray:
        return self.B_[np.ix_(hist_items, rec_items)].T

    def _pair_similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # B[j, i]: how much having j predicts i; symmetrised for explanations and diversity
        return 0.5 * (self.B_[np.ix_(b, a)].T + self.B_[np.ix_(a, b)])


class DLAERecommender(EASERecommender):
    """DLAE: the closed-form denoising linear autoencoder (Steck, "Autoencoders that don't overfit towards the
    identity", NeurIPS 2020): B = I − P·Λ with P = (XᵀX + Λ)⁻¹ and Λ = p/(1−p)·diag(XᵀX) + λI.

    Dropout p of the input items becomes a per-item L2 penalty that grows with the item's popularity, in place
    of EASE's zero-diagonal constraint; on MovieLens 100K it ranks held-out items better than EASE (λ 500).

    Args:
        lambda_: L2 regularisation λ added to every item.
        dropout: the dropout probability p in [0, 1) that sets the popularity-proportional penalty.
        binary, max_items, num_threads: as :class:`EASERecommender`.
    """

    name: ClassVar[str] = "dlae"

    def __init__(
        self, lambda_: float = 200.0, dropout: float = 0.5, binary: bool = True, max_items: int = 20_000,
        num_threads: int = 1,
    ):
        super().__init__(lambda_=lambda_, binary=binary, max_items=max_items, num_threads=num_threads)
        self.dropout = dropout

    def _validate_params(self) -> None:
        super()._validate_params()
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, int | float) or not 0.0 <= self.dropout < 1.0:
            raise InputError(f"DLAE dropout must lie in [0, 1), got {self.dropout!r}")

    def _solve(self, g: np.ndarray) -> np.ndarray:
        lam = float(self.dropout) / (1.0 - float(self.dropout)) * np.diag(g) + float(self.lambda_)
        g[np.diag_indices(len(g))] += lam
        b = self._inverse(g) * (-lam[None, :])
        b[np.diag_indices(len(g))] += 1.0
        return b


class LocalEASERecommender(DLAERecommender):
    """EASE / DLAE on windowed co-occurrence: items count as co-occurring only when a customer picked them within
    ``window`` events of each other (time order), weighted 1 − d / (window + 1) by their distance d.

    Plain EASE regresses each item on the whole history; customers' tastes drift and catalogues change (new
    releases, seasons, the pages of a shop visited together), so two items picked a year apart say less
    about each other than two picked in one visit. The Gram matrix XᵀX becomes the kernel-weighted
    co-occurrence of :func:`~persona.recommend.adjacent.adjacency_counts` (still positive semi-definite, so
    the closed forms hold), solved as DLAE (``dropout`` > 0, the default) or as EASE (``dropout=0``: zero
    diagonal); scoring is as theirs, the whole history times B. Needs timestamps.

    Args:
        lambda_: L2 regularisation λ (on the same scale as EASE's: the diagonal counts each item's events).
        window: largest distance, in events of one customer, at which two items co-occur.
        dropout: DLAE's dropout probability; 0 solves EASE's zero-diagonal form instead.
        binary, max_items, num_threads: as :class:`EASERecommender`.
    """

    name: ClassVar[str] = "ease-local"

    def __init__(
        self, lambda_: float = 100.0, window: int = 80, dropout: float = 0.5, binary: bool = True,
        max_items: int = 20_000, num_threads: int = 1,
    ):
        super().__init__(lambda_=lambda_, dropout=dropout, binary=binary, max_items=max_items, num_threads=num_threads)
        self.window = window

    def _validate_params(self) -> None:
        super()._validate_params()
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise InputError(f"ease-local window must be a positive integer, got {self.window!r}")

    def unfit_reason(self, data: Interactions) -> str | None:
        return super().unfit_reason(data) if data.has_time else "needs event timestamps"

    def _gram(self, data: Interactions, x: sp.csr_matrix) -> np.ndarray:
        return timed_adjacency(data, int(self.window)).toarray()

    def _solve(self, g: np.ndarray) -> np.ndarray:
        return DLAERecommender._solve(self, g) if self.dropout > 0 else EASERecommender._solve(self, g)
