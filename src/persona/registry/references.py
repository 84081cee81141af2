"""What still names a particular version of a model, so that retention never deletes its artifact.

The registry's own pointers (the active version, the one :func:`~persona.registry.models.rollback` would return to)
are the retention's business; this module finds the others, stored elsewhere in the workspace:

- experiments whose variants name ``NAME@VERSION`` (the API serves such a variant that version, whatever the
  experiment's status);
- stored predictions, which record the version of the model that made them;
- interleaving impressions logged lately (``rec_impression`` events, whose rankers are ``NAME@VERSION``): a client
  still asking for that pair of rankers needs both.

A variant or ranker naming a model without a version means its active version, which retention keeps anyway.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

#: impressions of interleaved lists younger than this keep the versions they compared
INTERLEAVING_DAYS = 30
#: impression rows read from the database at a time
_BATCH = 5_000


def _version_of(spec: Any, name: str) -> int | None:
    """The version ``spec`` (``NAME@VERSION``) names of model ``name``; None when it names another or none."""
    model, at, version = str(spec).partition("@")
    return int(version) if at and model == name and version.isdigit() else None


def referenced_versions(s: Any, name: str, *, now: datetime) -> dict[int, list[str]]:
    """The versions of model ``name`` that stored state names, each with what names it (for the prune report).

    Args:
        s: an open session (the retention's transaction).
        name: the model name.
        now: the time the interleaving window ends.

    Returns:
        ``{version: ["experiment 'spring'", "predictions 'churn_probability'", ...]}``.
    """
    from persona.experiments.live_interleaving import IMPRESSION
    from persona.predict.repository import made_by
    from persona.store.models import Event, Experiment, Prediction

    found: dict[int, list[str]] = defaultdict(list)
    for experiment, variants in s.execute(select(Experiment.name, Experiment.variants).order_by(Experiment.name)):
        for variant in variants or {}:
            version = _version_of(variant, name)
            if version is not None:
                found[version].append(f"experiment {experiment!r}")
    made = select(Prediction.name, Prediction.model_version).where(Prediction.model_version.is_not(None)).distinct()
    for prediction, version in sorted(s.execute(made)):
        if made_by(prediction) == name:
            found[int(version)].append(f"predictions {prediction!r}")
    recent = (select(Event.context).where(Event.event_type == IMPRESSION, Event.ts >= now - timedelta(days=INTERLEAVING_DAYS))
              .execution_options(yield_per=_BATCH))
    seen: set[tuple[str, int]] = set()
    for (context,) in s.execute(recent):
        ctx = json.loads(context) if isinstance(context, str) and context else context
        if not isinstance(ctx, dict):
            continue
        for ranker in ctx.get("rankers") or ():
            version = _version_of(ranker, name)
            if version is None or (str(ctx.get("experiment")), version) in seen:
                continue
            seen.add((str(ctx.get("experiment")), version))
            found[version].append(f"interleaving {ctx.get('experiment')!r} (last {INTERLEAVING_DAYS} days)")
    return dict(found)
