"""The one place where the stages of ``persona run`` are listed, in order.

Each entry is ``module:attribute`` naming a :class:`~persona.pipeline.stage.Stage`. A stage whose
module needs an optional extra that is not installed is reported as skipped.
"""

from __future__ import annotations

STAGES: list[str] = [
    "persona.pipeline.stages.data:DEMO",
    "persona.pipeline.stages.data:INGEST",
    "persona.pipeline.stages.data:QUALITY",
    "persona.pipeline.stages.text:TEXT",
    "persona.pipeline.stages.recommend:RECOMMEND",
    "persona.pipeline.stages.profiles:PROFILES",
    "persona.pipeline.stages.profiles:SEGMENTS",
    "persona.pipeline.stages.predict:PREDICT",
    "persona.pipeline.stages.clv:CLV",
    "persona.pipeline.stages.basket:BASKET",
    "persona.pipeline.stages.campaigns:CAMPAIGNS",
    "persona.pipeline.stages.experiments:EXPERIMENTS",
    "persona.pipeline.stages.fairness:FAIRNESS",
    "persona.pipeline.stages.privacy:PRIVACY",
]
