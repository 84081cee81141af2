"""The demo files go through the ingest engine's reader and coercer: clean by default, with exactly the planted
bad rows when ``dirty=True``."""

from __future__ import annotations

import pandas as pd
import pytest

from persona.demo import ENTITIES, generate_shop


def _reasons(path, entity):
    from persona.ingest.coerce import ChunkCoercer
    from persona.ingest.mapping import resolve_columns
    from persona.ingest.readers import open_reader
    from persona.ingest.schema import SPECS

    spec = SPECS[entity]
    header = pd.read_csv(path, nrows=0).columns.tolist()
    coercer = ChunkCoercer(spec, resolve_columns(spec, header, {}))
    bad, rows = [], 0
    for chunk in open_reader(path, "csv", 5000):
        assert not chunk.bad, chunk.bad[:3]
        c = coercer.coerce(chunk.frame)
        rows += len(c.frame)
        bad += c.reasons[~c.ok].tolist()
    return rows, bad


@pytest.mark.parametrize("entity", ENTITIES)
def test_clean_demo_files_have_no_rejected_rows(tmp_path, entity):
    paths = generate_shop(tmp_path, customers=300, products=60, days=90, seed=11)
    rows, bad = _reasons(paths[entity], entity)
    assert rows == len(pd.read_csv(paths[entity])) and bad == []


def test_dirty_demo_files_carry_the_planted_problems(tmp_path):
    paths = generate_shop(tmp_path, customers=300, products=60, days=90, seed=11, dirty=True)
    _, bad = _reasons(paths["events"], "events")
    assert sum("unparseable timestamp" in r for r in bad) == 2
    assert sum("missing timestamp" in r for r in bad) == 1
    assert sum("missing customer_id" in r for r in bad) == 3
    _, bad = _reasons(paths["customers"], "customers")
    assert any("missing customer_id" in r for r in bad) and any("created_at" in r or "birth_year" in r for r in bad)
    _, bad = _reasons(paths["products"], "products")
    assert any("price" in r for r in bad) and any("missing product_id" in r for r in bad)
