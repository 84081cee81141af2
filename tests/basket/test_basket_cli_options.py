"""``persona basket``: a bad --sort or --by is refused by its option name, with the valid values, before any work."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from persona.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("args,message", [
    (["rules", "--sort", "bogus"], "--sort 'bogus' is not a rule metric: use one of lift, confidence, support, leverage, conviction"),
    (["rules", "--sort", "antecedent support"], "--sort 'antecedent support' is not a rule metric"),
    (["rules", "--by", "week"], "--by 'week' is not a basket grouping: use session or day"),
    (["together", "p1", "--by", "week"], "--by 'week' is not a basket grouping: use session or day"),
])
def test_bad_option_values_are_refused_by_name(tmp_path, args, message) -> None:  # noqa: ANN001
    # the workspace does not exist: the value is refused before it is opened
    r = runner.invoke(app, ["basket", *args, "--workspace", str(tmp_path / "none")], env={"PERSONA_WORKSPACE": ""})
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert message in r.output and "by=" not in r.output, r.output
