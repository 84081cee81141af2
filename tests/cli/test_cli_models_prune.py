"""``persona models prune``: the plan as a table or JSON, a dry run, pruned versions in ``models list``, and one-line
errors for bad input, on SQLite and PostgreSQL workspaces."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from persona.cli.main import app
from persona.config import load_settings
from persona.registry import promote, register
from persona.store import open_store
from persona.store.workspace import init_workspace

runner = CliRunner()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A workspace with models 'reco' v1-v6 (v4 active after v2: v2 is the rollback target) and 'churn' v1-v2."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    settings = load_settings(tmp_path / "ws", database_url=url, progress=False)
    init_workspace(settings)
    store = open_store(settings)
    try:
        for i in range(1, 7):
            register(store, "reco", "recommender", {"w": i, "pad": os.urandom(3000)}, {"algorithm": "ease"}, {"ndcg@10": i / 10})
        promote(store, "reco", 2)
        promote(store, "reco", 4)
        for i in range(1, 3):
            register(store, "churn", "churn", {"w": i}, activate=True)
    finally:
        store.dispose()
    return settings.workspace


def _cli(ws: Path, *args: str):  # noqa: ANN202
    return runner.invoke(app, [*args, "--workspace", str(ws)])


def _folders(ws: Path, name: str) -> list[str]:
    return sorted(p.name for p in (ws / "models" / name).iterdir())


def test_prune_json_reports_the_plan_and_the_freed_bytes_and_list_shows_the_pruned_versions(ws: Path) -> None:
    res = _cli(ws, "models", "prune", "reco", "--keep", "1", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert (out["keep"], out["dry_run"], out["pruned"], out["errors"]) == (1, False, 3, {})
    (reco,) = out["models"]
    assert (reco["name"], reco["pruned"], reco["kept"]) == ("reco", [1, 3, 5], [2, 4, 6])
    assert out["freed_bytes"] == reco["freed_bytes"] == sum(v["bytes"] for v in reco["versions"]) > 3000 * 3
    assert {v["version"]: v["why"] for v in reco["versions"] if v["action"] == "keep"} == {
        2: ["rollback target"], 4: ["in production (active)"], 6: ["the newest"]}
    assert _folders(ws, "reco") == ["v2", "v4", "v6"] and _folders(ws, "churn") == ["v1", "v2"]
    listed = json.loads(_cli(ws, "models", "list", "reco", "--json").output)
    assert [(m["version"], m["status"]) for m in listed] == [(1, "pruned"), (2, "retired"), (3, "pruned"),
                                                             (4, "active"), (5, "pruned"), (6, "candidate")]
    assert [bool(m["pruned_at"]) for m in listed] == [True, False, True, False, True, False]
    assert listed[0]["metrics"] == {"ndcg@10": 0.1} and listed[0]["params"] == {"algorithm": "ease"}
    table = _cli(ws, "models", "list", "reco")
    assert table.exit_code == 0 and "pruned_at" in table.output and table.output.count("pruned") >= 4


def test_a_dry_run_prints_the_same_plan_and_deletes_nothing(ws: Path) -> None:
    dry = _cli(ws, "models", "prune", "--keep", "1", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.output)
    assert plan["dry_run"] is True and [(m["name"], m["pruned"]) for m in plan["models"]] == [("churn", []), ("reco", [1, 3, 5])]
    assert _folders(ws, "reco") == [f"v{v}" for v in range(1, 7)]
    assert {m["status"] for m in json.loads(_cli(ws, "models", "list", "--json").output)} == {"active", "retired", "candidate"}
    table = _cli(ws, "models", "prune", "--keep", "1", "--dry-run")
    flat = " ".join(table.output.split())  # the summary line may wrap at the console's width
    assert table.exit_code == 0 and "would prune 3 versions of 1 model, freeing" in flat
    assert "dry run: nothing was changed" in flat and "rollback target" in flat
    done = _cli(ws, "models", "prune", "--keep", "1", "--json")
    assert {**json.loads(done.output), "dry_run": True} == plan
    again = _cli(ws, "models", "prune", "--keep", "1")
    assert again.exit_code == 0 and "nothing to prune" in again.output


def test_the_table_says_what_was_pruned_and_the_space_freed(ws: Path) -> None:
    res = _cli(ws, "models", "prune", "reco", "--keep", "2")
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())  # the summary line may wrap at the console's width
    assert "pruned 2 versions of 1 model: freed" in flat and "KiB" in flat
    assert "one of the 2 newest" in flat and "in production (active)" in flat


def test_a_pruned_version_cannot_be_promoted_one_line_exit_3(ws: Path) -> None:
    assert _cli(ws, "models", "prune", "reco", "--keep", "1").exit_code == 0
    res = _cli(ws, "models", "promote", "reco", "3")
    assert res.exit_code == 3
    assert res.output.strip().splitlines() == [res.output.strip()]  # one line, no traceback
    assert res.output.startswith("error[pruned]: cannot promote model 'reco' v3: it was pruned on ")
    assert "loadable versions of 'reco': [2, 4, 6]" in res.output
    assert _cli(ws, "models", "rollback", "reco", "--json").exit_code == 0  # to v2, which was kept for it


@pytest.mark.parametrize(("args", "code", "start"), [
    (["--keep", "0"], 2, "error[bad_input]: --keep must be a whole number of versions, at least 1; got 0"),
    (["--keep", "-3"], 2, "error[bad_input]: --keep must be a whole number of versions, at least 1; got -3"),
    ([], 2, "error[bad_input]: persona models prune needs --keep N"),
    (["nothing", "--keep", "2"], 3, "error[not_found]: no model named 'nothing' is registered (registered: ['churn', 'reco'])"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit_code(ws: Path, args: list[str], code: int, start: str) -> None:
    res = _cli(ws, "models", "prune", *args)
    assert res.exit_code == code, res.output
    assert res.output.strip().splitlines() == [res.output.strip()] and res.output.startswith(start)
    assert _folders(ws, "reco") == [f"v{v}" for v in range(1, 7)]


def test_automatic_retention_from_the_environment(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONA_MODELS_KEEP", "1")
    store = open_store(load_settings(ws, progress=False))
    try:
        register(store, "reco", "recommender", {"w": 7})  # v7: newest; v4 active; v2 its rollback target
    finally:
        store.dispose()
    assert _folders(ws, "reco") == ["v2", "v4", "v7"]
    assert _folders(ws, "churn") == ["v1", "v2"]  # only the name just registered is pruned


def test_list_names_an_unknown_model_and_says_when_nothing_is_registered(ws: Path, tmp_path: Path) -> None:
    res = _cli(ws, "models", "list", "recco")
    assert res.exit_code == 3 and res.output.startswith("error[not_found]: no model named 'recco' is registered")
    assert "'churn', 'reco'" in res.output
    empty = load_settings(tmp_path / "empty", progress=False)
    init_workspace(empty)
    res = _cli(empty.workspace, "models", "list")
    assert res.exit_code == 0 and "no model is registered yet" in res.output
    assert json.loads(_cli(empty.workspace, "models", "list", "--json").output) == []
