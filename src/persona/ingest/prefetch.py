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
    (an error or Ctrl-C in the caller) stops the worker after its current item.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                res = prepare(item)
                while not stop.is_set():
                    try:
                        q.put((True, res), timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put((False, exc))
            return
        q.put((True, _DONE))

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
