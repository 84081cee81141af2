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


def test_a_text_file_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    import os

    import pytest

    from persona.errors import DataFileError, InputError
    from persona.persistence import write_text_atomic

    out = write_text_atomic(tmp_path / "sub" / "report.html", "<p>one</p>")
    assert out.read_text(encoding="utf-8") == "<p>one</p>"
    with pytest.raises(InputError, match="is a folder"):
        write_text_atomic(tmp_path / "sub", "x")

    def refuse(src, dst):  # the rename fails (another disk, a permission): the old file stays, no temporary one
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(DataFileError, match="cannot write .*report.html: Permission denied"):
        write_text_atomic(out, "<p>two</p>")
    assert out.read_text(encoding="utf-8") == "<p>one</p>" and sorted(p.name for p in out.parent.iterdir()) == ["report.html"]


def test_reports_refuse_a_folder_as_their_file_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from persona.cli.main import app

    (tmp_path / "rep.html").mkdir()
    data = tmp_path / "inter.csv"
    data.write_text("user_id,item_id\n" + "".join(f"u{u},i{(u * 7 + j) % 13}\n" for u in range(20) for j in range(5)))
    r = CliRunner().invoke(app, ["evaluate", "recommend", "--data", str(data), "--models", "popular",
                                 "--out", str(tmp_path / "rep.html"), "--workspace", str(tmp_path / "ws")])
    assert r.exit_code == 2 and "rep.html is a folder" in r.output and "Traceback" not in r.output
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
