"""A realistic synthetic shop: customers, products, events, reviews and consents written as canonical files."""

from persona.demo.shop import ENTITIES, DemoShop, build_shop, generate_shop, write_shop

__all__ = ["ENTITIES", "DemoShop", "build_shop", "generate_shop", "write_shop"]
