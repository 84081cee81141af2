"""Campaigns: audiences, per-segment strategies, personal messages and exactly-once delivery."""

from persona.campaigns.spec import CampaignSpec, load_spec, parse_spec

__all__ = ["CampaignSpec", "load_spec", "parse_spec"]
