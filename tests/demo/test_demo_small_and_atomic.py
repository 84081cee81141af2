"""The smallest shops the options accept, and ``write_shop`` writing the whole set or nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import persona.demo.shop as shop_mod
from persona.demo import ENTITIES, build_shop, write_shop
from persona.errors import InputError


@pytest.mark.parametrize(
    "kwargs",
    [
        {"customers": 10, "products": 25, "days": 7, "seed": 42},  # the audit's case: nobody buys anything
        {"customers": 10, "products": 26, "days": 7, "seed": 1},  # no event at all
        {"customers": 10, "products": 25, "days": 7, "seed": 2, "dirty": True},  # fewer events than bad rows to add
        {"customers": 50, "products": 25, "days": 7, "seed": 1},  # the audit's 50 customers over 7 days
    ],
)
def test_the_smallest_shops_build(kwargs: dict) -> None:
    s = build_shop(**kwargs)
    assert len(s.customers) >= kwargs["customers"] and list(s.events.columns)[:4] == [
        "event_id", "customer_id", "product_id", "event_type"]
    assert (s.events["event_type"] == "rating").sum() == len(s.reviews)


def test_cli_generate_the_minimum_sizes(tmp_path: Path) -> None:
    from persona.cli.main import app

    res = CliRunner().invoke(app, ["demo", "generate", "--customers", "10", "--products", "25", "--days", "7",
                                   "--out", str(tmp_path / "d"), "--json"])
    assert res.exit_code == 0, res.output
    files = json.loads(res.stdout)["files"]
    assert set(files) == set(ENTITIES)
    for info in files.values():
        assert len(pd.read_csv(info["path"])) == info["rows"]
    assert sorted(os.listdir(tmp_path / "d")) == sorted(f"{e}.csv" for e in ENTITIES)


@pytest.fixture(scope="module")
def small():
    return build_shop(customers=30, products=25, days=20, seed=5)


def _fail_on_frame(monkeypatch: pytest.MonkeyPatch, n: int, exc: BaseException) -> None:
    real, calls = pd.DataFrame.to_csv, [0]

    def to_csv(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls[0] += 1
        if calls[0] == n:
            real(self.head(3), *a, **k)  # part of the file is on disk when it stops
            raise exc
        return real(self, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)


def test_ctrl_c_while_writing_leaves_nothing_new(small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "new" / "shop"
    _fail_on_frame(monkeypatch, 3, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        write_shop(small, out)
    assert not (tmp_path / "new").exists()  # nor the folders it made
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    _fail_on_frame(monkeypatch, 3, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        write_shop(small, kept)
    assert os.listdir(kept) == ["notes.txt"]


def test_a_failed_rewrite_keeps_the_previous_set(small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = build_shop(customers=12, products=25, days=10, seed=9)
    before = {p.name: p.read_bytes() for p in write_shop(old, tmp_path).values()}
    _fail_on_frame(monkeypatch, 4, OSError(28, "No space left on device"))
    with pytest.raises(OSError, match="No space"):
        write_shop(small, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_stopped_between_the_renames_puts_the_previous_set_back(small, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    old = build_shop(customers=12, products=25, days=10, seed=9)
    before = {p.name: p.read_bytes() for p in write_shop(old, tmp_path).values()}
    real, calls = os.replace, [0]

    def replace(src, dst):  # noqa: ANN001, ANN202
        calls[0] += 1
        if calls[0] == 5:  # after two files of the new set are in place
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(shop_mod.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write_shop(small, tmp_path)
    monkeypatch.setattr(shop_mod.os, "replace", real)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_folder_in_the_way_is_refused_before_writing(small, tmp_path: Path) -> None:
    (tmp_path / "events.csv").mkdir()
    with pytest.raises(InputError, match="events.csv"):
        write_shop(small, tmp_path)
    assert os.listdir(tmp_path) == ["events.csv"]


def test_cli_folder_in_the_way_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "d8" / "events.csv").mkdir(parents=True)
    res = subprocess.run([sys.executable, "-m", "persona.cli.main", "demo", "generate", "--customers", "10", "--days", "7",
                          "--products", "25", "--out", str(tmp_path / "d8")], capture_output=True, text=True)
    assert res.returncode == 2 and "events.csv" in res.stderr and "Traceback" not in res.stderr
    assert os.listdir(tmp_path / "d8") == ["events.csv"]
