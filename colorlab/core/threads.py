"""Overlapping I/O with computation: a background thread that reads ahead of a consumer.

JPEG decoding, resizing and file I/O in Pillow and the OS release the GIL, so one thread can prepare
the next batch while the main thread runs the network on this one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield `items` in order, produced by a background thread up to `depth` ahead of the consumer.

    An exception in the producer is raised in the consumer at the point it happened; a consumer that
    stops early (break, an exception) stops the producer too.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        """Hand `entry` over, unless the consumer stops first (then False)."""
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as err:  # handed to the consumer, raised there
            put((_END, err))

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, err = buffer.get()
            if err is not None:
                raise err
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
