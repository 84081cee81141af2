"""Read ahead in a background thread: parsing the next chunk overlaps writing the current one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")
_DONE = object()


def prefetch(items: Iterator[T], prepare: Callable[[T], U], depth: int = 1) -> Iterator[U]:
    """Yield ``prepare(item)`` for each item, computing up to ``depth`` results ahead in a worker thread.

    Exceptions in the worker are re-raised in the caller, in order. Closing the generator early
    (an error or Ctrl-C in the caller) stops the worker after its current item and waits for it: a worker
    still parsing while the interpreter exits can abort the process (exit 134, "terminate called without an
    active exception", from the parser's native code).
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand(entry: tuple[bool, object]) -> None:
        """Queue ``entry`` for the consumer, unless it has stopped listening."""
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return
            except queue.Full:
                continue

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                hand((True, prepare(item)))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            hand((False, exc))
            return
        hand((True, _DONE))

    t = threading.Thread(target=work, name="persona-ingest-reader", daemon=True)
    t.start()
    try:
        while True:
            ok, val = q.get()
            if not ok:
                raise val
            if val is _DONE:
                return
            yield val
    finally:
        stop.set()
        t.join()
