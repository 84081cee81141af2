"""Reading ahead in a background thread: order, errors, and a worker that never outlives its consumer."""

from __future__ import annotations

import threading
import time

import pytest

from persona.ingest.prefetch import prefetch


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "persona-ingest-reader"]


def test_results_come_in_order_and_the_worker_is_gone_at_the_end():
    assert list(prefetch(iter(range(20)), lambda x: x * x, depth=3)) == [x * x for x in range(20)]
    assert _readers() == []


def test_a_worker_error_reaches_the_caller_in_order():
    def prepare(x: int) -> int:
        if x == 3:
            raise ValueError("bad chunk 3")
        return x

    got = []
    with pytest.raises(ValueError, match="bad chunk 3"):
        for x in prefetch(iter(range(10)), prepare):
            got.append(x)
    assert got == [0, 1, 2] and _readers() == []


def test_closing_early_waits_for_the_worker_to_stop():
    started = []

    def slow(x: int) -> int:
        started.append(x)
        time.sleep(0.05)
        return x

    gen = prefetch(iter(range(1000)), slow, depth=2)
    assert next(gen) == 0
    gen.close()  # the consumer stops (an error, Ctrl-C): the worker is joined, not left running at exit
    assert _readers() == [] and len(started) < 10
