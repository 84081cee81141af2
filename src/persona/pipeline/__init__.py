"""The stages of ``persona run`` and their order."""

from persona.pipeline.runner import run_pipeline
from persona.pipeline.stage import RunContext, Stage, StageResult

__all__ = ["RunContext", "Stage", "StageResult", "run_pipeline"]
