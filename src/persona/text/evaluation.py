"""Quality figures of a sentiment classifier on labelled reviews (shared by the CLI, training and bench)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from persona.errors import InputError


def classification_report(y_true: Sequence[int], y_pred: Sequence[int],
                          p_pos: Sequence[float] | None = None) -> dict[str, Any]:
    """Accuracy, macro-F1, balanced accuracy, per-class precision/recall/F1 and the confusion matrix.

    Args:
        y_true: true labels (1 positive, 0 negative).
        y_pred: predicted labels.
        p_pos: optional ``P(positive)`` for ROC-AUC and Brier score.

    Returns:
        A JSON-ready dict; ``confusion_matrix`` is ``[[TN, FP], [FN, TP]]`` (rows true 0/1, columns predicted).
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        brier_score_loss,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    yt = np.asarray(y_true).astype(int)
    yp = np.asarray(y_pred).astype(int)
    if yt.size == 0:
        raise InputError("no labelled reviews to evaluate", hint="pass at least one row")
    prec, rec, f1, sup = precision_recall_fscore_support(yt, yp, labels=[0, 1], zero_division=0)
    out: dict[str, Any] = {
        "n": int(yt.size),
        "n_positive": int((yt == 1).sum()),
        "n_negative": int((yt == 0).sum()),
        "accuracy": float(accuracy_score(yt, yp)),
        "macro_f1": float(f1_score(yt, yp, labels=[0, 1], average="macro", zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(yt, yp)) if len(np.unique(yt)) > 1 else float(accuracy_score(yt, yp)),
        "negative": {"precision": float(prec[0]), "recall": float(rec[0]), "f1": float(f1[0])},
        "positive": {"precision": float(prec[1]), "recall": float(rec[1]), "f1": float(f1[1])},
        "confusion_matrix": confusion_matrix(yt, yp, labels=[0, 1]).tolist(),
    }
    if p_pos is not None:
        pp = np.asarray(p_pos, dtype=float)
        out["brier"] = float(brier_score_loss(yt, pp))
        out["roc_auc"] = float(roc_auc_score(yt, pp)) if len(np.unique(yt)) > 1 else None
    return out


def evaluate_scorer(score: Callable[[list[str]], np.ndarray], texts: Sequence[str], labels: Sequence[int],
                    *, threshold: float = 0.0) -> dict[str, Any]:
    """Run ``score`` (texts → scores in [-1, 1]) over ``texts`` and report quality and throughput.

    Args:
        score: the scorer; a text is predicted positive when its score is above ``threshold``.
        texts: reviews.
        labels: 1 positive, 0 negative.
        threshold: decision threshold on the score.

    Returns:
        :func:`classification_report` plus ``seconds`` and ``reviews_per_second``.
    """
    texts = list(texts)
    t0 = time.perf_counter()
    s = np.asarray(score(texts), dtype=float)
    secs = time.perf_counter() - t0
    rep = classification_report(labels, (s > threshold).astype(int), p_pos=(np.clip(s, -1, 1) + 1) / 2)
    rep["seconds"] = round(secs, 4)
    rep["reviews_per_second"] = round(len(texts) / secs, 1) if secs > 0 else None
    return rep
