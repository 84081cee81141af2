"""What a stage of ``persona run`` is: a name, what it needs, and a function of the run context."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from persona.config import Settings

Status = Literal["ok", "skipped", "failed"]


@dataclass
class Section:
    """A part of the HTML report: a title, some HTML and plots (PNG, embedded as base64)."""

    title: str
    html: str = ""
    images: list[str] = field(default_factory=list)  # base64 PNGs

    def add_figure(self, fig: Any) -> None:
        """Embed a matplotlib figure and close it."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        self.images.append(base64.b64encode(buf.getvalue()).decode("ascii"))


@dataclass
class StageResult:
    """The outcome of one stage: status, figures for ``--json`` and report sections."""

    status: Status = "ok"
    figures: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0


@dataclass
class RunContext:
    """Shared state of one ``persona run``: settings, the store, the data folder and artifacts.

    Stages communicate through ``artifacts`` (e.g. ``interactions``, ``recommender``, ``segments``),
    so that a stage can be replaced without touching the others.
    """

    settings: Settings
    store: Any
    data_dir: Path | None
    seed: int = 42
    artifacts: dict[str, Any] = field(default_factory=dict)
    results: dict[str, StageResult] = field(default_factory=dict)
    progress: bool = True


@dataclass(frozen=True)
class Stage:
    """One step of the loop. ``requires`` names stages that must have succeeded first."""

    name: str
    title: str
    run: Callable[[RunContext], StageResult]
    requires: tuple[str, ...] = ()
