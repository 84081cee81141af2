"""Market-basket analysis: frequent itemsets, association rules and "frequently bought together"."""

from persona.basket.baskets import baskets_from_events, baskets_from_store
from persona.basket.itemsets import FrequentItemsets, frequent_itemsets
from persona.basket.model import BasketRules
from persona.basket.rules import count_rules, iter_rules, rules_frame, top_rules

__all__ = [
    "BasketRules",
    "FrequentItemsets",
    "baskets_from_events",
    "baskets_from_store",
    "count_rules",
    "frequent_itemsets",
    "iter_rules",
    "rules_frame",
    "top_rules",
]
