"""``text sentiment FILE`` and ``evaluate sentiment FILE`` refuse unreadable files with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from persona.cli.main import main
from persona.errors import DataFileError
from persona.text.corpora import read_utf8_text


def _fails(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return " ".join(err.split())


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("label,text\n1,caf\u00e9 tr\u00e8s bon\n0,mauvais\n".encode("latin-1"))
    latin1_txt = tmp_path / "latin1.txt"
    latin1_txt.write_bytes("caf\u00e9 tr\u00e8s bon\n".encode("latin-1"))
    binary = tmp_path / "image.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10")
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("label,text\n1,good\n".encode("utf-16"))
    folder = tmp_path / "reviews"
    folder.mkdir()
    return {"latin1": latin1, "latin1_txt": latin1_txt, "binary": binary, "utf16": utf16, "folder": folder}


@pytest.mark.parametrize("command", [["text", "sentiment"], ["evaluate", "sentiment"]])
def test_unreadable_files_are_one_clear_line(command: list[str], files: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    ws = ["--workspace", str(tmp_path / "ws")] if command[0] == "text" else []
    assert f"{files['latin1']} is not UTF-8 text" in _fails([*command, str(files["latin1"]), *ws], capsys)
    assert "looks binary" in _fails([*command, str(files["binary"]), *ws], capsys)
    assert "is UTF-16 text" in _fails([*command, str(files["utf16"]), *ws], capsys)
    out = _fails([*command, str(files["folder"]), *ws], capsys)
    assert f"{files['folder']} is a folder, not a file" in out and "no such file" not in out
    assert "no such file" in _fails([*command, str(tmp_path / "missing.csv"), *ws], capsys)


def test_text_sentiment_refuses_a_latin1_txt_rather_than_scoring_mojibake(files: dict[str, Path], tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = _fails(["text", "sentiment", str(files["latin1_txt"]), "--workspace", str(tmp_path / "ws")], capsys)
    assert "is not UTF-8 text" in out


def test_text_sentiment_output_mistakes_are_caught_before_scoring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "r.csv"
    f.write_text("text\nlovely\n", encoding="utf-8")
    ws = ["--workspace", str(tmp_path / "ws")]
    assert "--output" in _fails(["text", "sentiment", str(f), "--output", str(tmp_path), *ws], capsys)
    assert "does not exist" in _fails(["text", "sentiment", str(f), "--output", str(tmp_path / "no" / "o.csv"), *ws], capsys)
    assert not (tmp_path / "no").exists()


def test_read_utf8_text() -> None:
    with pytest.raises(DataFileError, match="is a folder"):
        read_utf8_text(Path("."), hint="x")


def test_read_utf8_text_drops_the_bom(tmp_path: Path) -> None:
    f = tmp_path / "bom.csv"
    f.write_bytes("\ufefftext\nok\n".encode())
    assert read_utf8_text(f, hint="x") == "text\nok\n"
