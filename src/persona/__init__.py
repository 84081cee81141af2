"""Persona: self-hosted engine for AI-driven personalized marketing."""

__version__ = "0.1.0"
