"""Review-text redaction speed on real corpora: seconds per 100,000 reviews through ``redact_texts``.

The English (Amazon Beauty) and Chinese (reviews-zh) review texts are each tiled to 100,000 rows, and mixed
half and half; each column is redacted ``--repeat`` times and the best time is kept. Also shown: how many texts
the Arrow/RE2 pre-filter (``CANDIDATE_RE2``) sends to the Python rules, and what was replaced. ``--src`` times
another checkout's ``src`` (e.g. the commit before a change) with this same script, for a before/after figure on
one machine.

    .venv/bin/python bench/bench_redact.py [--rows 100000] [--repeat 5] [--src PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def _texts(rows: int) -> dict[str, list[str]]:
    import numpy as np

    from persona.text.corpora import load_amazon_beauty, load_reviews_zh

    en = load_amazon_beauty(DATA / "amazon-beauty" / "All_Beauty_5.json")["text"].tolist()
    zh = load_reviews_zh(DATA / "reviews-zh" / "train.tsv")["text"].tolist()
    mixed = [t for pair in zip(en, zh, strict=False) for t in pair]
    return {name: np.resize(np.array(texts, dtype=object), rows).tolist()
            for name, texts in (("en", en), ("zh", zh), ("mixed", mixed))}


def _time(texts: list[str], repeat: int) -> dict[str, object]:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    from persona.privacy.detect import CANDIDATE_RE2
    from persona.privacy.redact import redact_texts

    col = pd.Series(texts, dtype=object)
    best, counts = float("inf"), {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        _, counts = redact_texts(col)
        best = min(best, time.perf_counter() - t0)
    candidates = int(pc.sum(pc.match_substring_regex(pa.array(texts, pa.string()), CANDIDATE_RE2)).as_py() or 0)
    return {"rows": len(texts), "seconds": round(best, 3), "candidates": candidates, "replaced": counts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="texts per corpus (tiled)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per corpus; the best is shown")
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="the checkout's src folder to time")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not (DATA / "amazon-beauty").is_dir() or not (DATA / "reviews-zh").is_dir():
        sys.exit(f"the review corpora are not in {DATA}")
    sys.path.insert(0, str(args.src.resolve()))
    import persona

    out = {name: _time(texts, args.repeat) for name, texts in _texts(args.rows).items()}
    out["src"] = str(Path(persona.__file__).parents[1])  # type: ignore[assignment]
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"persona from {out.pop('src')}")
    print(f"{'corpus':<8}{'rows':>9}{'seconds':>9}{'to Python':>11}  replaced")
    for name, r in out.items():
        print(f"{name:<8}{r['rows']:>9,}{r['seconds']:>9.3f}{r['candidates']:>11,}  {r['replaced']}")


if __name__ == "__main__":
    main()
