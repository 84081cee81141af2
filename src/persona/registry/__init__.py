"""Model registry: versioned artifacts with parameters and metrics, promotion and rollback."""

from persona.registry.models import (
    ModelVersion,
    get_version,
    list_models,
    load,
    promote,
    register,
    rollback,
)

__all__ = ["ModelVersion", "get_version", "list_models", "load", "promote", "register", "rollback"]
