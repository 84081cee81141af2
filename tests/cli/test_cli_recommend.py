"""``persona recommend train|for|similar`` and ``persona evaluate recommend`` on a small real workspace."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from persona.cli.main import app
from persona.config import Settings, load_settings
from persona.recommend.registry import RECOMMENDERS
from persona.store import Store, open_store
from persona.store.workspace import init_workspace

runner = CliRunner()
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def seed_interactions(store: Store, n_customers: int = 40, n_products: int = 16, seed: int = 0) -> None:
    """Two taste groups of customers (products p0-p7 vs p8-p15), 6-9 events each; c_new has no events."""
    rng = np.random.default_rng(seed)
    store.bulk_insert("customers", [{"customer_id": f"c{i}", "customer_key": f"k{i:04d}", "is_stub": False}
                                    for i in range(n_customers)] + [{"customer_id": "c_new", "customer_key": "knew", "is_stub": False}])
    store.bulk_insert("products", [{"product_id": f"p{j}", "title": f"{'garden' if j < 8 else 'kitchen'} thing {j}",
                                    "category": "Garden" if j < 8 else "Kitchen", "price": 5.0 + j, "in_stock": True,
                                    "is_stub": False} for j in range(n_products)] +
                      [{"product_id": "p_new", "title": "garden thing deluxe", "category": "Garden", "price": 9.0,
                        "in_stock": True, "is_stub": False}])
    rows = []
    for i in range(n_customers):
        home = np.arange(0, 8) if i % 2 == 0 else np.arange(8, 16)
        picks = rng.choice(home, size=int(rng.integers(6, 9)), replace=False)
        for n, j in enumerate(picks):
            rows.append({"event_id": f"e{i}_{n}", "customer_id": f"c{i}", "product_id": f"p{j}",
                         "event_type": "purchase" if n % 3 == 0 else "view", "ts": T0 + timedelta(days=n, hours=i),
                         "value": 10.0 + j if n % 3 == 0 else None})
    store.bulk_insert("events", rows)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    settings = load_settings(tmp_path / "ws", progress=False)
    init_workspace(settings)
    store = open_store(settings)
    seed_interactions(store)
    store.dispose()
    yield settings


def _cli(settings: Settings, *args: str):  # noqa: ANN202
    return runner.invoke(app, [*args, "--workspace", str(settings.workspace)])


def test_for_before_training_says_how_to_fix(workspace):
    r = _cli(workspace, "recommend", "for", "c1")
    assert r.exit_code == 3
    assert "persona recommend train" in r.output


def test_train_for_similar(workspace):
    r = _cli(workspace, "recommend", "train", "--model", "popular", "--model", "itemknn,ease", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["version"] == 1 and out["best"] in {"popular", "itemknn", "ease"}
    assert {row["model"] for row in out["comparison"]} == {"popular", "itemknn", "ease"}
    assert all(0.0 <= row["ndcg@10"] <= 1.0 for row in out["comparison"])

    r = _cli(workspace, "recommend", "for", "c2", "-k", "3", "--json")
    assert r.exit_code == 0, r.output
    recs = json.loads(r.stdout)["recommendations"]
    assert [x["rank"] for x in recs] == [1, 2, 3]
    assert all(x["reason"] for x in recs)
    r_human = _cli(workspace, "recommend", "for", "c2", "-k", "3")
    assert r_human.exit_code == 0 and recs[0]["item_id"] in r_human.stdout
    assert " thing " in r_human.stdout  # people read the product's title ("garden thing 3") beside its id

    # a customer the store knows but who has no events: cold start, not an error
    r = _cli(workspace, "recommend", "for", "c_new", "-k", "2", "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["recommendations"]) == 2

    # a customer unknown to the store: a clear error and exit code 3
    r = _cli(workspace, "recommend", "for", "nobody")
    assert r.exit_code == 3 and "not in this workspace" in r.output

    r = _cli(workspace, "recommend", "similar", "p1", "-k", "3", "--json")
    assert r.exit_code == 0, r.output
    sim = json.loads(r.stdout)
    assert sim["basis"] == "interactions" and len(sim["similar"]) == 3
    assert all(x["similar_item_id"] != "p1" for x in sim["similar"])
    r_human = _cli(workspace, "recommend", "similar", "p1", "-k", "3")
    assert r_human.exit_code == 0 and "garden thing" in r_human.stdout
    r = _cli(workspace, "recommend", "similar", "nothing")
    assert r.exit_code == 3

    # retraining registers version 2 and makes it active; rollback and promote move between them
    r = _cli(workspace, "recommend", "train", "--model", "popular", "--json")
    assert json.loads(r.stdout)["version"] == 2
    r = _cli(workspace, "recommend", "versions", "--json")
    assert [(v["version"], v["status"]) for v in json.loads(r.stdout)] == [(1, "retired"), (2, "active")]
    r = _cli(workspace, "recommend", "rollback", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["version"] == 1
    r = _cli(workspace, "recommend", "promote", "2", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["status"] == "active"
    r = _cli(workspace, "recommend", "promote", "9")
    assert r.exit_code == 3 and "no version 9" in r.output


def test_a_customer_added_after_training_gets_cold_start_from_what_is_stored_of_them(workspace):
    r = _cli(workspace, "recommend", "train", "--model", "itemknn", "--json")
    assert r.exit_code == 0, r.output
    store = open_store(workspace)
    store.bulk_insert("customers", [{"customer_id": "c_later", "customer_key": "klater", "is_stub": False,
                                     "attributes": json.dumps({"interests": ["Kitchen"]})}])
    store.dispose()
    r = _cli(workspace, "recommend", "for", "c_later", "-k", "3", "--json")
    assert r.exit_code == 0, r.output
    recs = json.loads(r.stdout)["recommendations"]
    assert len(recs) == 3 and all(int(x["item_id"][1:]) >= 8 for x in recs)  # the kitchen products
    assert {x["reason"] for x in recs} == {"matches your interest in kitchen"}
    # a customer known at training without history, who declared interests since: served by what is stored now
    from sqlalchemy import text

    store = open_store(workspace)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE customers SET attributes = :a WHERE customer_id = 'c_new'"),
                     {"a": json.dumps({"interests": ["Kitchen"]})})
    store.dispose()
    r = _cli(workspace, "recommend", "for", "c_new", "-k", "3", "--json")
    assert {x["reason"] for x in json.loads(r.stdout)["recommendations"]} == {"matches your interest in kitchen"}
    # the JSON API and campaigns serve the same lists
    from persona.api.service import RecommendationService

    store = open_store(workspace)
    try:
        svc = RecommendationService(store)
        svc.load()
        assert [x["product_id"] for x in svc.recommend("c_later", 3)] == [x["item_id"] for x in recs]
        from persona.campaigns.context import build_context
        from persona.campaigns.spec import parse_spec
        from persona.campaigns.strategies import plan_group

        spec = parse_spec("name: x\ngroups:\n  - {name: all, strategy: recommendations, items: 3}\n")
        ctx = build_context(store, spec, code_for=lambda c: c)
        plan = plan_group(pd.DataFrame({"customer_id": ["c_later"]}), spec.groups[0], ctx)[0]
        assert [i["product_id"] for i in plan["items"]] == [x["item_id"] for x in recs]
    finally:
        store.dispose()


def test_similar_fills_up_by_content_and_says_so_and_refuses_a_product_with_nothing_to_compare(workspace):
    store = open_store(workspace)
    store.bulk_insert("products", [{"product_id": "p_bare", "price": 3.0, "in_stock": True, "is_stub": False}])
    store.dispose()
    r = _cli(workspace, "recommend", "train", "--model", "itemknn", "--json")
    assert r.exit_code == 0, r.output
    r = _cli(workspace, "recommend", "similar", "p_new", "-k", "3", "--json")  # no interactions: by its text
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["basis"] == "content" and len(out["similar"]) == 3
    assert all(x["reason"] == "similar to garden thing deluxe" for x in out["similar"])
    r = _cli(workspace, "recommend", "similar", "p1", "-k", "12", "--json")  # 7 co-bought, then by text
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    rows = out["similar"]
    assert out["basis"] == "interactions, then content" and len(rows) == 12
    assert [x["rank"] for x in rows] == list(range(1, 13)) and len({x["similar_item_id"] for x in rows}) == 12
    assert rows[0]["reason"].startswith("customers who") and rows[-1]["reason"] == "similar to garden thing 1"
    r = _cli(workspace, "recommend", "similar", "p_bare")
    assert r.exit_code == 3 and "nothing is similar to 'p_bare' yet" in r.output and "Traceback" not in r.output


def test_for_applies_the_catalogue_filters(workspace):
    store = open_store(workspace)
    from sqlalchemy import text

    with store.engine.begin() as conn:
        conn.execute(text("UPDATE products SET in_stock = :f WHERE product_id IN ('p9', 'p10')"), {"f": False})
    store.dispose()
    r = _cli(workspace, "recommend", "train", "--model", "itemknn", "--json")
    assert r.exit_code == 0, r.output

    def items(*args: str) -> list[str]:
        r = _cli(workspace, "recommend", "for", "c2", "-k", "20", "--json", *args)
        assert r.exit_code == 0, r.output
        return [x["item_id"] for x in json.loads(r.stdout)["recommendations"]]

    def kitchen(i: str) -> bool:  # p8-p15; p0-p7 and p_new are garden things
        return i[1:].isdigit() and int(i[1:]) >= 8

    everything = items()
    assert {"p9", "p10"} & set(everything)  # c2 likes garden things, but kitchen ones fill a list of 20
    assert not {"p9", "p10"} & set(items("--in-stock"))
    assert all(kitchen(i) for i in items("--category", "Kitchen"))
    assert not any(kitchen(i) for i in items("--not-category", "kitchen"))
    priced = items("--min-price", "8", "--max-price", "12")  # p3-p7 cost 8-12, p_new 9
    assert priced and set(priced) <= {"p3", "p4", "p5", "p6", "p7", "p_new"}
    assert "p_new" not in items("--block", "p_new") and "p_new" in everything
    for bad in (("--min-price", "9", "--max-price", "3"), ("--min-price", "cheap")):
        r = _cli(workspace, "recommend", "for", "c2", *bad)
        assert r.exit_code == 2 and "Traceback" not in r.output


def test_an_erased_customer_is_served_nothing(workspace):
    r = _cli(workspace, "recommend", "train", "--model", "itemknn", "--json")
    assert r.exit_code == 0, r.output
    assert _cli(workspace, "recommend", "for", "c4", "--json").exit_code == 0
    r = _cli(workspace, "privacy", "erase", "c4", "--yes", "--json")
    assert r.exit_code == 0, r.output
    r = _cli(workspace, "recommend", "for", "c4", "--json")
    assert r.exit_code == 3 and "was erased" in r.output and "Traceback" not in r.output


def test_train_rejects_unknown_model(workspace):
    r = _cli(workspace, "recommend", "train", "--model", "magic")
    assert r.exit_code == 2 and "unknown recommender" in r.output


def test_evaluate_recommend_on_workspace_writes_report(workspace, tmp_path):
    report = tmp_path / "rep.html"
    r = _cli(workspace, "evaluate", "recommend", "--models", "popular,itemknn", "--out", str(report), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["split"] == "temporal" and {m["model"] for m in out["models"]} == {"popular", "itemknn"}
    # the best model against the other, paired by user: a difference with its interval and p-value
    other = ({"popular", "itemknn"} - {out["best"]}).pop()
    d = out["versus_best"][other]["ndcg@10"]
    assert d["low"] <= d["diff"] <= d["high"] and 0.0 <= d["p"] <= 1.0 and d["users"] >= 2
    assert d["diff"] == pytest.approx(d["mean_a"] - d["mean_b"], abs=1e-5)
    lists = out["lists_versus_runner_up"]
    assert lists["model"] == other and lists["users"] == d["users"]
    assert lists["sentence"].startswith(f"{out['best']} and {other} ")
    html = report.read_text(encoding="utf-8")
    assert "<table>" in html and "data:image/png;base64," in html and "Paired by user" in html
    assert "Top-10 lists:" in html


def test_evaluate_recommend_at_another_list_length_picks_and_reports_at_that_length(workspace, tmp_path):
    report = tmp_path / "rep5.html"
    r = _cli(workspace, "evaluate", "recommend", "--models", "popular,itemknn", "--k", "5", "--out", str(report), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    rows = {m["model"]: m for m in out["models"]}
    assert out["k"] == 5 and all("ndcg@5" in m and "ndcg@10" not in m for m in rows.values())
    assert out["best"] == max(rows, key=lambda n: rows[n]["ndcg@5"])
    assert set(out["versus_best"][({"popular", "itemknn"} - {out["best"]}).pop()]) == {"ndcg@5", "recall@5"}
    html = report.read_text(encoding="utf-8")
    assert "<th>ndcg@5</th>" in html and "<th>recall@5</th>" in html and "Top-5 lists:" in html


def test_evaluate_recommend_on_a_file(workspace, tmp_path):
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"user_id": rng.integers(0, 30, 400), "item_id": rng.integers(0, 25, 400),
                       "rating": rng.integers(1, 6, 400), "timestamp": rng.integers(0, 10_000, 400)})
    f = tmp_path / "inter.csv"
    df.drop_duplicates(["user_id", "item_id"]).to_csv(f, index=False)
    r = _cli(workspace, "evaluate", "recommend", "--data", str(f), "--models", "popular", "--split", "random",
             "--out", str(tmp_path / "r.html"))
    assert r.exit_code == 0, r.output
    assert "popular" in r.stdout and (tmp_path / "r.html").exists()
    r = _cli(workspace, "evaluate", "recommend", "--data", str(tmp_path / "missing.csv"))
    assert r.exit_code == 2
    r = _cli(workspace, "evaluate", "recommend", "--data", str(f), "--split", "sideways")
    assert r.exit_code == 2 and "unknown split" in r.output


def test_evaluate_a_file_without_times_says_the_temporal_default_became_random(workspace, tmp_path):
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"user_id": rng.integers(0, 30, 400), "item_id": rng.integers(0, 25, 400)})
    f = tmp_path / "untimed.csv"
    df.drop_duplicates().to_csv(f, index=False)
    r = _cli(workspace, "evaluate", "recommend", "--data", str(f), "--models", "popular", "--json",
             "--out", str(tmp_path / "r.html"))
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["split"] == "random" and "no time" in out["note"]
    assert "The events carry no time, so a random split" in (tmp_path / "r.html").read_text(encoding="utf-8")
    r = _cli(workspace, "evaluate", "recommend", "--data", str(f), "--models", "popular", "--out", str(tmp_path / "r.html"))
    assert r.exit_code == 0 and "a random split stands in" in r.stdout
    for split in ("temporal", "global"):  # asked for by name: refused, not replaced
        r = _cli(workspace, "evaluate", "recommend", "--data", str(f), "--models", "popular", "--split", split)
        assert r.exit_code == 2 and f"a {split} split needs event times" in r.output and "Traceback" not in r.output


def test_train_and_evaluate_on_a_global_split(workspace, tmp_path):
    r = _cli(workspace, "evaluate", "recommend", "--models", "popular,itemknn", "--split", "global", "--json",
             "--out", str(tmp_path / "g.html"))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["split"] == "global"
    r = _cli(workspace, "recommend", "train", "-m", "popular", "--split", "global", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["split"] == "global"


def test_evaluate_movielens_adapter_reproduces_protocol(workspace, tmp_path):
    from shared_data import shared_data

    folder = shared_data("ml-100k")
    r = _cli(workspace, "evaluate", "recommend", "--adapter", "movielens", str(folder), "--models", "popular,rating-knn",
             "--out", str(tmp_path / "ml.html"), "--by", "gender,age", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["split"] == "stratified" and out["test_pairs"] == 24_934
    assert out["models"][0]["ndcg@10"] == pytest.approx(0.2505, abs=0.002)
    # the held-out ratings' RMSE and MAE, for the model that predicts them (surprise's KNNBaseline: the same figures)
    assert out["models"][1]["rmse"] == pytest.approx(0.916, abs=0.005) and out["models"][1]["mae"] == pytest.approx(0.72, abs=0.005)
    assert "rmse" not in out["models"][0] and "<th>rmse</th>" in (tmp_path / "ml.html").read_text(encoding="utf-8")
    # accuracy by customer group, ages as of 1998 (the year of the ratings), not of today
    by = out["by_group"]
    assert by["attributes"] == ["gender", "age"]
    cmp = {(c["model"], c["attribute"], c["measure"]): c for c in by["comparisons"]}
    age = {g["group"]: g["n"] for g in cmp[("popular", "age", "ndcg@10")]["groups"]}
    assert age["under 25"] > 200 and age["25-34"] > 300 and age.get("65+", 0) < 20
    gender = {g["group"]: g for g in cmp[("popular", "gender", "ndcg@10")]["groups"]}
    assert set(gender) == {"male", "female"} and gender["male"]["n"] + gender["female"]["n"] == 943
    assert "Accuracy by customer group" in (tmp_path / "ml.html").read_text(encoding="utf-8")


def test_evaluate_by_an_attribute_the_users_lack_fails_before_training(workspace):
    r = _cli(workspace, "evaluate", "recommend", "--models", "popular", "--by", "gender")
    assert r.exit_code == 2 and "no 'gender' with two or more known values" in r.output
    r = _cli(workspace, "evaluate", "recommend", "--models", "popular", "--by", "auto")
    assert r.exit_code == 2 and "no attribute to group them by" in r.output


def test_evaluate_recommend_default_models_follow_timestamps(workspace, tmp_path):
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"user_id": rng.integers(0, 30, 500), "item_id": rng.integers(0, 25, 500),
                       "timestamp": rng.integers(0, 10_000, 500)}).drop_duplicates(["user_id", "item_id"])
    timed, untimed = tmp_path / "timed.csv", tmp_path / "untimed.csv"
    df.to_csv(timed, index=False)
    df.drop(columns="timestamp").to_csv(untimed, index=False)
    models = {}
    for f in (timed, untimed):
        r = _cli(workspace, "evaluate", "recommend", "--data", str(f), "--split", "random", "--out",
                 str(tmp_path / f"{f.stem}.html"), "--json")
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        models[f.stem] = {m["model"] for m in out["models"]}
        # a file of user-item pairs has no product categories: the category model is left out, with the reason
        assert out["skipped"]["category"] == "needs at least two distinct product category values"
    # the windowed EASE and the next-item model need each customer's event order: compared only with timestamps
    assert {"ease", "dlae", "ease-local", "gfcf", "transition", "hybrid"} <= models["timed"]
    assert models["untimed"] == models["timed"] - {"ease-local", "transition"}
    assert "category" not in models["timed"]


def test_evaluating_only_models_that_cannot_fit_says_why_and_fails(workspace, tmp_path):
    f = tmp_path / "pairs.csv"
    rng = np.random.default_rng(4)
    pd.DataFrame({"user_id": rng.integers(0, 20, 300), "item_id": rng.integers(0, 25, 300)}).drop_duplicates().to_csv(
        f, index=False)
    r = _cli(workspace, "evaluate", "recommend", "--data", str(f), "--models", "category", "--split", "random",
             "--out", str(tmp_path / "r.html"))
    assert r.exit_code == 2
    assert "no model could be evaluated: category" in r.output and "needs a product 'category'" in r.output
    assert not (tmp_path / "r.html").exists()  # no half-written report
    # the next-item model asked for by name on a file without timestamps: why, and nothing written
    r = _cli(workspace, "evaluate", "recommend", "--data", str(f), "--models", "transition", "--split", "random",
             "--out", str(tmp_path / "r.html"))
    assert r.exit_code == 2
    assert "no model could be evaluated: transition" in r.output and "timestamps" in r.output
    assert not (tmp_path / "r.html").exists()


def test_default_comparison_follows_what_the_catalogue_allows(workspace):
    from persona.data import Interactions
    from persona.evaluate.selection import DEFAULT_MODELS, applicable_models

    store = open_store(workspace)
    try:
        data = Interactions.from_store(store)
    finally:
        store.dispose()
    keep, skipped = applicable_models(DEFAULT_MODELS, data)
    assert keep == list(DEFAULT_MODELS) and skipped == {}  # categories, timestamps, a small catalogue
    big = Interactions.from_frame(pd.DataFrame({"user_id": np.arange(25_000) % 50, "item_id": np.arange(25_000)}))
    keep, skipped = applicable_models([*DEFAULT_MODELS, "ease-local"], big)
    assert keep == ["popular", "itemknn", "als", "hybrid"]
    assert skipped["ease"] == "25,000 products is above its dense-inversion limit of 20,000"
    assert skipped["category"] == "needs at least two distinct product category values"
    assert skipped["ease-local"] == "needs event timestamps"
    # the workspace's products carry categories: train compares the category model and says what it left out
    r = _cli(workspace, "recommend", "train", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert "category" in {m["model"] for m in out["comparison"]} and out["skipped"] == {}


def test_evaluate_recommend_with_repeats_keeps_what_customers_come_back_to(workspace, tmp_path):
    # every customer views two products of their own again and again: a test without repeats hides all of that
    rows = [{"user_id": f"c{u}", "item_id": f"r{u}_{n % 2}" if n % 3 else f"p{(u * 7 + n) % 20}", "timestamp": u * 1000 + n}
            for u in range(30) for n in range(15)]
    f = tmp_path / "repeats.csv"
    pd.DataFrame(rows).to_csv(f, index=False)
    plain = _cli(workspace, "evaluate", "recommend", "--data", str(f), "--models", "popular,repeat", "--json",
                 "--out", str(tmp_path / "a.html"))
    assert plain.exit_code == 0, plain.output
    with_repeats = _cli(workspace, "evaluate", "recommend", "--data", str(f), "--models", "popular,repeat", "--repeats",
                        "--json", "--out", str(tmp_path / "b.html"))
    assert with_repeats.exit_code == 0, with_repeats.output
    a, b = json.loads(plain.stdout), json.loads(with_repeats.stdout)
    assert b["repeats"] is True and a["repeats"] is False and b["test_pairs"] > a["test_pairs"]
    score = {m["model"]: m["ndcg@10"] for m in b["models"]}
    assert b["best"] == "repeat" and score["repeat"] > score["popular"] + 0.2
    assert "repeats kept" in (tmp_path / "b.html").read_text(encoding="utf-8")
    # without timestamps nothing says what comes back: the repeat model is refused with the reason
    pd.DataFrame(rows).drop(columns="timestamp").to_csv(f, index=False)
    r = _cli(workspace, "evaluate", "recommend", "--data", str(f), "--models", "repeat", "--repeats",
             "--out", str(tmp_path / "c.html"))
    assert r.exit_code == 2 and "needs event timestamps" in r.output
    assert not (tmp_path / "c.html").exists()


def test_for_include_seen_brings_back_viewed_products_never_bought_ones(workspace):
    r = _cli(workspace, "recommend", "train", "--model", "popular", "--json")
    assert r.exit_code == 0, r.output
    store = open_store(workspace)
    try:
        ev = store.read_frame("SELECT product_id, event_type FROM events WHERE customer_id = 'c2'")
    finally:
        store.dispose()
    bought = set(ev.loc[ev["event_type"] == "purchase", "product_id"])
    viewed = set(ev["product_id"]) - bought
    assert bought and viewed
    plain = json.loads(_cli(workspace, "recommend", "for", "c2", "-k", "20", "--json").stdout)["recommendations"]
    assert not {x["item_id"] for x in plain} & set(ev["product_id"])
    r = _cli(workspace, "recommend", "for", "c2", "-k", "20", "--include-seen", "--json")
    assert r.exit_code == 0, r.output
    got = {x["item_id"] for x in json.loads(r.stdout)["recommendations"]}
    assert viewed <= got and not got & bought


def test_adapter_data_is_weighted_by_event_type_as_a_workspace_is(tmp_path):
    from persona.cli.evaluate import _interactions_from_adapter

    f = tmp_path / "UserBehavior.csv"
    f.write_text("1,100,7,pv,1511544070\n1,100,7,cart,1511544080\n1,200,8,fav,1511544090\n1,300,7,buy,1511544100\n"
                 "1,400,9,share,1511544110\n")
    data = _interactions_from_adapter("taobao", f)
    weights = dict(zip(data.item_ids[data.matrix.indices], data.matrix.data.tolist(), strict=True))
    assert weights == {"100": 1.0 + 3.0, "200": 3.0, "300": 5.0, "400": 0.5}
    assert set(data.log["event"].astype(str)) == {"view", "add_to_cart", "wishlist", "purchase", "share"}


def test_train_serves_the_model_inside_repeat_where_customers_come_back(workspace):
    store = open_store(workspace)
    try:
        ev = store.read_frame("SELECT customer_id, product_id, event_type FROM events")
        views = ev[ev["event_type"] == "view"].groupby("customer_id").head(1)
        # each customer comes back to one viewed product three times, among their other events
        store.bulk_insert("events", [{"event_id": f"back{n}_{r}", "customer_id": c, "product_id": p, "event_type": "view",
                                      "ts": T0 + timedelta(days=2 + 2 * r, hours=n, minutes=30)}
                                     for n, (c, p) in enumerate(zip(views["customer_id"], views["product_id"], strict=True))
                                     for r in range(3)])
    finally:
        store.dispose()
    r = _cli(workspace, "recommend", "train", "--model", "popular", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["best"] == "popular" and out["served_with_repeats"] is True and out["repeat_share"] > 0.05
    human = _cli(workspace, "recommend", "train", "--model", "popular")
    assert "learned comeback chance" in human.output
    plain = json.loads(_cli(workspace, "recommend", "for", "c2", "-k", "5", "--json").stdout)["recommendations"]
    assert all(x["reason"] and not x["reason"].startswith("you ") for x in plain)  # the discovery list, as before
    again = json.loads(_cli(workspace, "recommend", "for", "c2", "-k", "5", "--include-seen", "--json").stdout)
    back = views.loc[views["customer_id"] == "c2", "product_id"].iloc[0]
    top = again["recommendations"][0]
    assert top["item_id"] == back and top["reason"] == "you viewed this and came back 3 times"


def test_train_shows_what_the_registered_hybrid_blends(workspace):
    r = _cli(workspace, "recommend", "train", "--model", "hybrid", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    blend = out["blend"]
    assert out["best"] == "hybrid" and blend["k"] == 10
    assert sum(blend["weights"].values()) == pytest.approx(1.0, abs=1e-4)
    assert blend["best_member"].removesuffix("~recent") in RECOMMENDERS and 0.0 <= blend["ndcg"] <= 1.0
    r = _cli(workspace, "recommend", "train", "--model", "hybrid")
    assert r.exit_code == 0, r.output
    said = " ".join(r.stdout.split())  # the console wraps long lines at its width
    assert "hybrid blend: " in said and f"over its best member, {blend['best_member']}" in said
    # another model has no blend to show
    r = _cli(workspace, "recommend", "train", "--model", "popular", "--json")
    assert "blend" not in json.loads(r.stdout)


@pytest.mark.parametrize("bar", ["true", "false"])
def test_train_reports_each_model_as_it_is_evaluated(workspace, monkeypatch, bar):
    # minutes of training are never silent: a line per model (its score, or why it was left out), under a progress
    # bar where progress is on; --json prints the JSON alone
    monkeypatch.setenv("PERSONA_PROGRESS", bar)
    r = _cli(workspace, "recommend", "train", "--model", "popular,itemknn,sequential", "--split", "random")
    assert r.exit_code == 0, r.output
    assert re.search(r"popular: nDCG@10 0\.\d{4}, fit \d+\.\ds", r.output)
    assert re.search(r"itemknn: nDCG@10 0\.\d{4}, fit", r.output)
    assert "sequential: " in r.output
    r = _cli(workspace, "recommend", "train", "--model", "popular", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["best"] == "popular"
    r = _cli(workspace, "evaluate", "recommend", "--models", "popular,itemknn")
    assert r.exit_code == 0, r.output
    assert re.search(r"itemknn: nDCG@10 0\.\d{4}, fit", r.output)
