"""Model registry: every trained model with its version, parameters, metrics and artifact.

Artifacts live under ``settings.models_dir/<name>/v<N>/`` (``model.joblib`` and ``meta.json``). Rows live in the
``models`` table. Registrations of one name take turns (a lock per name held by the transaction that reads the
highest version and inserts the next, whose unique (name, version) still guards against writers that take no lock):
an artifact is written to a temporary folder of its own and renamed to ``v<N>`` only while its process holds the uncommitted row for N, so neither a
crash nor another process registering the same name at the same time can leave a half-written version, delete
another's artifact or mix up two. At most one version of a name is ``active``; the others are ``candidate``
(never promoted), ``retired`` (promoted once, since replaced) or ``pruned`` (its artifact deleted by retention,
:mod:`persona.registry.retention`; its row stays as the record of what was trained, and it can no longer be loaded
or promoted). Promotions take the same lock as registrations and retention, so none of them acts on a stale view.

Versions the prediction stages saved before they registered here (workspaces from before schema revision 0006)
name a single model file as their artifact instead of a folder; :func:`load` reads both.

A row's ``artifact_path`` is relative to the workspace's models folder (``<name>/v<N>``), so the workspace can be
moved or copied and every process, whatever its working directory, finds the artifact. Rows written by older versions
hold an absolute path or one relative to the directory they were registered from: :func:`artifact_location` still
finds those in this workspace's models folder.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import joblib
from sqlalchemy import func, select

from persona.display import when
from persona.errors import (
    ConstraintError,
    DataFileError,
    InputError,
    NotFoundError,
    PersonaError,
    PrunedError,
    StoreError,
)
from persona.jsonvalues import dumps, plain
from persona.store.locks import transaction_lock
from persona.store.models import ModelVersion as ModelRow

log = logging.getLogger(__name__)

#: a model name: a letter or digit, then letters, digits, '_', '-', '.' (any script: categories name models)
NAME_PATTERN = r"^[^\W_][\w.-]{0,127}$"
NAME_RE = re.compile(NAME_PATTERN)
ARTIFACT = "model.joblib"
META = "meta.json"
#: version numbers tried before giving up when writers that take no lock (an older Persona) keep taking them first
ATTEMPTS = 5
#: the status of a version whose artifact retention deleted
PRUNED = "pruned"


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
    pruned_at: datetime | None = None

    @property
    def pruned(self) -> bool:
        """Whether retention deleted this version's artifact (its record is all that is left)."""
        return self.status == PRUNED

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly fields (for ``--json`` output and the API)."""
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat() if self.created_at else None
        d["pruned_at"] = self.pruned_at.isoformat() if self.pruned_at else None
        return d


def _entity(row: ModelRow) -> ModelVersion:
    return ModelVersion(name=row.name, version=int(row.version), kind=row.kind, params=dict(row.params or {}),
                        metrics=dict(row.metrics or {}), artifact_path=row.artifact_path or "",
                        status=row.status, created_at=row.created_at, pruned_at=row.pruned_at)


def lock_name(name: str) -> str:
    """The transaction lock that registrations, promotions and retention of model ``name`` take turns on."""
    return f"model-version/{name}"


def stored_path(name: str, version: int) -> str:
    """What the ``artifact_path`` column holds for ``version`` of ``name``: its folder relative to the models folder
    (POSIX separators, so the row reads the same on every host)."""
    return PurePosixPath(name, f"v{version}").as_posix()


def _layout_tail(stored: Path, name: str, version: int) -> Path | None:
    """The part of a path an older version stored that lies inside the models folder (``<name>/v<N>``, or the single
    file ``<name>-v<N>.joblib`` of schema 0005 and before); None when the path does not end in the registry's layout."""
    if stored.parts[-2:] == (name, f"v{version}"):
        return Path(name, f"v{version}")
    if stored.name == f"{name}-v{version}.joblib":
        return Path(stored.name)
    return None


def _candidates(settings: Any, stored: Path, name: str, version: int) -> list[Path]:
    """Where the artifact stored as ``stored`` may lie, most likely first.

    Absolute: that path, then its registry-layout tail in this workspace's models folder (a moved workspace).
    Relative: against the models folder (how rows are written now), the workspace root, the registry-layout tail in
    the models folder (rows written relative to the directory they were registered from), and last the current
    directory (how older versions read them).
    """
    models, tail = Path(settings.models_dir), _layout_tail(stored, name, version)
    found = [stored] if stored.is_absolute() else [models / stored, Path(settings.workspace) / stored]
    if tail is not None:
        found.append(models / tail)
    if not stored.is_absolute():
        found.append(stored)
    return found


def artifact_location(settings: Any, mv: ModelVersion) -> Path:
    """The absolute path of ``mv``'s artifact (folder, or single file before schema 0006) in the workspace of
    ``settings``: the first candidate that exists, else where it belongs (the first candidate).

    Raises:
        DataFileError: ``mv`` was registered without an artifact.
    """
    if not mv.artifact_path:  # CLV versions saved before schema 0006 kept only their parameters
        raise DataFileError(f"model {mv.name!r} v{mv.version} was registered without an artifact (its parameters only)",
                            hint="retrain it, or promote another version")
    candidates = _candidates(settings, Path(mv.artifact_path), mv.name, mv.version)
    found = next((c for c in candidates if c.exists()), candidates[0])
    return Path(os.path.abspath(found))


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):  # fullmatch: '$' would let a final newline in
        raise InputError(f"invalid model name {name!r}",
                         hint="use 1-128 letters, digits, '_', '-' or '.', starting with a letter or digit")


#: a temporary artifact folder older than this was left by a process that died while registering (a registration
#: takes seconds), so the next registration of the name removes it
LEFTOVER_SECONDS = 3600.0


def _sweep_leftovers(root: Path) -> None:
    """Remove the temporary folders (``.new-*``, ``.stale-*``) under ``root`` that crashed registrations left behind;
    recent ones may belong to a registration still running in another process and are kept."""
    horizon = datetime.now(UTC).timestamp() - LEFTOVER_SECONDS
    for leftover in [*root.glob(".new-*"), *root.glob(".stale-*")]:
        try:
            if leftover.is_dir() and leftover.stat().st_mtime < horizon:
                shutil.rmtree(leftover, ignore_errors=True)
                log.info("removed a leftover artifact folder path=%s", leftover)
        except OSError:  # gone meanwhile (another process swept it)
            continue


def _place(tmp: Path, target: Path) -> None:
    """Rename the finished artifact folder ``tmp`` to ``target``; the caller holds the row of ``target``'s version.

    A folder already there belongs to no registered version (a process that crashed, or whose commit failed, after
    renaming): it is moved aside and removed, never merged with this one.
    """
    if target.exists():
        stale = Path(tempfile.mkdtemp(prefix=f".stale-{target.name}.", dir=target.parent))
        os.replace(target, stale / target.name)
        shutil.rmtree(stale, ignore_errors=True)
        log.warning("replaced an artifact folder no version owned path=%s", target)
    os.replace(tmp, target)


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

    The artifact is written once, to a temporary folder; the version number is then taken by inserting its row while
    holding the name's lock (another registration of the name waits for this one to commit), and the folder becomes
    ``v<N>`` before that row is committed. With ``settings.models_keep`` set, the name is then pruned to that many
    newest versions (:func:`persona.registry.retention.prune`; a failure there is logged, never raised).

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
        ConstraintError: the database refused the row for another reason than a version taken meanwhile.
        StoreError: the artifact or the row cannot be written.
    """
    _check_name(name)
    root = Path(store.settings.models_dir) / name
    params_j, metrics_j = plain(dict(params or {})), plain(dict(metrics or {}))
    entity = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        _sweep_leftovers(root)
        tmp = Path(tempfile.mkdtemp(prefix=".new-", dir=root))  # a name no other process can hold
        try:
            joblib.dump({"format": 1, "model": model}, tmp / ARTIFACT, compress=3)
            for _attempt in range(ATTEMPTS):
                entity = _claim(store, tmp, name, kind, params_j, metrics_j)
                if entity is not None:
                    break
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone once placed; otherwise what a failed attempt left
    except OSError as exc:
        raise StoreError(f"cannot write the artifact of model {name!r} under {root}: {exc}",
                         hint="check that the models folder is writable and its disk has free space") from exc
    if entity is None:
        raise StoreError(f"could not allocate a version for model {name!r} in {ATTEMPTS} attempts",
                         hint="other processes keep registering this name: run the command again")
    log.info("registered model name=%s version=%d kind=%s", name, entity.version, kind)
    registered = promote(store, name, entity.version) if activate else entity
    _retain(store, name)
    return registered


def _retain(store: Any, name: str) -> None:
    """Automatic retention (``settings.models_keep``): prune ``name`` beyond that many newest versions.

    The registration has succeeded whatever happens here: a failure is logged, and whatever it left (rows marked,
    folders not yet deleted) the next prune finishes.
    """
    keep = getattr(store.settings, "models_keep", None)
    if not keep:
        return
    from persona.registry.retention import prune

    try:
        report = prune(store, name, keep=keep, progress=False)
    except (PersonaError, OSError) as exc:
        log.warning("automatic retention of model name=%s keep=%d failed: %s", name, keep, exc)
        return
    if report.pruned:
        log.info("automatic retention name=%s keep=%d pruned=%s freed_bytes=%d", name, keep,
                 [v.version for v in report.pruned], report.freed_bytes)


def _claim(store: Any, tmp: Path, name: str, kind: str, params: dict[str, Any],
           metrics: dict[str, Any]) -> ModelVersion | None:
    """Take the next version of ``name`` for the artifact folder ``tmp``; None when a writer that took no lock took it
    first.

    The row is inserted, ``tmp`` (with its ``meta.json``) renamed to ``v<N>`` while that row is still uncommitted,
    and then the row committed: only the process holding the row ever writes ``v<N>``.
    """
    now = datetime.now(UTC)
    placed = False
    try:
        with store.session() as s:
            transaction_lock(s, lock_name(name))  # registrations of one name take turns: no lost races
            version = int(s.scalar(select(func.max(ModelRow.version)).where(ModelRow.name == name)) or 0) + 1
            target = tmp.parent / f"v{version}"
            row = ModelRow(name=name, version=version, kind=kind, params=params, metrics=metrics,
                           artifact_path=stored_path(name, version), status="candidate", created_at=now)
            s.add(row)
            s.flush()  # takes the version (the unique key catches a writer that took no lock)
            (tmp / META).write_text(dumps({"name": name, "version": version, "kind": kind, "params": params,
                                           "metrics": metrics, "created_at": now.isoformat()}, indent=2),
                                    encoding="utf-8")
            _place(tmp, target)
            placed = True
            entity = _entity(row)
    except ConstraintError as exc:
        if exc.rule != "UNIQUE" or placed:
            raise
        return None  # a writer that took no lock took this version number
    return entity


def _rows(s: Any, name: str) -> list[ModelRow]:
    return list(s.scalars(select(ModelRow).where(ModelRow.name == name).order_by(ModelRow.version)))


def _select(s: Any, name: str, version: int | None) -> ModelRow:
    """The row of ``version`` of ``name``, else of its current version (see :func:`current`), in session ``s``."""
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
        return match[0]
    live = [r for r in rows if r.status != PRUNED] or rows
    active = [r for r in live if r.status == "active"]
    return active[-1] if active else live[-1]


def current(versions: list[ModelVersion]) -> ModelVersion | None:
    """The version in production among ``versions`` (of one name): the active one, else the latest not pruned."""
    live = [v for v in versions if not v.pruned]
    active = [v for v in live if v.status == "active"]
    return active[-1] if active else (live[-1] if live else None)


def rollback_target(versions: list[ModelVersion]) -> ModelVersion | None:
    """The version :func:`rollback` would re-activate among ``versions`` (of one name, by version); None if none.

    The newest retired version below the current one, else the newest retired one, else the newest below it; a
    pruned version is never one (its artifact is gone).
    """
    now = current(versions)
    if now is None:
        return None
    live = [v for v in versions if not v.pruned and v.version != now.version]
    retired = [v for v in live if v.status == "retired"]
    below = [v for v in retired if v.version < now.version]
    choice = below or retired or [v for v in live if v.version < now.version]
    return choice[-1] if choice else None


def _pruned_error(store: Any, mv: ModelVersion, action: str) -> PrunedError:
    """What to say when ``action`` (load, promote) meets a pruned version: when, and which versions can be used."""
    loadable = [m.version for m in list_models(store, mv.name) if not m.pruned]
    on = f" on {when(mv.pruned_at)}" if mv.pruned_at else ""
    return PrunedError(f"cannot {action} model {mv.name!r} v{mv.version}: it was pruned{on} (its artifact was deleted; "
                       "its parameters and metrics are kept in `persona models list`)",
                       hint=f"loadable versions of {mv.name!r}: {loadable}; use one of them, or train a new version"
                       if loadable else "no version of it can be loaded: train a new one")


def get_version(store: Any, name: str, version: int | None = None) -> ModelVersion:
    """The record of one version: ``version``, else the active one, else the latest not pruned.

    A pruned version's record is returned as it is (``status == "pruned"``): it is the audit record of that model.

    Raises:
        NotFoundError: no such model or version.
    """
    with store.session() as s:
        return _entity(_select(s, name, version))


def load(store: Any, name: str, version: int | None = None) -> Any:
    """Load a registered model: ``version``, else the active one, else the latest not pruned.

    Raises:
        NotFoundError: no such model or version.
        PrunedError: retention deleted that version's artifact (the message lists the versions that can be loaded).
        DataFileError: the artifact is missing or unreadable.
    """
    mv = get_version(store, name, version)
    if mv.pruned:
        raise _pruned_error(store, mv, "load")
    artifact = artifact_location(store.settings, mv)
    path = artifact if artifact.is_file() else artifact / ARTIFACT  # a file: saved before schema 0006
    if not path.is_file():
        _raise_if_pruned_meanwhile(store, mv)
        raise DataFileError(f"the artifact of model {name!r} v{mv.version} is missing at {path}",
                            hint=f"the workspace in use is {os.path.abspath(store.settings.workspace)}: check that "
                                 "it is the one the model was trained in, or retrain it, or promote another version")
    try:
        payload = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad artifact
        _raise_if_pruned_meanwhile(store, mv)
        raise DataFileError(f"cannot read {path}: {exc}", hint="retrain the model with this version of Persona") from exc
    return payload["model"] if isinstance(payload, dict) and "model" in payload else payload


def _raise_if_pruned_meanwhile(store: Any, mv: ModelVersion) -> None:
    """A prune that committed after ``mv`` was read deletes its artifact under the reader: say so, not 'missing'."""
    again = get_version(store, mv.name, mv.version)
    if again.pruned:
        raise _pruned_error(store, again, "load")


def list_models(store: Any, name: str | None = None) -> list[ModelVersion]:
    """Every registered version (of one name, or of all), by name then version; pruned ones included."""
    with store.session() as s:
        q = select(ModelRow).order_by(ModelRow.name, ModelRow.version)
        if name is not None:
            q = q.where(ModelRow.name == name)
        return [_entity(r) for r in s.scalars(q)]


def promote(store: Any, name: str, version: int) -> ModelVersion:
    """Make ``version`` the active version of ``name``; the previously active one is retired.

    It takes the name's lock (as registrations and retention do), so a version being pruned is never promoted.

    Raises:
        NotFoundError: no such model or version.
        PrunedError: that version was pruned (the message lists the versions that can be promoted).
    """
    with store.session() as s:
        transaction_lock(s, lock_name(name))
        target = _select(s, name, version)
        if target.status == PRUNED:
            pruned = _entity(target)
        else:
            pruned = None
            for r in _rows(s, name):
                if r.version == int(version):
                    r.status = "active"
                elif r.status == "active":
                    r.status = "retired"
            s.flush()
            entity = _entity(target)
    if pruned is not None:  # outside the transaction: the message reads the other versions
        raise _pruned_error(store, pruned, "promote")
    log.info("promoted model name=%s version=%d", name, version)
    return entity


def rollback(store: Any, name: str) -> ModelVersion:
    """Re-activate an earlier version: the newest retired version below the active one (else the newest retired).

    Retired versions are the ones that were active before, so this steps back to the model in use
    before the latest promotion. Pruned versions are skipped.

    Returns:
        The version now active.

    Raises:
        NotFoundError: no such model, or no earlier version to roll back to.
    """
    now = get_version(store, name)
    target = rollback_target(list_models(store, name))
    if target is None:
        raise NotFoundError(f"model {name!r} has no version before v{now.version} to roll back to",
                            hint="list versions with `persona models list`")
    return promote(store, name, target.version)
