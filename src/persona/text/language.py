"""Language detection for reviews: Chinese when enough of the letters are CJK ideographs, else English."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

SUPPORTED_LANGS = ("en", "zh")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def cjk_ratio(text: str) -> float:
    """Share of CJK ideographs among the letters (CJK + Latin) of ``text``; 0.0 for no letters."""
    if not text:
        return 0.0
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    # A Chinese word carries about as much as a 3-5 letter English word: weigh ideographs up.
    total = 4 * cjk + latin
    return 0.0 if total == 0 else 4 * cjk / total


def detect_language(text: str | None, *, threshold: float = 0.3) -> str:
    """``"zh"`` when the (weighted) CJK share of the letters reaches ``threshold``, else ``"en"``.

    Args:
        text: one review; ``None`` or empty counts as English.
        threshold: minimum weighted CJK share to call a text Chinese.

    Returns:
        ``"zh"`` or ``"en"``.
    """
    return "zh" if cjk_ratio(text or "") >= threshold else "en"


def detect_languages(texts: Iterable[str | None], *, threshold: float = 0.3) -> np.ndarray:
    """Vector of ``detect_language`` over ``texts`` (an object array of ``"en"``/``"zh"``)."""
    return np.array([detect_language(t, threshold=threshold) for t in texts], dtype=object)


def check_lang(lang: str, *, allow_auto: bool = True) -> str:
    """Normalise a ``--lang`` value (``en``, ``zh``, ``auto``) or raise ``InputError``."""
    from persona.errors import InputError

    norm = (lang or "").strip().lower()
    norm = {"cn": "zh", "zh-cn": "zh", "chinese": "zh", "english": "en"}.get(norm, norm)
    allowed = SUPPORTED_LANGS + (("auto",) if allow_auto else ())
    if norm not in allowed:
        raise InputError(f"unsupported language {lang!r}", hint=f"use one of: {', '.join(allowed)}")
    return norm
