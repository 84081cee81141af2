"""MMR re-ranking and category caps."""

from __future__ import annotations

import numpy as np
import pytest

from persona.errors import InputError
from persona.recommend.diversity import check_diversity, mmr_rerank


def test_zero_diversity_is_relevance_order():
    s = np.array([0.1, 0.9, 0.5, 0.7])
    assert mmr_rerank(s, None, 3).tolist() == [1, 3, 2]


def test_mmr_avoids_near_duplicates():
    s = np.array([1.0, 0.99, 0.5])
    sim = np.array([[1, 0.95, 0.0], [0.95, 1, 0.0], [0.0, 0.0, 1]])
    assert mmr_rerank(s, sim, 2, diversity=0.0).tolist() == [0, 1]
    assert mmr_rerank(s, sim, 2, diversity=0.7).tolist() == [0, 2]


def test_category_similarity_and_caps():
    s = np.array([0.9, 0.8, 0.7, 0.1])
    cats = np.array([0, 0, 0, 1])
    assert mmr_rerank(s, None, 2, diversity=0.6, categories=cats).tolist() == [0, 3]
    assert mmr_rerank(s, None, 4, categories=cats, max_per_category=2).tolist() == [0, 1, 3]
    assert mmr_rerank(np.array([]), None, 3).tolist() == []


def test_knob_validation():
    with pytest.raises(InputError):
        check_diversity(1.5, None)
    with pytest.raises(InputError):
        check_diversity(0.2, 0)
