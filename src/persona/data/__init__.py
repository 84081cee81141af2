"""The shared data model: :class:`Interactions` (user × item matrix, id vocabularies, event log, side data)."""

from persona.data.events import DEFAULT_EVENT_WEIGHTS, OTHER_EVENT_WEIGHT
from persona.data.interactions import Interactions

__all__ = ["DEFAULT_EVENT_WEIGHTS", "OTHER_EVENT_WEIGHT", "Interactions"]
