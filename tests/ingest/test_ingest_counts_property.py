"""Property: for any messy events file, read == accepted + duplicates + rejected, and the store holds exactly the accepted rows."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona.config import load_settings
from persona.ingest import ingest_file
from persona.privacy.crypto import PIICipher
from persona.store import Store

CIPHER = PIICipher(b"h" * 32)
cell = st.one_of(
    st.sampled_from(["", "c1", "c2", " c3 ", "p1", "view", "purchase", "2020-01-01", "1600000000", "bad", "1.5", "x\"y", "a,b", "l\nm"]),
    st.text(alphabet="abc019-:/ \"", max_size=6),
)
row = st.tuples(cell, cell, st.sampled_from(["view", "purchase", "", "click"]),
                st.sampled_from(["2020-01-01", "2020-01-02T10:00:00Z", "1600000000", "bad", ""]), cell)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=0, max_size=30), dup=st.integers(0, 5), break_quote=st.booleans())
def test_counts_always_add_up(tmp_path_factory, rows, dup, break_quote):
    rows = rows + rows[:dup]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["customer_id", "product_id", "event_type", "timestamp", "value"])
    w.writerows(rows)
    text = buf.getvalue()
    if break_quote and rows:
        text = text.replace("\n", '\n"', 1)
    ws = tmp_path_factory.mktemp("ws")
    path = ws / "events.csv"
    path.write_text(text, encoding="utf-8")
    store = Store(load_settings(ws, progress=False, chunk_size=7))
    store.create_all()
    try:
        rep = ingest_file(store, "events", path, cipher=CIPHER)
        assert rep.read == rep.accepted + rep.duplicates + rep.rejected
        assert store.count("events") == rep.accepted
        again = ingest_file(store, "events", path, cipher=CIPHER)
        assert again.accepted == 0 and again.read == rep.read and again.rejected == rep.rejected
        assert store.count("events") == rep.accepted
    finally:
        store.dispose()
