"""Saving fitted estimators: one atomic, type-checked joblib format for every model family.

A save writes a temporary file and renames it into place, so a crash never leaves half a model; a load
checks the file holds the class it is loaded as and says so clearly when it does not.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import joblib

from persona.errors import DataFileError, InputError

T = TypeVar("T")


def save_estimator(obj: Any, path: str | Path, *, exclude: Iterable[str] = ()) -> Path:
    """Write ``obj`` (minus the attributes in ``exclude``, e.g. training labels) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    drop = [k for k in exclude if k in obj.__dict__]
    if drop:
        obj = copy.copy(obj)
        for k in drop:
            del obj.__dict__[k]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        joblib.dump(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file renamed into place: a reader sees the old file or
    the new one, and a failure leaves neither a half-written file nor the temporary one.

    Raises:
        InputError: ``path`` is a folder.
        DataFileError: the file cannot be written there (permissions, a full disk).
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder", hint=f"give a file path, e.g. {path / 'report.html'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise DataFileError(f"cannot write {path}: {exc.strerror or exc}", hint="choose a folder you can write to") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise DataFileError(f"cannot write {path}: {exc.strerror or exc}", hint="choose a folder you can write to") from exc
        raise
    return path


def load_estimator(cls: type[T], path: str | Path) -> T:
    """Read an estimator written by :func:`save_estimator` (trusted files only: it unpickles).

    Raises:
        DataFileError: the file does not exist or is not a saved estimator.
        InputError: it holds another class.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"no saved model at {path}", hint="save one with .save(path) or train it first")
    try:
        obj = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a model file"
        raise DataFileError(f"{path} is not a saved Persona model: {type(exc).__name__}") from exc
    if not isinstance(obj, cls):
        raise InputError(f"{path} holds a {type(obj).__name__}, not a {cls.__name__}", hint="load it with its own class")
    return obj
