"""Model registry: every trained model with its version, parameters, metrics and artifact.

Artifacts live under ``settings.models_dir/<name>/v<N>/`` (``model.joblib`` and ``meta.json``),
written to a temporary folder first and renamed into place, so a crash never leaves a half-written
version. Rows live in the ``models`` table. At most one version of a name is ``active``; the others
are ``candidate`` (never promoted) or ``retired`` (promoted once, since replaced).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
from sqlalchemy import func, select

from persona.errors import ConstraintError, DataFileError, InputError, NotFoundError, StoreError
from persona.jsonvalues import dumps, plain
from persona.store.models import ModelVersion as ModelRow

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
ARTIFACT = "model.joblib"
META = "meta.json"
STATUSES = ("candidate", "active", "retired")


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model (a plain record, detached from the database)."""

    name: str
    version: int
    kind: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    artifact_path: str
    status: str
    created_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly fields (for ``--json`` output and the API)."""
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat() if self.created_at else None
        return d


def _entity(row: ModelRow) -> ModelVersion:
    return ModelVersion(name=row.name, version=int(row.version), kind=row.kind, params=dict(row.params or {}),
                        metrics=dict(row.metrics or {}), artifact_path=row.artifact_path or "",
                        status=row.status, created_at=row.created_at)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InputError(f"invalid model name {name!r}",
                         hint="use 1-128 letters, digits, '_', '-' or '.', starting with a letter or digit")


def _jsonable(d: dict[str, Any] | None) -> dict[str, Any]:
    """Parameters and metrics as plain JSON (numpy numbers, arrays and timestamps become numbers, lists and text)."""
    return {str(k): v for k, v in plain(dict(d or {})).items()}


def _write_artifact(target: Path, model: Any, meta: dict[str, Any]) -> None:
    """Write ``model`` and ``meta`` into ``target`` atomically (temp folder + rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise StoreError(f"artifact folder {target} already exists", hint="remove it or register under a new version")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        joblib.dump({"format": 1, "model": model}, tmp / ARTIFACT, compress=3)
        (tmp / META).write_text(dumps(meta, indent=2), encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def register(
    store: Any,
    name: str,
    kind: str,
    model: Any,
    params: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    *,
    activate: bool = False,
) -> ModelVersion:
    """Save a trained model as the next version of ``name``.

    Args:
        store: the workspace store (its settings give ``models_dir``).
        name: model name, e.g. ``"recommender"``.
        kind: family, e.g. ``"recommender"``, ``"churn"``.
        model: any picklable fitted object.
        params: its parameters (JSON).
        metrics: its evaluation metrics (JSON).
        activate: make this version the active one at once.

    Returns:
        The new :class:`ModelVersion`.

    Raises:
        InputError: invalid name.
        StoreError: the artifact or the row cannot be written.
    """
    _check_name(name)
    root = Path(store.settings.models_dir) / name
    params_j, metrics_j = _jsonable(params), _jsonable(metrics)
    for _attempt in range(5):
        with store.session() as s:
            latest = s.scalar(select(func.max(ModelRow.version)).where(ModelRow.name == name)) or 0
        version = int(latest) + 1
        target = root / f"v{version}"
        if target.exists():  # an artifact without a row (a crash between the two): skip its number
            shutil.rmtree(target, ignore_errors=True) if not (target / META).exists() else None
            if target.exists():
                version_dirs = [int(p.name[1:]) for p in root.glob("v*") if p.name[1:].isdigit()]
                version = max([version, *version_dirs]) + 1
                target = root / f"v{version}"
        now = datetime.now(UTC)
        _write_artifact(target, model, {"name": name, "version": version, "kind": kind, "params": params_j,
                                        "metrics": metrics_j, "created_at": now.isoformat()})
        try:
            with store.session() as s:
                row = ModelRow(name=name, version=version, kind=kind, params=params_j, metrics=metrics_j,
                               artifact_path=str(target), status="candidate", created_at=now)
                s.add(row)
                s.flush()
                entity = _entity(row)
        except ConstraintError as exc:
            shutil.rmtree(target, ignore_errors=True)
            if exc.rule != "UNIQUE":
                raise
            continue  # another process took this version number: retry with the next
        log.info("registered model name=%s version=%d kind=%s", name, version, kind)
        return promote(store, name, version) if activate else entity
    raise StoreError(f"could not allocate a version for model {name!r}", hint="retry; another process is registering")


def _rows(s: Any, name: str) -> list[ModelRow]:
    return list(s.scalars(select(ModelRow).where(ModelRow.name == name).order_by(ModelRow.version)))


def get_version(store: Any, name: str, version: int | None = None) -> ModelVersion:
    """The record of one version: ``version``, else the active one, else the latest.

    Raises:
        NotFoundError: no such model or version.
    """
    with store.session() as s:
        rows = _rows(s, name)
        if not rows:
            known = sorted({r for r in s.scalars(select(ModelRow.name).distinct())})
            raise NotFoundError(f"no model named {name!r} is registered",
                                hint=f"registered: {known}" if known else "train one first, e.g. `persona recommend train`")
        if version is not None:
            match = [r for r in rows if r.version == int(version)]
            if not match:
                raise NotFoundError(f"model {name!r} has no version {version}",
                                    hint=f"versions: {[r.version for r in rows]}")
            return _entity(match[0])
        active = [r for r in rows if r.status == "active"]
        return _entity(active[-1] if active else rows[-1])


def load(store: Any, name: str, version: int | None = None) -> Any:
    """Load a registered model: ``version``, else the active one, else the latest.

    Raises:
        NotFoundError: no such model or version.
        DataFileError: the artifact is missing or unreadable.
    """
    mv = get_version(store, name, version)
    path = Path(mv.artifact_path) / ARTIFACT
    if not path.is_file():
        raise DataFileError(f"the artifact of model {name!r} v{mv.version} is missing at {path}",
                            hint="retrain it, or promote another version")
    try:
        payload = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad artifact
        raise DataFileError(f"cannot read {path}: {exc}", hint="retrain the model with this version of Persona") from exc
    return payload["model"] if isinstance(payload, dict) and "model" in payload else payload


def list_models(store: Any, name: str | None = None) -> list[ModelVersion]:
    """Every registered version (of one name, or of all), by name then version."""
    with store.session() as s:
        q = select(ModelRow).order_by(ModelRow.name, ModelRow.version)
        if name is not None:
            q = q.where(ModelRow.name == name)
        return [_entity(r) for r in s.scalars(q)]


def promote(store: Any, name: str, version: int) -> ModelVersion:
    """Make ``version`` the active version of ``name``; the previously active one is retired.

    Raises:
        NotFoundError: no such model or version.
    """
    get_version(store, name, version)  # raises a clear NotFoundError
    with store.session() as s:
        target = None
        for r in _rows(s, name):
            if r.version == int(version):
                r.status = "active"
                target = r
            elif r.status == "active":
                r.status = "retired"
        s.flush()
        entity = _entity(target)
    log.info("promoted model name=%s version=%d", name, version)
    return entity


def rollback(store: Any, name: str) -> ModelVersion:
    """Re-activate an earlier version: the newest retired version below the active one (else the newest retired).

    Retired versions are the ones that were active before, so this steps back to the model in use
    before the latest promotion.

    Returns:
        The version now active.

    Raises:
        NotFoundError: no such model, or no earlier version to roll back to.
    """
    current = get_version(store, name)
    with store.session() as s:
        rows = [_entity(r) for r in _rows(s, name)]
    retired = [r for r in rows if r.status == "retired" and r.version != current.version]
    below = [r for r in retired if r.version < current.version]
    choice = (below or retired or [r for r in rows if r.version < current.version])
    if not choice:
        raise NotFoundError(f"model {name!r} has no version before v{current.version} to roll back to",
                            hint="list versions with list_models")
    return promote(store, name, choice[-1].version)
