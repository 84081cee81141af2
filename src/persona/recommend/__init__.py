"""Recommendation: one protocol (:class:`Recommender`), one module per algorithm, rules, diversity, cold start.

>>> rec = make_recommender("ease").fit(interactions)
>>> rec.recommend(["u1", "u2"], k=10, filters={"in_stock_only": True})
"""

from persona.recommend.base import Recommender
from persona.recommend.registry import RECOMMENDERS, make_recommender, recommender_class
from persona.recommend.rules import Filters

__all__ = ["RECOMMENDERS", "Filters", "Recommender", "make_recommender", "recommender_class"]
