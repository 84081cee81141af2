"""Scoring the workspace's reviews, product quality, customer sentiment, keywords, aspects, stage and CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from typer.testing import CliRunner

from persona.errors import InputError
from persona.store.models import Review
from persona.text import (
    aspect_sentiment,
    customer_sentiment,
    product_keywords,
    product_quality,
    score_reviews,
)

REVIEWS = [
    ("r1", "c1", "phone", 5, "The battery lasts forever and the screen is gorgeous."),
    ("r2", "c2", "phone", 4, "Great battery life, the screen is bright. Love it."),
    ("r3", "c3", "phone", 1, "The battery died after a week. Terrible screen too."),
    ("r4", "c1", "kettle", 1, "The kettle leaks and the handle broke. Awful."),
    ("r5", "c2", "kettle", 2, "Kettle leaks everywhere, very disappointed, returned it."),
    ("r6", "c3", "kettle", 5, "Boils fast, kettle looks nice."),
    ("r7", "c4", "tea", 5, "茶叶很香，包装精美，非常满意。"),
    ("r8", "c4", "tea", 1, "茶叶受潮了，味道很差，很失望。"),
    ("r9", "c5", "tea", 5, "茶叶味道很好，物流也快，推荐！"),
    ("r10", "c5", "tea", None, ""),
]


def _fill(store) -> None:  # noqa: ANN001
    with store.session() as s:
        for rid, cid, pid, rating, text in REVIEWS:
            s.add(Review(review_id=rid, customer_id=cid, product_id=pid, rating=rating, text=text,
                         ts=datetime(2026, 1, 1, tzinfo=UTC)))


def test_score_reviews_writes_sentiment(any_store) -> None:  # noqa: ANN001
    _fill(any_store)
    scored = score_reviews(any_store)
    assert len(scored) == len(REVIEWS)
    db = any_store.read_frame("SELECT review_id, sentiment, lang FROM reviews").set_index("review_id")
    assert pd.isna(db.loc["r10", "sentiment"])
    assert db.loc["r1", "sentiment"] > 0 and db.loc["r3", "sentiment"] < 0
    assert db.loc["r7", "lang"] == "zh" and db.loc["r1", "lang"] == "en"
    assert db.loc["r7", "sentiment"] > 0 > db.loc["r8", "sentiment"]
    again = score_reviews(any_store, only_unscored=True)
    assert set(again["review_id"]) == {"r10"}


def test_product_quality_and_customer_sentiment(store) -> None:  # noqa: ANN001
    _fill(store)
    pq = product_quality(store).set_index("product_id")  # scores on the fly: nothing written yet
    assert set(pq.index) == {"phone", "kettle", "tea"}
    assert pq.loc["kettle", "share_negative"] >= 2 / 3 - 1e-9
    assert pq.loc["phone", "avg_sentiment"] > pq.loc["kettle", "avg_sentiment"]
    assert pq.loc["tea", "n_reviews"] == 3
    assert list(pq.columns) == ["n_reviews", "avg_sentiment", "share_negative", "avg_rating", "quality"]
    assert store.read_frame("SELECT COUNT(*) AS n FROM reviews WHERE sentiment IS NOT NULL")["n"][0] == 0
    cs = customer_sentiment(store).set_index("customer_id")
    assert cs.loc["c4", "n_reviews"] == 2 and cs.loc["c1", "avg_sentiment"] < 0.5


def test_product_keywords_ctfidf() -> None:
    df = pd.DataFrame([(pid, text) for _, _, pid, _, text in REVIEWS], columns=["product_id", "text"])
    kw = product_keywords(df, k=3)
    top = kw[kw["rank"] == 1].set_index("product_id")["term"].to_dict()
    assert top["phone"] in ("battery", "screen")
    assert top["kettle"] in ("kettle", "leaks", "kettle leaks")
    assert "茶叶" in set(kw.loc[kw["product_id"] == "tea", "term"])
    assert kw.groupby("product_id")["rank"].max().max() <= 3
    with pytest.raises(InputError, match="lack column"):
        product_keywords(pd.DataFrame({"text": ["x"]}))
    assert product_keywords(pd.DataFrame({"product_id": [], "text": []})).empty


def test_aspect_sentiment() -> None:
    df = pd.DataFrame([(pid, text) for _, _, pid, _, text in REVIEWS], columns=["product_id", "text"])
    asp = aspect_sentiment(df, aspects=["battery", "screen", "leaks"], min_mentions=1)
    phone = asp[asp["product_id"] == "phone"].set_index("aspect")
    assert phone.loc["battery", "mentions"] == 3
    assert asp[(asp["product_id"] == "kettle") & (asp["aspect"] == "leaks")]["sentiment"].iloc[0] < 0
    found = aspect_sentiment(df, k=3, min_mentions=1)
    assert {"phone", "kettle"} <= set(found["product_id"])


def test_text_stage_scores_and_reports(store, settings) -> None:  # noqa: ANN001
    from persona.pipeline.stage import RunContext
    from persona.pipeline.stages.text import TEXT

    ctx = RunContext(settings=settings, store=store, data_dir=None, progress=False)
    assert TEXT.run(ctx).status == "skipped"
    _fill(store)
    res = TEXT.run(ctx)
    assert res.status == "ok" and res.sections and res.sections[0].images
    assert res.figures["scored"] == 9 and res.figures["agreement_with_rating"] >= 0.8
    assert res.figures["spearman_rating_sentiment"] > 0.5
    assert "product_quality" in ctx.artifacts


def test_stage_registered_after_quality() -> None:
    from persona.pipeline.registry import STAGES

    names = [s.split(":")[1] for s in STAGES]
    assert names.index("TEXT") == names.index("QUALITY") + 1


def test_text_cli(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from persona.cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["text", "sentiment", "--text", "这个不太好", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["lang"] == "zh" and out["sentiment"] < 0 and out["label"] == "negative"
    f = tmp_path / "reviews.csv"
    f.write_text("id,text\n1,I love these shoes\n2,The zipper broke and they returned nothing\n", encoding="utf-8")
    res = runner.invoke(app, ["text", "sentiment", str(f), "--json", "--output", str(tmp_path / "o.csv")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["n"] == 2 and out["reviews"][0]["sentiment"] > 0 > out["reviews"][1]["sentiment"]
    assert (tmp_path / "o.csv").is_file()
    res = runner.invoke(app, ["text", "sentiment", "--text", "x", "--lang", "de"])
    assert res.exit_code != 0


def test_text_cli_on_a_workspace(tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    from persona.cli.main import main
    from persona.config import load_settings
    from persona.store import Store

    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    ws = tmp_path / "ws"

    def run(*args: str) -> object:
        with pytest.raises(SystemExit) as exc:
            main([*args, "--workspace", str(ws), "--json"])
        out = capsys.readouterr()
        assert exc.value.code == 0, out.err
        return json.loads(out.out)

    run("init")
    store = Store(load_settings(ws))
    _fill(store)
    store.dispose()
    out = run("text", "sentiment")
    assert out["n_scored"] == 9 and out["n_empty"] == 1 and out["by_lang"]["zh"] == 3
    assert run("text", "sentiment", "--only-unscored")["n_scored"] == 0
    kw = run("text", "keywords", "--product", "phone", "--aspects", "--k", "3")
    assert {r["product_id"] for r in kw["keywords"]} == {"phone"} and kw["aspects"]
    q = run("text", "quality")
    assert {r["product_id"] for r in q} == {"phone", "kettle", "tea"}
    for bad in (("--top", "-1"), ("--min-reviews", "-3")):
        with pytest.raises(SystemExit) as exc:
            main(["text", "quality", *bad, "--workspace", str(ws)])
        assert exc.value.code == 2
    info = run("text", "info")
    assert {r["lang"] for r in info} == {"en", "zh"} and info[0]["metrics"]["holdout"]["n"] > 0
    with pytest.raises(SystemExit) as exc:
        main(["text", "keywords", "--product", "nope", "--workspace", str(ws)])
    assert exc.value.code != 0 and "no reviews for product" in capsys.readouterr().err
