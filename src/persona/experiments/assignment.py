"""Deterministic, salted assignment of customers to experiment variants, holdouts and exposure logging.

A customer's bucket is ``SHA-256("salt:experiment:customer_id")`` read as a uniform number in
[0, 1): it depends on nothing else, so adding customers never moves existing ones and running the
assignment twice gives the same answer. The global holdout uses its own salt, so it is independent
of every experiment's split.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from persona.errors import InputError, NotFoundError

log = logging.getLogger(__name__)

HOLDOUT_VARIANT = "holdout"
GLOBAL_HOLDOUT_SALT = "persona-global-holdout"
SRM_ALPHA = 0.001
_SCALE = float(2**64)


def bucket(salt: str, experiment: str, customer_id: Any) -> float:
    """The customer's uniform number in [0, 1) for one experiment (first 8 bytes of a SHA-256)."""
    digest = hashlib.sha256(f"{salt}:{experiment}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def buckets(salt: str, experiment: str, customer_ids: Iterable[Any]) -> np.ndarray:
    """:func:`bucket` for many customers at once."""
    prefix = f"{salt}:{experiment}:"
    sha = hashlib.sha256
    return np.fromiter(
        (int.from_bytes(sha(f"{prefix}{c}".encode()).digest()[:8], "big") / _SCALE for c in customer_ids),
        dtype=float,
    )


@dataclass(frozen=True)
class ExperimentSpec:
    """An experiment's split: variant weights (normalised), its salt and an optional holdout share.

    ``holdout`` is the share of the experiment's customers kept in the ``"holdout"`` arm (no contact);
    the rest is split between ``variants`` in proportion to their weights.
    """

    name: str
    variants: Mapping[str, float] = field(default_factory=lambda: {"control": 0.5, "treatment": 0.5})
    salt: str = ""
    holdout: float = 0.0

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise InputError(f"experiment name must be a non-empty string, got {self.name!r}")
        if not self.variants or len(self.variants) < 1:
            raise InputError("an experiment needs at least one variant", hint='e.g. {"control": 0.5, "treatment": 0.5}')
        bad = {k: v for k, v in self.variants.items() if not (isinstance(v, int | float) and math.isfinite(v) and v > 0)}
        if bad:
            raise InputError(f"variant weights must be positive numbers, got {bad}", hint="use weights like 0.5 or 1")
        if HOLDOUT_VARIANT in self.variants:
            raise InputError(f"{HOLDOUT_VARIANT!r} is reserved for the holdout arm", hint="set holdout=SHARE instead")
        if not 0.0 <= self.holdout < 1.0:
            raise InputError(f"holdout must be in [0, 1), got {self.holdout}")

    @property
    def effective_salt(self) -> str:
        return self.salt or self.name

    def weights(self) -> dict[str, float]:
        """Share of all customers expected in each arm (holdout included when > 0)."""
        total = float(sum(self.variants.values()))
        out = {k: (1.0 - self.holdout) * v / total for k, v in self.variants.items()}
        if self.holdout > 0:
            out[HOLDOUT_VARIANT] = self.holdout
        return out

    @classmethod
    def from_model(cls, row: Any) -> ExperimentSpec:
        """Build a spec from a stored :class:`persona.store.models.Experiment` row."""
        return cls(name=row.name, variants=dict(row.variants), salt=row.salt, holdout=float(row.holdout or 0.0))


def _as_spec(experiment: ExperimentSpec | Any) -> ExperimentSpec:
    if isinstance(experiment, ExperimentSpec):
        return experiment
    if hasattr(experiment, "variants") and hasattr(experiment, "salt"):
        return ExperimentSpec.from_model(experiment)
    raise InputError(f"expected an ExperimentSpec or a stored Experiment, got {type(experiment).__name__}")


def assign(experiment: ExperimentSpec | Any, customer_ids: Iterable[Any]) -> pd.Series:
    """Assign each customer to a variant (or the holdout) deterministically.

    Args:
        experiment: an :class:`ExperimentSpec` or a stored ``Experiment`` row.
        customer_ids: the customers to assign (any hashable ids; compared as strings).

    Returns:
        A Series indexed by customer id whose values are variant names.
    """
    spec = _as_spec(experiment)
    ids = [str(c) for c in customer_ids]
    u = buckets(spec.effective_salt, spec.name, ids)
    names = list(spec.variants)
    w = np.array([spec.variants[n] for n in names], dtype=float)
    edges = np.cumsum(w / w.sum())
    edges[-1] = 1.0
    labels = np.empty(len(ids), dtype=object)
    held = u < spec.holdout
    rest = (u - spec.holdout) / (1.0 - spec.holdout)
    idx = np.minimum(np.searchsorted(edges, rest, side="right"), len(names) - 1)
    labels[:] = np.array(names, dtype=object)[idx]
    labels[held] = HOLDOUT_VARIANT
    return pd.Series(labels, index=pd.Index(ids, name="customer_id"), name="variant")


def _holdout_salt(settings_or_salt: Any) -> str:
    if isinstance(settings_or_salt, str):
        return settings_or_salt
    if settings_or_salt is None:
        return GLOBAL_HOLDOUT_SALT
    return str(getattr(settings_or_salt, "holdout_salt", None) or GLOBAL_HOLDOUT_SALT)


def in_global_holdout(customer_id: Any, settings_or_salt: Any = None, share: float = 0.05) -> bool:
    """Whether a customer belongs to the global holdout that no campaign may contact.

    Args:
        customer_id: the customer.
        settings_or_salt: a salt string, or Settings (uses ``settings.holdout_salt`` when present).
        share: the share of all customers held out, in [0, 1).
    """
    if not 0.0 <= share < 1.0:
        raise InputError(f"global holdout share must be in [0, 1), got {share}")
    return bucket(_holdout_salt(settings_or_salt), "global-holdout", str(customer_id)) < share


def global_holdout_mask(customer_ids: Iterable[Any], settings_or_salt: Any = None, share: float = 0.05) -> pd.Series:
    """:func:`in_global_holdout` for many customers: a boolean Series indexed by customer id."""
    if not 0.0 <= share < 1.0:
        raise InputError(f"global holdout share must be in [0, 1), got {share}")
    ids = [str(c) for c in customer_ids]
    u = buckets(_holdout_salt(settings_or_salt), "global-holdout", ids)
    return pd.Series(u < share, index=pd.Index(ids, name="customer_id"), name="global_holdout")


@dataclass(frozen=True)
class SRMResult:
    """Sample-ratio-mismatch check: observed vs expected counts and the chi-square test."""

    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    p_value: float
    mismatch: bool

    def to_dict(self) -> dict[str, Any]:
        return {"observed": self.observed, "expected": self.expected, "chi2": self.chi2,
                "p_value": self.p_value, "mismatch": self.mismatch}


def srm_check(counts: Mapping[str, int] | pd.Series, weights: Mapping[str, float] | None = None,
              alpha: float = SRM_ALPHA) -> SRMResult:
    """Chi-square goodness-of-fit test of arm sizes against the planned weights (p < alpha flags SRM).

    Args:
        counts: customers per arm.
        weights: planned share per arm (normalised); equal shares when omitted.
        alpha: threshold below which the split is flagged as a mismatch (0.001 by convention).
    """
    counts = {str(k): int(v) for k, v in dict(counts).items()}
    if len(counts) < 2:
        raise InputError(f"a sample-ratio check needs at least two arms, got {list(counts)}")
    weights = {k: 1.0 for k in counts} if weights is None else {str(k): float(v) for k, v in weights.items()}
    missing = sorted(set(counts) - set(weights))
    if missing:
        raise InputError(f"arms {missing} have no planned weight", hint=f"planned arms: {sorted(weights)}")
    keys = sorted(counts)
    total_w = sum(weights[k] for k in keys)
    n = sum(counts.values())
    exp = {k: n * weights[k] / total_w for k in keys}
    chi2, p = stats.chisquare([counts[k] for k in keys], [exp[k] for k in keys])
    return SRMResult(observed=counts, expected=exp, chi2=float(chi2), p_value=float(p), mismatch=bool(p < alpha))


# --- persistence --------------------------------------------------------------------------------
def save_experiment(store: Any, spec: ExperimentSpec, *, status: str = "running") -> None:
    """Create (or update the weights/status of) an experiment row in the store."""
    from persona.store.models import Experiment

    with store.session() as s:
        row = s.get(Experiment, spec.name)
        if row is None:
            s.add(Experiment(name=spec.name, salt=spec.effective_salt, variants=dict(spec.variants),
                             holdout=spec.holdout, status=status, created_at=datetime.now(UTC)))
        else:
            if row.salt != spec.effective_salt:
                raise InputError(f"experiment {spec.name!r} exists with another salt",
                                 hint="changing the salt would reshuffle every customer; use a new experiment name")
            row.variants, row.holdout, row.status = dict(spec.variants), spec.holdout, status


def load_experiment(store: Any, name: str) -> ExperimentSpec:
    """The stored experiment ``name`` as a spec (NotFoundError when absent)."""
    from persona.store.models import Experiment

    with store.session() as s:
        row = s.get(Experiment, name)
        if row is None:
            names = [r[0] for r in s.query(Experiment.name).order_by(Experiment.name).limit(20)]
            raise NotFoundError(f"no experiment named {name!r}",
                                hint=f"known experiments: {names}" if names else "no experiment is stored yet")
        return ExperimentSpec.from_model(row)


def log_exposure(store: Any, experiment: ExperimentSpec | Any | str, assignments: Mapping[str, str] | pd.Series,
                 exposed_at: datetime | Mapping[str, datetime] | pd.Series | None = None) -> int:
    """Record that customers were exposed to their variant; the first exposure wins.

    Args:
        store: the workspace store.
        experiment: the experiment (spec, stored row or name); a spec not yet stored is saved first.
        assignments: customer id -> variant (e.g. the output of :func:`assign`).
        exposed_at: one timestamp for all, or one per customer; default now.

    Returns:
        The number of new exposures written (customers already logged, and erased ones, are left out).
    """
    from sqlalchemy import select

    from persona.privacy.tombstones import live_rows
    from persona.store.models import Assignment

    if isinstance(experiment, str):
        spec = load_experiment(store, experiment)
    else:
        spec = _as_spec(experiment)
        save_experiment(store, spec)
    series = pd.Series(assignments, dtype=object) if not isinstance(assignments, pd.Series) else assignments
    if series.empty:
        return 0
    allowed = set(spec.weights())
    unknown = sorted(set(series.astype(str)) - allowed)
    if unknown:
        raise InputError(f"variants {unknown} are not part of experiment {spec.name!r}", hint=f"allowed: {sorted(allowed)}")
    now = datetime.now(UTC)
    if exposed_at is None or isinstance(exposed_at, datetime):
        ts = pd.Series(exposed_at or now, index=series.index)
    else:
        ts = pd.Series(exposed_at).reindex(series.index).fillna(now)
    rows = [{"experiment": spec.name, "customer_id": str(c), "variant": str(v), "exposed_at": pd.Timestamp(t).to_pydatetime()}
            for c, v, t in zip(series.index, series.to_numpy(), ts.to_numpy(), strict=True)]
    written = 0
    with store.session() as s:
        existing: set[str] = set()
        ids = [r["customer_id"] for r in rows]
        for i in range(0, len(ids), 900):  # stay under SQLite's bound-parameter limit
            chunk = ids[i:i + 900]
            existing.update(s.scalars(select(Assignment.customer_id).where(
                Assignment.experiment == spec.name, Assignment.customer_id.in_(chunk))))
        new = [r for r in live_rows(s, rows) if r["customer_id"] not in existing]  # none for a customer erased since
        seen: set[str] = set()
        new = [r for r in new if not (r["customer_id"] in seen or seen.add(r["customer_id"]))]
        if new:
            s.execute(Assignment.__table__.insert(), new)
        written = len(new)
    log.info("experiment=%s exposures_written=%d skipped=%d", spec.name, written, len(rows) - written)
    return written


def read_exposures(store: Any, name: str) -> pd.DataFrame:
    """The exposure log of one experiment: customer_id, variant, exposed_at."""
    df = store.read_frame(
        "SELECT customer_id, variant, exposed_at FROM assignments WHERE experiment = :name", {"name": name})
    df["exposed_at"] = pd.to_datetime(df["exposed_at"], utc=True, format="mixed")
    return df
