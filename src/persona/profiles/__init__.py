"""Customer profiles: point-in-time features and a fused embedding, one row per customer."""

from persona.profiles.builder import ProfileBuilder, build_profiles
from persona.profiles.features import NUMERIC_FEATURES, compute_features
from persona.profiles.repository import build_and_store, get_profile, read_profiles
from persona.profiles.source import ShopData, load_shop

__all__ = [
    "NUMERIC_FEATURES",
    "ProfileBuilder",
    "ShopData",
    "build_and_store",
    "build_profiles",
    "compute_features",
    "get_profile",
    "load_shop",
    "read_profiles",
]
