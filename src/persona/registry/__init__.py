"""Model registry: versioned artifacts with parameters and metrics, promotion and rollback."""

from persona.registry.models import (
    ModelVersion,
    artifact_location,
    get_version,
    list_models,
    load,
    promote,
    register,
    rollback,
)
from persona.registry.retention import PruneReport, prune

__all__ = ["ModelVersion", "PruneReport", "artifact_location", "get_version", "list_models", "load", "promote", "prune", "register", "rollback"]
