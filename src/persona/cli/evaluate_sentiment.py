"""``persona evaluate sentiment FILE``: accuracy of the shipped sentiment model on a labelled file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, emit


def register_evaluate(app: typer.Typer) -> None:
    """Add ``evaluate sentiment`` to the ``evaluate`` group."""

    @app.command("sentiment")
    def sentiment(
        path: Annotated[Path, typer.Argument(help="CSV or TSV with 'label' (1 positive, 0 negative) and 'text' columns, or a headerless label<TAB>text TSV.")],
        lang: Annotated[str, typer.Option("--lang", help="Language of the reviews: en, zh or auto (per review).")] = "auto",
        workspace: WorkspaceOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Score every review of FILE and compare with its labels: accuracy, macro-F1, balanced accuracy, confusion matrix."""
        del workspace  # the shipped models need no workspace; the option is accepted like everywhere else
        from persona.text.corpora import read_labelled_file
        from persona.text.evaluation import evaluate_scorer
        from persona.text.language import check_lang
        from persona.text.sentiment import load_default, score_texts

        code = check_lang(lang)
        df = read_labelled_file(path)
        for model_lang in (("en", "zh") if code == "auto" else (code,)):
            load_default(model_lang)  # so that reviews/s measures scoring, not loading
        rep = evaluate_scorer(lambda texts: score_texts(texts, lang=code), df["text"].tolist(), df["label"].to_numpy())
        rep = {"file": str(path), "lang": code, **rep}
        if as_json:
            emit(rep, True)
            return
        (tn, fp), (fn, tp) = rep["confusion_matrix"]
        table = {k: rep[k] for k in ("n", "n_positive", "n_negative", "accuracy", "macro_f1", "balanced_accuracy", "roc_auc", "brier")}
        table["negative recall / precision"] = f"{rep['negative']['recall']:.3f} / {rep['negative']['precision']:.3f}"
        table["confusion [TN FP; FN TP]"] = f"[{tn} {fp}; {fn} {tp}]"
        table["reviews/s"] = rep["reviews_per_second"]
        emit(table, False, title=f"sentiment on {path.name} ({code})")


register = register_evaluate
