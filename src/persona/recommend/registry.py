"""The registry of recommenders: name → ``"module:Class"``, imported on first use (optional extras stay optional)."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

from persona.errors import InputError

#: Every recommender Persona ships, by the name ``make_recommender`` takes.
RECOMMENDERS: dict[str, str] = {
    "popular": "persona.recommend.popular:PopularRecommender",
    "itemknn": "persona.recommend.knn:ItemKNNRecommender",
    "userknn": "persona.recommend.knn:UserKNNRecommender",
    "als": "persona.recommend.factors:ALSRecommender",
    "bpr": "persona.recommend.factors:BPRRecommender",
    "ease": "persona.recommend.ease:EASERecommender",
    "dlae": "persona.recommend.ease:DLAERecommender",
    "ease-local": "persona.recommend.ease:LocalEASERecommender",
    "rp3beta": "persona.recommend.rp3beta:RP3betaRecommender",
    "period": "persona.recommend.period:PeriodPopularRecommender",
    "adjacent": "persona.recommend.adjacent:AdjacentItemsRecommender",
    "content": "persona.recommend.content:ContentRecommender",
    "category": "persona.recommend.category:CategoryRecommender",
    "sequential": "persona.recommend.sequential:SequentialRecommender",
    "repeat": "persona.recommend.repeat:RepeatRecommender",
    "gfcf": "persona.recommend.gfcf:GFCFRecommender",
    "transition": "persona.recommend.transition:TransitionRecommender",
    "rating-knn": "persona.recommend.ratingknn:RatingKNNRecommender",
}
if importlib.util.find_spec("persona.recommend.hybrid") is not None:
    RECOMMENDERS["hybrid"] = "persona.recommend.hybrid:HybridRecommender"


def recommender_class(name: str) -> type:
    """The class registered under ``name``.

    Raises:
        InputError: unknown name.
    """
    if name not in RECOMMENDERS:
        raise InputError(f"unknown recommender {name!r}", hint=f"choose one of {sorted(RECOMMENDERS)}")
    module, attr = RECOMMENDERS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def make_recommender(name: str, **params: Any) -> Any:
    """Build an unfitted recommender by registry name.

    Args:
        name: a key of :data:`RECOMMENDERS` (popular, period, itemknn, userknn, als, bpr, ease, dlae,
            ease-local, gfcf, adjacent, transition, rp3beta, content, category, sequential, repeat, rating-knn,
            hybrid).
        params: constructor parameters of that class.

    Returns:
        The recommender (call ``fit`` next).

    Raises:
        InputError: unknown name or parameter.
    """
    cls = recommender_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise InputError(
            f"bad parameters for recommender {name!r}: {exc}", hint=f"allowed: {cls._param_names()}"
        ) from exc


def make_seeded(name: str, params: Mapping[str, Any] | None, seed: int, engine: str | None = None) -> Any:
    """:func:`make_recommender` with ``seed`` (and ``engine``, when given) passed where the class takes them and
    ``params`` do not set them: the engine setting reaches the models that have a Spark implementation."""
    given = dict(params or {})
    names = recommender_class(name)._param_names()
    if "seed" in names:
        given.setdefault("seed", seed)
    if engine is not None and "engine" in names:
        given.setdefault("engine", engine)
    return make_recommender(name, **given)
