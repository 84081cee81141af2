"""``persona run`` end to end on a small generated shop: every stage reports, the report is written, reruns add nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from persona.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def small_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shop")
    r = runner.invoke(app, ["demo", "generate", "--customers", "400", "--products", "120", "--days", "150", "--seed", "7",
                            "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.slow
def test_run_on_own_data_completes_every_stage_and_is_idempotent(small_shop: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    r = runner.invoke(app, ["run", "--data", str(small_shop), "--workspace", str(ws), "--json"], env={"PERSONA_WORKSPACE": ""})
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    stages = out["stages"]
    assert stages["demo"]["status"] == "skipped"  # the user's data was given
    failed = {k: v["message"] for k, v in stages.items() if v["status"] == "failed"}
    assert not failed, failed
    for must in ("ingest", "quality", "recommend", "profiles", "segments", "campaigns", "experiments"):
        assert stages[must]["status"] == "ok", (must, stages[must]["message"])
    ing = stages["ingest"]["figures"]
    report = Path(out["report"])
    html = report.read_text(encoding="utf-8")
    assert report.is_file() and "data:image/png;base64," in html and "Campaign: a strategy per segment" in html
    fair = stages["fairness"]  # the audit uses what the earlier stages built
    assert fair["status"] == "ok", fair["message"]
    assert {"gender", "age", "country"} <= set(fair["figures"]["attributes"])
    assert {it["measure"] for it in fair["figures"]["recommendations"]} == {"ndcg@10", "recall@10", "popularity of recommended items"}
    assert any(it["measure"] == "AUC" for it in fair["figures"]["predictions"])
    assert {it["campaign"] for it in fair["figures"]["campaigns"]} == {"persona-run-demo"}
    assert "Fairness: do customer groups get the same treatment?" in html
    priv = stages["privacy"]
    assert priv["status"] == "ok" and priv["figures"]["erasure_complete"] is True, priv
    assert priv["figures"]["plaintext_pii"]["customer_attributes"] == {}  # the demo files map every PII column
    assert 0 <= priv["figures"]["share_below_k"]["generalised"] < priv["figures"]["share_below_k"]["precise"]
    assert "Privacy: what is held and how it is protected" in html
    sent = stages["campaigns"]["figures"]["sent"]
    assert sent > 0 and len(list((ws / "outbox" / "persona-run-demo").glob("*.eml"))) == sent
    again = runner.invoke(app, ["run", "--data", str(small_shop), "--workspace", str(ws), "--json"])
    assert again.exit_code == 0, again.output
    st2 = json.loads(again.stdout)["stages"]
    assert st2["campaigns"]["figures"]["sent"] == sent  # never twice
    assert json.dumps(st2["ingest"]["figures"]).count('"accepted": 0') >= 1 or st2["ingest"]["figures"] != ing


def test_run_with_a_missing_data_folder_is_one_clear_line(tmp_path: Path) -> None:
    r = runner.invoke(app, ["run", "--data", str(tmp_path / "nope"), "--workspace", str(tmp_path / "ws")])
    assert r.exit_code == 2 and "is not a folder" in r.output


def test_run_refuses_a_stage_name_that_does_not_exist_before_creating_anything(tmp_path: Path) -> None:
    for option in ("--only", "--skip"):
        r = runner.invoke(app, ["run", option, "recomend", "--workspace", str(tmp_path / "ws"), "--json"])
        assert r.exit_code == 2 and "no stage is called 'recomend'" in r.output and "recommend" in r.output
    assert not (tmp_path / "ws").exists()


def test_run_on_a_workspace_with_ingested_data_adds_no_demo_shop(small_shop: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", "--workspace", str(ws)]).exit_code == 0
    for entity in ("products", "events"):
        r = runner.invoke(app, ["ingest", entity, str(small_shop / f"{entity}.csv"), "--workspace", str(ws), "--json"])
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["run", "--only", "demo", "--only", "ingest", "--only", "quality", "--workspace", str(ws),
                            "--json"])
    assert r.exit_code == 0, r.output
    stages = json.loads(r.stdout)["stages"]
    assert stages["demo"]["status"] == "skipped" and "of its own" in stages["demo"]["message"]
    assert stages["ingest"]["status"] == "ok" and stages["ingest"]["figures"] == {"source": "workspace"}
    assert stages["quality"]["status"] == "ok"
    assert not (ws / "demo").exists()  # nothing generated, nothing mixed into the user's store
    reviews_only = tmp_path / "reviews-only"
    assert runner.invoke(app, ["init", "--workspace", str(reviews_only)]).exit_code == 0
    r = runner.invoke(app, ["ingest", "reviews", str(small_shop / "reviews.csv"), "--workspace", str(reviews_only)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["run", "--only", "demo", "--workspace", str(reviews_only), "--json"])
    assert "reviews" in json.loads(r.stdout)["stages"]["demo"]["message"] and not (reviews_only / "demo").exists()
    r = runner.invoke(app, ["run", "--only", "demo", "--workspace", str(tmp_path / "fresh"), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["stages"]["demo"]["status"] == "ok"  # an empty one: the demo
