"""``evaluate clv`` on ordinary files: time-zoned dates, a default split derived from the data, clear date errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from shared_data import shared_data
from typer.testing import CliRunner

from persona.cli.main import app
from persona.errors import InputError
from persona.predict.clv_evaluate import default_calibration_end, utc_days

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def cdnow_2025_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CDNOW sample moved 28 years later (same weekdays) as a CSV of ISO times ending in Z."""
    from persona.ingest.adapters.cdnow import read_cdnow_transactions

    tx = read_cdnow_transactions(shared_data("cdnow", "CDNOW_sample.txt"))
    when = tx["date"] + pd.DateOffset(years=28) + pd.Timedelta(hours=10)
    f = tmp_path_factory.mktemp("clvtz") / "tx.csv"
    tx[["customer_id"]].assign(date=when.dt.strftime("%Y-%m-%dT%H:%M:%SZ"), revenue=tx["revenue"]).to_csv(f, index=False)
    return f


def test_z_dates_and_the_data_derived_default_split_give_the_cdnow_benchmark(cdnow_2025_csv: Path) -> None:
    assert "T10:00:00Z" in cdnow_2025_csv.read_text().splitlines()[1]
    code, out = _run("evaluate", "clv", str(cdnow_2025_csv), "--no-hybrid", "--json")
    assert code == 0, out
    rep = json.loads(out)
    # the default calibration end is the middle of the data: 39 of 78 weeks, as the CDNOW benchmark
    assert (rep["calibration_end"], rep["observation_end"]) == ("2025-09-30", "2026-06-30")
    bg = rep["models"]["bgnbd"]
    assert round(bg["params"]["r"], 3) == 0.243 and round(bg["log_likelihood"], 1) == -9582.4
    assert bg["holdout_total_actual"] == 1882
    code, out = _run("evaluate", "clv", str(cdnow_2025_csv), "--calibration-end", "2025-09-30", "--no-hybrid", "--json")
    assert code == 0, out
    assert json.loads(out)["models"]["bgnbd"]["holdout_total_actual"] == 1882


def test_the_cdnow_default_is_unchanged() -> None:
    first, last = pd.Timestamp("1997-01-01"), pd.Timestamp("1998-06-30")
    assert default_calibration_end(first, last) == pd.Timestamp("1997-09-30")


def test_utc_days_mixes_zones_and_naive_times() -> None:
    got = utc_days(pd.Series(["2025-01-03T10:00:00Z", "2025-01-03T01:00:00+02:00", "2025-01-04"]))
    assert list(got) == [pd.Timestamp("2025-01-03 10:00"), pd.Timestamp("2025-01-02 23:00"), pd.Timestamp("2025-01-04")]
    aware = pd.Series(pd.to_datetime(["2025-01-03T10:00:00+01:00"], utc=True))
    assert utc_days(aware).dt.tz is None
    with pytest.raises(InputError, match="not dates"):
        utc_days(pd.Series(["2025-01-03", "oops"]))


def test_date_mistakes_are_one_clear_line(tmp_path: Path) -> None:
    f = tmp_path / "tx.csv"
    f.write_text("customer_id,date,revenue\na,2025-01-03T10:00:00Z,5\na,2025-02-03T10:00:00Z,5\n"
                 "b,2025-01-10T10:00:00Z,3\nb,2025-03-10T10:00:00Z,3\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,date,revenue\na,2025-01-03,5\na,oops,5\n")
    cases = [
        ((str(f), "--calibration-end", "notadate"), "--calibration-end 'notadate' is not a date"),
        ((str(f), "--calibration-end", "2025-02-01", "--observation-end", "bad"), "--observation-end 'bad' is not a date"),
        ((str(f), "--calibration-end", "2030-01-01"), "is on or after the last transaction (2025-03-10)"),
        ((str(f), "--calibration-end", "2024-01-01"), "before the first transaction (2025-01-03)"),
        ((str(bad),), "column 'date': 1 value(s) are not dates (e.g. 'oops')"),
        ((str(tmp_path),), "is a folder, not a file"),
    ]
    for args, msg in cases:
        code, out = _run("evaluate", "clv", *args, "--no-hybrid")
        assert code == 2, out
        flat = " ".join(out.split())
        assert msg in flat and "Traceback" not in out, out
    code, out = _run("evaluate", "clv", str(f), "--calibration-end", "2030-01-01", "--no-hybrid")
    assert "the data run from 2025-01-03 to 2025-03-10" in " ".join(out.split())
