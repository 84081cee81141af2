"""Numbers and time stamps as people read them: the dashboard, the report and the command line share these."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from persona.display import number, when


@pytest.mark.parametrize(("value", "text"), [
    (81200, "81,200"), (35550.0, "35,550"), (237625.4, "237,625"), (7472, "7,472"), (731, "731"), (0, "0"),
    (0.42713, "0.4271"), (12.5, "12.5"), (31.98, "31.98"), (153.274, "153.27"), (2.0001, "2"), (-0.031, "-0.031"),
    (-12.346, "-12.35"), (0.00001234, "1.23e-05"), (1.08e-19, "0"),
    (float("nan"), "n/a"), (None, "–"),
])
def test_numbers_are_never_in_scientific_notation_where_people_count(value, text):
    assert number(value) == text


def test_effects_carry_their_sign():
    assert (number(0.012, sign=True), number(-0.5, sign=True), number(0, sign=True)) == ("+0.012", "-0.5", "0")


def test_time_stamps_read_the_same_from_either_database():
    assert when("2025-11-29 06:31:16.000000") == "2025-11-29 06:31:16 UTC"  # SQLite's text: naive means UTC
    assert when(datetime(2025, 11, 29, 7, 31, 16, 500, tzinfo=timezone(timedelta(hours=1)))) == "2025-11-29 06:31:16 UTC"
    assert when(datetime(2025, 11, 29, 6, 31, 16, tzinfo=UTC)) == "2025-11-29 06:31:16 UTC"
    assert when(None) == ""


def test_command_line_tables_print_large_floats_in_full():
    from persona.cli._common import _fmt

    assert (_fmt(12345.6), _fmt(0.42713), _fmt(3), _fmt(None)) == ("12,346", "0.4271", "3", "")


def test_piped_tables_are_not_cut_at_eighty_characters(tmp_path):
    """Written to a pipe or a file, a table keeps every column whole (Rich would cut at 80 characters)."""
    import subprocess
    import sys

    code = ("from persona.cli._common import emit; "
            "emit([{'metric': 'converted', 'bootstrap_ci_high': 0.001497, 'relative_lift': 'n/a', 'p_adjusted': 1.0, "
            "'significant': False, 'difference': 0.0, 'bootstrap_ci_low': 0.0, 'variant': 'A'}], False)")
    env = {k: v for k, v in __import__("os").environ.items() if k != "COLUMNS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60).stdout
    assert "bootstrap_ci_high" in out and "significant" in out and "…" not in out


def test_command_line_tables_print_time_stamps_one_way():
    from persona.cli._common import _fmt

    assert _fmt("2026-12-07 03:45:52.785832") == "2026-12-07 03:45:52 UTC"  # SQLite's text
    assert _fmt("2026-12-07T04:31:45.663097+01:00") == "2026-12-07 03:31:45 UTC"  # ISO with an offset
    assert _fmt(datetime(2026, 12, 7, 3, 45, 52, tzinfo=UTC)) == "2026-12-07 03:45:52 UTC"  # PostgreSQL's
    assert _fmt("2026-13-45 99:99:99") == "2026-13-45 99:99:99"  # shaped like one but no time: as written
    assert _fmt("order 2026-12-07 03:45:52") == "order 2026-12-07 03:45:52"  # text around it: as written
