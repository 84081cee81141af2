"""Retention of the model registry: delete the artifacts of old versions, keep their rows as the audit record.

:func:`prune` keeps, for each model name, the artifacts of its ``keep`` newest versions and of every version still
needed: the one in production (what ``load(name)`` returns), the one ``rollback`` would return to, and those that
stored state names (:mod:`persona.registry.references`). Every other version is *pruned*: its row stays, with its
parameters and metrics, marked ``status = 'pruned'`` and ``pruned_at``; its folder ``v<N>`` is deleted.

Safety: the rows are marked in one transaction holding the name's lock (the one registrations and promotions take),
so no version is pruned while it is being promoted and no decision rests on a stale view; the files are deleted only
after that transaction commits. A crash in between leaves folders whose rows say pruned: the next prune of the name
deletes them. Version numbers are never reused (the rows stay), so a deleted ``v<N>`` can never be a newer
registration's folder. A folder is renamed away before it is deleted, so a reader finds it whole or not at all, and a
crash half-way leaves a ``.stale-*`` folder that the next registration sweeps.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from persona.errors import InputError, NotFoundError
from persona.registry.models import (
    PRUNED,
    ModelVersion,
    _entity,
    _rows,
    _sweep_leftovers,
    artifact_location,
    current,
    lock_name,
    rollback_target,
)
from persona.store.locks import transaction_lock
from persona.store.models import ModelVersion as ModelRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionPlan:
    """What retention does with one version: ``keep`` it (and why) or ``prune`` it (and how many bytes that frees)."""

    version: int
    status: str
    action: str  # keep | prune
    why: tuple[str, ...]
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly fields."""
        return {"version": self.version, "status": self.status, "action": self.action, "why": list(self.why),
                "bytes": self.bytes}


@dataclass(frozen=True)
class ModelPrune:
    """Retention of one model name: every version not pruned before, and what is done with it."""

    name: str
    versions: list[VersionPlan]
    #: artifacts of pruned versions that could not be deleted (path: reason); a later prune tries again
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def pruned(self) -> list[VersionPlan]:
        return [v for v in self.versions if v.action == "prune"]

    @property
    def kept(self) -> list[VersionPlan]:
        return [v for v in self.versions if v.action == "keep"]

    @property
    def freed_bytes(self) -> int:
        return sum(v.bytes for v in self.pruned)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly fields."""
        return {"name": self.name, "pruned": [v.version for v in self.pruned], "kept": [v.version for v in self.kept],
                "freed_bytes": self.freed_bytes, "versions": [v.to_dict() for v in self.versions],
                "errors": dict(self.errors)}


@dataclass(frozen=True)
class PruneReport:
    """The outcome of :func:`prune` (or its plan, with ``dry_run``)."""

    keep: int
    dry_run: bool
    models: list[ModelPrune]

    @property
    def pruned(self) -> list[VersionPlan]:
        return [v for m in self.models for v in m.pruned]

    @property
    def freed_bytes(self) -> int:
        """Bytes deleted (with ``dry_run``: that a prune would delete now)."""
        return sum(m.freed_bytes for m in self.models)

    @property
    def errors(self) -> dict[str, str]:
        return {path: why for m in self.models for path, why in m.errors.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly fields (``persona models prune --json``)."""
        return {"keep": self.keep, "dry_run": self.dry_run, "freed_bytes": self.freed_bytes,
                "pruned": sum(len(m.pruned) for m in self.models), "models": [m.to_dict() for m in self.models],
                "errors": self.errors}


def _check_keep(keep: Any) -> int:
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise InputError(f"--keep must be a whole number of versions, at least 1; got {keep!r}",
                         hint="e.g. --keep 3 keeps the three newest versions (and any still in use)")
    return keep


def plan_versions(versions: list[ModelVersion], keep: int, references: dict[int, list[str]] | None = None
                  ) -> dict[int, tuple[str, ...]]:
    """Why each version of one name must stay; the versions missing from the result (and not pruned) can go.

    Args:
        versions: every version of the name, by version.
        keep: how many of the newest versions not pruned keep their artifacts.
        references: what else names a version (:func:`~persona.registry.references.referenced_versions`).

    Returns:
        ``{version: reasons}`` for the versions to keep.
    """
    live = [v for v in versions if not v.pruned]
    why: dict[int, list[str]] = {v.version: [] for v in live}
    for v in live[-keep:]:
        why[v.version].append(f"one of the {keep} newest" if keep > 1 else "the newest")
    production = current(versions)
    if production is not None:
        why[production.version].append("in production" + (" (active)" if production.status == "active" else ""))
    back = rollback_target(versions)
    if back is not None:
        why[back.version].append("rollback target")
    for version, names in (references or {}).items():
        if version in why:
            why[version].extend(names)
    return {v: tuple(reasons) for v, reasons in why.items() if reasons}


def _owned_artifact(settings: Any, mv: ModelVersion) -> Path | None:
    """The artifact of ``mv`` (found as :func:`~persona.registry.models.artifact_location` finds it for loading) when
    it lies where this workspace's registry puts it (``<name>/v<N>``, or the single file ``<name>-v<N>.joblib`` of
    schema 0005 and before); None otherwise: retention deletes nothing else."""
    if not mv.artifact_path:
        return None
    models = Path(os.path.abspath(settings.models_dir))
    path = artifact_location(settings, mv)
    return path if path in (models / mv.name / f"v{mv.version}", models / f"{mv.name}-v{mv.version}.joblib") else None


def _size(path: Path) -> int:
    """Bytes of the file or folder at ``path`` (0 when it is gone)."""
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_size
        return sum(os.lstat(os.path.join(root, f)).st_size for root, _dirs, files in os.walk(path) for f in files)
    except FileNotFoundError:
        return 0


def _remove(path: Path) -> int:
    """Delete the artifact at ``path``; the bytes freed (0 when another process deleted it first).

    A folder is first renamed into a ``.stale-*`` folder beside it (one atomic step: a reader finds it whole or not
    at all), then removed.
    """
    size = _size(path)
    if path.is_dir() and not path.is_symlink():
        stale = Path(tempfile.mkdtemp(prefix=f".stale-{path.name}.", dir=path.parent))
        try:
            os.replace(path, stale / path.name)
        except FileNotFoundError:
            size = 0
        shutil.rmtree(stale, ignore_errors=True)
        return size
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return size


def _names(store: Any, name: str | None) -> list[str]:
    """The model names to prune: ``name`` (which must be registered), else every registered one."""
    with store.session() as s:
        known = sorted(set(s.scalars(select(ModelRow.name).distinct())))
    if name is None:
        return known
    if name not in known:
        raise NotFoundError(f"no model named {name!r} is registered",
                            hint=f"registered: {known}" if known else "nothing is registered yet: there is nothing to prune")
    return [name]


def prune(store: Any, name: str | None = None, *, keep: int, dry_run: bool = False,
          progress: bool | None = None) -> PruneReport:
    """Delete the artifacts of the versions of ``name`` (or of every model) beyond its ``keep`` newest.

    Never pruned: the version in production, the one ``rollback`` would return to, and every version an experiment,
    the stored predictions or a recent interleaving impression names. A pruned version keeps its row (status
    ``pruned``, ``pruned_at``, parameters and metrics); loading or promoting it fails, naming the versions that can be.
    Artifacts that earlier prunes marked but did not delete (a crash, a permission problem) are deleted too.

    Args:
        store: the workspace store.
        name: one model name; None: every registered model.
        keep: how many of the newest versions keep their artifacts (at least 1).
        dry_run: only report what would be pruned and the bytes it would free; nothing is changed.
        progress: a progress bar while deleting (default: the settings' ``progress``).

    Returns:
        A :class:`PruneReport`: per model, each version kept (with why) or pruned (with its bytes).

    Raises:
        InputError: ``keep`` is not a whole number of at least 1.
        NotFoundError: ``name`` is not registered.
    """
    keep = _check_keep(keep)
    from persona.store.portable import RowProgress

    models = []
    for model in _names(store, name):
        plan, doomed = _mark(store, model, keep, dry_run)
        if dry_run or not doomed:
            models.append(plan)
            continue
        bar = RowProgress(store.settings.progress if progress is None else progress, len(doomed), "deleting", "versions")
        freed: dict[int, int] = {}
        errors: dict[str, str] = {}
        try:
            for version, path in doomed:
                try:
                    freed[version] = freed.get(version, 0) + _remove(path)
                except OSError as exc:
                    errors[str(path)] = exc.strerror or str(exc)
                    log.warning("could not delete a pruned artifact path=%s error=%s", path, exc)
                bar.advance(1, f"{model} v{version}")
        finally:
            bar.close()
        _sweep_leftovers(Path(store.settings.models_dir) / model)
        versions = [VersionPlan(v.version, v.status, v.action, v.why, freed.get(v.version, 0)) if v.action == "prune" else v
                    for v in plan.versions]
        models.append(ModelPrune(model, versions, errors))
        log.info("pruned model name=%s keep=%d versions=%s freed_bytes=%d", model, keep,
                 [v.version for v in models[-1].pruned], models[-1].freed_bytes)
    return PruneReport(keep=keep, dry_run=dry_run, models=models)


def _has_candidates(versions: list[ModelVersion], keep: int) -> bool:
    """Whether any version could go before references are counted (they cost a scan: only then are they read)."""
    stay = plan_versions(versions, keep)
    return any(not v.pruned and v.version not in stay for v in versions)


def _mark(store: Any, name: str, keep: int, dry_run: bool) -> tuple[ModelPrune, list[tuple[int, Path]]]:
    """Decide, and (unless ``dry_run``) mark the pruned rows and commit; the plan and the artifacts to delete now.

    The references are read first, outside the name's lock (it guards the registry's rows, not what names them), so
    the locked transaction stays short: on SQLite it holds up every writer of the database.
    """
    from persona.registry.references import referenced_versions

    now = datetime.now(UTC)
    refs = None
    with store.session() as s:
        if _has_candidates([_entity(r) for r in _rows(s, name)], keep):
            refs = referenced_versions(s, name, now=now)
    with store.session() as s:
        if not dry_run:
            transaction_lock(s, lock_name(name))  # as register and promote: none of them sees a half-made decision
        rows = _rows(s, name)
        versions = [_entity(r) for r in rows]
        if refs is None and _has_candidates(versions, keep):  # registered meanwhile
            refs = referenced_versions(s, name, now=now)
        stay = plan_versions(versions, keep, refs)
        plans, doomed = [], []
        for row, mv in zip(rows, versions, strict=True):
            path = _owned_artifact(store.settings, mv)
            if mv.pruned:  # pruned before: its artifact may still be there (a crash before the deletion)
                if path is not None and path.exists():
                    plans.append(VersionPlan(mv.version, mv.status, "prune", ("pruned before, artifact left behind",),
                                             _size(path)))
                    doomed.append((mv.version, path))
                continue
            if mv.version in stay:
                plans.append(VersionPlan(mv.version, mv.status, "keep", stay[mv.version]))
                continue
            why = (f"older than the {keep} newest" if keep > 1 else "older than the newest",) + (() if path is not None or not mv.artifact_path else
                                                         (f"its artifact {mv.artifact_path} is not in the models folder: left in place",))
            plans.append(VersionPlan(mv.version, mv.status, "prune", why, _size(path) if path is not None else 0))
            if path is not None:
                doomed.append((mv.version, path))
            if not dry_run:
                row.status, row.pruned_at = PRUNED, now
    return ModelPrune(name, plans), doomed

