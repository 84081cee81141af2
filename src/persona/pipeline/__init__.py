"""The stages of ``persona run`` and their order."""

from persona.pipeline.stage import RunContext, Stage, StageResult
from persona.pipeline.runner import run_pipeline

__all__ = ["RunContext", "Stage", "StageResult", "run_pipeline"]
