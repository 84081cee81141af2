from __future__ import annotations

from pathlib import Path

import pytest

from persona.errors import DataFileError, InputError
from persona.persistence import load_estimator, save_estimator


class Model:
    def __init__(self) -> None:
        self.coef_ = [1.0, 2.0]
        self.labels_ = list(range(1000))


class Other:
    pass


def test_round_trip_without_excluded_state(tmp_path: Path) -> None:
    m = Model()
    p = save_estimator(m, tmp_path / "deep" / "m.joblib", exclude=("labels_",))
    back = load_estimator(Model, p)
    assert back.coef_ == [1.0, 2.0] and not hasattr(back, "labels_")
    assert m.labels_ and list(tmp_path.joinpath("deep").iterdir()) == [p]  # the original is untouched, no temp file left


def test_wrong_class_missing_file_and_garbage_are_clear_errors(tmp_path: Path) -> None:
    p = save_estimator(Model(), tmp_path / "m.joblib")
    with pytest.raises(InputError, match="holds a Model, not a Other"):
        load_estimator(Other, p)
    with pytest.raises(DataFileError, match="no saved model"):
        load_estimator(Model, tmp_path / "nope.joblib")
    (tmp_path / "junk.joblib").write_bytes(b"not a pickle")
    with pytest.raises(DataFileError, match="not a saved Persona model"):
        load_estimator(Model, tmp_path / "junk.joblib")
